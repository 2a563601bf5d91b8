//! The `openai-responses` dialect adapter: Codex CLI (OpenAI Responses API) ↔ Chat Completions.
//!
//! Routes:
//! - `POST /v1/responses`, `POST /backend-api/codex/responses` (the ChatGPT-login path):
//!   translated. Codex always streams.
//! - `GET /v1/responses`, `GET /backend-api/codex/responses`: answered locally with
//!   `426 Upgrade Required`. Codex's built-in provider tries a WebSocket upgrade there first;
//!   Codex treats exactly this status as "no WebSocket here" and switches the session to
//!   HTTP POST at once (`WebsocketStreamOutcome::FallbackToHttp` in codex-rs `client.rs`).
//!   Any other failure (404, connection refused) counts as a retryable transport error and
//!   costs the user the retry loop (7 attempts, ≈ 7 s in the captures) before the fallback.
//!
//! Mapping details live in the modules: [`request`] (input items, tools, parameters),
//! [`conversation`] (Chat ordering rules), [`stream`] (events), [`errors`].

mod conversation;
mod errors;
pub mod reasoning;
mod request;
mod response;
mod state;
mod stream;
mod tools;
mod wire;

pub use stream::ResponsesStream;

use cligate_adapter_sdk::{
    Adapter, AdapterError, AdapterInfo, ClientRequest, ClientResponse, ErrorSite, GatewayError,
    Header, LocalContext, PivotRequest, RemovedField, RequestContext, RequestOptions, Route,
};
use serde::Serialize;

/// The adapter.
pub struct OpenAiResponses;

/// Warnings and removed fields collected while translating a request.
#[derive(Debug, Default)]
pub struct Notes {
    /// Short, stable texts; each appears once.
    pub warnings: Vec<String>,
    /// Client-identifying values removed from the body.
    pub removed: Vec<RemovedField>,
}

impl Notes {
    /// Record a warning (once).
    pub fn warn(&mut self, warning: impl Into<String>) {
        let warning = warning.into();
        if !self.warnings.contains(&warning) {
            self.warnings.push(warning);
        }
    }
}

/// The adapter's name.
pub const NAME: &str = "openai-responses";

impl Adapter for OpenAiResponses {
    type Stream = stream::ResponsesStream;

    fn info() -> AdapterInfo {
        AdapterInfo {
            name: NAME.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            dialect: "openai-responses".to_owned(),
            routes: vec![
                Route::translate("POST", "/v1/responses"),
                Route::translate("POST", "/backend-api/codex/responses"),
                Route::local("GET", "/v1/responses"),
                Route::local("GET", "/backend-api/codex/responses"),
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
        stream::translate_whole(&ctx, &body)
    }

    fn translate_error(ctx: ErrorSite, error: GatewayError) -> ClientResponse {
        errors::render(&ctx, &error)
    }

    fn answer_local(
        req: ClientRequest,
        _ctx: LocalContext,
    ) -> Result<ClientResponse, AdapterError> {
        Ok(local_answer(&req))
    }

    fn open_stream(ctx: RequestContext) -> Self::Stream {
        stream::ResponsesStream::new(&ctx)
    }
}

#[derive(Serialize)]
struct LocalError<'a> {
    error: LocalErrorDetail<'a>,
}

#[derive(Serialize)]
struct LocalErrorDetail<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    param: Option<()>,
    code: &'static str,
}

/// The local routes' answers.
fn local_answer(req: &ClientRequest) -> ClientResponse {
    let (status, message, code) = if req.method == "GET" && req.path.ends_with("/responses") {
        (
            426,
            "This gateway serves the Responses API over HTTP POST only; the WebSocket transport is not available.",
            "websocket_not_supported",
        )
    } else {
        (404, "Not found.", "not_found")
    };
    let body = serde_json::to_vec(&LocalError {
        error: LocalErrorDetail {
            message,
            kind: "invalid_request_error",
            param: None,
            code,
        },
    })
    .unwrap_or_default();
    ClientResponse {
        status,
        headers: vec![Header::new("content-type", "application/json")],
        body,
    }
}

// Only the Wasm build exports the component: natively the generated export names
// (`cligate:adapter/dialect@0.1.0#…`) are not valid linker symbols for a cdylib, and the
// native build exists for tests only.
#[cfg(target_arch = "wasm32")]
cligate_adapter_sdk::register_adapter!(OpenAiResponses);
