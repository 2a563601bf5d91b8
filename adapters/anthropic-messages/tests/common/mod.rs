//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cligate_adapter_anthropic_messages::AnthropicMessages;
use cligate_adapter_sdk::{Adapter, ClientRequest, Header, PivotRequest, RequestOptions};
use serde_json::Value;

/// Folder of the captured Claude Code requests (copied from the shared fixtures).
pub const CAPTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/captures/claude-code-main"
);

/// A captured request: the recorder's JSON wraps the body under `body` and keeps headers
/// as `[name, value]` pairs in received order.
pub fn capture(file: &str) -> ClientRequest {
    let raw = std::fs::read(format!("{CAPTURES}/{file}")).unwrap();
    let record: Value = serde_json::from_slice(&raw).unwrap();
    let headers = record["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| {
            Header::new(
                &pair[0].as_str().unwrap().to_ascii_lowercase(),
                pair[1].as_str().unwrap(),
            )
        })
        .filter(|h| h.name != "x-api-key")
        .collect();
    ClientRequest {
        method: record["method"].as_str().unwrap().to_owned(),
        path: record["path"].as_str().unwrap().to_owned(),
        query: Some("beta=true".to_owned()),
        headers,
        body: serde_json::to_vec(&record["body"]).unwrap(),
    }
}

/// A `POST /v1/messages` with the given JSON body.
pub fn post(body: &Value) -> ClientRequest {
    ClientRequest {
        method: "POST".to_owned(),
        path: "/v1/messages".to_owned(),
        query: None,
        headers: vec![Header::new("anthropic-version", "2023-06-01")],
        body: serde_json::to_vec(body).unwrap(),
    }
}

pub fn options() -> RequestOptions {
    RequestOptions {
        request_id: "req_test_0001".to_owned(),
        redact_environment: false,
    }
}

/// Translate and parse the pivot body.
pub fn translate(req: ClientRequest) -> (PivotRequest, Value) {
    let pivot = AnthropicMessages::translate_request(req, options()).unwrap();
    let body = serde_json::from_slice(&pivot.body).unwrap();
    (pivot, body)
}

/// Translate a minimal request around `extra` fields (merged into the top level).
pub fn translate_json(extra: Value) -> (PivotRequest, Value) {
    let mut body = serde_json::json!({
        "model": "claude-opus-4-8",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "hi"}]
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    translate(post(&body))
}

/// Pivot messages of a request with the given `messages`.
pub fn messages(messages: Value) -> (PivotRequest, Vec<Value>) {
    let (pivot, body) = translate_json(serde_json::json!({ "messages": messages }));
    let list = body["messages"].as_array().unwrap().clone();
    (pivot, list)
}
