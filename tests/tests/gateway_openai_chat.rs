//! Round trips through the real gateway and the `openai-chat` adapter: whole and streamed
//! text, tool calls, reasoning, usage, model echo, the model list, the official `openai` SDK
//! as client, and that nothing of the client reaches the upstream.
//!
//! Needs the `cligate` binary and `plugins-dist/openai-chat.wasm` (and, for the SDK test,
//! `npm ci --prefix tests/node`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use cligate_e2e::chat::{ChatSummary, ToolCallSummary};
use cligate_e2e::fixture::{
    CLIENT_MODEL, assert_no_client_leak, backend_model, http, openai_chat_stack,
    with_identifying_headers,
};
use cligate_e2e::node::run_node;
use cligate_e2e::sse::EventStream;
use cligate_e2e::upstream::{ReasoningField, ToolCall};
use cligate_e2e::{ChatStream, Reply};
use serde_json::{Value, json};

const STREAM_TIMEOUT: Duration = Duration::from_secs(30);

fn messages() -> Value {
    json!([
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Say hello in two languages: héllo, 你好."}
    ])
}

fn body(stream: bool, include_usage: bool) -> Value {
    let mut b = json!({"model": CLIENT_MODEL, "messages": messages(), "stream": stream});
    if include_usage {
        b["stream_options"] = json!({"include_usage": true});
    }
    b
}

fn tool_calls() -> Vec<ToolCall> {
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

fn expected_calls(calls: &[ToolCall]) -> Vec<ToolCallSummary> {
    calls
        .iter()
        .enumerate()
        .map(|(i, c)| ToolCallSummary {
            index: i as u64,
            id: Some(c.id.clone()),
            name: Some(c.name.clone()),
            arguments: c.arguments.clone(),
        })
        .collect()
}

#[tokio::test]
async fn whole_text_round_trip() {
    let s = openai_chat_stack(&[]).await.unwrap();
    s.upstream.push(Reply::text("Hello — héllo, 你好."));
    let resp = with_identifying_headers(
        http()
            .post(s.gateway.url("/v1/chat/completions"))
            .json(&body(false, false)),
    )
    .send()
    .await
    .unwrap();
    let status = resp.status();
    let ct = resp.headers().get("content-type").cloned();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    assert!(
        ct.unwrap()
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "content-type"
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    let sum = ChatSummary::from_completion(&v);
    assert_eq!(sum.text, "Hello — héllo, 你好.");
    assert_eq!(sum.finish_reason.as_deref(), Some("stop"));
    assert_eq!(sum.objects, vec!["chat.completion"]);
    assert_eq!(
        sum.model.as_deref(),
        Some(CLIENT_MODEL),
        "the client's model is echoed"
    );
    assert_eq!(
        sum.usage.as_ref().unwrap()["prompt_tokens"],
        11,
        "usage: {v}"
    );
    assert_eq!(sum.usage.as_ref().unwrap()["completion_tokens"], 7);
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");

    let reqs = s.upstream.requests();
    assert_eq!(reqs.len(), 1, "exactly one upstream call");
    let r = &reqs[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    let up = r.json();
    assert_eq!(up["model"], backend_model(), "routed to the default model");
    assert_eq!(up["messages"], messages(), "messages forwarded unchanged");
    assert_ne!(up["stream"], true);
    assert_no_client_leak(r);
    assert!(!r.used_default);
}

#[tokio::test]
async fn streamed_text_round_trip_with_usage() {
    let s = openai_chat_stack(&[]).await.unwrap();
    let text = "Streaming: héllo, 你好 — and a long tail of words to split into pieces.";
    s.upstream.push(
        ChatStream::new()
            .role()
            .content_pieces(text, 9)
            .finish("stop")
            .usage(31, 17)
            .done()
            .paced(10)
            .build(),
    );
    let resp = with_identifying_headers(
        http()
            .post(s.gateway.url("/v1/chat/completions"))
            .json(&body(true, true)),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let es = EventStream::new(resp);
    let (events, err) = es.collect(STREAM_TIMEOUT).await;
    assert!(err.is_none(), "stream failed: {err:?}");
    let sum = ChatSummary::from_events(&events);
    assert_eq!(sum.text, text);
    assert_eq!(sum.finish_reason.as_deref(), Some("stop"));
    assert_eq!(sum.finish_chunks, 1);
    assert!(sum.done, "ends with [DONE]");
    assert_eq!(sum.after_done, 0);
    assert!(sum.errors.is_empty() && sum.non_json.is_empty(), "{sum:?}");
    assert_eq!(sum.objects, vec!["chat.completion.chunk"]);
    assert_eq!(sum.model.as_deref(), Some(CLIENT_MODEL));
    let usage = sum.usage.expect("usage chunk");
    assert_eq!(
        (
            &usage["prompt_tokens"],
            &usage["completion_tokens"],
            &usage["total_tokens"]
        ),
        (&json!(31), &json!(17), &json!(48))
    );
    // The usage chunk comes after the finish chunk, as the client asked.
    let last_json = events.iter().rev().find_map(|e| e.json()).unwrap();
    assert_eq!(last_json["choices"], json!([]));

    let r = &s.upstream.requests()[0];
    let up = r.json();
    assert_eq!(up["stream"], true);
    assert_eq!(up["stream_options"]["include_usage"], true);
    assert_eq!(up["model"], backend_model());
    assert_no_client_leak(r);
}

#[tokio::test]
async fn usage_is_requested_upstream_but_not_pushed_on_a_client_that_did_not_ask() {
    let s = openai_chat_stack(&[]).await.unwrap();
    s.upstream.push(Reply::text_stream("no usage asked", 3));
    let resp = http()
        .post(s.gateway.url("/v1/chat/completions"))
        .json(&body(true, false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (events, err) = EventStream::new(resp).collect(STREAM_TIMEOUT).await;
    assert!(err.is_none(), "{err:?}");
    let sum = ChatSummary::from_events(&events);
    assert_eq!(sum.text, "no usage asked");
    assert!(sum.done);
    // The gateway always asks the backend for usage (for its own accounting) …
    assert_eq!(
        s.upstream.requests()[0].json()["stream_options"]["include_usage"],
        true
    );
    // … but a client that did not ask must not get a chunk with empty `choices`, which
    // naive clients index as `choices[0]`.
    assert_eq!(
        sum.usage_only_chunks, 0,
        "usage-only chunk sent to a client that did not ask"
    );
}

#[tokio::test]
async fn streamed_parallel_tool_calls_fragmented_by_index() {
    let s = openai_chat_stack(&[]).await.unwrap();
    let calls = tool_calls();
    s.upstream.push(Reply::tool_calls_stream(&calls, 6));
    let mut b = body(true, true);
    b["tools"] = json!([
        {"type": "function", "function": {"name": "read_file", "description": "Read",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}},
        {"type": "function", "function": {"name": "run_shell", "description": "Run",
            "parameters": {"type": "object", "properties": {"command": {"type": "string"}}}}}
    ]);
    b["tool_choice"] = json!("auto");
    let resp = http()
        .post(s.gateway.url("/v1/chat/completions"))
        .json(&b)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (events, err) = EventStream::new(resp).collect(STREAM_TIMEOUT).await;
    assert!(err.is_none(), "{err:?}");
    let sum = ChatSummary::from_events(&events);
    assert_eq!(sum.tool_calls, expected_calls(&calls));
    assert_eq!(sum.finish_reason.as_deref(), Some("tool_calls"));
    assert!(sum.done);
    let up = s.upstream.requests()[0].json();
    assert_eq!(up["tools"], b["tools"], "tools forwarded");
    assert_eq!(up["tool_choice"], "auto");
}

#[tokio::test]
async fn whole_tool_calls_round_trip() {
    let s = openai_chat_stack(&[]).await.unwrap();
    let calls = tool_calls();
    s.upstream.push(Reply::tool_calls(&calls));
    let resp = http()
        .post(s.gateway.url("/v1/chat/completions"))
        .json(&body(false, false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    let sum = ChatSummary::from_completion(&v);
    assert_eq!(sum.tool_calls, expected_calls(&calls));
    assert_eq!(sum.finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(
        v["choices"][0]["message"]["tool_calls"][0]["type"],
        "function"
    );
}

#[tokio::test]
async fn whole_tool_calls_in_one_stream_fragment_each() {
    let s = openai_chat_stack(&[]).await.unwrap();
    let calls = tool_calls();
    s.upstream.push(Reply::tool_calls_stream_whole(&calls));
    let resp = http()
        .post(s.gateway.url("/v1/chat/completions"))
        .json(&body(true, true))
        .send()
        .await
        .unwrap();
    let (events, err) = EventStream::new(resp).collect(STREAM_TIMEOUT).await;
    assert!(err.is_none(), "{err:?}");
    let sum = ChatSummary::from_events(&events);
    assert_eq!(sum.tool_calls, expected_calls(&calls));
}

/// Both backend spellings of reasoning reach the client in the same field, with the text
/// intact, whether streamed or whole.
#[tokio::test]
async fn reasoning_spellings_are_normalised() {
    let s = openai_chat_stack(&[]).await.unwrap();
    let thought = "First, consider — the user's greeting (héllo).";
    s.upstream.push_all([
        Reply::reasoning_stream(ReasoningField::ReasoningContent, thought, "Hi!", 4),
        Reply::reasoning_stream(ReasoningField::Reasoning, thought, "Hi!", 4),
        Reply::reasoning(ReasoningField::ReasoningContent, thought, "Hi!"),
        Reply::reasoning(ReasoningField::Reasoning, thought, "Hi!"),
    ]);
    let mut seen = Vec::new();
    for stream in [true, true, false, false] {
        let resp = http()
            .post(s.gateway.url("/v1/chat/completions"))
            .json(&body(stream, true))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let sum = if stream {
            let (events, err) = EventStream::new(resp).collect(STREAM_TIMEOUT).await;
            assert!(err.is_none(), "{err:?}");
            ChatSummary::from_events(&events)
        } else {
            ChatSummary::from_completion(&resp.json::<Value>().await.unwrap())
        };
        assert_eq!(sum.text, "Hi!");
        assert_eq!(
            sum.reasoning.values().collect::<Vec<_>>(),
            vec![thought],
            "reasoning text reaches the client exactly once: {:?}",
            sum.reasoning
        );
        seen.push(sum.reasoning.keys().next().cloned().unwrap());
    }
    assert!(
        seen.iter().all(|f| f == &seen[0]),
        "one field for both backend spellings, got {seen:?}"
    );
}

#[tokio::test]
async fn upstream_error_chunk_mid_stream_reaches_the_client_as_an_error() {
    let s = openai_chat_stack(&[]).await.unwrap();
    s.upstream.push(Reply::error_mid_stream(
        "partial answer ",
        "backend exploded",
    ));
    let resp = http()
        .post(s.gateway.url("/v1/chat/completions"))
        .json(&body(true, true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (events, err) = EventStream::new(resp).collect(STREAM_TIMEOUT).await;
    assert!(err.is_none(), "{err:?}");
    let sum = ChatSummary::from_events(&events);
    assert_eq!(sum.text, "partial answer ");
    assert_eq!(
        sum.errors.len(),
        1,
        "one error event for the client: {events:?}"
    );
    assert!(
        sum.errors[0]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    assert_ne!(
        sum.finish_reason.as_deref(),
        Some("stop"),
        "not a normal ending"
    );
}

#[tokio::test]
async fn upstream_connection_lost_mid_stream_is_an_error_not_a_silent_end() {
    let s = openai_chat_stack(&[]).await.unwrap();
    s.upstream.push(
        ChatStream::new()
            .role()
            .content("cut ")
            .sleep(100)
            .content("short")
            .sleep(100)
            .close()
            .build(),
    );
    let resp = http()
        .post(s.gateway.url("/v1/chat/completions"))
        .json(&body(true, true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (events, _err) = EventStream::new(resp).collect(STREAM_TIMEOUT).await;
    let sum = ChatSummary::from_events(&events);
    assert_eq!(sum.text, "cut short");
    assert!(
        !sum.errors.is_empty(),
        "the client must see an error event, got {events:?}"
    );
    assert!(sum.finish_reason.is_none() || sum.finish_reason.as_deref() != Some("stop"));
}

#[tokio::test]
async fn model_list_is_answered_locally() {
    let s = openai_chat_stack(&[]).await.unwrap();
    let resp = with_identifying_headers(http().get(s.gateway.url("/v1/models")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["object"], "list", "{v}");
    let data = v["data"].as_array().expect("data array");
    assert!(!data.is_empty(), "at least the default model: {v}");
    for m in data {
        assert!(m["id"].as_str().is_some_and(|s| !s.is_empty()), "{m}");
        assert_eq!(m["object"], "model", "{m}");
    }
    assert_eq!(
        s.upstream.requests().len(),
        0,
        "a local answer calls no upstream"
    );
}

#[tokio::test]
async fn official_openai_sdk_streams_through_the_gateway() {
    let s = openai_chat_stack(&[]).await.unwrap();
    let text = "The SDK saw this — in pieces ✓.";
    let calls = tool_calls();
    s.upstream.push(Reply::text_stream(text, 7));
    s.upstream.push(Reply::text("And this whole."));
    s.upstream.push(Reply::tool_calls_stream(&calls, 5));
    let base = s.gateway.base_url();
    let out = run_node(
        "openai-chat-stream.mjs",
        &[("BASE_URL", base.as_str()), ("STEPS", "stream,whole")],
    )
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "SDK failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["stream"]["text"], text);
    assert_eq!(v["stream"]["finish_reason"], "stop");
    assert_eq!(v["stream"]["model"], CLIENT_MODEL);
    assert_eq!(v["stream"]["usage"]["total_tokens"], 18);
    assert_eq!(v["whole"]["text"], "And this whole.");
    assert_eq!(v["whole"]["usage"]["total_tokens"], 18);

    let out = run_node(
        "openai-chat-stream.mjs",
        &[
            ("BASE_URL", base.as_str()),
            ("STEPS", "stream"),
            ("TOOLS", "1"),
        ],
    )
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "SDK failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let got: Vec<ToolCallSummary> = serde_json::from_value(v["stream"]["tool_calls"].clone())
        .expect("tool calls in the SDK summary");
    assert_eq!(got, expected_calls(&calls));
    assert_eq!(v["stream"]["finish_reason"], "tool_calls");

    // The SDK sent its key, User-Agent and X-Stainless-* headers; none reached the upstream.
    let reqs = s.upstream.requests();
    assert_eq!(reqs.len(), 3);
    for r in &reqs {
        assert_no_client_leak(r);
    }
    assert_eq!(reqs[2].json()["tools"][0]["function"]["name"], "read_file");
    assert_eq!(s.upstream.defaults_used(), 0);
}
