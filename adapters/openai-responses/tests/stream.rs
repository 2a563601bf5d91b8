//! Scripted pivot streams through the translator, the way the host runs them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use cligate_adapter_openai_responses::{OpenAiResponses, reasoning};
use cligate_adapter_sdk::testing::replay_stream;
use cligate_adapter_sdk::{Adapter, ErrorKind, GatewayError, SseEvent, StreamTranslator};
use common::{Assembled, check, codex_state, context, delta, events, finish, upstream, usage};
use serde_json::{Value, json};

/// Replay at every split size; the client bytes must not depend on how the upstream was cut.
fn replay(state: &[u8], chunks: &[Value]) -> Vec<u8> {
    let bytes = upstream(chunks);
    let whole = replay_stream::<OpenAiResponses>(context(state.to_vec()), &bytes, 4096).unwrap();
    for split in [1, 7] {
        let out = replay_stream::<OpenAiResponses>(context(state.to_vec()), &bytes, split).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            String::from_utf8(whole.clone()).unwrap(),
            "split {split}"
        );
    }
    whole
}

/// The same answer, unstreamed.
fn whole(state: &[u8], body: Value) -> Value {
    let response = OpenAiResponses::translate_response(
        context(state.to_vec()),
        serde_json::to_vec(&body).unwrap(),
    )
    .unwrap();
    assert_eq!(response.status, 200);
    assert!(
        response
            .headers
            .iter()
            .any(|h| h.name == "content-type" && h.value == "application/json")
    );
    serde_json::from_slice(&response.body).unwrap()
}

fn answer(message: Value, finish_reason: Option<&str>, usage: Option<Value>) -> Value {
    let mut body = json!({"id": "chatcmpl-1", "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}]});
    if let Some(usage) = usage {
        body["usage"] = usage;
    }
    body
}

fn usage_body(prompt: u64, completion: u64, cached: u64, reasoning: u64) -> Value {
    usage(prompt, completion, cached, reasoning)["usage"].clone()
}

/// Stream and whole answer agree, and the stream follows every rule.
fn stream_equals_whole(state: &[u8], chunks: &[Value], body: Value) -> Assembled {
    let assembled = check(&replay(state, chunks));
    assert_eq!(
        assembled.response,
        whole(state, body),
        "streamed and whole answers differ"
    );
    assembled
}

#[test]
fn plain_text() {
    let assembled = stream_equals_whole(
        &[],
        &[
            delta(json!({"role": "assistant", "content": ""})),
            delta(json!({"content": "Hel"})),
            delta(json!({"content": "lo"})),
            finish("stop"),
            usage(120, 2, 100, 0),
        ],
        answer(
            json!({"role": "assistant", "content": "Hello"}),
            Some("stop"),
            Some(usage_body(120, 2, 100, 0)),
        ),
    );
    assert_eq!(assembled.terminal, "response.completed");
    let r = &assembled.response;
    assert_eq!(r["id"], "resp_req_test_0001");
    assert_eq!(r["object"], "response");
    assert_eq!(r["status"], "completed");
    assert_eq!(
        r["model"], "gpt-6.1-sol",
        "the client's model name, not the backend's"
    );
    assert_eq!(r["created_at"], 1_790_000_000);
    assert_eq!(
        r["output"],
        json!([{"type": "message", "id": "msg_req_test_0001_0", "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": "Hello", "annotations": []}]}])
    );
    assert_eq!(
        r["usage"],
        json!({"input_tokens": 120, "input_tokens_details": {"cached_tokens": 100}, "output_tokens": 2,
               "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 122})
    );
    assert_eq!(r["error"], Value::Null);
    assert_eq!(r["incomplete_details"], Value::Null);
}

#[test]
fn reasoning_then_text_with_the_gateway_encoding() {
    let state = codex_state();
    let assembled = stream_equals_whole(
        &state,
        &[
            delta(json!({"role": "assistant", "reasoning_content": "Think"})),
            delta(json!({"reasoning": "ing."})),
            delta(json!({"content": "Answer"})),
            finish("stop"),
            usage(50, 30, 0, 20),
        ],
        answer(
            json!({"role": "assistant", "reasoning_content": "Thinking.", "content": "Answer"}),
            Some("stop"),
            Some(usage_body(50, 30, 0, 20)),
        ),
    );
    let output = assembled.response["output"].as_array().unwrap();
    assert_eq!(
        output[0],
        json!({"type": "reasoning", "id": "rs_req_test_0001_0",
               "summary": [{"type": "summary_text", "text": "Thinking."}],
               "encrypted_content": reasoning::encode("Thinking.")})
    );
    assert_eq!(output[1]["id"], "msg_req_test_0001_1");
    assert_eq!(
        assembled.response["usage"]["output_tokens_details"]["reasoning_tokens"],
        20
    );

    // Without `include`, no encrypted_content.
    let plain = check(&replay(
        &[],
        &[
            delta(json!({"reasoning_content": "x"})),
            delta(json!({"content": "y"})),
        ],
    ));
    assert!(plain.items[0].get("encrypted_content").is_none());
    assert_eq!(
        plain.response["usage"],
        Value::Null,
        "a stream without usage has none"
    );
}

fn parallel_calls_answer() -> Value {
    answer(
        json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "exec_command", "arguments": "{\"cmd\":\"ls -la\"}"}},
            {"id": "call_b", "type": "function", "function": {"name": "multi_agent_v1__spawn_agent", "arguments": "{\"message\":\"hi\"}"}}]}),
        Some("tool_calls"),
        Some(usage_body(10, 5, 0, 0)),
    )
}

#[test]
fn parallel_function_calls_in_fragments() {
    let state = codex_state();
    let call = |index: u32, id: Option<&str>, name: Option<&str>, arguments: &str| {
        let mut function = json!({"arguments": arguments});
        if let Some(name) = name {
            function["name"] = json!(name);
        }
        let mut call = json!({"index": index, "function": function});
        if let Some(id) = id {
            call["id"] = json!(id);
            call["type"] = json!("function");
        }
        delta(json!({"tool_calls": [call]}))
    };
    let assembled = stream_equals_whole(
        &state,
        &[
            delta(json!({"role": "assistant", "content": null})),
            call(0, Some("call_a"), Some("exec_command"), ""),
            call(0, None, None, "{\"cmd\":"),
            call(0, None, None, "\"ls -la\"}"),
            call(
                1,
                Some("call_b"),
                Some("multi_agent_v1__spawn_agent"),
                "{\"mess",
            ),
            call(1, None, None, "age\":\"hi\"}"),
            finish("tool_calls"),
            usage(10, 5, 0, 0),
        ],
        parallel_calls_answer(),
    );
    assert_eq!(
        assembled.items,
        [
            json!({"type": "function_call", "id": "fc_req_test_0001_0", "status": "completed", "call_id": "call_a",
                   "name": "exec_command", "arguments": "{\"cmd\":\"ls -la\"}"}),
            json!({"type": "function_call", "id": "fc_req_test_0001_1", "status": "completed", "call_id": "call_b",
                   "name": "spawn_agent", "namespace": "multi_agent_v1", "arguments": "{\"message\":\"hi\"}"}),
        ]
    );

    // A backend that interleaves the two calls' fragments gives the same items, in order.
    let interleaved = check(&replay(
        &state,
        &[
            call(0, Some("call_a"), Some("exec_command"), "{\"cmd\":"),
            call(
                1,
                Some("call_b"),
                Some("multi_agent_v1__spawn_agent"),
                "{\"mess",
            ),
            call(0, None, None, "\"ls -la\"}"),
            call(1, None, None, "age\":\"hi\"}"),
            finish("tool_calls"),
            usage(10, 5, 0, 0),
        ],
    ));
    assert_eq!(interleaved.response, assembled.response);

    // Whole calls in one fragment each (Ollama), without ids: ids are synthesised, unique.
    let whole_calls = check(&replay(
        &state,
        &[
            delta(json!({"tool_calls": [
                {"index": 0, "function": {"name": "exec_command", "arguments": "{}"}},
                {"index": 1, "function": {"name": "exec_command", "arguments": ""}}]})),
            finish("stop"),
        ],
    ));
    let first = whole_calls.items[0]["call_id"].as_str().unwrap();
    let second = whole_calls.items[1]["call_id"].as_str().unwrap();
    assert!(first.starts_with("call_") && second.starts_with("call_") && first != second);
    assert_eq!(
        whole_calls.items[1]["arguments"], "{}",
        "empty arguments become {{}}"
    );
}

#[test]
fn custom_tool_call_comes_back_as_raw_input() {
    let state = codex_state();
    let arguments = json!({"input": "const r = await tools.exec_command({cmd: \"cat hello.txt\"});\ntext(r.output);"}).to_string();
    let (a, rest) = arguments.split_at(7);
    let (b, c) = rest.split_at(20);
    let assembled = stream_equals_whole(
        &state,
        &[
            delta(
                json!({"tool_calls": [{"index": 0, "id": "call_x", "type": "function",
                                         "function": {"name": "exec", "arguments": a}}]}),
            ),
            delta(json!({"tool_calls": [{"index": 0, "function": {"arguments": b}}]})),
            delta(json!({"tool_calls": [{"index": 0, "function": {"arguments": c}}]})),
            finish("tool_calls"),
            usage(10, 5, 0, 0),
        ],
        answer(
            json!({"role": "assistant", "tool_calls": [{"id": "call_x", "type": "function",
                   "function": {"name": "exec", "arguments": arguments}}]}),
            Some("tool_calls"),
            Some(usage_body(10, 5, 0, 0)),
        ),
    );
    assert_eq!(
        assembled.items,
        [
            json!({"type": "custom_tool_call", "id": "ctc_req_test_0001_0", "status": "completed", "call_id": "call_x",
                "name": "exec", "input": "const r = await tools.exec_command({cmd: \"cat hello.txt\"});\ntext(r.output);"})
        ]
    );
    let names: Vec<String> = events(&replay(&state, &[
        delta(json!({"tool_calls": [{"index": 0, "id": "call_x", "function": {"name": "exec", "arguments": arguments}}]})),
    ]))
    .into_iter()
    .map(|(name, _)| name)
    .collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.custom_tool_call_input.delta",
            "response.custom_tool_call_input.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
}

#[test]
fn local_shell_call_comes_back_as_an_exec_action() {
    let state = codex_state();
    let assembled = check(&replay(
        &state,
        &[
            delta(
                json!({"tool_calls": [{"index": 0, "id": "call_s", "function": {"name": "local_shell",
                "arguments": "{\"command\":[\"bash\",\"-lc\",\"ls\"],\"workdir\":\"/w\"}"}}]}),
            ),
            finish("tool_calls"),
        ],
    ));
    assert_eq!(
        assembled.items,
        [
            json!({"type": "local_shell_call", "id": "lsc_req_test_0001_0", "status": "completed", "call_id": "call_s",
                "action": {"type": "exec", "command": ["bash", "-lc", "ls"], "timeout_ms": null,
                           "working_directory": "/w", "env": null, "user": null}})
        ]
    );
}

#[test]
fn text_then_call_and_usage_after_finish() {
    let state = codex_state();
    let assembled = stream_equals_whole(
        &state,
        &[
            delta(json!({"content": "Let me look."})),
            delta(
                json!({"tool_calls": [{"index": 0, "id": "call_a", "function": {"name": "exec_command", "arguments": "{\"cmd\":\"ls\"}"}}]}),
            ),
            finish("tool_calls"),
            usage(7, 3, 0, 0),
        ],
        answer(
            json!({"role": "assistant", "content": "Let me look.", "tool_calls": [{"id": "call_a", "type": "function",
                   "function": {"name": "exec_command", "arguments": "{\"cmd\":\"ls\"}"}}]}),
            Some("tool_calls"),
            Some(usage_body(7, 3, 0, 0)),
        ),
    );
    let kinds: Vec<&str> = assembled
        .items
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["message", "function_call"]);
    assert_eq!(assembled.response["usage"]["total_tokens"], 10);
}

#[test]
fn stream_without_finish_reason_or_usage_completes() {
    let assembled = stream_equals_whole(
        &[],
        &[delta(json!({"content": "partial answer"}))],
        answer(
            json!({"role": "assistant", "content": "partial answer"}),
            None,
            None,
        ),
    );
    assert_eq!(assembled.terminal, "response.completed");
    assert_eq!(assembled.response["usage"], Value::Null);

    // An empty upstream (nothing but [DONE]) still starts and ends the response.
    let empty = check(&replay(&[], &[]));
    assert_eq!(empty.terminal, "response.completed");
    assert_eq!(empty.response["output"], json!([]));
}

#[test]
fn length_and_content_filter_end_incomplete() {
    for (reason, detail) in [
        ("length", "max_output_tokens"),
        ("content_filter", "content_filter"),
    ] {
        let assembled = stream_equals_whole(
            &[],
            &[
                delta(json!({"content": "trunc"})),
                finish(reason),
                usage(5, 1, 0, 0),
            ],
            answer(
                json!({"role": "assistant", "content": "trunc"}),
                Some(reason),
                Some(usage_body(5, 1, 0, 0)),
            ),
        );
        assert_eq!(assembled.terminal, "response.incomplete");
        assert_eq!(assembled.response["status"], "incomplete");
        assert_eq!(
            assembled.response["incomplete_details"],
            json!({"reason": detail})
        );
        assert_eq!(assembled.response["usage"]["output_tokens"], 1);
    }
}

#[test]
fn error_chunk_mid_stream_fails_the_response() {
    let bytes = replay(
        &[],
        &[
            delta(json!({"content": "Hel"})),
            json!({"error": {"message": "backend exploded", "type": "api_error"}}),
            delta(json!({"content": "ignored"})),
        ],
    );
    let assembled = check(&bytes);
    assert_eq!(assembled.terminal, "response.failed");
    assert_eq!(
        assembled.response["error"],
        json!({"code": "server_error", "message": "backend exploded"})
    );
    assert!(!String::from_utf8(bytes).unwrap().contains("ignored"));

    let context_error = check(&replay(
        &[],
        &[
            json!({"object": "error", "message": "This model's maximum context length is 32768 tokens", "code": 400}),
        ],
    ));
    assert_eq!(
        context_error.response["error"]["code"],
        "context_length_exceeded"
    );
}

fn gateway_error(kind: ErrorKind, message: &str, retry: Option<u32>) -> GatewayError {
    GatewayError {
        kind,
        status: 0,
        message: message.into(),
        retry_after_seconds: retry,
    }
}

#[test]
fn fail_before_and_after_output() {
    // Before anything was sent: the response still starts, then fails.
    let mut stream = OpenAiResponses::open_stream(context(Vec::new()));
    let out = stream.fail(gateway_error(
        ErrorKind::Timeout,
        "upstream timed out",
        None,
    ));
    let assembled = check(&out);
    assert_eq!(
        assembled.response["error"],
        json!({"code": "server_error", "message": "upstream timed out"})
    );

    // After a finished item and an open one: the finished item is in the failed response.
    let mut stream = OpenAiResponses::open_stream(context(Vec::new()));
    let mut out = Vec::new();
    for chunk in [
        delta(json!({"reasoning_content": "hm"})),
        delta(json!({"content": "par"})),
    ] {
        out.extend(
            stream
                .push(SseEvent {
                    event: None,
                    data: chunk.to_string(),
                })
                .unwrap(),
        );
    }
    out.extend(stream.fail(gateway_error(
        ErrorKind::RateLimited,
        "Rate limit reached.",
        Some(20),
    )));
    let assembled = check(&out);
    assert_eq!(
        assembled.response["error"],
        json!({"code": "rate_limit_exceeded", "message": "Rate limit reached. Please try again in 20s."})
    );
    assert_eq!(assembled.response["output"].as_array().unwrap().len(), 1);
    assert_eq!(assembled.response["output"][0]["type"], "reasoning");

    // Nothing after the terminal event.
    assert!(
        stream
            .push(SseEvent {
                event: None,
                data: delta(json!({"content": "x"})).to_string()
            })
            .unwrap()
            .is_empty()
    );
    assert!(stream.finish().unwrap().is_empty());
    assert!(
        stream
            .fail(gateway_error(ErrorKind::Internal, "again", None))
            .is_empty()
    );
    assert!(stream.keepalive().is_empty());
}

#[test]
fn keepalive_repeats_in_progress() {
    let mut stream = OpenAiResponses::open_stream(context(Vec::new()));
    let first = events(&stream.keepalive());
    let names: Vec<&str> = first.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["response.created", "response.in_progress"]);
    let again = events(&stream.keepalive());
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].0, "response.in_progress");
    assert_eq!(again[0].1["sequence_number"], 2);
    let end = events(&stream.finish().unwrap());
    assert_eq!(end.last().unwrap().0, "response.completed");
    assert_eq!(end.last().unwrap().1["sequence_number"], 3);
}

#[test]
fn unreadable_upstream_chunk_is_an_error() {
    let mut stream = OpenAiResponses::open_stream(context(Vec::new()));
    let result = stream.push(SseEvent {
        event: None,
        data: "not json".into(),
    });
    assert!(result.is_err());
    assert!(
        OpenAiResponses::translate_response(
            context(Vec::new()),
            br#"{"error":{"message":"nope"}}"#.to_vec()
        )
        .is_err()
    );
}

#[test]
fn mcp_style_namespace_round_trips() {
    let (pivot, body) = common::translate_body(json!({
        "model": "m", "stream": true, "input": "x",
        "tools": [{"type": "namespace", "name": "mcp__rmcp__", "tools": [
            {"type": "function", "name": "echo", "parameters": {"type": "object"}}]}]
    }));
    assert_eq!(body["tools"][0]["function"]["name"], "mcp__rmcp__echo");
    let assembled = check(&replay(
        &pivot.state,
        &[
            delta(
                json!({"tool_calls": [{"index": 0, "id": "call_m", "function": {"name": "mcp__rmcp__echo", "arguments": "{\"message\":\"hi\"}"}}]}),
            ),
            finish("tool_calls"),
        ],
    ));
    assert_eq!(assembled.items[0]["name"], "echo");
    assert_eq!(assembled.items[0]["namespace"], "mcp__rmcp__");
    // Replayed as history, the namespaced call gets the same flat name back.
    let (_, body) = common::translate_body(json!({
        "model": "m", "input": [
            {"type": "function_call", "call_id": "call_m", "namespace": "mcp__rmcp__", "name": "echo", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_m", "output": "hi"}]
    }));
    assert_eq!(
        body["messages"][0]["tool_calls"][0]["function"]["name"],
        "mcp__rmcp__echo"
    );
}
