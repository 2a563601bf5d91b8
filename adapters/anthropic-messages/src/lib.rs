//! The `anthropic-messages` dialect adapter: Claude Code (Anthropic Messages API) in front
//! of a Chat Completions backend.
//!
//! Routes (the host strips the query, so `?beta=true` is tolerated):
//! - `POST /v1/messages` — translated, streamed (SSE) or not;
//! - `POST /v1/messages/count_tokens` — answered locally with an estimate: one token per
//!   4 bytes of text, flat costs for images and documents (details in `tokens.rs`);
//! - `GET /v1/models`, `GET /v1/models/{*id}` — local, Anthropic's list shape, only for
//!   requests with an `anthropic-version` header (other dialects share the path);
//! - `HEAD /` — local 200, Claude Code's start-up probe.
//!
//! The mapping itself is in `request.rs` (client → pivot), `response.rs` (whole answers)
//! and `stream.rs` (streamed answers); errors in `error.rs`.

mod error;
mod local;
mod request;
mod response;
mod stream;
mod tokens;
mod wire;

use cligate_adapter_sdk::{
    Adapter, AdapterError, AdapterInfo, ClientRequest, ClientResponse, ErrorSite, GatewayError,
    LocalContext, PivotRequest, RequestContext, RequestOptions, Route,
};
use serde::{Deserialize, Serialize};

pub use stream::MessagesStream;

/// The adapter.
pub struct AnthropicMessages;

/// What `translate_request` hands to the answer translation through `state`.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Input-token estimate of the request, used when the backend reports no usage.
    #[serde(rename = "e", default)]
    pub input_estimate: u64,
    /// The client asked for `thinking.display: "omitted"`: thinking blocks without text.
    #[serde(rename = "o", default, skip_serializing_if = "std::ops::Not::not")]
    pub omit_thinking: bool,
}

impl State {
    /// Compact JSON.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Read `state` back; an empty or foreign state gives the defaults.
    pub fn decode(bytes: &[u8]) -> Self {
        serde_json::from_slice(bytes).unwrap_or_default()
    }
}

impl Adapter for AnthropicMessages {
    type Stream = MessagesStream;

    fn info() -> AdapterInfo {
        AdapterInfo {
            name: "anthropic-messages".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            dialect: "anthropic-messages".to_owned(),
            routes: vec![
                Route::translate("POST", "/v1/messages"),
                Route::local("POST", "/v1/messages/count_tokens"),
                Route::local("GET", "/v1/models").when_header("anthropic-version"),
                // `{*id}`: gateway model names may contain `/` (`Qwen/Qwen3-32B`).
                Route::local("GET", "/v1/models/{*id}").when_header("anthropic-version"),
                Route::local("HEAD", "/"),
            ],
        }
    }

    fn translate_request(
        req: ClientRequest,
        options: RequestOptions,
    ) -> Result<PivotRequest, AdapterError> {
        request::translate(&req, &options)
    }

    fn translate_response(
        ctx: RequestContext,
        body: Vec<u8>,
    ) -> Result<ClientResponse, AdapterError> {
        response::translate(&ctx, &body)
    }

    fn translate_error(ctx: ErrorSite, error: GatewayError) -> ClientResponse {
        error::render(&ctx, &error)
    }

    fn answer_local(req: ClientRequest, ctx: LocalContext) -> Result<ClientResponse, AdapterError> {
        local::answer(&req, &ctx)
    }

    fn open_stream(ctx: RequestContext) -> MessagesStream {
        MessagesStream::new(ctx)
    }
}

// Only for Wasm: natively the component export names (`cabi_post_cligate:adapter/…`) break
// the linker's version script when cargo links the cdylib for `cargo test`.
#[cfg(target_arch = "wasm32")]
cligate_adapter_sdk::register_adapter!(AnthropicMessages);
