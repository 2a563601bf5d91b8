//! The official `@anthropic-ai/sdk` (npm) against the real gateway and the
//! `anthropic-messages` adapter: `messages.stream()` + `finalMessage()` and the non-streaming
//! `messages.create` parse every scripted upstream stream and assemble the scripted message
//! (text, thinking from both reasoning spellings, parallel and whole tool calls with their
//! full input, usage after the finish chunk); a mid-stream failure is an `APIError`; and the
//! upstream receives a clean Chat Completions request.
//!
//! Needs the `cligate` binary, `plugins-dist/anthropic-messages.wasm` and
//! `npm ci --prefix tests/node`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use cligate_e2e::ChatStream;
use cligate_e2e::Reply;
use cligate_e2e::claude::anthropic_stack;
use cligate_e2e::fixture::{CLIENT_KEY, Stack, assert_no_client_leak, backend_model, http};
use cligate_e2e::node::run_node;
use cligate_e2e::sse::parse_all;
use cligate_e2e::upstream::{ReasoningField, RecordedRequest, ToolCall};
use serde_json::{Value, json};

/// The model the SDK asks for (no rule matches: routed to the default backend model).
const MODEL: &str = "claude-sonnet-4-5";
const MAX_TOKENS: u64 = 4096;
/// `metadata.user_id` the script sends; it must not reach the upstream.
const USER_ID_MARKER: &str = "d3v1c3-1d-never-forwarded";

/// Run `anthropic-stream.mjs` against the stack; panics with its output unless it exits 0.
async fn sdk(s: &Stack, env: &[(&str, &str)]) -> Value {
    let base = s.gateway.base_url();
    let mut all: Vec<(&str, &str)> = vec![("BASE_URL", base.as_str()), ("MODEL", MODEL)];
    all.extend_from_slice(env);
    let out = run_node("anthropic-stream.mjs", &all).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "anthropic-stream.mjs failed ({}):\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("script output is not JSON ({e}): {stdout}\nstderr: {stderr}"))
}

/// The message without what legitimately differs between two calls (ids, signatures).
fn comparable(message: &Value) -> Value {
    let mut m = message.clone();
    let obj = m.as_object_mut().unwrap();
    obj.remove("id");
    // Added by the SDK's stream helper (structured-output parsing), not by the gateway.
    obj.remove("parsed_output");
    for block in m["content"].as_array_mut().unwrap() {
        if block["type"] == "thinking" {
            block.as_object_mut().unwrap().remove("signature");
        }
    }
    m
}

/// The streamed and the whole message agree, and both are well-formed Anthropic messages.
fn assert_stream_equals_create(out: &Value) -> (Value, Value) {
    let streamed = out["stream"]["message"].clone();
    let created = out["create"]["message"].clone();
    for m in [&streamed, &created] {
        assert_eq!(m["type"], "message", "{m:#}");
        assert_eq!(m["role"], "assistant", "{m:#}");
        assert_eq!(m["model"], MODEL, "the client's model is echoed: {m:#}");
        assert!(
            m["id"].as_str().is_some_and(|id| id.starts_with("msg_")),
            "{m:#}"
        );
    }
    assert_eq!(
        comparable(&streamed),
        comparable(&created),
        "streamed and non-streamed answers differ"
    );
    (streamed, created)
}

/// The SDK saw a well-ordered stream: `message_start` first, `message_stop` last,
/// `message_delta` right before it.
fn assert_event_frame(out: &Value) {
    let events: Vec<&str> = out["stream"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(events.first(), Some(&"message_start"), "{events:?}");
    assert_eq!(events.last(), Some(&"message_stop"), "{events:?}");
    assert_eq!(events[events.len() - 2], "message_delta", "{events:?}");
    let starts = events
        .iter()
        .filter(|e| **e == "content_block_start")
        .count();
    let stops = events
        .iter()
        .filter(|e| **e == "content_block_stop")
        .count();
    assert_eq!(starts, stops, "{events:?}");
}

/// What the upstream must see of every request: routed model, the client's limits, a clean
/// header set (no `x-api-key`, no client user agent, no `x-stainless-*`), no `metadata`.
fn assert_clean_upstream(r: &RecordedRequest, stream: bool) -> Value {
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert!(
        !r.used_default,
        "an unscripted request reached the upstream"
    );
    assert_no_client_leak(r);
    for name in r.header_names() {
        assert!(
            name != "x-api-key"
                && !name.starts_with("x-stainless")
                && !name.starts_with("anthropic-"),
            "client header `{name}` reached the upstream: {:?}",
            r.headers
        );
    }
    let ua = r.header("user-agent").unwrap_or("");
    assert!(ua.starts_with("cligate/"), "upstream user-agent `{ua}`");
    let body = r.json();
    assert_eq!(
        body["model"],
        backend_model(),
        "routed via CLIGATE_DEFAULT_MODEL"
    );
    assert_eq!(body["max_tokens"], MAX_TOKENS, "{body:#}");
    assert!(
        body.get("metadata").is_none(),
        "metadata forwarded: {body:#}"
    );
    let text = String::from_utf8_lossy(&r.body);
    assert!(
        !text.contains(USER_ID_MARKER),
        "metadata.user_id reached the upstream"
    );
    assert!(
        !text.contains(CLIENT_KEY),
        "the client's key is in the body"
    );
    assert_eq!(
        body["messages"][0],
        json!({"role": "system", "content": "You are a terse assistant."}),
        "{body:#}"
    );
    assert_eq!(body["messages"][1]["role"], "user", "{body:#}");
    if stream {
        assert_eq!(body["stream"], true, "{body:#}");
        assert_eq!(body["stream_options"]["include_usage"], true, "{body:#}");
    } else {
        assert_ne!(body["stream"], true, "{body:#}");
    }
    body
}

#[tokio::test]
async fn text_streamed_and_whole() {
    let s = anthropic_stack(&[]).await.unwrap();
    let text = "Hello — héllo, 你好. A streamed answer split into several pieces.";
    s.upstream
        .push_all([Reply::text_stream(text, 7), Reply::text(text)]);
    let out = sdk(&s, &[]).await;
    assert_event_frame(&out);
    let (streamed, _) = assert_stream_equals_create(&out);
    assert_eq!(streamed["content"], json!([{"type": "text", "text": text}]));
    assert_eq!(streamed["stop_reason"], "end_turn");
    assert_eq!(streamed["stop_sequence"], Value::Null);
    assert_eq!(streamed["usage"]["input_tokens"], 11);
    assert_eq!(streamed["usage"]["output_tokens"], 7);
    assert!(out["stream"]["deltas"]["text_delta"].as_u64().unwrap() >= 2);

    let reqs = s.upstream.chat_requests();
    assert_eq!(reqs.len(), 2, "one upstream call per SDK call");
    let up = assert_clean_upstream(&reqs[0], true);
    assert!(up.get("tools").is_none(), "{up:#}");
    assert_clean_upstream(&reqs[1], false);
}

#[tokio::test]
async fn reasoning_in_both_spellings_becomes_a_thinking_block() {
    let s = anthropic_stack(&[]).await.unwrap();
    for field in [ReasoningField::ReasoningContent, ReasoningField::Reasoning] {
        let reasoning = format!(
            "The user wants a greeting ({}). Keep it short; no tool is needed.",
            field.name()
        );
        let text = "Hello! Thought about it first.";
        s.upstream.push_all([
            Reply::reasoning_stream(field, &reasoning, text, 5),
            Reply::reasoning(field, &reasoning, text),
        ]);
        let out = sdk(&s, &[("THINKING", "1")]).await;
        assert_event_frame(&out);
        let (streamed, created) = assert_stream_equals_create(&out);
        for m in [&streamed, &created] {
            let content = m["content"].as_array().unwrap();
            assert_eq!(content.len(), 2, "{}: {m:#}", field.name());
            assert_eq!(content[0]["type"], "thinking");
            assert_eq!(content[0]["thinking"], reasoning.as_str());
            assert!(
                content[0]["signature"]
                    .as_str()
                    .is_some_and(|sig| !sig.is_empty()),
                "thinking blocks carry a signature: {m:#}"
            );
            assert_eq!(content[1], json!({"type": "text", "text": text}));
            assert_eq!(m["stop_reason"], "end_turn");
            assert_eq!(m["usage"]["input_tokens"], 15);
            assert_eq!(m["usage"]["output_tokens"], 12);
        }
        let deltas = &out["stream"]["deltas"];
        assert!(deltas["thinking_delta"].as_u64().unwrap() >= 2, "{deltas}");
        assert_eq!(deltas["signature_delta"], 1, "{deltas}");
    }
    let reqs = s.upstream.chat_requests();
    assert_eq!(reqs.len(), 4);
    for (i, r) in reqs.iter().enumerate() {
        let up = assert_clean_upstream(r, i % 2 == 0);
        // `thinking.budget_tokens` 2048 → the lowest effort bucket.
        assert_eq!(up["reasoning_effort"], "low", "{up:#}");
    }
}

fn parallel_calls() -> Vec<ToolCall> {
    vec![
        ToolCall::new(
            "call_alpha",
            "read_file",
            r#"{"path":"/srv/a b.txt","range":[1,20]}"#,
        ),
        ToolCall::new(
            "call_beta",
            "run_shell",
            r#"{"command":"grep -rn \"needle\" . | head","timeout_ms":5000}"#,
        ),
    ]
}

fn expected_tool_uses(calls: &[ToolCall]) -> Value {
    Value::Array(
        calls
            .iter()
            .map(|c| {
                json!({"type": "tool_use", "id": c.id, "name": c.name,
                       "input": serde_json::from_str::<Value>(&c.arguments).unwrap()})
            })
            .collect(),
    )
}

/// The tools as the upstream must receive them: functions with the input schemas.
fn assert_upstream_tools(up: &Value) {
    let tools = up["tools"].as_array().expect("tools forwarded");
    let names: Vec<&str> = tools
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["read_file", "run_shell"], "{up:#}");
    for t in tools {
        assert_eq!(t["type"], "function");
    }
    assert_eq!(tools[0]["function"]["description"], "Read a file");
    assert_eq!(
        tools[0]["function"]["parameters"],
        json!({"type": "object",
               "properties": {"path": {"type": "string"},
                              "range": {"type": "array", "items": {"type": "integer"}}},
               "required": ["path"]})
    );
    assert_eq!(
        tools[1]["function"]["parameters"]["required"],
        json!(["command"])
    );
}

#[tokio::test]
async fn two_parallel_tool_calls_fragmented() {
    let s = anthropic_stack(&[]).await.unwrap();
    let calls = parallel_calls();
    s.upstream.push_all([
        Reply::tool_calls_stream(&calls, 6),
        Reply::tool_calls(&calls),
    ]);
    let out = sdk(&s, &[("TOOLS", "1")]).await;
    assert_event_frame(&out);
    let (streamed, _) = assert_stream_equals_create(&out);
    assert_eq!(streamed["content"], expected_tool_uses(&calls));
    assert_eq!(streamed["stop_reason"], "tool_use");
    assert_eq!(streamed["usage"]["input_tokens"], 20);
    assert_eq!(streamed["usage"]["output_tokens"], 9);
    assert!(
        out["stream"]["deltas"]["input_json_delta"]
            .as_u64()
            .unwrap()
            >= 6,
        "arguments streamed in pieces: {}",
        out["stream"]["deltas"]
    );

    let reqs = s.upstream.chat_requests();
    assert_eq!(reqs.len(), 2);
    for (i, r) in reqs.iter().enumerate() {
        assert_upstream_tools(&assert_clean_upstream(r, i == 0));
    }
}

#[tokio::test]
async fn tool_call_sent_whole_after_text() {
    let s = anthropic_stack(&[]).await.unwrap();
    let call = ToolCall::new(
        "call_whole_1",
        "read_file",
        r#"{"path":"/etc/hostname","range":[]}"#,
    );
    let text = "Let me read that file.";
    // Text first, then the whole call in one fragment (Ollama style).
    s.upstream.push(
        ChatStream::new()
            .role()
            .content_pieces(text, 3)
            .tool_call_whole(0, &call)
            .finish("tool_calls")
            .usage(20, 9)
            .done()
            .build(),
    );
    s.upstream.push(Reply::Json {
        status: 200,
        body: json!({
            "id": "chatcmpl-whole", "object": "chat.completion", "created": 1_700_000_000u64,
            "model": "scripted-backend-model",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": text,
                "tool_calls": [{"id": call.id, "type": "function",
                                "function": {"name": call.name, "arguments": call.arguments}}]}}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29}
        }),
    });
    let out = sdk(&s, &[("TOOLS", "1")]).await;
    assert_event_frame(&out);
    let (streamed, _) = assert_stream_equals_create(&out);
    let mut expected = vec![json!({"type": "text", "text": text})];
    expected.extend(expected_tool_uses(&[call]).as_array().unwrap().clone());
    assert_eq!(streamed["content"], Value::Array(expected));
    assert_eq!(streamed["stop_reason"], "tool_use");
    assert_eq!(out["stream"]["deltas"]["input_json_delta"], 1);
    for (i, r) in s.upstream.chat_requests().iter().enumerate() {
        assert_upstream_tools(&assert_clean_upstream(r, i == 0));
    }
}

#[tokio::test]
async fn usage_after_the_finish_chunk_with_cached_tokens() {
    let s = anthropic_stack(&[]).await.unwrap();
    let text = "Counted.";
    let usage = json!({"prompt_tokens": 1234, "completion_tokens": 56, "total_tokens": 1290,
                       "prompt_tokens_details": {"cached_tokens": 1000}});
    let stream = ChatStream::new()
        .role()
        .content_pieces(text, 2)
        .finish("stop")
        .data(
            &json!({"id": "chatcmpl-scripted", "object": "chat.completion.chunk",
                    "created": 1_700_000_000u64, "model": "scripted-backend-model",
                    "choices": [], "usage": usage})
            .to_string(),
        )
        .done()
        .build();
    s.upstream.push(stream);
    s.upstream.push(Reply::Json {
        status: 200,
        body: json!({
            "id": "chatcmpl-usage", "object": "chat.completion", "created": 1_700_000_000u64,
            "model": "scripted-backend-model",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": usage
        }),
    });
    let out = sdk(&s, &[]).await;
    assert_event_frame(&out);
    let (streamed, _) = assert_stream_equals_create(&out);
    // Anthropic's input_tokens excludes cached tokens.
    assert_eq!(
        streamed["usage"]["input_tokens"], 234,
        "{:#}",
        streamed["usage"]
    );
    assert_eq!(streamed["usage"]["cache_read_input_tokens"], 1000);
    assert_eq!(streamed["usage"]["output_tokens"], 56);
    assert_eq!(streamed["content"], json!([{"type": "text", "text": text}]));
}

#[tokio::test]
async fn mid_stream_error_is_an_api_error() {
    let s = anthropic_stack(&[]).await.unwrap();
    let message = "backend exploded mid-stream";
    s.upstream
        .push(Reply::error_mid_stream("Partial answer ", message));
    let out = sdk(&s, &[("STEPS", "stream"), ("EXPECT_ERROR", "1")]).await;
    let err = &out["error"];
    assert_eq!(err["name"], "APIError", "{out:#}");
    assert_eq!(err["is_api_error"], true, "{out:#}");
    assert_eq!(err["is_connection_error"], false, "{out:#}");
    assert_eq!(
        err["status"],
        Value::Null,
        "a stream error has no status: {out:#}"
    );
    assert_eq!(err["type"], "api_error", "{out:#}");
    assert_eq!(
        err["error"],
        json!({"type": "error", "error": {"type": "api_error", "message": message}}),
        "{out:#}"
    );
    // What arrived before the failure was delivered.
    let events = out["stream"]["events"].as_array().unwrap();
    assert_eq!(events[0], "message_start", "{out:#}");
    assert!(events.contains(&json!("content_block_delta")), "{out:#}");
    assert!(!events.contains(&json!("message_stop")), "{out:#}");
    assert_clean_upstream(&s.upstream.chat_requests()[0], true);

    // The raw bytes: one `event: error` with Anthropic's error JSON, nothing after it, no
    // `[DONE]`, no `message_stop`.
    s.upstream
        .push(Reply::error_mid_stream("Partial answer ", message));
    let resp = http()
        .post(s.gateway.url("/v1/messages?beta=true"))
        .header("anthropic-version", "2023-06-01")
        .header("x-api-key", CLIENT_KEY)
        .json(
            &json!({"model": MODEL, "max_tokens": MAX_TOKENS, "stream": true,
                      "messages": [{"role": "user", "content": "hi"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let bytes = tokio::time::timeout(Duration::from_secs(30), resp.bytes())
        .await
        .unwrap()
        .unwrap();
    let events = parse_all(&bytes);
    let last = events.last().unwrap();
    assert_eq!(last.event.as_deref(), Some("error"), "{events:#?}");
    assert_eq!(
        last.json().unwrap(),
        json!({"type": "error", "error": {"type": "api_error", "message": message}})
    );
    assert!(events.iter().all(|e| !e.is_done()), "{events:#?}");
    assert!(
        events
            .iter()
            .all(|e| e.event.as_deref() != Some("message_stop")),
        "{events:#?}"
    );
}

#[tokio::test]
async fn http_errors_map_to_the_sdk_error_classes() {
    let s = anthropic_stack(&[]).await.unwrap();
    s.upstream.push(Reply::rate_limited(7));
    let out = sdk(&s, &[("STEPS", "create"), ("EXPECT_ERROR", "1")]).await;
    let err = &out["error"];
    assert_eq!(err["name"], "RateLimitError", "{out:#}");
    assert_eq!(err["status"], 429, "{out:#}");
    assert_eq!(err["type"], "rate_limit_error", "{out:#}");

    s.upstream.push(Reply::server_error());
    let out = sdk(&s, &[("STEPS", "stream"), ("EXPECT_ERROR", "1")]).await;
    let err = &out["error"];
    // An upstream 5xx is a bad gateway to the client (the host suggests 502 for every
    // upstream failure); the SDK treats it as a retryable server error.
    assert_eq!(err["name"], "InternalServerError", "{out:#}");
    assert_eq!(err["status"], 502, "{out:#}");
    assert_eq!(err["type"], "api_error", "{out:#}");
}
