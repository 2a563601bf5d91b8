//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use cligate_adapter_openai_responses::OpenAiResponses;
use cligate_adapter_sdk::testing::parse_client_sse;
use cligate_adapter_sdk::{
    Adapter, ClientRequest, Header, PivotRequest, RequestContext, RequestOptions,
};
use serde_json::{Value, json};

/// A captured request from `tests/fixtures/captures/<folder>/<file>` at the workspace root.
pub fn capture(folder: &str, file: &str) -> ClientRequest {
    let path = format!(
        "{}/../../tests/fixtures/captures/{folder}/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let json: Value = serde_json::from_str(&text).unwrap();
    let headers = json["headers"]
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
    ClientRequest {
        method: json["method"].as_str().unwrap().to_owned(),
        path: json["path"].as_str().unwrap().to_owned(),
        query: None,
        headers,
        body: serde_json::to_vec(&json["body"]).unwrap(),
    }
}

/// A POST /v1/responses request with a JSON body and Codex-like headers.
pub fn request(body: Value) -> ClientRequest {
    ClientRequest {
        method: "POST".into(),
        path: "/v1/responses".into(),
        query: None,
        headers: vec![Header::new("content-type", "application/json")],
        body: serde_json::to_vec(&body).unwrap(),
    }
}

pub fn options(redact: bool) -> RequestOptions {
    RequestOptions {
        request_id: "req_test_0001".into(),
        redact_environment: redact,
    }
}

/// Translate and parse the pivot body.
pub fn translate(req: ClientRequest) -> (PivotRequest, Value) {
    let pivot = OpenAiResponses::translate_request(req, options(false)).expect("translates");
    let body = serde_json::from_slice(&pivot.body).unwrap();
    (pivot, body)
}

/// Translate a request body written in the test.
pub fn translate_body(body: Value) -> (PivotRequest, Value) {
    translate(request(body))
}

/// The context the host would build for the answer, with the request's state.
pub fn context(state: Vec<u8>) -> RequestContext {
    RequestContext {
        request_id: "req_test_0001".into(),
        created_unix: 1_790_000_000,
        client_model: "gpt-6.1-sol".into(),
        backend_model: "qwen3-coder".into(),
        path: "/v1/responses".into(),
        query: None,
        warnings: Vec::new(),
        state,
    }
}

/// The state a request declaring the usual Codex tool shapes produces.
pub fn codex_state() -> Vec<u8> {
    let (pivot, _) = translate_body(json!({
        "model": "gpt-6.1-sol",
        "stream": true,
        "include": ["reasoning.encrypted_content"],
        "parallel_tool_calls": true,
        "tools": [
            {"type": "function", "name": "exec_command", "parameters": {"type": "object"}},
            {"type": "local_shell"},
            {"type": "namespace", "name": "multi_agent_v1",
             "tools": [{"type": "function", "name": "spawn_agent", "parameters": {"type": "object"}}]}
        ],
        "input": [
            {"type": "additional_tools", "role": "developer", "tools": [
                {"type": "namespace", "name": "functions", "tools": [
                    {"type": "custom", "name": "exec", "format": {"type": "grammar", "syntax": "lark", "definition": "start: SOURCE"}}
                ]}
            ]},
            {"type": "message", "role": "user", "content": "hi"}
        ]
    }));
    pivot.state
}

/// Client SSE as (event name, JSON data), checking every frame names its JSON `type`.
pub fn events(bytes: &[u8]) -> Vec<(String, Value)> {
    parse_client_sse(bytes)
        .into_iter()
        .map(|(name, data)| {
            let value: Value =
                serde_json::from_str(&data).unwrap_or_else(|e| panic!("{data}: {e}"));
            let name = name.expect("every frame has an event name");
            assert_eq!(
                value["type"],
                name.as_str(),
                "event name matches the JSON type"
            );
            (name, value)
        })
        .collect()
}

const TERMINAL: [&str; 3] = [
    "response.completed",
    "response.incomplete",
    "response.failed",
];

/// What a checked stream assembles to.
#[derive(Debug)]
pub struct Assembled {
    /// The terminal event's type.
    pub terminal: String,
    /// The terminal event's `response`.
    pub response: Value,
    /// Items rebuilt from `output_item.added` + deltas, as `output_item.done` carried them.
    pub items: Vec<Value>,
}

/// Check the Responses streaming rules and rebuild the items from the deltas:
/// `response.created` then `response.in_progress` first; `sequence_number` 0, 1, 2, …;
/// `output_item.added` with the next `output_index` before any event of that item; one
/// item open at a time; deltas add up to the `.done` texts and to the final item; every
/// added item done (unless the response failed); exactly one terminal event, last.
pub fn check(bytes: &[u8]) -> Assembled {
    let events = events(bytes);
    assert!(events.len() >= 3, "{events:?}");
    assert_eq!(events[0].0, "response.created");
    assert_eq!(events[1].0, "response.in_progress");
    for (expected, (_, event)) in events.iter().enumerate() {
        assert_eq!(event["sequence_number"], expected as u64, "{event}");
    }
    let response_id = events[0].1["response"]["id"].as_str().unwrap().to_owned();
    assert!(response_id.starts_with("resp_"));

    let mut open: Option<(u64, String, Value)> = None; // (output_index, item id, item)
    let mut text: HashMap<String, String> = HashMap::new();
    let mut done_items: Vec<Value> = Vec::new();
    let mut ids = std::collections::HashSet::new();
    let mut terminal = None;
    for (position, (name, event)) in events.iter().enumerate() {
        if TERMINAL.contains(&name.as_str()) {
            assert_eq!(position, events.len() - 1, "terminal event is last");
            terminal = Some((name.clone(), event["response"].clone()));
            continue;
        }
        match name.as_str() {
            "response.created" | "response.in_progress" => {
                assert_eq!(event["response"]["id"], response_id.as_str());
                assert_eq!(event["response"]["status"], "in_progress");
            }
            "response.output_item.added" => {
                assert!(open.is_none(), "one item at a time: {event}");
                let index = event["output_index"].as_u64().unwrap();
                assert_eq!(index, done_items.len() as u64, "output_index is sequential");
                let id = event["item"]["id"].as_str().unwrap().to_owned();
                assert!(ids.insert(id.clone()), "item ids are unique");
                open = Some((index, id, event["item"].clone()));
            }
            "response.output_item.done" => {
                let (index, id, _) = open.take().expect("done after added");
                assert_eq!(event["output_index"], index);
                let item = &event["item"];
                assert_eq!(item["id"], id.as_str());
                let streamed = text.remove(&id).unwrap_or_default();
                match item["type"].as_str().unwrap() {
                    "message" => assert_eq!(item["content"][0]["text"], streamed.as_str()),
                    "reasoning" => assert_eq!(item["summary"][0]["text"], streamed.as_str()),
                    "function_call" => assert_eq!(item["arguments"], streamed.as_str()),
                    "custom_tool_call" => assert_eq!(item["input"], streamed.as_str()),
                    "local_shell_call" => {}
                    other => panic!("unexpected item {other}"),
                }
                done_items.push(item.clone());
            }
            other => {
                let (index, id, item) = open
                    .as_ref()
                    .unwrap_or_else(|| panic!("{other} without an open item"));
                assert_eq!(&event["output_index"], index, "{event}");
                assert_eq!(event["item_id"], id.as_str(), "{event}");
                let kind = item["type"].as_str().unwrap();
                let buffer = text.entry(id.clone()).or_default();
                match other {
                    "response.content_part.added" | "response.content_part.done" => {
                        assert_eq!(kind, "message");
                        assert_eq!(event["part"]["type"], "output_text");
                        if other.ends_with("done") {
                            assert_eq!(event["part"]["text"], buffer.as_str());
                        }
                    }
                    "response.output_text.delta" => {
                        assert_eq!(kind, "message");
                        assert!(event["logprobs"].is_array());
                        buffer.push_str(event["delta"].as_str().expect("string delta"));
                    }
                    "response.output_text.done" => assert_eq!(event["text"], buffer.as_str()),
                    "response.reasoning_summary_part.added"
                    | "response.reasoning_summary_part.done" => {
                        assert_eq!(kind, "reasoning");
                        assert_eq!(event["summary_index"], 0);
                        assert_eq!(event["part"]["type"], "summary_text");
                    }
                    "response.reasoning_summary_text.delta" => {
                        buffer.push_str(event["delta"].as_str().expect("string delta"));
                    }
                    "response.reasoning_summary_text.done" => {
                        assert_eq!(event["text"], buffer.as_str())
                    }
                    "response.function_call_arguments.delta" => {
                        assert_eq!(kind, "function_call");
                        buffer.push_str(event["delta"].as_str().expect("string delta"));
                    }
                    "response.function_call_arguments.done" => {
                        assert_eq!(event["arguments"], buffer.as_str());
                        assert_eq!(event["name"], item["name"]);
                    }
                    "response.custom_tool_call_input.delta" => {
                        assert_eq!(kind, "custom_tool_call");
                        buffer.push_str(event["delta"].as_str().expect("string delta"));
                    }
                    "response.custom_tool_call_input.done" => {
                        assert_eq!(event["input"], buffer.as_str())
                    }
                    unknown => panic!("unexpected event {unknown}"),
                }
            }
        }
    }
    let (terminal, response) = terminal.expect("a terminal event");
    assert_eq!(response["id"], response_id.as_str());
    if terminal == "response.failed" {
        assert_eq!(response["status"], "failed");
        assert!(response["error"]["code"].is_string());
        assert!(response["error"]["message"].is_string());
    } else {
        assert!(open.is_none(), "every added item is done before the end");
        assert_eq!(response["output"], Value::Array(done_items.clone()));
    }
    Assembled {
        terminal,
        response,
        items: done_items,
    }
}

/// Chat chunk SSE for a scripted upstream: each JSON becomes one `data:` event, then `[DONE]`.
pub fn upstream(chunks: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in chunks {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(serde_json::to_string(chunk).unwrap().as_bytes());
        out.extend_from_slice(b"\n\n");
    }
    out.extend_from_slice(b"data: [DONE]\n\n");
    out
}

/// A content/reasoning/tool delta chunk.
pub fn delta(delta: Value) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": null}]})
}

/// The finish chunk.
pub fn finish(reason: &str) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}, "finish_reason": reason}]})
}

/// The usage-only chunk after the finish chunk.
pub fn usage(prompt: u64, completion: u64, cached: u64, reasoning: u64) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [], "usage": {
        "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning}}})
}
