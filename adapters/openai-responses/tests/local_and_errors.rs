//! Routes, the WebSocket probe answer and HTTP errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cligate_adapter_openai_responses::OpenAiResponses;
use cligate_adapter_sdk::{
    Adapter, ClientRequest, ErrorKind, ErrorSite, GatewayError, Header, LocalContext, RouteAction,
};
use serde_json::{Value, json};

#[test]
fn routes() {
    let info = OpenAiResponses::info();
    assert_eq!(info.name, "openai-responses");
    assert_eq!(info.dialect, "openai-responses");
    let routes: Vec<(&str, &str, bool, bool)> = info
        .routes
        .iter()
        .map(|r| {
            (
                r.method.as_str(),
                r.path.as_str(),
                matches!(r.action, RouteAction::Translate),
                r.when_header.is_some(),
            )
        })
        .collect();
    assert_eq!(
        routes,
        [
            ("POST", "/v1/responses", true, false),
            ("POST", "/backend-api/codex/responses", true, false),
            ("GET", "/v1/responses", false, false),
            ("GET", "/backend-api/codex/responses", false, false),
        ]
    );
}

#[test]
fn websocket_probe_gets_426_so_codex_falls_back_to_post() {
    for path in ["/v1/responses", "/backend-api/codex/responses"] {
        let req = ClientRequest {
            method: "GET".into(),
            path: path.into(),
            query: None,
            headers: vec![
                Header::new("upgrade", "websocket"),
                Header::new("openai-beta", "responses_websockets=2026-02-06"),
            ],
            body: Vec::new(),
        };
        let ctx = LocalContext {
            request_id: "r".into(),
            created_unix: 0,
            models: Vec::new(),
        };
        let response = OpenAiResponses::answer_local(req, ctx).unwrap();
        assert_eq!(response.status, 426);
        let body: Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(body["error"]["code"], "websocket_not_supported");
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(body["error"]["param"], Value::Null);
    }
}

#[test]
fn translate_error_renders_openai_errors() {
    let site = ErrorSite {
        request_id: "r".into(),
        path: "/v1/responses".into(),
        query: None,
        client_model: Some("internal-coder".into()),
    };
    let response = OpenAiResponses::translate_error(
        site,
        GatewayError {
            kind: ErrorKind::RateLimited,
            status: 429,
            message: "Too many requests.".into(),
            retry_after_seconds: Some(7),
        },
    );
    assert_eq!(response.status, 429);
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(
        body,
        json!({"error": {"message": "Too many requests. Please try again in 7s.", "type": "rate_limit_error",
                         "param": null, "code": "rate_limit_exceeded"}})
    );
    assert!(
        response
            .headers
            .iter()
            .any(|h| h.name == "retry-after" && h.value == "7")
    );
}
