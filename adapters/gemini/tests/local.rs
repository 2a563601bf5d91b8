//! Routes, model lists and token counts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use cligate_adapter_gemini::{GeminiAdapter, count_tokens_response};
use cligate_adapter_sdk::{
    Adapter, AdapterError, ClientRequest, Header, LocalContext, ModelEntry, RouteAction,
};
use common::*;
use serde_json::{Value, json};

fn models() -> LocalContext {
    LocalContext {
        request_id: "r".into(),
        created_unix: 1,
        models: vec![
            ModelEntry {
                id: "gemini-2.5-pro".into(),
                owned_by: "vllm-main".into(),
                context_window: Some(131072),
                max_output_tokens: Some(8192),
            },
            ModelEntry {
                id: "qwen3-coder".into(),
                owned_by: "ollama".into(),
                context_window: None,
                max_output_tokens: None,
            },
            ModelEntry {
                id: "gemini-3.5-flash-lite".into(),
                owned_by: "vllm-small".into(),
                context_window: None,
                max_output_tokens: None,
            },
        ],
    }
}

fn get(path: &str, query: Option<&str>) -> Value {
    let req = ClientRequest {
        method: "GET".into(),
        path: path.into(),
        query: query.map(str::to_owned),
        headers: vec![Header::new("x-goog-api-client", "google-genai-sdk/1.30.0")],
        body: Vec::new(),
    };
    let response = GeminiAdapter::answer_local(req, models()).unwrap();
    assert_eq!(response.status, 200);
    serde_json::from_slice(&response.body).unwrap()
}

#[test]
fn model_list_in_googles_shape_with_pages() {
    let list = get("/v1beta/models", None);
    let models = list["models"].as_array().unwrap();
    assert_eq!(models.len(), 3);
    assert!(list.get("nextPageToken").is_none());
    assert_eq!(
        models[0],
        json!({"name": "models/gemini-2.5-pro", "baseModelId": "gemini-2.5-pro", "version": "001",
               "displayName": "gemini-2.5-pro", "description": "gemini-2.5-pro, served by the cligate gateway (vllm-main)",
               "inputTokenLimit": 131072, "outputTokenLimit": 8192,
               "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"]})
    );
    let page = get("/v1/models", Some("pageSize=2"));
    assert_eq!(page["models"].as_array().unwrap().len(), 2);
    assert_eq!(page["nextPageToken"], "2");
    let page = get("/v1/models", Some("pageSize=2&pageToken=2"));
    assert_eq!(page["models"][0]["name"], "models/gemini-3.5-flash-lite");
    assert!(page.get("nextPageToken").is_none());
}

#[test]
fn one_model_known_or_not() {
    assert_eq!(
        get("/v1beta/models/gemini-2.5-pro", None)["inputTokenLimit"],
        131072
    );
    assert_eq!(
        get("/v1beta/models/models/gemini-2.5-pro", None)["outputTokenLimit"],
        8192
    );
    let unknown = get("/v1beta/models/gemini-9-ultra", None);
    assert_eq!(unknown["name"], "models/gemini-9-ultra");
    assert!(unknown.get("inputTokenLimit").is_none());
}

fn count(path: &str, body: &Value) -> u64 {
    let req = post(path, None, body);
    let direct = count_tokens_response(&req).unwrap();
    let local = GeminiAdapter::answer_local(req, models()).unwrap();
    assert_eq!(direct.body, local.body);
    assert_eq!(local.status, 200);
    let value: Value = serde_json::from_slice(&local.body).unwrap();
    value["totalTokens"].as_u64().unwrap()
}

#[test]
fn count_tokens_estimates_in_every_body_shape() {
    // 16 bytes of text → 4 tokens; an image costs 258.
    let contents = json!([{"role": "user", "parts": [{"text": "0123456789abcdef"},
                                                      {"inlineData": {"mimeType": "image/png", "data": "AAAA"}}]}]);
    assert_eq!(
        count(
            "/v1beta/models/gemini-2.5-pro:countTokens",
            &json!({"contents": contents})
        ),
        262
    );
    assert_eq!(
        count(
            "/v1internal:countTokens",
            &json!({"request": {"model": "models/gemini-2.5-pro", "contents": contents}})
        ),
        262
    );
    assert_eq!(
        count(
            "/v1/models/m:countTokens",
            &json!({"generateContentRequest": {"model": "models/m", "contents": contents,
                    "systemInstruction": {"parts": [{"text": "abcd"}]}}})
        ),
        263
    );
    // Function calls and results count by their JSON; 17 bytes → 5 tokens.
    assert_eq!(
        count(
            "/v1beta/models/m:countTokens",
            &json!({"contents": [{"role": "model", "parts": [{"functionCall": {"name": "f", "args": {"a": "bcdefghij"}}}]}]})
        ),
        5
    );
    assert_eq!(count("/v1beta/models/m:countTokens", &json!({})), 0);
    let mut empty = post("/v1beta/models/m:countTokens", None, &json!({}));
    empty.body.clear();
    assert_eq!(
        serde_json::from_slice::<Value>(&count_tokens_response(&empty).unwrap().body).unwrap(),
        json!({"totalTokens": 0})
    );
    empty.body = b"[1".to_vec();
    assert!(matches!(
        count_tokens_response(&empty),
        Err(AdapterError::InvalidRequest(_))
    ));
}

#[test]
fn captured_tool_loop_request_counts_roughly_a_quarter_of_its_text() {
    let (req, _) = capture(TURN_2);
    let mut req = req;
    req.path = "/v1beta/models/gemini-3.8-flash:countTokens".into();
    let body = json!({"contents": serde_json::from_slice::<Value>(&req.body).unwrap()["contents"]});
    let tokens = count(&req.path, &body);
    assert!((100..300).contains(&tokens), "{tokens}");
}

#[test]
fn routes_cover_both_api_versions_and_code_assist() {
    let info = GeminiAdapter::info();
    assert_eq!(info.name, "gemini");
    let route = |method: &str, path: &str| {
        info.routes
            .iter()
            .find(|r| r.method == method && r.path == path)
            .unwrap_or_else(|| panic!("no route {method} {path}"))
    };
    for version in ["v1beta", "v1"] {
        for method in ["generateContent", "streamGenerateContent"] {
            assert_eq!(
                route("POST", &format!("/{version}/models/{{model}}:{method}")).action,
                RouteAction::Translate
            );
        }
        assert_eq!(
            route("POST", &format!("/{version}/models/{{model}}:countTokens")).action,
            RouteAction::Local
        );
        assert_eq!(
            route("POST", &format!("/{version}/models/{{*rest}}")).action,
            RouteAction::Translate
        );
        assert_eq!(
            route("GET", &format!("/{version}/models")).action,
            RouteAction::Local
        );
        assert_eq!(
            route("GET", &format!("/{version}/models/{{*name}}")).action,
            RouteAction::Local
        );
    }
    // `GET /v1/models` is shared with the OpenAI dialects: the Gemini list needs the SDK's header.
    assert_eq!(
        route("GET", "/v1/models").when_header.as_deref(),
        Some("x-goog-api-client")
    );
    assert_eq!(route("GET", "/v1beta/models").when_header, None);
    assert_eq!(
        route("POST", "/v1internal:generateContent").action,
        RouteAction::Translate
    );
    assert_eq!(
        route("POST", "/v1internal:streamGenerateContent").action,
        RouteAction::Translate
    );
    assert_eq!(
        route("POST", "/v1internal:countTokens").action,
        RouteAction::Local
    );
    assert_eq!(info.routes.len(), 15);
}

#[test]
fn unknown_local_routes_are_refused_not_guessed() {
    let req = ClientRequest {
        method: "DELETE".into(),
        path: "/v1beta/models/x".into(),
        query: None,
        headers: Vec::new(),
        body: Vec::new(),
    };
    assert!(matches!(
        GeminiAdapter::answer_local(req, models()),
        Err(AdapterError::Unsupported(_))
    ));
}
