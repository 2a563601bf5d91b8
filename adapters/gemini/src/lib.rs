//! The `gemini` dialect adapter: Gemini CLI (and any `@google/genai` client) against Chat
//! Completions backends, through cligate.
//!
//! Serves the Gemini API (`/v1beta/models/{model}:generateContent`, `:streamGenerateContent`,
//! `:countTokens`, `GET /v1beta/models[/{model}]`, the same under `/v1/`) and the Code Assist
//! paths (`/v1internal:generateContent`, `:streamGenerateContent`, `:countTokens`) with their
//! `{model, project, request}` / `{response}` envelopes.
//!
//! Modules: `request` (Gemini request → pivot request), `response` (whole pivot answer →
//! `GenerateContentResponse`), `stream` (pivot stream → SSE `data:` frames or the JSON-array
//! form), `error` (Google's error JSON), `local` (model list, token counts), `schema`
//! (OpenAPI-subset schemas → JSON Schema) and [`signature`] (the gateway's own
//! `thoughtSignature`, which carries backend reasoning through Gemini CLI's history).

mod base64;
mod error;
mod local;
mod request;
mod response;
mod schema;
pub mod signature;
mod state;
mod stream;
mod target;
mod wire;

use cligate_adapter_sdk::{
    Adapter, AdapterError, AdapterInfo, ClientRequest, ClientResponse, ErrorSite, GatewayError,
    LocalContext, PivotRequest, RequestContext, RequestOptions, Route,
};

pub use local::count_tokens_response;
pub use stream::GeminiStream;

/// The Gemini dialect adapter.
pub struct GeminiAdapter;

/// The header every Google GenAI SDK sends. `GET /v1/models` is shared with the OpenAI
/// dialects, so the Gemini model list there is chosen by it.
pub const GOOGLE_CLIENT_HEADER: &str = "x-goog-api-client";

impl Adapter for GeminiAdapter {
    type Stream = GeminiStream;

    fn info() -> AdapterInfo {
        let mut routes = Vec::new();
        for version in ["v1beta", "v1"] {
            let models = format!("/{version}/models");
            routes.push(Route::translate(
                "POST",
                &format!("{models}/{{model}}:generateContent"),
            ));
            routes.push(Route::translate(
                "POST",
                &format!("{models}/{{model}}:streamGenerateContent"),
            ));
            routes.push(Route::local(
                "POST",
                &format!("{models}/{{model}}:countTokens"),
            ));
            // The rest: model names with a `/` (`org/model:generateContent`), which a
            // one-segment parameter cannot match; the adapter splits `{model}:{method}` itself.
            routes.push(Route::translate("POST", &format!("{models}/{{*rest}}")));
            let list = Route::local("GET", &models);
            let one = Route::local("GET", &format!("{models}/{{*name}}"));
            if version == "v1" {
                routes.push(list.when_header(GOOGLE_CLIENT_HEADER));
                routes.push(one.when_header(GOOGLE_CLIENT_HEADER));
            } else {
                routes.push(list);
                routes.push(one);
            }
        }
        routes.push(Route::translate("POST", "/v1internal:generateContent"));
        routes.push(Route::translate(
            "POST",
            "/v1internal:streamGenerateContent",
        ));
        routes.push(Route::local("POST", "/v1internal:countTokens"));
        AdapterInfo {
            name: "gemini".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            dialect: "gemini-generate-content".into(),
            routes,
        }
    }

    /// Generation requests. A Gemini API `:countTokens` normally takes its local route; one
    /// that reaches this function through the catch-all (a model name with a `/`) is sent
    /// to the backend with `max_tokens: 1` and answered with the backend's exact
    /// `prompt_tokens`.
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

    fn translate_error(_ctx: ErrorSite, error: GatewayError) -> ClientResponse {
        error::response(&error)
    }

    fn answer_local(req: ClientRequest, ctx: LocalContext) -> Result<ClientResponse, AdapterError> {
        local::answer(&req, &ctx)
    }

    fn open_stream(ctx: RequestContext) -> GeminiStream {
        GeminiStream::new(ctx)
    }
}

// Only for Wasm: natively the component export names (`cabi_post_cligate:adapter/…`) are not
// valid symbols in the linker's version script, and the native build exists for tests only.
#[cfg(target_arch = "wasm32")]
cligate_adapter_sdk::register_adapter!(GeminiAdapter);
