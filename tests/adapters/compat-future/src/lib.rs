//! A test adapter built against `wit/` here: a copy of the 0.1.0 contract renumbered 9.9.9,
//! a version no gateway supports. Its component is committed as
//! `tests/fixtures/compat/adapter-v9_9_9.wasm`; `tests/tests/adapter_compat.rs` checks that
//! `cligate check`, hot reload and `cligate adapter test` refuse it with a message naming
//! both its version and the supported ones. Rebuild with `tests/adapters/build-compat.sh`.
//!
//! Apart from the version and the route prefix (`/future/…`) it is the 0.1.0 compat adapter.

#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

wit_bindgen::generate!({
    path: "wit",
    world: "adapter",
});

use std::cell::RefCell;

use cligate::adapter::types::{
    AdapterError, AdapterInfo, ClientRequest, ClientResponse, ErrorKind, ErrorSite, GatewayError,
    Header, LocalContext, PivotRequest, RequestContext, RequestOptions, Route, RouteAction,
    SseEvent,
};
use exports::cligate::adapter::dialect::{Guest, GuestStreamTranslator};
use serde_json::{Value, json};

/// The contract this adapter was built against.
pub const CONTRACT: &str = "9.9.9";

struct Compat;

fn route(method: &str, path: &str, action: RouteAction) -> Route {
    Route {
        method: method.to_owned(),
        path: path.to_owned(),
        when_header: None,
        action,
    }
}

fn json_response(status: u16, value: &Value) -> ClientResponse {
    ClientResponse {
        status,
        headers: vec![Header {
            name: "content-type".to_owned(),
            value: "application/json".to_owned(),
        }],
        body: value.to_string().into_bytes(),
    }
}

fn frame(event: Option<&str>, value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(name) = event {
        out.extend_from_slice(format!("event: {name}\n").as_bytes());
    }
    out.extend_from_slice(format!("data: {value}\n\n").as_bytes());
    out
}

fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest => "invalid-request",
        ErrorKind::Authentication => "authentication",
        ErrorKind::Permission => "permission",
        ErrorKind::NotFound => "not-found",
        ErrorKind::MethodNotAllowed => "method-not-allowed",
        ErrorKind::RequestTooLarge => "request-too-large",
        ErrorKind::RateLimited => "rate-limited",
        ErrorKind::Upstream => "upstream",
        ErrorKind::Overloaded => "overloaded",
        ErrorKind::Timeout => "timeout",
        ErrorKind::AdapterBroken => "adapter-broken",
        ErrorKind::Internal => "internal",
    }
}

fn error_body(error: &GatewayError) -> Value {
    json!({"error": {"kind": kind_name(error.kind), "message": error.message}})
}

impl Guest for Compat {
    type StreamTranslator = CompatStream;

    fn info() -> AdapterInfo {
        AdapterInfo {
            name: "compat-future".to_owned(),
            version: "0.1.0".to_owned(),
            dialect: "compat-future".to_owned(),
            routes: vec![
                route("POST", "/future/v1/echo", RouteAction::Translate),
                route("GET", "/future/v1/info", RouteAction::Local),
            ],
        }
    }

    fn translate_request(
        req: ClientRequest,
        _options: RequestOptions,
    ) -> Result<PivotRequest, AdapterError> {
        let body: Value = serde_json::from_slice(&req.body).map_err(|e| {
            AdapterError::InvalidRequest(format!("compat-future: body is not JSON: {e}"))
        })?;
        let model = body["model"]
            .as_str()
            .ok_or_else(|| {
                AdapterError::InvalidRequest("compat-future: `model` is required".to_owned())
            })?
            .to_owned();
        let input = body["input"].as_str().ok_or_else(|| {
            AdapterError::InvalidRequest("compat-future: `input` is required".to_owned())
        })?;
        let stream = body["stream"].as_bool().unwrap_or(false);
        let mut pivot = json!({
            "model": model,
            "messages": [{"role": "user", "content": input}],
            "stream": stream,
        });
        if stream {
            pivot["stream_options"] = json!({"include_usage": true});
        }
        Ok(PivotRequest {
            model,
            stream,
            body: pivot.to_string().into_bytes(),
            warnings: vec!["compat-future: example warning".to_owned()],
            removed: Vec::new(),
            client_software: req
                .headers
                .iter()
                .find(|h| h.name == "user-agent")
                .map(|h| h.value.clone()),
            session_id: None,
            stream_headers: vec![Header {
                name: "content-type".to_owned(),
                value: "text/event-stream".to_owned(),
            }],
            state: Vec::new(),
        })
    }

    fn translate_response(
        ctx: RequestContext,
        body: Vec<u8>,
    ) -> Result<ClientResponse, AdapterError> {
        let answer: Value = serde_json::from_slice(&body)
            .map_err(|e| AdapterError::Internal(format!("compat-future: upstream JSON: {e}")))?;
        let text = answer["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default();
        Ok(json_response(
            200,
            &json!({"output": text, "model": ctx.client_model, "contract": CONTRACT}),
        ))
    }

    fn translate_error(_site: ErrorSite, error: GatewayError) -> ClientResponse {
        json_response(error.status, &error_body(&error))
    }

    fn answer_local(req: ClientRequest, ctx: LocalContext) -> Result<ClientResponse, AdapterError> {
        if req.path != "/future/v1/info" {
            return Err(AdapterError::Unsupported(format!(
                "compat-future: no local answer for {}",
                req.path
            )));
        }
        let models: Vec<&str> = ctx.models.iter().map(|m| m.id.as_str()).collect();
        Ok(json_response(
            200,
            &json!({"adapter": "compat-future", "contract": CONTRACT, "models": models}),
        ))
    }
}

/// One stream: the finish reason seen so far.
struct CompatStream {
    finish_reason: RefCell<Option<String>>,
}

impl GuestStreamTranslator for CompatStream {
    fn new(_ctx: RequestContext) -> Self {
        CompatStream {
            finish_reason: RefCell::new(None),
        }
    }

    fn push(&self, event: SseEvent) -> Result<Vec<u8>, AdapterError> {
        let chunk: Value = serde_json::from_str(&event.data)
            .map_err(|e| AdapterError::Internal(format!("compat-future: upstream chunk: {e}")))?;
        let choice = &chunk["choices"][0];
        if let Some(reason) = choice["finish_reason"].as_str() {
            *self.finish_reason.borrow_mut() = Some(reason.to_owned());
        }
        match choice["delta"]["content"].as_str() {
            Some(text) if !text.is_empty() => Ok(frame(None, &json!({"delta": text}))),
            _ => Ok(Vec::new()),
        }
    }

    fn keepalive(&self) -> Vec<u8> {
        Vec::new()
    }

    fn finish(&self) -> Result<Vec<u8>, AdapterError> {
        let reason = self.finish_reason.borrow().clone();
        Ok(frame(
            None,
            &json!({"end": true, "finish_reason": reason.as_deref().unwrap_or("stop")}),
        ))
    }

    fn fail(&self, error: GatewayError) -> Vec<u8> {
        frame(Some("error"), &error_body(&error))
    }
}

// Only the Wasm build exports the component (a native linker rejects the `:` in the names).
#[cfg(target_arch = "wasm32")]
export!(Compat);
