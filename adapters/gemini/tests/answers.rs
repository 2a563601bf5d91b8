//! Pivot answers → Gemini: whole answers, scripted streams (chunk-split invariance,
//! streamed == unary, framing as `@google/genai` 1.30 parses it), mid-stream failures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use cligate_adapter_gemini::GeminiAdapter;
use cligate_adapter_gemini::signature;
use cligate_adapter_sdk::{
    Adapter, ErrorKind, GatewayError, RequestContext, SseEvent, StreamTranslator, testing,
};
use common::*;
use serde_json::{Value, json};

/// Named scripted upstream streams covering the shapes backends send.
fn scripts() -> Vec<(&'static str, Vec<Value>)> {
    vec![
        (
            "reasoning then text, usage after finish",
            vec![
                delta(json!({"role": "assistant", "content": ""})),
                delta(json!({"reasoning_content": "**Reading** the file"})),
                delta(json!({"reasoning_content": " first."})),
                delta(json!({"content": "hello.txt says: "})),
                delta(json!({"content": "Hello \u{2028} from the capture fixture!"})),
                finish("stop"),
                usage(11667, 40, 8192, 25),
            ],
        ),
        (
            "parallel tool calls with fragmented arguments",
            vec![
                delta(json!({"content": "Reading both."})),
                delta(
                    json!({"tool_calls": [{"index": 0, "id": "call_a", "type": "function",
                    "function": {"name": "read_file", "arguments": ""}}]}),
                ),
                delta(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"file_path\":"}}]}),
                ),
                delta(
                    json!({"tool_calls": [{"index": 1, "id": "call_b", "type": "function",
                    "function": {"name": "read_file", "arguments": "{\"file_path\""}}]}),
                ),
                delta(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": " \"a.txt\"}"}}]}),
                ),
                delta(
                    json!({"tool_calls": [{"index": 1, "function": {"arguments": ": \"b.txt\"}"}}]}),
                ),
                finish("tool_calls"),
                usage(500, 30, 0, 0),
            ],
        ),
        (
            "reasoning and a whole call (Ollama style) with finish stop",
            vec![
                delta(json!({"reasoning": "I should list the directory."})),
                delta(
                    json!({"tool_calls": [{"index": 0, "id": "call_x", "type": "function",
                    "function": {"name": "list_directory", "arguments": "{\n  \"dir_path\": \".\"\n}"}}]}),
                ),
                finish("stop"),
                usage(900, 12, 0, 7),
            ],
        ),
        (
            "truncated by the output limit",
            vec![
                delta(json!({"content": "The answer is long"})),
                finish("length"),
                usage(10, 5, 0, 0),
            ],
        ),
        (
            "truncated tool arguments",
            vec![
                delta(
                    json!({"tool_calls": [{"index": 0, "id": "call_t", "type": "function",
                    "function": {"name": "write_file", "arguments": "{\"content\": \"abc"}}]}),
                ),
                finish("length"),
                usage(10, 5, 0, 0),
            ],
        ),
        ("nothing at all", vec![]),
        (
            "no finish reason and no usage",
            vec![delta(json!({"content": "partial"}))],
        ),
        ("content filter", vec![finish("content_filter")]),
    ]
}

fn ctx(state: &str, query: Option<&str>) -> RequestContext {
    context(state, query)
}

fn replay(ctx: RequestContext, upstream: &[u8], split: usize) -> Vec<u8> {
    testing::replay_stream::<GeminiAdapter>(ctx, upstream, split).unwrap()
}

#[test]
fn chunk_split_invariance_in_both_framings_and_for_code_assist() {
    for (name, chunks) in scripts() {
        let upstream = sse(&chunks);
        for (state, query) in [
            (r#"{"t":true}"#, Some("alt=sse")),
            ("{}", None),
            (r#"{"t":true,"w":true}"#, Some("alt=sse")),
        ] {
            let one = replay(ctx(state, query), &upstream, 1);
            assert_eq!(one, replay(ctx(state, query), &upstream, 7), "{name}");
            assert_eq!(one, replay(ctx(state, query), &upstream, 4096), "{name}");
        }
    }
}

#[test]
fn sse_frames_are_what_the_sdk_parses_and_streamed_equals_unary() {
    for (name, chunks) in scripts() {
        for state in [r#"{"t":true}"#, "{}"] {
            let streamed = replay(ctx(state, Some("alt=sse")), &sse(&chunks), 7);
            assert_strict_frames(&streamed);
            let frames = sdk_frames(&streamed);
            assert!(!frames.is_empty(), "{name}");
            let last = frames.last().unwrap();
            assert!(
                last["candidates"][0]["finishReason"].is_string(),
                "{name}: no finishReason"
            );
            assert!(
                !last["candidates"][0]["content"]["parts"]
                    .as_array()
                    .unwrap()
                    .is_empty(),
                "{name}: final chunk without parts"
            );
            for frame in &frames[..frames.len() - 1] {
                assert!(
                    frame["candidates"][0].get("finishReason").is_none(),
                    "{name}"
                );
                assert!(frame.get("usageMetadata").is_none(), "{name}");
            }

            let unary =
                GeminiAdapter::translate_response(ctx(state, None), whole_answer(&chunks)).unwrap();
            assert_eq!(unary.status, 200);
            let unary: Value = serde_json::from_slice(&unary.body).unwrap();
            assert_eq!(assemble(&frames), assemble(&[unary]), "{name} ({state})");
        }
    }
}

#[test]
fn json_array_form_is_one_json_array_with_the_same_content() {
    for (name, chunks) in scripts() {
        let streamed = replay(ctx("{}", None), &sse(&chunks), 4096);
        let text = String::from_utf8(streamed.clone()).unwrap();
        assert!(
            text.starts_with("[{") && text.ends_with("}\n]"),
            "{name}: {text}"
        );
        let elements = array_elements(&streamed);
        let sse_frames = sdk_frames(&replay(ctx("{}", Some("alt=sse")), &sse(&chunks), 4096));
        assert_eq!(elements, sse_frames, "{name}");
    }
}

#[test]
fn reasoning_and_text_stream_as_thought_and_text_parts_with_usage_last() {
    let (_, chunks) = scripts().remove(0);
    let frames = sdk_frames(&replay(
        ctx(r#"{"t":true}"#, Some("alt=sse")),
        &sse(&chunks),
        4096,
    ));
    assert_eq!(frames.len(), 5);
    assert_eq!(
        frames[0],
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "**Reading** the file", "thought": true}]}, "index": 0}],
               "modelVersion": "gemini-2.5-pro", "responseId": "req_test_0001"})
    );
    assert_eq!(
        frames[3]["candidates"][0]["content"]["parts"][0]["text"],
        "Hello \u{2028} from the capture fixture!"
    );
    assert_eq!(
        frames[4],
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": "STOP", "index": 0}],
               "usageMetadata": {"promptTokenCount": 11667, "candidatesTokenCount": 15, "thoughtsTokenCount": 25,
                                 "cachedContentTokenCount": 8192, "totalTokenCount": 11707},
               "modelVersion": "gemini-2.5-pro", "responseId": "req_test_0001"})
    );
    // Without includeThoughts the reasoning stays out of the answer.
    let frames = sdk_frames(&replay(ctx("{}", Some("alt=sse")), &sse(&chunks), 4096));
    assert!(
        frames
            .iter()
            .all(|f| !f.to_string().contains("\"thought\""))
    );
    assert_eq!(
        assemble(&frames).text,
        "hello.txt says: Hello \u{2028} from the capture fixture!"
    );
}

#[test]
fn parallel_calls_arrive_whole_in_the_final_chunk() {
    let (_, chunks) = scripts().remove(1);
    let frames = sdk_frames(&replay(ctx("{}", Some("alt=sse")), &sse(&chunks), 1));
    assert_eq!(frames.len(), 2);
    assert_eq!(
        frames[0]["candidates"][0]["content"]["parts"],
        json!([{"text": "Reading both."}])
    );
    assert_eq!(
        frames[1]["candidates"][0],
        json!({"content": {"role": "model", "parts": [
                {"functionCall": {"id": "call_a", "name": "read_file", "args": {"file_path": "a.txt"}}},
                {"functionCall": {"id": "call_b", "name": "read_file", "args": {"file_path": "b.txt"}}}]},
               "finishReason": "STOP", "index": 0})
    );
}

#[test]
fn reasoning_behind_a_call_rides_in_a_gateway_signature_and_comes_back() {
    let (_, chunks) = scripts().remove(2);
    let frames = sdk_frames(&replay(ctx("{}", Some("alt=sse")), &sse(&chunks), 4096));
    let part = &frames.last().unwrap()["candidates"][0]["content"]["parts"][0];
    assert_eq!(
        part["functionCall"],
        json!({"id": "call_x", "name": "list_directory", "args": {"dir_path": "."}})
    );
    let sig = part["thoughtSignature"].as_str().unwrap();
    assert_eq!(
        signature::decode(sig).as_deref(),
        Some("I should list the directory.")
    );

    // Gemini CLI sends the part back in its history; the reasoning returns to the backend.
    let (_, body) = pivot_of(json!({"contents": [
        {"role": "user", "parts": [{"text": "list"}]},
        {"role": "model", "parts": [part.clone()]},
        {"role": "user", "parts": [{"functionResponse": {"id": "call_x", "name": "list_directory", "response": {"output": "a.txt"}}}]}
    ]}));
    assert_eq!(
        body["messages"][1]["reasoning_content"],
        "I should list the directory."
    );
    assert_eq!(body["messages"][1]["tool_calls"][0]["id"], "call_x");
    assert!(
        !String::from_utf8(serde_json::to_vec(&body).unwrap())
            .unwrap()
            .contains(sig)
    );
}

#[test]
fn finish_reasons_follow_the_accumulated_state() {
    let expect = [
        ("truncated by the output limit", "MAX_TOKENS"),
        ("truncated tool arguments", "MALFORMED_FUNCTION_CALL"),
        ("nothing at all", "STOP"),
        ("no finish reason and no usage", "STOP"),
        ("content filter", "SAFETY"),
    ];
    for (name, chunks) in scripts() {
        let Some((_, reason)) = expect.iter().find(|(n, _)| *n == name) else {
            continue;
        };
        let frames = sdk_frames(&replay(ctx("{}", Some("alt=sse")), &sse(&chunks), 4096));
        let last = &frames.last().unwrap()["candidates"][0];
        assert_eq!(last["finishReason"], *reason, "{name}");
        // A malformed call is never handed to the client to run.
        assert!(
            !frames
                .iter()
                .any(|f| f.to_string().contains("functionCall")),
            "{name}"
        );
    }
}

#[test]
fn an_empty_stream_is_still_a_valid_answer_in_every_framing() {
    let empty = sse(&[]);
    let frames = sdk_frames(&replay(ctx("{}", Some("alt=sse")), &empty, 1));
    assert_eq!(
        frames,
        [
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": "STOP", "index": 0}],
                "modelVersion": "gemini-2.5-pro", "responseId": "req_test_0001"})
        ]
    );
    assert_eq!(array_elements(&replay(ctx("{}", None), &empty, 1)), frames);
    // Not even `[DONE]`: finish alone.
    let mut stream = GeminiAdapter::open_stream(ctx("{}", None));
    assert_eq!(array_elements(&stream.finish().unwrap()), frames);
}

#[test]
fn code_assist_wraps_every_chunk() {
    let (_, chunks) = scripts().remove(0);
    let frames = sdk_frames(&replay(
        ctx(r#"{"t":true,"w":true}"#, Some("alt=sse")),
        &sse(&chunks),
        7,
    ));
    assert_eq!(frames.len(), 5);
    for frame in &frames {
        assert_eq!(frame["traceId"], "req_test_0001");
        assert_eq!(frame["response"]["modelVersion"], "gemini-2.5-pro");
    }
    assert_eq!(
        frames[4]["response"]["candidates"][0]["finishReason"],
        "STOP"
    );
    let unary =
        GeminiAdapter::translate_response(ctx(r#"{"w":true}"#, None), whole_answer(&chunks))
            .unwrap();
    let unary: Value = serde_json::from_slice(&unary.body).unwrap();
    assert_eq!(
        unary["response"]["candidates"][0]["content"]["parts"],
        json!([{"text": "hello.txt says: Hello \u{2028} from the capture fixture!"}])
    );
    assert_eq!(unary["traceId"], "req_test_0001");
}

fn timeout() -> GatewayError {
    GatewayError {
        kind: ErrorKind::Timeout,
        status: 504,
        message: "the backend did not answer in time".into(),
        retry_after_seconds: None,
    }
}

fn push(stream: &mut impl StreamTranslator, chunk: &Value) -> Vec<u8> {
    stream
        .push(SseEvent {
            event: None,
            data: chunk.to_string(),
        })
        .unwrap()
}

#[test]
fn failure_after_bytes_ends_with_an_error_the_sdk_raises() {
    let mut stream = GeminiAdapter::open_stream(ctx("{}", Some("alt=sse")));
    let before = push(&mut stream, &delta(json!({"content": "half an ans"})));
    assert_eq!(sdk_frames(&before).len(), 1);
    let tail = stream.fail(timeout());
    // @google/genai 1.30 raises an ApiError when one network read is a bare JSON object
    // with an `error` whose code is 4xx/5xx; the host writes `fail` as its own write.
    let error: Value = serde_json::from_slice(&tail).unwrap();
    assert_eq!(
        error,
        json!({"error": {"code": 504, "message": "the backend did not answer in time", "status": "DEADLINE_EXCEEDED"}})
    );
    assert!(tail.ends_with(b"\n"));
    assert!(stream.finish().unwrap().is_empty());
    assert!(stream.fail(timeout()).is_empty());
}

#[test]
fn upstream_error_event_mid_stream_ends_it_the_same_way() {
    let mut stream = GeminiAdapter::open_stream(ctx("{}", Some("alt=sse")));
    let first = push(&mut stream, &delta(json!({"content": "partial"})));
    let bytes = push(
        &mut stream,
        &json!({"error": {"message": "model crashed", "type": "api_error"}}),
    );
    assert!(!first.is_empty());
    let error: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(error["error"]["code"], 500);
    assert_eq!(error["error"]["status"], "INTERNAL");
    assert_eq!(error["error"]["message"], "model crashed");
    // Nothing follows the error, not even the final chunk.
    assert!(push(&mut stream, &delta(json!({"content": "more"}))).is_empty());
    assert!(stream.finish().unwrap().is_empty());
}

#[test]
fn failure_in_the_json_array_form_keeps_the_array_valid() {
    let mut stream = GeminiAdapter::open_stream(ctx("{}", None));
    let mut all = push(&mut stream, &delta(json!({"content": "x"})));
    all.extend(stream.keepalive());
    all.extend(stream.fail(timeout()));
    let elements = array_elements(&all);
    assert_eq!(elements.len(), 2);
    assert_eq!(elements[1]["error"]["status"], "DEADLINE_EXCEEDED");
    // And before any byte went out.
    let mut stream = GeminiAdapter::open_stream(ctx("{}", None));
    let elements = array_elements(&stream.fail(timeout()));
    assert_eq!(elements.len(), 1);
    assert_eq!(elements[0]["error"]["code"], 504);
}

#[test]
fn code_assist_failure_is_a_data_frame() {
    let mut stream = GeminiAdapter::open_stream(ctx(r#"{"w":true}"#, Some("alt=sse")));
    push(&mut stream, &delta(json!({"content": "x"})));
    let frames = sdk_frames(&stream.fail(GatewayError {
        kind: ErrorKind::RateLimited,
        status: 429,
        message: "slow down".into(),
        retry_after_seconds: Some(7),
    }));
    assert_eq!(frames[0]["error"]["code"], 429);
    assert_eq!(frames[0]["error"]["details"][0]["retryDelay"], "7s");
}

#[test]
fn keepalive_never_touches_an_sse_stream() {
    let mut stream = GeminiAdapter::open_stream(ctx("{}", Some("alt=sse")));
    assert!(stream.keepalive().is_empty());
    push(&mut stream, &delta(json!({"content": "x"})));
    assert!(stream.keepalive().is_empty());
}

#[test]
fn unary_answers() {
    // Text with reasoning, thoughts requested.
    let body = json!({"id": "x", "choices": [{"index": 0, "message": {"role": "assistant", "content": "done",
        "reasoning_content": "thinking"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 6, "total_tokens": 16}});
    let answer = GeminiAdapter::translate_response(
        ctx(r#"{"t":true}"#, None),
        serde_json::to_vec(&body).unwrap(),
    )
    .unwrap();
    assert_eq!(answer.headers[0].value, "application/json");
    let answer: Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(
        answer,
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "thinking", "thought": true}, {"text": "done"}]},
                               "finishReason": "STOP", "index": 0}],
               "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 6, "totalTokenCount": 16},
               "modelVersion": "gemini-2.5-pro", "responseId": "req_test_0001"})
    );
    // Only reasoning, thoughts requested: still a visible (empty) part.
    let body = json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": null, "reasoning": "hm"}, "finish_reason": "stop"}]});
    let answer = GeminiAdapter::translate_response(
        ctx(r#"{"t":true}"#, None),
        serde_json::to_vec(&body).unwrap(),
    )
    .unwrap();
    let answer: Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(
        answer["candidates"][0]["content"]["parts"],
        json!([{"text": "hm", "thought": true}, {"text": ""}])
    );
    assert!(answer.get("usageMetadata").is_none());
    // Arguments that are not an object: malformed.
    let body = json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": null,
        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1,2]"}}]}, "finish_reason": "tool_calls"}]});
    let answer =
        GeminiAdapter::translate_response(ctx("{}", None), serde_json::to_vec(&body).unwrap())
            .unwrap();
    let answer: Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(
        answer["candidates"][0]["finishReason"],
        "MALFORMED_FUNCTION_CALL"
    );
    assert_eq!(
        answer["candidates"][0]["content"]["parts"],
        json!([{"text": ""}])
    );
    // An answer that is not Chat JSON is the backend's fault.
    assert!(GeminiAdapter::translate_response(ctx("{}", None), b"<html>".to_vec()).is_err());
}

#[test]
fn translate_error_renders_google_errors() {
    let site = cligate_adapter_sdk::ErrorSite {
        request_id: "r".into(),
        path: "/v1beta/models/m:generateContent".into(),
        query: None,
        client_model: Some("m".into()),
    };
    let response = GeminiAdapter::translate_error(
        site,
        GatewayError {
            kind: ErrorKind::Overloaded,
            status: 529,
            message: "busy".into(),
            retry_after_seconds: Some(30),
        },
    );
    assert_eq!(response.status, 503);
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(
        body,
        json!({"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE",
               "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "30s"}]}})
    );
}
