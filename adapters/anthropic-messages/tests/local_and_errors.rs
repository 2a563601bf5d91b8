//! Local routes (HEAD /, count_tokens, models), routes declared, and error rendering.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use cligate_adapter_anthropic_messages::AnthropicMessages;
use cligate_adapter_sdk::{
    Adapter, ClientRequest, ClientResponse, ErrorKind, ErrorSite, GatewayError, Header,
    LocalContext, ModelEntry, RouteAction,
};
use common::capture;
use serde_json::{Value, json};

fn local_ctx() -> LocalContext {
    let model = |id: &str, cw: Option<u32>| ModelEntry {
        id: id.to_owned(),
        owned_by: "internal".to_owned(),
        context_window: cw,
        max_output_tokens: cw.map(|_| 32_000),
    };
    LocalContext {
        request_id: "req_local_1".to_owned(),
        created_unix: 1_790_000_000,
        models: vec![
            model("claude-opus-4-8", Some(200_000)),
            model("claude-haiku-4-5", None),
            model("Qwen/Qwen3-32B", None),
        ],
    }
}

fn get(path: &str, query: Option<&str>) -> ClientRequest {
    ClientRequest {
        method: "GET".to_owned(),
        path: path.to_owned(),
        query: query.map(str::to_owned),
        headers: vec![Header::new("anthropic-version", "2023-06-01")],
        body: Vec::new(),
    }
}

fn answer(req: ClientRequest) -> (ClientResponse, Value) {
    let response = AnthropicMessages::answer_local(req, local_ctx()).unwrap();
    let body = if response.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&response.body).unwrap()
    };
    (response, body)
}

#[test]
fn routes_are_declared_as_the_host_needs_them() {
    let info = AnthropicMessages::info();
    assert_eq!(info.name, "anthropic-messages");
    assert_eq!(info.dialect, "anthropic-messages");
    let routes: Vec<(String, String, Option<String>, bool)> = info
        .routes
        .into_iter()
        .map(|r| {
            (
                r.method,
                r.path,
                r.when_header,
                r.action == RouteAction::Translate,
            )
        })
        .collect();
    let v = Some("anthropic-version".to_owned());
    assert_eq!(
        routes,
        [
            ("POST".into(), "/v1/messages".into(), None, true),
            (
                "POST".into(),
                "/v1/messages/count_tokens".into(),
                None,
                false
            ),
            ("GET".into(), "/v1/models".into(), v.clone(), false),
            ("GET".into(), "/v1/models/{*id}".into(), v, false),
            ("HEAD".into(), "/".into(), None, false),
        ]
    );
}

#[test]
fn head_root_is_an_empty_200() {
    let req = ClientRequest {
        method: "HEAD".to_owned(),
        path: "/".to_owned(),
        query: None,
        headers: vec![Header::new("user-agent", "Bun/1.4.0")],
        body: Vec::new(),
    };
    let (response, _) = answer(req);
    assert_eq!(response.status, 200);
    assert!(response.body.is_empty());
}

#[test]
fn count_tokens_estimates_the_captured_request() {
    let mut req = capture("02-POST-v1-messages.request.json");
    req.path = "/v1/messages/count_tokens".to_owned();
    let (response, body) = answer(req);
    assert_eq!(response.status, 200);
    let n = body["input_tokens"].as_u64().unwrap();
    // The recorder (Anthropic-like) counted 19,455 for this body; bytes/4 lands nearby.
    assert!((12_000..30_000).contains(&n), "{n}");
    assert_eq!(body.as_object().unwrap().len(), 1);
}

#[test]
fn count_tokens_counts_text_tools_and_images() {
    let body = json!({
        "model": "claude-opus-4-8",
        "system": "12345678",                           // 8 bytes
        "tools": [{"name": "Read", "input_schema": {}}], // 4 + 2 bytes
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "abcd"},            // 4 bytes
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}
        ]}]
    });
    let req = ClientRequest {
        method: "POST".to_owned(),
        path: "/v1/messages/count_tokens".to_owned(),
        query: Some("beta=true".to_owned()),
        headers: Vec::new(),
        body: serde_json::to_vec(&body).unwrap(),
    };
    let (_, body) = answer(req);
    // ceil(18 / 4) = 5, plus 1,600 for the image.
    assert_eq!(body, json!({"input_tokens": 1605}));
}

#[test]
fn count_tokens_rejects_garbage_as_invalid_request() {
    let req = ClientRequest {
        method: "POST".to_owned(),
        path: "/v1/messages/count_tokens".to_owned(),
        query: None,
        headers: Vec::new(),
        body: b"[]".to_vec(),
    };
    assert!(matches!(
        AnthropicMessages::answer_local(req, local_ctx()),
        Err(cligate_adapter_sdk::AdapterError::InvalidRequest(_))
    ));
}

#[test]
fn models_list_in_anthropic_shape() {
    let (response, body) = answer(get("/v1/models", Some("limit=1000")));
    assert_eq!(response.status, 200);
    assert_eq!(
        body["data"][0],
        json!({"type": "model", "id": "claude-opus-4-8", "display_name": "claude-opus-4-8",
               "created_at": "2026-09-21T14:13:20Z", "max_input_tokens": 200000, "max_tokens": 32000})
    );
    assert_eq!(body["data"].as_array().unwrap().len(), 3);
    assert_eq!(body["has_more"], false);
    assert_eq!(body["first_id"], "claude-opus-4-8");
    assert_eq!(body["last_id"], "Qwen/Qwen3-32B");
    assert!(body.get("object").is_none(), "not the OpenAI shape");
}

#[test]
fn models_paging() {
    let ids = |body: &Value| -> Vec<String> {
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, page) = answer(get("/v1/models", Some("limit=1")));
    assert_eq!(ids(&page), ["claude-opus-4-8"]);
    assert_eq!(page["has_more"], true);
    let (_, page) = answer(get("/v1/models", Some("limit=1&after_id=claude-opus-4-8")));
    assert_eq!(ids(&page), ["claude-haiku-4-5"]);
    assert_eq!(page["has_more"], true);
    let (_, page) = answer(get("/v1/models", Some("after_id=claude-haiku-4-5")));
    assert_eq!(ids(&page), ["Qwen/Qwen3-32B"]);
    assert_eq!(page["has_more"], false);
    let (_, page) = answer(get(
        "/v1/models",
        Some("limit=1&before_id=Qwen%2FQwen3-32B"),
    ));
    assert_eq!(ids(&page), ["claude-haiku-4-5"]);
    assert_eq!(page["has_more"], true);
    let (_, empty) = answer(get("/v1/models", Some("after_id=Qwen/Qwen3-32B")));
    assert_eq!(empty["data"], json!([]));
    assert_eq!(empty["first_id"], Value::Null);
}

#[test]
fn one_model_by_id_and_unknown_id() {
    let (response, body) = answer(get("/v1/models/claude-haiku-4-5", None));
    assert_eq!(response.status, 200);
    assert_eq!(body["id"], "claude-haiku-4-5");
    assert!(body.get("max_input_tokens").is_none());
    let (_, body) = answer(get("/v1/models/Qwen%2FQwen3-32B", None));
    assert_eq!(body["id"], "Qwen/Qwen3-32B");
    let (_, body) = answer(get("/v1/models/Qwen/Qwen3-32B", None));
    assert_eq!(body["id"], "Qwen/Qwen3-32B");
    let (response, body) = answer(get("/v1/models/gpt-9", None));
    assert_eq!(response.status, 404);
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "not_found_error");
}

fn site() -> ErrorSite {
    ErrorSite {
        request_id: "req_err_1".to_owned(),
        path: "/v1/messages".to_owned(),
        query: Some("beta=true".to_owned()),
        client_model: Some("claude-opus-4-8".to_owned()),
    }
}

fn error(kind: ErrorKind, status: u16, retry: Option<u32>) -> ClientResponse {
    AnthropicMessages::translate_error(
        site(),
        GatewayError {
            kind,
            status,
            message: "something went wrong".to_owned(),
            retry_after_seconds: retry,
        },
    )
}

fn header<'a>(response: &'a ClientResponse, name: &str) -> Option<&'a str> {
    response
        .headers
        .iter()
        .find(|h| h.name == name)
        .map(|h| h.value.as_str())
}

#[test]
fn errors_use_anthropic_types_and_statuses() {
    let cases = [
        (ErrorKind::InvalidRequest, 400, 400, "invalid_request_error"),
        (ErrorKind::Authentication, 401, 401, "authentication_error"),
        (ErrorKind::Permission, 403, 403, "permission_error"),
        (ErrorKind::NotFound, 404, 404, "not_found_error"),
        (
            ErrorKind::MethodNotAllowed,
            405,
            405,
            "invalid_request_error",
        ),
        (ErrorKind::RequestTooLarge, 413, 413, "request_too_large"),
        (ErrorKind::RateLimited, 429, 429, "rate_limit_error"),
        (ErrorKind::Upstream, 502, 502, "api_error"),
        (ErrorKind::Upstream, 500, 500, "api_error"),
        (ErrorKind::Upstream, 503, 503, "api_error"),
        (ErrorKind::Upstream, 418, 502, "api_error"),
        (ErrorKind::Overloaded, 503, 529, "overloaded_error"),
        (ErrorKind::Timeout, 504, 504, "timeout_error"),
        (ErrorKind::AdapterBroken, 502, 502, "api_error"),
        (ErrorKind::Internal, 500, 500, "api_error"),
    ];
    for (kind, suggested, status, error_type) in cases {
        let response = error(kind, suggested, None);
        assert_eq!(response.status, status, "{kind:?}");
        let body: Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(
            body,
            json!({"type": "error", "error": {"type": error_type, "message": "something went wrong"},
                   "request_id": "req_err_1"}),
            "{kind:?}"
        );
        assert_eq!(header(&response, "content-type"), Some("application/json"));
        assert_eq!(header(&response, "request-id"), Some("req_err_1"));
        assert_eq!(header(&response, "retry-after"), None);
    }
}

#[test]
fn rate_limit_and_overload_carry_retry_after() {
    let response = error(ErrorKind::RateLimited, 429, Some(20));
    assert_eq!(response.status, 429);
    assert_eq!(header(&response, "retry-after"), Some("20"));
    let response = error(ErrorKind::Overloaded, 503, Some(5));
    assert_eq!(response.status, 529);
    assert_eq!(header(&response, "retry-after"), Some("5"));
}
