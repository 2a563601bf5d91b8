//! The real Claude Code CLI (`@anthropic-ai/claude-code` 2.1.197, `tests/node`), headless
//! (`claude -p … --output-format json|stream-json`), through the real gateway and the
//! `anthropic-messages` adapter against the scripted upstream: a plain answer, a `Read` tool
//! loop, two parallel `Read` calls, a streamed thinking answer, and an upstream failure
//! mid-stream (with Claude Code's non-streaming fallback and its retries).
//!
//! Each run gets a scratch HOME and work directory and exactly the environment of
//! [`claude_code_env`] (the README's "Claude Code" section), nothing inherited. Assertions
//! cover what the CLI printed and what the upstream recorded.
//!
//! Needs the `cligate` binary, `plugins-dist/anthropic-messages.wasm` and
//! `npm ci --prefix tests/node`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cligate_e2e::claude::{
    CLAUDE_TIMEOUT, ClaudeDirs, ClaudeRun, anthropic_stack, anthropic_stack_with,
    assert_clean_head_probe, run_claude, upstream_messages, upstream_tool_names,
};
use cligate_e2e::fixture::{Stack, assert_no_client_leak, backend_model};
use cligate_e2e::upstream::{ReasoningField, RecordedRequest, ToolCall, UpstreamOptions};
use cligate_e2e::{ChatStream, Reply};
use serde_json::{Value, json};

/// Run Claude Code against the stack's gateway.
async fn claude(
    s: &Stack,
    dirs: &ClaudeDirs,
    args: &[&str],
    extra_env: &[(&str, &str)],
) -> ClaudeRun {
    let run = run_claude(dirs, &s.gateway.base_url(), args, extra_env, CLAUDE_TIMEOUT)
        .await
        .unwrap();
    // Shown with `--nocapture`: what Claude Code printed in each scenario.
    eprintln!("{}", run.describe());
    run
}

/// Assert with the whole run (and the upstream's request log) in the message.
macro_rules! check {
    ($cond:expr, $run:expr, $($arg:tt)+) => {
        assert!($cond, "{}\n{}", format!($($arg)+), $run.describe())
    };
}

/// The recorded chat requests, each checked for what Claude Code's requests must look like
/// upstream: routed model, streaming with usage, Claude Code's tools as functions, nothing
/// of the client (keys, session and identity headers, `metadata.user_id`, billing header).
fn chat_requests(s: &Stack, run: &ClaudeRun) -> Vec<RecordedRequest> {
    let reqs = s.upstream.chat_requests();
    for r in &reqs {
        assert_no_client_leak(r);
        let body = r.json();
        check!(
            body["model"] == backend_model(),
            run,
            "model not routed: {}",
            body["model"]
        );
        check!(
            body["max_tokens"].as_u64().is_some_and(|m| m > 0),
            run,
            "max_tokens missing: {}",
            body["max_tokens"]
        );
        let text = String::from_utf8_lossy(&r.body);
        for secret in ["device_id", "x-anthropic-billing-header", "account_uuid"] {
            check!(
                !text.contains(secret),
                run,
                "`{secret}` reached the upstream"
            );
        }
        check!(body.get("metadata").is_none(), run, "metadata forwarded");
        let tools = upstream_tool_names(&body);
        for name in ["Read", "Bash", "Edit"] {
            check!(
                tools.iter().any(|t| t == name),
                run,
                "tool {name} not forwarded; tools: {tools:?}"
            );
        }
        let messages = upstream_messages(&body);
        check!(
            messages.first().is_some_and(|m| m["role"] == "system"),
            run,
            "the system prompt leads: {:?}",
            messages.first()
        );
    }
    reqs
}

fn assert_streaming(r: &RecordedRequest, run: &ClaudeRun) {
    let body = r.json();
    check!(
        body["stream"] == true,
        run,
        "request {} does not stream",
        r.index
    );
    check!(
        body["stream_options"]["include_usage"] == true,
        run,
        "request {} asks no usage",
        r.index
    );
}

/// The `result` object of a successful run, after checking it exited 0.
fn success(run: &ClaudeRun) -> Value {
    check!(run.code() == Some(0), run, "Claude Code failed");
    let result = run.result();
    check!(result["is_error"] == false, run, "the result is an error");
    check!(result["subtype"] == "success", run, "subtype");
    result
}

/// The messages after the assistant message that made these calls: the calls as scripted,
/// then one `tool` message per call right after it. Returns the tool messages' contents by
/// call id.
fn tool_round(body: &Value, calls: &[ToolCall], run: &ClaudeRun) -> Vec<(String, String)> {
    let messages = upstream_messages(body);
    let at = messages
        .iter()
        .position(|m| m["role"] == "assistant" && m["tool_calls"].is_array())
        .unwrap_or_else(|| {
            panic!(
                "no assistant message with tool calls: {body:#}\n{}",
                run.describe()
            )
        });
    let sent = messages[at]["tool_calls"].as_array().unwrap();
    check!(
        sent.len() == calls.len(),
        run,
        "tool calls sent back: {sent:#?}"
    );
    for (sent, call) in sent.iter().zip(calls) {
        check!(sent["id"] == call.id.as_str(), run, "call id: {sent}");
        check!(sent["type"] == "function", run, "call type: {sent}");
        check!(
            sent["function"]["name"] == call.name.as_str(),
            run,
            "name: {sent}"
        );
        let args: Value = serde_json::from_str(sent["function"]["arguments"].as_str().unwrap())
            .unwrap_or_else(|e| panic!("arguments are not JSON ({e}): {sent}"));
        let scripted: Value = serde_json::from_str(&call.arguments).unwrap();
        check!(args == scripted, run, "arguments: {args} != {scripted}");
    }
    let mut results = Vec::new();
    for (k, _) in calls.iter().enumerate() {
        let m = messages.get(at + 1 + k).cloned().unwrap_or(Value::Null);
        check!(
            m["role"] == "tool",
            run,
            "message {} after the calls is not a tool result: {m:#}",
            k + 1
        );
        let content = match &m["content"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        results.push((m["tool_call_id"].as_str().unwrap_or("").to_owned(), content));
    }
    results
}

#[tokio::test]
async fn plain_answer() {
    let s = anthropic_stack(&[]).await.unwrap();
    let dirs = ClaudeDirs::new().unwrap();
    let answer = "Hello from the scripted backend, through cligate.";
    s.upstream.push(Reply::text_stream(answer, 5));
    let run = claude(
        &s,
        &dirs,
        &["-p", "Say hello", "--output-format", "json"],
        &[],
    )
    .await;
    let result = success(&run);
    check!(result["result"] == answer, run, "printed answer");
    check!(result["stop_reason"] == "end_turn", run, "stop reason");
    check!(result["num_turns"] == 1, run, "turns");
    check!(result["usage"]["input_tokens"] == 11, run, "input tokens");
    check!(result["usage"]["output_tokens"] == 7, run, "output tokens");

    let reqs = chat_requests(&s, &run);
    check!(
        reqs.len() == 1,
        run,
        "one upstream call, got {}",
        reqs.len()
    );
    assert_streaming(&reqs[0], &run);
    let body = reqs[0].json();
    // What Claude Code 2.1.197 asks for; no cap is configured for the default route.
    check!(
        body["max_tokens"] == 64000,
        run,
        "max_tokens {}",
        body["max_tokens"]
    );
    let messages = upstream_messages(&body);
    // Claude Code's mid-conversation system message (the agent list) stays a system message.
    check!(
        messages.iter().skip(1).any(|m| m["role"] == "system"),
        run,
        "no mid-conversation system message: {:?}",
        messages
            .iter()
            .map(|m| m["role"].clone())
            .collect::<Vec<_>>()
    );
    check!(
        messages
            .iter()
            .any(|m| m["role"] == "user" && m["content"].to_string().contains("Say hello")),
        run,
        "the prompt reached the upstream"
    );
    // Adaptive thinking with effort high → reasoning_effort.
    check!(
        body["reasoning_effort"] == "high",
        run,
        "reasoning_effort {}",
        body["reasoning_effort"]
    );
    assert_clean_head_probe(&s.gateway);
}

#[tokio::test]
async fn read_tool_loop() {
    let s = anthropic_stack(&[]).await.unwrap();
    let dirs = ClaudeDirs::new().unwrap();
    let content = "Hello from the cligate e2e fixture! ünïcode ✓";
    let path = dirs.write("hello.txt", &format!("{content}\n")).unwrap();
    let call = ToolCall::new(
        "call_read_1",
        "Read",
        &json!({"file_path": path.to_string_lossy()}).to_string(),
    );
    let answer = format!("hello.txt says: {content}");
    s.upstream.push_all([
        ChatStream::new()
            .role()
            .content("I'll read the file.")
            .tool_calls_fragmented(std::slice::from_ref(&call), 4)
            .finish("tool_calls")
            .usage(30, 12)
            .done()
            .build(),
        Reply::text_stream(&answer, 4),
    ]);
    let run = claude(
        &s,
        &dirs,
        &[
            "-p",
            "Read hello.txt and tell me what it says",
            "--output-format",
            "json",
            "--allowedTools",
            "Read",
        ],
        &[],
    )
    .await;
    let result = success(&run);
    check!(result["result"] == answer.as_str(), run, "printed answer");
    check!(result["num_turns"] == 2, run, "turns");

    let reqs = chat_requests(&s, &run);
    check!(
        reqs.len() == 2,
        run,
        "two upstream calls, got {}",
        reqs.len()
    );
    assert_streaming(&reqs[1], &run);
    let results = tool_round(&reqs[1].json(), std::slice::from_ref(&call), &run);
    let (id, text) = &results[0];
    check!(id == "call_read_1", run, "tool_call_id {id}");
    check!(
        text.contains(content),
        run,
        "the file's content is not in the tool result: {text:?}"
    );
    assert_clean_head_probe(&s.gateway);
}

#[tokio::test]
async fn two_parallel_read_calls() {
    let s = anthropic_stack(&[]).await.unwrap();
    let dirs = ClaudeDirs::new().unwrap();
    let a = dirs
        .write("alpha.txt", "alpha file: 1111 apples\n")
        .unwrap();
    let b = dirs
        .write("bravo.txt", "bravo file: 2222 bananas\n")
        .unwrap();
    let calls = [
        ToolCall::new(
            "call_read_a",
            "Read",
            &json!({"file_path": a.to_string_lossy()}).to_string(),
        ),
        ToolCall::new(
            "call_read_b",
            "Read",
            &json!({"file_path": b.to_string_lossy()}).to_string(),
        ),
    ];
    let answer = "alpha has 1111 apples, bravo has 2222 bananas.";
    // The two calls' fragments interleaved by index, as parallel calls arrive.
    s.upstream.push_all([
        Reply::tool_calls_stream(&calls, 5),
        Reply::text_stream(answer, 3),
    ]);
    let run = claude(
        &s,
        &dirs,
        &[
            "-p",
            "Read alpha.txt and bravo.txt and compare them",
            "--output-format",
            "json",
            "--allowedTools",
            "Read",
        ],
        &[],
    )
    .await;
    let result = success(&run);
    check!(result["result"] == answer, run, "printed answer");

    let reqs = chat_requests(&s, &run);
    check!(
        reqs.len() == 2,
        run,
        "both results come back in one turn; upstream calls: {}",
        reqs.len()
    );
    let results = tool_round(&reqs[1].json(), &calls, &run);
    let by_id = |id: &str| {
        results
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, t)| t.clone())
            .unwrap_or_else(|| panic!("no result for {id}: {results:?}\n{}", run.describe()))
    };
    check!(
        by_id("call_read_a").contains("1111 apples"),
        run,
        "alpha result"
    );
    check!(
        by_id("call_read_b").contains("2222 bananas"),
        run,
        "bravo result"
    );
    assert_clean_head_probe(&s.gateway);
}

#[tokio::test]
async fn streamed_thinking_answer() {
    let s = anthropic_stack(&[]).await.unwrap();
    let dirs = ClaudeDirs::new().unwrap();
    let reasoning = "The user asks for 6 times 7. That is 42. Answer briefly.";
    let answer = "6 × 7 = 42.";
    s.upstream.push(Reply::reasoning_stream(
        ReasoningField::ReasoningContent,
        reasoning,
        answer,
        6,
    ));
    let run = claude(
        &s,
        &dirs,
        &[
            "-p",
            "What is 6 times 7?",
            "--output-format",
            "stream-json",
            "--verbose",
        ],
        &[],
    )
    .await;
    let result = success(&run);
    check!(result["result"] == answer, run, "printed answer");
    // The assistant messages Claude Code emitted carry the thinking block and the text.
    let blocks: Vec<Value> = run
        .json_lines()
        .into_iter()
        .filter(|l| l["type"] == "assistant")
        .flat_map(|l| {
            l["message"]["content"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    check!(
        blocks
            .iter()
            .any(|b| b["type"] == "thinking" && b["thinking"] == reasoning),
        run,
        "no thinking block with the scripted reasoning: {blocks:#?}"
    );
    check!(
        blocks
            .iter()
            .any(|b| b["type"] == "text" && b["text"] == answer),
        run,
        "no text block: {blocks:#?}"
    );
    let reqs = chat_requests(&s, &run);
    check!(
        reqs.len() == 1,
        run,
        "one upstream call, got {}",
        reqs.len()
    );
    assert_streaming(&reqs[0], &run);
    assert_clean_head_probe(&s.gateway);
}

const STREAM_FAILURE: &str = "backend exploded mid-stream";

fn failing_stream() -> Reply {
    Reply::error_mid_stream("Partial answer that never finishes ", STREAM_FAILURE)
}

/// The `stream` flag of each recorded chat request.
fn stream_flags(reqs: &[RecordedRequest]) -> Vec<bool> {
    reqs.iter().map(|r| r.json()["stream"] == true).collect()
}

#[tokio::test]
async fn mid_stream_error_then_non_streaming_fallback_answers() {
    let s = anthropic_stack(&[]).await.unwrap();
    let dirs = ClaudeDirs::new().unwrap();
    let answer = "Recovered: answered without streaming.";
    s.upstream.push_all([failing_stream(), Reply::text(answer)]);
    let run = claude(
        &s,
        &dirs,
        &["-p", "Say hello", "--output-format", "json"],
        &[],
    )
    .await;
    let result = success(&run);
    check!(
        result["result"] == answer,
        run,
        "printed the fallback's answer"
    );
    let reqs = chat_requests(&s, &run);
    // Claude Code retries a failed stream once with `stream: false`.
    check!(
        stream_flags(&reqs) == [true, false],
        run,
        "upstream calls (stream flags): {:?}",
        stream_flags(&reqs)
    );
    check!(
        reqs[0].json()["messages"] == reqs[1].json()["messages"],
        run,
        "the fallback resends the same conversation"
    );
    assert_clean_head_probe(&s.gateway);
}

#[tokio::test]
async fn mid_stream_error_reported_after_retries() {
    // Every reply after the failed stream fails too (a 500 upstream → 502 to the client,
    // which Claude Code retries); CLAUDE_CODE_MAX_RETRIES keeps the backoff short.
    let options = UpstreamOptions {
        default_reply: Reply::server_error(),
        ..UpstreamOptions::default()
    };
    let s = anthropic_stack_with(options, &[]).await.unwrap();
    let dirs = ClaudeDirs::new().unwrap();
    s.upstream.push(failing_stream());
    let run = claude(
        &s,
        &dirs,
        &["-p", "Say hello", "--output-format", "json"],
        &[("CLAUDE_CODE_MAX_RETRIES", "1")],
    )
    .await;
    check!(
        run.code() == Some(1),
        run,
        "Claude Code should end with exit code 1 (no crash, no signal)"
    );
    let result = run.result();
    check!(result["is_error"] == true, run, "is_error");
    let printed = result["result"].as_str().unwrap_or("");
    check!(
        printed.starts_with("API Error: 502"),
        run,
        "the error is reported: {printed:?}"
    );
    check!(result["api_error_status"] == 502, run, "api_error_status");
    let reqs = chat_requests(&s, &run);
    // The stream, then the non-streaming fallback and its one retry.
    check!(
        stream_flags(&reqs) == [true, false, false],
        run,
        "upstream calls (stream flags): {:?}",
        stream_flags(&reqs)
    );
    assert_clean_head_probe(&s.gateway);
}

#[tokio::test]
async fn mid_stream_error_without_fallback_prints_the_stream_error() {
    let options = UpstreamOptions {
        default_reply: failing_stream(),
        ..UpstreamOptions::default()
    };
    let s = anthropic_stack_with(options, &[]).await.unwrap();
    let dirs = ClaudeDirs::new().unwrap();
    let debug = dirs.home().join("claude-debug.txt");
    let debug_arg = debug.to_string_lossy().into_owned();
    let run = claude(
        &s,
        &dirs,
        &[
            "-p",
            "Say hello",
            "--output-format",
            "json",
            "--debug-file",
            &debug_arg,
        ],
        &[("CLAUDE_CODE_DISABLE_NONSTREAMING_FALLBACK", "1")],
    )
    .await;
    check!(
        run.code() == Some(1),
        run,
        "exit code 1 (no crash, no signal)"
    );
    let result = run.result();
    check!(result["is_error"] == true, run, "is_error");
    // The message of the gateway's `event: error`, verbatim.
    check!(
        result["result"] == format!("API Error: {STREAM_FAILURE}"),
        run,
        "printed error"
    );
    // Claude Code logged the event it received: Anthropic's error JSON, as the gateway sent it.
    let log = std::fs::read_to_string(&debug).unwrap_or_default();
    let event = format!(
        r#"Error streaming (non-streaming fallback disabled): {{"type":"error","error":{{"type":"api_error","message":"{STREAM_FAILURE}"}}}}"#
    );
    let error_lines: Vec<&str> = log.lines().filter(|l| l.contains("[ERROR]")).collect();
    check!(
        log.contains(&event),
        run,
        "Claude Code's debug log lacks `{event}`; its error lines:\n{}",
        error_lines.join("\n")
    );
    // A stream error without a status is not retried.
    let reqs = chat_requests(&s, &run);
    check!(
        stream_flags(&reqs) == [true],
        run,
        "upstream calls (stream flags): {:?}",
        stream_flags(&reqs)
    );
    assert_clean_head_probe(&s.gateway);
}
