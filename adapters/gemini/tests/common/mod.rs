//! Helpers shared by the integration tests: captured requests, scripted pivot streams and
//! readers for what the adapter sends to the client.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cligate_adapter_gemini::GeminiAdapter;
use cligate_adapter_sdk::{
    Adapter, ClientRequest, Header, PivotRequest, RequestContext, RequestOptions, testing,
};
use serde_json::{Value, json};

/// The capture folder (shared with the e2e suite).
pub const CAPTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/captures/gemini-cli-main/"
);

pub const CLASSIFIER: &str =
    "01-POST-v1beta-models-gemini-3.5-flash-lite_generateContent.request.json";
pub const TURN_1: &str =
    "02-POST-v1beta-models-gemini-3.8-flash_streamGenerateContent.request.json";
pub const TURN_2: &str =
    "03-POST-v1beta-models-gemini-3.8-flash_streamGenerateContent.request.json";

/// A captured request as the host would hand it over (header names lower-cased).
pub fn capture(name: &str) -> (ClientRequest, Value) {
    let text = std::fs::read(format!("{CAPTURES}{name}")).unwrap();
    let record: Value = serde_json::from_slice(&text).unwrap();
    let query: Vec<String> = record["query"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| {
            format!(
                "{}={}",
                pair[0].as_str().unwrap(),
                pair[1].as_str().unwrap()
            )
        })
        .collect();
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
        .collect();
    let body = record["body"].clone();
    (
        ClientRequest {
            method: record["method"].as_str().unwrap().to_owned(),
            path: record["path"].as_str().unwrap().to_owned(),
            query: (!query.is_empty()).then(|| query.join("&")),
            headers,
            body: serde_json::to_vec(&body).unwrap(),
        },
        body,
    )
}

/// A POST with a JSON body.
pub fn post(path: &str, query: Option<&str>, body: &Value) -> ClientRequest {
    ClientRequest {
        method: "POST".into(),
        path: path.into(),
        query: query.map(str::to_owned),
        headers: vec![
            Header::new("content-type", "application/json"),
            Header::new(
                "user-agent",
                "GeminiCLI/0.61.0/gemini-2.5-pro (linux; x64; terminal)",
            ),
        ],
        body: serde_json::to_vec(body).unwrap(),
    }
}

pub fn options() -> RequestOptions {
    RequestOptions {
        request_id: "req_test_0001".into(),
        redact_environment: false,
    }
}

pub fn translate(req: ClientRequest) -> PivotRequest {
    GeminiAdapter::translate_request(req, options()).unwrap()
}

/// The pivot body as JSON.
pub fn body(pivot: &PivotRequest) -> Value {
    serde_json::from_slice(&pivot.body).unwrap()
}

/// Translate a request body sent to `models/m:generateContent`.
pub fn pivot_of(request: Value) -> (PivotRequest, Value) {
    let pivot = translate(post("/v1beta/models/m:generateContent", None, &request));
    let body = body(&pivot);
    (pivot, body)
}

/// The context the host builds for the answer to `pivot`.
pub fn context_for(pivot: &PivotRequest, path: &str, query: Option<&str>) -> RequestContext {
    let mut ctx = testing::context(&pivot.model, "backend-model");
    ctx.path = path.into();
    ctx.query = query.map(str::to_owned);
    ctx.state = pivot.state.clone();
    ctx
}

/// A context with explicit state bytes.
pub fn context(state: &str, query: Option<&str>) -> RequestContext {
    let mut ctx = testing::context("gemini-2.5-pro", "backend-model");
    ctx.path = "/v1beta/models/gemini-2.5-pro:streamGenerateContent".into();
    ctx.query = query.map(str::to_owned);
    ctx.state = state.as_bytes().to_vec();
    ctx
}

// ---------------------------------------------------------------------------------------
// Scripted pivot streams
// ---------------------------------------------------------------------------------------

/// Chat chunks as an upstream SSE body, ending with `[DONE]`.
pub fn sse(chunks: &[Value]) -> Vec<u8> {
    let mut out = String::new();
    for chunk in chunks {
        out.push_str("data: ");
        out.push_str(&chunk.to_string());
        out.push_str("\n\n");
    }
    out.push_str("data: [DONE]\n\n");
    out.into_bytes()
}

pub fn delta(delta: Value) -> Value {
    json!({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"backend-model",
           "choices":[{"index":0,"delta":delta,"finish_reason":null}]})
}

pub fn finish(reason: &str) -> Value {
    json!({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"backend-model",
           "choices":[{"index":0,"delta":{},"finish_reason":reason}]})
}

pub fn usage(prompt: u64, completion: u64, cached: u64, reasoning: u64) -> Value {
    json!({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"backend-model","choices":[],
           "usage":{"prompt_tokens":prompt,"completion_tokens":completion,"total_tokens":prompt+completion,
                    "prompt_tokens_details":{"cached_tokens":cached},
                    "completion_tokens_details":{"reasoning_tokens":reasoning}}})
}

/// The whole Chat answer equivalent to a scripted stream: what a backend would have
/// answered without streaming.
pub fn whole_answer(chunks: &[Value]) -> Vec<u8> {
    let mut content = String::new();
    let mut reasoning = String::new();
    let mut calls: Vec<Value> = Vec::new();
    let mut finish = Value::Null;
    let mut usage = Value::Null;
    for chunk in chunks {
        if let Some(u) = chunk.get("usage").filter(|u| !u.is_null()) {
            usage = u.clone();
        }
        for choice in chunk["choices"].as_array().unwrap() {
            let d = &choice["delta"];
            if let Some(t) = d["content"].as_str() {
                content.push_str(t);
            }
            if let Some(t) = d["reasoning_content"].as_str().or(d["reasoning"].as_str()) {
                reasoning.push_str(t);
            }
            for call in d["tool_calls"].as_array().into_iter().flatten() {
                let index = call["index"].as_u64().unwrap() as usize;
                while calls.len() <= index {
                    calls.push(
                        json!({"id":null,"type":"function","function":{"name":"","arguments":""}}),
                    );
                }
                let slot = &mut calls[index];
                if let Some(id) = call["id"].as_str() {
                    slot["id"] = json!(id);
                }
                if let Some(name) = call["function"]["name"].as_str() {
                    slot["function"]["name"] = json!(name);
                }
                if let Some(args) = call["function"]["arguments"].as_str() {
                    let joined = format!(
                        "{}{}",
                        slot["function"]["arguments"].as_str().unwrap(),
                        args
                    );
                    slot["function"]["arguments"] = json!(joined);
                }
            }
            if !choice["finish_reason"].is_null() {
                finish = choice["finish_reason"].clone();
            }
        }
    }
    let mut message = json!({"role":"assistant","content": if content.is_empty() { Value::Null } else { json!(content) }});
    if !reasoning.is_empty() {
        message["reasoning_content"] = json!(reasoning);
    }
    if !calls.is_empty() {
        message["tool_calls"] = json!(calls);
    }
    let mut answer = json!({"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"backend-model",
                            "choices":[{"index":0,"message":message,"finish_reason":finish}]});
    if !usage.is_null() {
        answer["usage"] = usage;
    }
    serde_json::to_vec(&answer).unwrap()
}

// ---------------------------------------------------------------------------------------
// Reading the client side
// ---------------------------------------------------------------------------------------

/// Split an `alt=sse` body the way `@google/genai` 1.30 does, and fail loudly where the SDK
/// would stall or throw: each frame must match `^\s*data: (.*)(?:\n\n|\r\r|\r\n\r\n)`, with
/// JavaScript's `.` (no `\n`, `\r`, U+2028, U+2029), and hold one JSON object; nothing may
/// be left over ("Incomplete JSON segment at the end").
pub fn sdk_frames(bytes: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(bytes).expect("UTF-8");
    let mut rest = text;
    let mut frames = Vec::new();
    while !rest.trim().is_empty() {
        let body = rest.trim_start_matches(|c: char| c.is_whitespace());
        let payload = body
            .strip_prefix("data: ")
            .unwrap_or_else(|| panic!("frame does not start with `data: `: {body:.80}"));
        let end = payload
            .find(['\n', '\r', '\u{2028}', '\u{2029}'])
            .unwrap_or_else(|| panic!("unterminated frame: {payload:.80}"));
        let after = &payload[end..];
        let delimiter = ["\r\n\r\n", "\n\n", "\r\r"]
            .into_iter()
            .find(|d| after.starts_with(d))
            .unwrap_or_else(|| {
                panic!(
                    "frame not followed by a blank line: {:?}",
                    &after[..after.len().min(10)]
                )
            });
        let json = &payload[..end];
        assert!(
            !json.starts_with(char::is_whitespace),
            "data must follow `data: ` directly"
        );
        frames.push(
            serde_json::from_str(json).unwrap_or_else(|e| panic!("frame JSON {e}: {json:.120}")),
        );
        rest = &after[delimiter.len()..];
    }
    frames
}

/// Check the stricter framing this adapter promises: only `data: <JSON>\r\n\r\n` frames.
pub fn assert_strict_frames(bytes: &[u8]) {
    let text = std::str::from_utf8(bytes).unwrap();
    assert!(
        text.ends_with("\r\n\r\n") || text.is_empty(),
        "ends mid-frame: {text:.200}"
    );
    for frame in text.split_terminator("\r\n\r\n") {
        assert!(frame.starts_with("data: "), "not a data frame: {frame:.80}");
        let json = &frame["data: ".len()..];
        assert!(!json.is_empty() && !json.starts_with(char::is_whitespace));
        assert!(
            !json.contains(['\r', '\n', '\u{2028}', '\u{2029}']),
            "multi-line frame"
        );
    }
}

/// A JSON-array stream as its elements.
pub fn array_elements(bytes: &[u8]) -> Vec<Value> {
    let value: Value = serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not a JSON array ({e}): {}", String::from_utf8_lossy(bytes)));
    value.as_array().expect("array").clone()
}

/// A Gemini answer (whole, or a stream's chunks) reduced to what a client keeps:
/// thoughts and text concatenated, calls in order, the last finish reason and usage.
#[derive(Debug, PartialEq)]
pub struct Assembled {
    pub thoughts: String,
    pub text: String,
    pub calls: Vec<Value>,
    pub signatures: Vec<Value>,
    pub finish_reason: Value,
    pub usage: Value,
    pub model_version: Value,
    pub response_id: Value,
}

pub fn assemble(responses: &[Value]) -> Assembled {
    let mut out = Assembled {
        thoughts: String::new(),
        text: String::new(),
        calls: Vec::new(),
        signatures: Vec::new(),
        finish_reason: Value::Null,
        usage: Value::Null,
        model_version: Value::Null,
        response_id: Value::Null,
    };
    for response in responses {
        let candidate = &response["candidates"][0];
        for part in candidate["content"]["parts"].as_array().unwrap() {
            if let Some(call) = part.get("functionCall") {
                out.calls.push(call.clone());
                out.signatures
                    .push(part.get("thoughtSignature").cloned().unwrap_or(Value::Null));
            } else if part["thought"] == json!(true) {
                out.thoughts.push_str(part["text"].as_str().unwrap());
            } else {
                out.text.push_str(part["text"].as_str().unwrap());
            }
        }
        if !candidate["finishReason"].is_null() {
            out.finish_reason = candidate["finishReason"].clone();
        }
        if let Some(u) = response.get("usageMetadata") {
            out.usage = u.clone();
        }
        out.model_version = response["modelVersion"].clone();
        out.response_id = response["responseId"].clone();
    }
    out
}
