//! The official `@google/genai` SDK — 1.30.0 (what Gemini CLI 0.61 bundles, with the strict
//! `data:` frame regex) and 3.3.0 — through the real gateway and the `gemini` adapter against
//! scripted Chat Completions streams: `generateContentStream` and `generateContent` must give
//! the scripted content, equal to each other; a failure mid-stream must make the SDK throw.
//!
//! Needs the `cligate` binary, `plugins-dist/gemini.wasm` (or `CLIGATE_PLUGINS_DIST`) and
//! `npm ci --prefix tests/node`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cligate_e2e::fixture::{Stack, backend_model};
use cligate_e2e::gemini::{SDK_VERSIONS, assert_no_gemini_leak, gemini_stack, run_genai};
use cligate_e2e::upstream::{
    CREATED, ReasoningField, RecordedRequest, SCRIPTED_MODEL, ToolCall, UpstreamOptions,
};
use cligate_e2e::{ChatStream, Reply};
use serde_json::{Value, json};

/// The model the SDK asks for (routed to the default backend model).
const MODEL: &str = "gemini-2.5-flash";

/// Text with a multi-byte mix and U+2028 / U+2029, which SDK 1.30's frame regex (`.`) would
/// stop at if they were not escaped.
const TEXT: &str =
    "Hello — héllo, 你好 🌍; line\u{2028}separator and\u{2029}paragraph, \"quoted\" \\ done.";

async fn stack() -> Stack {
    gemini_stack(UpstreamOptions::default()).await.unwrap()
}

/// Run the SDK script; the stack's upstream must hold the replies.
async fn sdk(s: &Stack, version: &str, env: &[(&str, &str)]) -> Value {
    let mut all = vec![("MODEL", MODEL)];
    all.extend_from_slice(env);
    match run_genai(version, &s.gateway.base_url(), &all).await {
        Ok(v) => v,
        Err(e) => panic!("{e:#}"),
    }
}

/// The parts of a summary that must be equal between the stream and the whole answer.
fn content(summary: &Value) -> Value {
    json!({
        "text": summary["text"],
        "thoughts": summary["thoughts"],
        "function_calls": summary["function_calls"],
        "finish_reason": summary["finish_reason"],
        "usage": summary["usage"],
        "model_version": summary["model_version"],
    })
}

/// The common checks of a streamed + whole pair: the stream assembles to the whole answer,
/// one finish reason at the end, the client's model echoed.
fn check_pair(version: &str, out: &Value) {
    let (st, wh) = (&out["stream"], &out["whole"]);
    assert_eq!(
        content(st),
        content(wh),
        "SDK {version}: the stream assembles to what generateContent gives: {out:#}"
    );
    assert_eq!(st["finish_chunks"], 1, "SDK {version}: one finish chunk");
    assert_eq!(st["model_version"], MODEL, "SDK {version}: modelVersion");
    assert_eq!(wh["chunks"], 1);
    assert!(
        st["response_id"].as_str().is_some_and(|s| !s.is_empty()),
        "SDK {version}: responseId"
    );
}

/// The upstream side of a streamed + whole pair: routed to the backend model, streamed with
/// usage then whole, the system instruction and user text forwarded, nothing of the client.
fn check_upstream(version: &str, reqs: &[RecordedRequest]) -> (Value, Value) {
    assert_eq!(
        reqs.len(),
        2,
        "SDK {version}: one upstream call per SDK call"
    );
    for r in reqs {
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("POST", "/v1/chat/completions")
        );
        assert!(
            !r.used_default,
            "SDK {version}: a scripted reply was played"
        );
        assert_no_gemini_leak(r);
        let up = r.json();
        assert_eq!(up["model"], backend_model(), "SDK {version}: routed");
        assert_eq!(
            up["messages"][0],
            json!({"role": "system", "content": "You are a terse assistant."}),
            "SDK {version}: systemInstruction: {up:#}"
        );
        let user = up["messages"][1].to_string();
        assert!(
            up["messages"][1]["role"] == "user"
                && user.contains("Say hello, and call a tool if you have one."),
            "SDK {version}: user text: {up:#}"
        );
        assert_eq!(up["temperature"], 0.5);
        assert_eq!(up["max_tokens"], 512, "maxOutputTokens: {up:#}");
    }
    let (st, wh) = (reqs[0].json(), reqs[1].json());
    assert_eq!(st["stream"], true, "SDK {version}: first call streamed");
    assert_eq!(st["stream_options"]["include_usage"], true);
    assert_ne!(wh["stream"], true, "SDK {version}: second call whole");
    (st, wh)
}

/// Each SDK version against a fresh pair of replies (stream first, then whole).
async fn for_each_sdk(
    s: &Stack,
    env: &[(&str, &str)],
    replies: impl Fn() -> (Reply, Reply),
    check: impl Fn(&str, &Value, &[RecordedRequest]),
) {
    for version in SDK_VERSIONS {
        let before = s.upstream.requests().len();
        let (stream, whole) = replies();
        s.upstream.push_all([stream, whole]);
        let out = sdk(s, version, env).await;
        let reqs = s.upstream.requests()[before..].to_vec();
        check_pair(version, &out);
        check(version, &out, &reqs);
        assert_eq!(
            s.upstream.queued(),
            0,
            "SDK {version}: every reply was used"
        );
    }
}

#[tokio::test]
async fn text_stream_equals_whole_answer() {
    let s = stack().await;
    for_each_sdk(
        &s,
        &[],
        || (Reply::text_stream(TEXT, 9), Reply::text(TEXT)),
        |version, out, reqs| {
            for step in ["stream", "whole"] {
                let sum = &out[step];
                assert_eq!(sum["text"], TEXT, "SDK {version} {step}: {out:#}");
                assert_eq!(sum["sdk_text"], TEXT, "SDK {version} {step}: .text getter");
                assert_eq!(sum["thoughts"], "");
                assert_eq!(sum["function_calls"], json!([]));
                assert_eq!(sum["finish_reason"], "STOP");
            }
            assert!(
                out["stream"]["chunks"].as_u64().unwrap() >= 2,
                "SDK {version}: text streamed in several chunks: {out:#}"
            );
            let (st, _) = check_upstream(version, reqs);
            assert!(st.get("tools").is_none());
        },
    )
    .await;
}

#[tokio::test]
async fn reasoning_and_text_with_include_thoughts() {
    let s = stack().await;
    let reasoning = "The user wants a greeting. Two languages: French and Chinese — simple.";
    let text = "Bonjour, 你好!";
    for_each_sdk(
        &s,
        &[("INCLUDE_THOUGHTS", "1")],
        || {
            (
                Reply::reasoning_stream(ReasoningField::ReasoningContent, reasoning, text, 5),
                Reply::reasoning(ReasoningField::ReasoningContent, reasoning, text),
            )
        },
        |version, out, reqs| {
            for step in ["stream", "whole"] {
                let sum = &out[step];
                assert_eq!(sum["thoughts"], reasoning, "SDK {version} {step}: {out:#}");
                assert_eq!(sum["text"], text, "SDK {version} {step}");
                assert_eq!(sum["finish_reason"], "STOP");
                let kinds: Vec<&str> = sum["part_kinds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                let first_text = kinds.iter().position(|k| *k == "text").unwrap();
                assert!(
                    kinds[..first_text].iter().all(|k| *k == "thought")
                        && kinds[first_text..].iter().all(|k| *k == "text"),
                    "SDK {version} {step}: thoughts first, then text: {kinds:?}"
                );
            }
            assert_eq!(out["stream"]["usage"]["promptTokenCount"], 15);
            assert_eq!(out["stream"]["usage"]["candidatesTokenCount"], 12);
            let (st, wh) = check_upstream(version, reqs);
            // thinkingBudget 2048 → medium effort.
            assert_eq!(st["reasoning_effort"], "medium", "{st:#}");
            assert_eq!(wh["reasoning_effort"], "medium");
        },
    )
    .await;
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

fn expected_calls(calls: &[ToolCall]) -> Value {
    calls
        .iter()
        .map(|c| {
            json!({"id": c.id, "name": c.name,
                   "args": serde_json::from_str::<Value>(&c.arguments).unwrap(),
                   "has_signature": false})
        })
        .collect()
}

fn check_tools_forwarded(version: &str, up: &Value) {
    let names: Vec<&str> = up["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("SDK {version}: no tools upstream: {up:#}"))
        .iter()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    assert_eq!(names, ["read_file", "run_shell"]);
    assert_eq!(
        up["tools"][0]["function"]["parameters"]["properties"]["path"],
        json!({"type": "string"})
    );
}

#[tokio::test]
async fn parallel_tool_calls_fragmented_arrive_whole() {
    let s = stack().await;
    let calls = parallel_calls();
    for_each_sdk(
        &s,
        &[("TOOLS", "1")],
        || {
            (
                Reply::tool_calls_stream(&calls, 7),
                Reply::tool_calls(&calls),
            )
        },
        |version, out, reqs| {
            for step in ["stream", "whole"] {
                let sum = &out[step];
                assert_eq!(
                    sum["function_calls"],
                    expected_calls(&calls),
                    "SDK {version} {step}: {out:#}"
                );
                assert_eq!(sum["text"], "");
                assert_eq!(sum["finish_reason"], "STOP");
            }
            // Buffered: both calls, whole, in the one final chunk.
            assert_eq!(out["stream"]["chunks"], 1, "SDK {version}: {out:#}");
            assert_eq!(out["stream"]["usage"]["promptTokenCount"], 20);
            let (st, wh) = check_upstream(version, reqs);
            check_tools_forwarded(version, &st);
            check_tools_forwarded(version, &wh);
        },
    )
    .await;
}

#[tokio::test]
async fn one_whole_tool_call_in_one_fragment() {
    let s = stack().await;
    let call = vec![ToolCall::new(
        "call_only",
        "read_file",
        r#"{"path":"notes/ünïcødé 你好.md"}"#,
    )];
    for_each_sdk(
        &s,
        &[("TOOLS", "1")],
        || {
            (
                Reply::tool_calls_stream_whole(&call),
                Reply::tool_calls(&call),
            )
        },
        |version, out, reqs| {
            for step in ["stream", "whole"] {
                assert_eq!(
                    out[step]["function_calls"],
                    expected_calls(&call),
                    "SDK {version} {step}: {out:#}"
                );
            }
            check_upstream(version, reqs);
        },
    )
    .await;
}

/// A usage chunk after the finish chunk (as Chat Completions sends it), with cached and
/// reasoning token details: the SDK sees it on the final chunk, split Gemini's way.
#[tokio::test]
async fn usage_after_finish_reaches_the_final_chunk() {
    let s = stack().await;
    let usage = json!({
        "prompt_tokens": 40, "completion_tokens": 25, "total_tokens": 65,
        "prompt_tokens_details": {"cached_tokens": 16},
        "completion_tokens_details": {"reasoning_tokens": 10}
    });
    let usage_chunk = json!({
        "id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": CREATED,
        "model": SCRIPTED_MODEL, "choices": [], "usage": usage,
    });
    let whole = json!({
        "id": "chatcmpl-scripted", "object": "chat.completion", "created": CREATED,
        "model": SCRIPTED_MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "counted"},
                     "logprobs": null, "finish_reason": "stop"}],
        "usage": usage,
    });
    for_each_sdk(
        &s,
        &[],
        || {
            (
                ChatStream::new()
                    .role()
                    .content_pieces("counted", 3)
                    .finish("stop")
                    .sleep(50)
                    .data(&usage_chunk.to_string())
                    .done()
                    .build(),
                Reply::Json {
                    status: 200,
                    body: whole.clone(),
                },
            )
        },
        |version, out, reqs| {
            let expected = json!({
                "promptTokenCount": 40, "candidatesTokenCount": 15, "thoughtsTokenCount": 10,
                "cachedContentTokenCount": 16, "totalTokenCount": 65
            });
            for step in ["stream", "whole"] {
                assert_eq!(
                    out[step]["usage"], expected,
                    "SDK {version} {step}: {out:#}"
                );
                assert_eq!(out[step]["text"], "counted");
                assert_eq!(out[step]["finish_reason"], "STOP");
            }
            check_upstream(version, reqs);
        },
    )
    .await;
}

/// An error chunk from the backend after some text: the SDK has the text, then throws.
/// A whole answer failing upstream throws too, with Google's status.
#[tokio::test]
async fn mid_stream_error_makes_the_sdk_throw() {
    let s = stack().await;
    for version in SDK_VERSIONS {
        let before = s.upstream.requests().len();
        s.upstream.push(
            ChatStream::new()
                .role()
                .content("partial answer")
                .sleep(300)
                .error("the backend fell over")
                .build(),
        );
        let out = sdk(&s, version, &[("STEPS", "stream"), ("EXPECT_ERROR", "1")]).await;
        let err = &out["error"];
        assert_eq!(
            err["partial"]["text"], "partial answer",
            "SDK {version}: the text before the error arrived: {out:#}"
        );
        assert!(
            err["partial"]["finish_reason"].is_null(),
            "SDK {version}: no finish before the error: {out:#}"
        );
        assert_eq!(err["name"], "ApiError", "SDK {version}: {out:#}");
        assert_eq!(err["status"], 500, "SDK {version}: {out:#}");
        let msg = err["message"].as_str().unwrap();
        assert!(
            msg.contains("INTERNAL") && msg.contains("the backend fell over"),
            "SDK {version}: {msg}"
        );

        // The same without a pause: the text and the error may reach the SDK in one read,
        // where 1.30 cannot see the bare error object; it must still throw, never end quietly.
        s.upstream.push(
            ChatStream::new()
                .role()
                .content("partial answer")
                .error("the backend fell over at once")
                .build(),
        );
        let out = sdk(&s, version, &[("STEPS", "stream"), ("EXPECT_ERROR", "1")]).await;
        eprintln!("SDK {version}, unpaced error: {}", out["error"]);
        assert!(
            "partial answer".starts_with(out["error"]["partial"]["text"].as_str().unwrap()),
            "SDK {version}: {out:#}"
        );
        assert!(out["error"]["partial"]["finish_reason"].is_null());

        // The connection dropped mid-stream: an error too, never a silent end.
        s.upstream.push(
            ChatStream::new()
                .role()
                .content("cut ")
                .sleep(300)
                .close()
                .build(),
        );
        let out = sdk(&s, version, &[("STEPS", "stream"), ("EXPECT_ERROR", "1")]).await;
        assert_eq!(
            out["error"]["partial"]["text"], "cut ",
            "SDK {version}: {out:#}"
        );
        assert!(out["error"]["partial"]["finish_reason"].is_null());
        assert_eq!(out["error"]["name"], "ApiError", "SDK {version}: {out:#}");

        // A whole call the backend refuses.
        s.upstream
            .push(Reply::status(500, "the backend is down for maintenance"));
        let out = sdk(&s, version, &[("STEPS", "whole"), ("EXPECT_ERROR", "1")]).await;
        assert_eq!(out["error"]["name"], "ApiError", "SDK {version}: {out:#}");
        assert_eq!(out["error"]["status"], 500, "SDK {version}: {out:#}");

        let reqs = s.upstream.requests()[before..].to_vec();
        assert_eq!(reqs.len(), 4, "SDK {version}: no retries by the gateway");
        for r in &reqs {
            assert!(!r.used_default);
            assert_no_gemini_leak(r);
            assert_eq!(r.json()["model"], backend_model());
        }
    }
}
