//! Streamed and whole answers: scripted Chat Completions upstreams replayed through the
//! host's framer, checked against the event-order rules of Anthropic's TypeScript SDK
//! (`MessageStream`), assembled the way the SDK assembles them, and compared with the
//! non-streamed translation of the same answer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cligate_adapter_anthropic_messages::{AnthropicMessages, State};
use cligate_adapter_sdk::testing::{context, parse_client_sse, replay_stream};
use cligate_adapter_sdk::{
    Adapter, ErrorKind, GatewayError, RequestContext, SseEvent, StreamTranslator,
};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------
// The SDK's rules, as a checker
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
struct BlockState {
    kind: String,
    stopped: bool,
    signatures: usize,
}

/// Check a client stream against what `@anthropic-ai/sdk`'s `MessageStream` (and Claude
/// Code on top of it) require. Returns the terminal event name (`message_stop` / `error`).
fn check_order(events: &[(Option<String>, String)]) -> Result<&'static str, String> {
    let mut started = false;
    let mut blocks: Vec<BlockState> = Vec::new();
    let mut open: Option<usize> = None;
    let mut message_delta = false;
    let mut terminal: Option<&'static str> = None;
    for (i, (name, data)) in events.iter().enumerate() {
        let at = format!("event {i} ({name:?})");
        let name = name.as_deref().ok_or(format!("{at}: no event name"))?;
        let v: Value = serde_json::from_str(data).map_err(|e| format!("{at}: {e}"))?;
        if v["type"] != name {
            return Err(format!(
                "{at}: data type {} differs from event name",
                v["type"]
            ));
        }
        if let Some(t) = terminal {
            return Err(format!("{at}: after terminal {t}"));
        }
        match name {
            "ping" => continue,
            "error" => {
                if !v["error"]["type"].is_string() || !v["error"]["message"].is_string() {
                    return Err(format!("{at}: malformed error {v}"));
                }
                terminal = Some("error");
                continue;
            }
            "message_start" => {
                if started {
                    return Err(format!("{at}: second message_start"));
                }
                started = true;
                let m = &v["message"];
                let ok = m["type"] == "message"
                    && m["role"] == "assistant"
                    && m["content"] == json!([])
                    && m["stop_reason"].is_null()
                    && m["stop_sequence"].is_null()
                    && m["id"].as_str().is_some_and(|id| id.starts_with("msg_"))
                    && m["model"].is_string()
                    && m["usage"]["input_tokens"].is_u64()
                    && m["usage"]["output_tokens"].is_u64();
                if !ok {
                    return Err(format!("{at}: malformed message_start {v}"));
                }
                continue;
            }
            _ if !started => return Err(format!("{at}: before message_start")),
            _ => {}
        }
        match name {
            "content_block_start" => {
                if let Some(o) = open {
                    return Err(format!("{at}: block {o} still open"));
                }
                if v["index"] != blocks.len() {
                    return Err(format!(
                        "{at}: index {} but {} blocks",
                        v["index"],
                        blocks.len()
                    ));
                }
                let b = &v["content_block"];
                let kind = b["type"].as_str().unwrap_or_default().to_owned();
                let ok = match kind.as_str() {
                    "text" => b["text"] == "",
                    "thinking" => b["thinking"] == "" && b["signature"] == "",
                    "tool_use" => {
                        b["input"] == json!({})
                            && b["id"].as_str().is_some_and(|s| !s.is_empty())
                            && b["name"].is_string()
                    }
                    _ => false,
                };
                if !ok {
                    return Err(format!("{at}: block does not start empty: {b}"));
                }
                open = Some(blocks.len());
                blocks.push(BlockState {
                    kind,
                    stopped: false,
                    signatures: 0,
                });
            }
            "content_block_delta" => {
                let index = v["index"].as_u64().ok_or(format!("{at}: no index"))? as usize;
                if open != Some(index) {
                    return Err(format!("{at}: delta for {index}, open is {open:?}"));
                }
                let block = &mut blocks[index];
                let d = &v["delta"];
                let ok = match (block.kind.as_str(), d["type"].as_str().unwrap_or_default()) {
                    ("text", "text_delta") => d["text"].is_string(),
                    ("thinking", "thinking_delta") => d["thinking"].is_string(),
                    ("thinking", "signature_delta") => {
                        block.signatures += 1;
                        d["signature"].as_str().is_some_and(|s| !s.is_empty())
                    }
                    ("tool_use", "input_json_delta") => d["partial_json"].is_string(),
                    _ => false,
                };
                if !ok {
                    return Err(format!(
                        "{at}: delta {d} does not fit a {} block",
                        block.kind
                    ));
                }
            }
            "content_block_stop" => {
                let index = v["index"].as_u64().ok_or(format!("{at}: no index"))? as usize;
                if open != Some(index) {
                    return Err(format!("{at}: stop for {index}, open is {open:?}"));
                }
                let block = &mut blocks[index];
                if block.kind == "thinking" && block.signatures != 1 {
                    return Err(format!(
                        "{at}: thinking block with {} signatures",
                        block.signatures
                    ));
                }
                block.stopped = true;
                open = None;
            }
            "message_delta" => {
                if open.is_some() || message_delta {
                    return Err(format!("{at}: message_delta with a block open or twice"));
                }
                let reason = v["delta"]["stop_reason"].as_str().unwrap_or_default();
                let known = [
                    "end_turn",
                    "max_tokens",
                    "stop_sequence",
                    "tool_use",
                    "pause_turn",
                    "refusal",
                ];
                if !known.contains(&reason) || !v["usage"]["output_tokens"].is_u64() {
                    return Err(format!("{at}: malformed message_delta {v}"));
                }
                message_delta = true;
            }
            "message_stop" => {
                if !message_delta {
                    return Err(format!("{at}: message_stop without message_delta"));
                }
                terminal = Some("message_stop");
            }
            other => return Err(format!("{at}: unknown event {other}")),
        }
    }
    if blocks.iter().any(|b| !b.stopped) && terminal != Some("error") {
        return Err("a block was never stopped".to_owned());
    }
    terminal.ok_or_else(|| "stream ended without message_stop or error".to_owned())
}

/// Assemble a client stream into the Message the SDK would build.
fn assemble(events: &[(Option<String>, String)]) -> Value {
    let mut message = Value::Null;
    let mut json_buffers: Vec<String> = Vec::new();
    for (name, data) in events {
        let v: Value = serde_json::from_str(data).unwrap();
        match name.as_deref().unwrap() {
            "message_start" => message = v["message"].clone(),
            "content_block_start" => {
                message["content"]
                    .as_array_mut()
                    .unwrap()
                    .push(v["content_block"].clone());
                json_buffers.push(String::new());
            }
            "content_block_delta" => {
                let index = v["index"].as_u64().unwrap() as usize;
                let block = &mut message["content"][index];
                let d = &v["delta"];
                match d["type"].as_str().unwrap() {
                    "text_delta" => {
                        let text = block["text"].as_str().unwrap().to_owned();
                        block["text"] = json!(text + d["text"].as_str().unwrap());
                    }
                    "thinking_delta" => {
                        let text = block["thinking"].as_str().unwrap().to_owned();
                        block["thinking"] = json!(text + d["thinking"].as_str().unwrap());
                    }
                    "signature_delta" => block["signature"] = d["signature"].clone(),
                    "input_json_delta" => {
                        json_buffers[index].push_str(d["partial_json"].as_str().unwrap())
                    }
                    other => panic!("unknown delta {other}"),
                }
            }
            "content_block_stop" => {
                let index = v["index"].as_u64().unwrap() as usize;
                if message["content"][index]["type"] == "tool_use"
                    && !json_buffers[index].is_empty()
                {
                    message["content"][index]["input"] =
                        serde_json::from_str(&json_buffers[index]).unwrap();
                }
            }
            "message_delta" => {
                message["stop_reason"] = v["delta"]["stop_reason"].clone();
                message["stop_sequence"] = v["delta"]["stop_sequence"].clone();
                for (k, value) in v["usage"].as_object().unwrap() {
                    if !value.is_null() {
                        message["usage"][k] = value.clone();
                    }
                }
            }
            _ => {}
        }
    }
    message
}

// ---------------------------------------------------------------------------------------
// Scripted upstreams
// ---------------------------------------------------------------------------------------

fn chunk(delta: Value, finish: Option<&str>) -> String {
    json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "qwen3",
           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    .to_string()
}

fn usage_chunk(prompt: u64, completion: u64, cached: u64) -> String {
    json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [],
           "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                     "total_tokens": prompt + completion,
                     "prompt_tokens_details": {"cached_tokens": cached}}})
    .to_string()
}

fn sse(chunks: &[String], done: bool) -> Vec<u8> {
    let mut out = String::new();
    for c in chunks {
        out.push_str("data: ");
        out.push_str(c);
        out.push_str("\n\n");
    }
    if done {
        out.push_str("data: [DONE]\n\n");
    }
    out.into_bytes()
}

fn whole(message: Value, finish: Option<&str>, usage: Option<Value>) -> Vec<u8> {
    let mut body = json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "qwen3",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}]});
    if let Some(u) = usage {
        body["usage"] = u;
    }
    serde_json::to_vec(&body).unwrap()
}

fn usage_json(prompt: u64, completion: u64, cached: u64) -> Value {
    json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
           "prompt_tokens_details": {"cached_tokens": cached}})
}

struct Scenario {
    name: &'static str,
    upstream: Vec<u8>,
    whole: Vec<u8>,
    stop_reason: &'static str,
}

fn call(index: u32, id: Option<&str>, name: Option<&str>, args: Option<&str>) -> Value {
    let mut c = json!({"index": index, "function": {}});
    if let Some(id) = id {
        c["id"] = json!(id);
        c["type"] = json!("function");
    }
    if let Some(name) = name {
        c["function"]["name"] = json!(name);
    }
    if let Some(args) = args {
        c["function"]["arguments"] = json!(args);
    }
    c
}

fn calls(list: Vec<Value>) -> Value {
    json!({"tool_calls": list})
}

fn scenarios() -> Vec<Scenario> {
    let two_reads = json!({"role": "assistant", "content": null, "tool_calls": [
        {"id": "call_a", "type": "function", "function": {"name": "Read", "arguments": "{\"file_path\":\"/a\"}"}},
        {"id": "call_b", "type": "function", "function": {"name": "Read", "arguments": "{\"file_path\":\"/b\"}"}}]});
    vec![
        Scenario {
            name: "text",
            upstream: sse(
                &[
                    chunk(json!({"role": "assistant", "content": ""}), None),
                    chunk(json!({"content": "Hel"}), None),
                    chunk(json!({"content": "lo, world"}), None),
                    chunk(json!({}), Some("stop")),
                    usage_chunk(1200, 5, 1000),
                ],
                true,
            ),
            whole: whole(
                json!({"role": "assistant", "content": "Hello, world"}),
                Some("stop"),
                Some(usage_json(1200, 5, 1000)),
            ),
            stop_reason: "end_turn",
        },
        Scenario {
            name: "reasoning then text (both spellings)",
            upstream: sse(
                &[
                    chunk(json!({"role": "assistant"}), None),
                    chunk(json!({"reasoning_content": "Let me "}), None),
                    chunk(json!({"reasoning": "think."}), None),
                    chunk(json!({"content": "Answer: 42"}), None),
                    chunk(json!({}), Some("stop")),
                    usage_chunk(50, 30, 0),
                ],
                true,
            ),
            whole: whole(
                json!({"role": "assistant", "content": "Answer: 42", "reasoning_content": "Let me think."}),
                Some("stop"),
                Some(usage_json(50, 30, 0)),
            ),
            stop_reason: "end_turn",
        },
        Scenario {
            name: "two parallel tool calls in fragments",
            upstream: sse(
                &[
                    chunk(json!({"role": "assistant", "content": null}), None),
                    chunk(
                        calls(vec![call(0, Some("call_a"), Some("Read"), Some(""))]),
                        None,
                    ),
                    chunk(calls(vec![call(0, None, None, Some("{\"file_"))]), None),
                    chunk(
                        calls(vec![call(0, None, None, Some("path\":\"/a\"}"))]),
                        None,
                    ),
                    chunk(
                        calls(vec![call(
                            1,
                            Some("call_b"),
                            Some("Read"),
                            Some("{\"file_path\":"),
                        )]),
                        None,
                    ),
                    chunk(calls(vec![call(1, None, None, Some("\"/b\"}"))]), None),
                    chunk(json!({}), Some("tool_calls")),
                    usage_chunk(300, 40, 0),
                ],
                true,
            ),
            whole: whole(
                two_reads.clone(),
                Some("tool_calls"),
                Some(usage_json(300, 40, 0)),
            ),
            stop_reason: "tool_use",
        },
        Scenario {
            name: "tool calls all at once (Ollama), finish says stop",
            upstream: sse(
                &[
                    chunk(
                        json!({"role": "assistant", "content": "Reading both."}),
                        None,
                    ),
                    chunk(
                        calls(vec![
                            call(
                                0,
                                Some("call_a"),
                                Some("Read"),
                                Some("{\"file_path\":\"/a\"}"),
                            ),
                            call(
                                1,
                                Some("call_b"),
                                Some("Read"),
                                Some("{\"file_path\":\"/b\"}"),
                            ),
                        ]),
                        None,
                    ),
                    chunk(json!({}), Some("stop")),
                    usage_chunk(300, 40, 100),
                ],
                true,
            ),
            whole: whole(
                {
                    let mut m = two_reads.clone();
                    m["content"] = json!("Reading both.");
                    m
                },
                Some("stop"),
                Some(usage_json(300, 40, 100)),
            ),
            stop_reason: "tool_use",
        },
        Scenario {
            name: "interleaved fragments of two calls",
            upstream: sse(
                &[
                    chunk(
                        calls(vec![call(0, Some("call_a"), Some("Read"), None)]),
                        None,
                    ),
                    chunk(
                        calls(vec![call(1, Some("call_b"), Some("Read"), None)]),
                        None,
                    ),
                    chunk(
                        calls(vec![call(0, None, None, Some("{\"file_path\":"))]),
                        None,
                    ),
                    chunk(
                        calls(vec![call(1, None, None, Some("{\"file_path\":\"/b\"}"))]),
                        None,
                    ),
                    chunk(calls(vec![call(0, None, None, Some("\"/a\"}"))]), None),
                    chunk(json!({}), Some("tool_calls")),
                    usage_chunk(300, 40, 0),
                ],
                true,
            ),
            whole: whole(
                two_reads.clone(),
                Some("tool_calls"),
                Some(usage_json(300, 40, 0)),
            ),
            stop_reason: "tool_use",
        },
        Scenario {
            name: "arguments only at the end, after the names",
            upstream: sse(
                &[
                    chunk(json!({"reasoning_content": "Two files."}), None),
                    chunk(
                        calls(vec![
                            call(0, Some("call_a"), Some("Read"), None),
                            call(1, Some("call_b"), Some("Read"), None),
                        ]),
                        None,
                    ),
                    chunk(
                        calls(vec![
                            call(0, None, None, Some("{\"file_path\":\"/a\"}")),
                            call(1, None, None, Some("{\"file_path\":\"/b\"}")),
                        ]),
                        Some("tool_calls"),
                    ),
                    usage_chunk(300, 40, 0),
                ],
                true,
            ),
            whole: whole(
                {
                    let mut m = two_reads.clone();
                    m["reasoning_content"] = json!("Two files.");
                    m
                },
                Some("tool_calls"),
                Some(usage_json(300, 40, 0)),
            ),
            stop_reason: "tool_use",
        },
        Scenario {
            name: "usage in the finish chunk, output cut by the limit",
            upstream: sse(
                &[chunk(json!({"content": "Once upon"}), None), {
                    let mut c: Value =
                        serde_json::from_str(&chunk(json!({"content": " a"}), Some("length")))
                            .unwrap();
                    c["usage"] = usage_json(10, 3, 0);
                    c.to_string()
                }],
                true,
            ),
            whole: whole(
                json!({"role": "assistant", "content": "Once upon a"}),
                Some("length"),
                Some(usage_json(10, 3, 0)),
            ),
            stop_reason: "max_tokens",
        },
        Scenario {
            name: "no finish reason, no usage, no [DONE]",
            upstream: sse(
                &[
                    chunk(json!({"content": "partial "}), None),
                    chunk(json!({"content": "answer"}), None),
                ],
                false,
            ),
            whole: whole(
                json!({"role": "assistant", "content": "partial answer"}),
                None,
                None,
            ),
            stop_reason: "end_turn",
        },
        Scenario {
            name: "content filter",
            upstream: sse(
                &[
                    chunk(json!({"refusal": "I can't help with that."}), None),
                    chunk(json!({}), Some("content_filter")),
                ],
                true,
            ),
            whole: whole(
                json!({"role": "assistant", "content": null, "refusal": "I can't help with that."}),
                Some("content_filter"),
                None,
            ),
            stop_reason: "refusal",
        },
    ]
}

fn ctx() -> RequestContext {
    let mut ctx = context("claude-opus-4-8", "qwen3");
    ctx.state = State {
        input_estimate: 777,
        omit_thinking: false,
    }
    .encode();
    ctx
}

fn whole_message(ctx: RequestContext, body: Vec<u8>) -> Value {
    let response = AnthropicMessages::translate_response(ctx, body).unwrap();
    assert_eq!(response.status, 200);
    assert!(
        response
            .headers
            .iter()
            .any(|h| h.name == "content-type" && h.value == "application/json")
    );
    serde_json::from_slice(&response.body).unwrap()
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[test]
fn every_scenario_is_split_invariant_ordered_and_equals_the_whole_answer() {
    for s in scenarios() {
        let outputs: Vec<Vec<u8>> = [1, 7, 4096]
            .iter()
            .map(|&split| replay_stream::<AnthropicMessages>(ctx(), &s.upstream, split).unwrap())
            .collect();
        assert_eq!(outputs[0], outputs[1], "{}: split 1 vs 7", s.name);
        assert_eq!(outputs[0], outputs[2], "{}: split 1 vs 4096", s.name);

        let events = parse_client_sse(&outputs[0]);
        assert_eq!(
            check_order(&events),
            Ok("message_stop"),
            "{}: {}",
            s.name,
            String::from_utf8_lossy(&outputs[0])
        );
        let streamed = assemble(&events);
        assert_eq!(streamed["stop_reason"], s.stop_reason, "{}", s.name);
        let non_streamed = whole_message(ctx(), s.whole.clone());
        assert_eq!(streamed, non_streamed, "{}: streamed != whole", s.name);
    }
}

#[test]
fn parallel_calls_assemble_into_tool_use_blocks_with_full_input() {
    let s = &scenarios()[4]; // interleaved
    let out = replay_stream::<AnthropicMessages>(ctx(), &s.upstream, 7).unwrap();
    let message = assemble(&parse_client_sse(&out));
    assert_eq!(
        message["content"],
        json!([
            {"type": "tool_use", "id": "call_a", "name": "Read", "input": {"file_path": "/a"}},
            {"type": "tool_use", "id": "call_b", "name": "Read", "input": {"file_path": "/b"}}
        ])
    );
}

#[test]
fn thinking_block_gets_a_gateway_signature_before_it_stops() {
    let s = &scenarios()[1];
    let out = replay_stream::<AnthropicMessages>(ctx(), &s.upstream, 4096).unwrap();
    let events = parse_client_sse(&out);
    let message = assemble(&events);
    assert_eq!(message["content"][0]["type"], "thinking");
    assert_eq!(message["content"][0]["thinking"], "Let me think.");
    assert_eq!(
        message["content"][0]["signature"],
        "cligate-gateway-signature.v1.req_test_0001.0"
    );
    assert_eq!(
        message["content"][1],
        json!({"type": "text", "text": "Answer: 42"})
    );
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_deref().unwrap()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta", // signature_delta
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert!(events[4].1.contains("signature_delta"));
}

#[test]
fn usage_excludes_cached_tokens_and_message_start_comes_first() {
    let s = &scenarios()[0];
    let out = replay_stream::<AnthropicMessages>(ctx(), &s.upstream, 4096).unwrap();
    let events = parse_client_sse(&out);
    let start: Value = serde_json::from_str(&events[0].1).unwrap();
    assert_eq!(events[0].0.as_deref(), Some("message_start"));
    assert_eq!(start["message"]["id"], "msg_req_test_0001");
    assert_eq!(start["message"]["model"], "claude-opus-4-8");
    assert_eq!(
        start["message"]["usage"],
        json!({"input_tokens": 777, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 0})
    );
    let delta: Value = serde_json::from_str(&events[events.len() - 2].1).unwrap();
    assert_eq!(
        delta,
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
               "usage": {"input_tokens": 200, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 1000, "output_tokens": 5}})
    );
}

#[test]
fn without_usage_the_estimates_are_reported() {
    let s = &scenarios()[7];
    let out = replay_stream::<AnthropicMessages>(ctx(), &s.upstream, 4096).unwrap();
    let message = assemble(&parse_client_sse(&out));
    // 777 from the request's estimate; "partial answer" is 14 bytes → 4 tokens.
    assert_eq!(message["usage"]["input_tokens"], 777);
    assert_eq!(message["usage"]["output_tokens"], 4);
}

#[test]
fn display_omitted_keeps_the_block_but_not_the_text() {
    let mut c = ctx();
    c.state = State {
        input_estimate: 1,
        omit_thinking: true,
    }
    .encode();
    let s = &scenarios()[1];
    let out = replay_stream::<AnthropicMessages>(c.clone(), &s.upstream, 4096).unwrap();
    let events = parse_client_sse(&out);
    assert_eq!(check_order(&events), Ok("message_stop"));
    let streamed = assemble(&events);
    assert_eq!(streamed["content"][0]["thinking"], "");
    assert!(streamed["content"][0]["signature"].as_str().unwrap().len() > 10);
    assert_eq!(streamed, whole_message(c, s.whole.clone()));
}

#[test]
fn whole_answer_always_has_text_and_thinking_fields() {
    let message = whole_message(
        ctx(),
        whole(
            json!({"role": "assistant", "content": "Hi", "reasoning": "hmm"}),
            Some("stop"),
            Some(usage_json(9, 2, 0)),
        ),
    );
    assert_eq!(
        message,
        json!({"id": "msg_req_test_0001", "type": "message", "role": "assistant", "model": "claude-opus-4-8",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "cligate-gateway-signature.v1.req_test_0001.0"},
                {"type": "text", "text": "Hi"}],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": 9, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 2}})
    );
}

#[test]
fn whole_answer_with_truncated_arguments_gives_an_empty_input() {
    let message = whole_message(
        ctx(),
        whole(
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "c 1", "type": "function", "function": {"name": "Write", "arguments": "{\"content\":\"abc"}}]}),
            Some("length"),
            None,
        ),
    );
    assert_eq!(
        message["content"],
        json!([{"type": "tool_use", "id": "c_1", "name": "Write", "input": {}}])
    );
    assert_eq!(message["stop_reason"], "max_tokens");
}

#[test]
fn whole_answer_with_an_error_body_is_an_adapter_error() {
    let result = AnthropicMessages::translate_response(
        ctx(),
        br#"{"error":{"message":"model overloaded","type":"server_error"}}"#.to_vec(),
    );
    assert!(result.is_err());
}

fn push(stream: &mut impl StreamTranslator, data: &str) -> Vec<u8> {
    stream
        .push(SseEvent {
            event: None,
            data: data.to_owned(),
        })
        .unwrap()
}

fn all_events(bytes: &[u8]) -> Vec<(Option<String>, String)> {
    parse_client_sse(bytes)
}

#[test]
fn fail_mid_stream_is_one_error_event_and_nothing_after() {
    let mut stream = AnthropicMessages::open_stream(ctx());
    let mut out = push(&mut stream, &chunk(json!({"content": "Hello"}), None));
    out.extend(stream.fail(GatewayError {
        kind: ErrorKind::Timeout,
        status: 504,
        message: "upstream timed out".to_owned(),
        retry_after_seconds: None,
    }));
    // Whatever the host might still call afterwards produces nothing.
    assert!(stream.finish().unwrap().is_empty());
    assert!(stream.keepalive().is_empty());
    assert!(
        stream
            .fail(GatewayError {
                kind: ErrorKind::Internal,
                status: 500,
                message: "again".to_owned(),
                retry_after_seconds: None,
            })
            .is_empty()
    );
    let events = all_events(&out);
    assert_eq!(check_order(&events), Ok("error"));
    let last = events.last().unwrap();
    assert_eq!(last.0.as_deref(), Some("error"));
    assert_eq!(
        serde_json::from_str::<Value>(&last.1).unwrap(),
        json!({"type": "error", "error": {"type": "timeout_error", "message": "upstream timed out"}})
    );
    let text = String::from_utf8(out).unwrap();
    assert!(!text.contains("message_stop") && !text.contains("[DONE]"));
}

#[test]
fn fail_before_anything_was_sent() {
    let mut stream = AnthropicMessages::open_stream(ctx());
    let out = stream.fail(GatewayError {
        kind: ErrorKind::Overloaded,
        status: 503,
        message: "Overloaded".to_owned(),
        retry_after_seconds: Some(3),
    });
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"
    );
}

#[test]
fn error_chunk_inside_the_stream_ends_it_with_an_error_event() {
    let upstream = sse(
        &[
            chunk(json!({"content": "partial"}), None),
            json!({"error": {"message": "backend crashed", "type": "server_error"}}).to_string(),
            chunk(json!({"content": "ignored"}), None),
        ],
        true,
    );
    for split in [1, 7, 4096] {
        let out = replay_stream::<AnthropicMessages>(ctx(), &upstream, split).unwrap();
        let events = all_events(&out);
        assert_eq!(check_order(&events), Ok("error"), "split {split}");
        let last: Value = serde_json::from_str(&events.last().unwrap().1).unwrap();
        assert_eq!(last["error"]["type"], "api_error");
        assert_eq!(last["error"]["message"], "backend crashed");
        assert!(!String::from_utf8(out).unwrap().contains("ignored"));
    }
}

#[test]
fn error_as_the_first_chunk_has_no_message_start() {
    let mut stream = AnthropicMessages::open_stream(ctx());
    let out = push(
        &mut stream,
        r#"{"object":"error","message":"old vllm","code":500}"#,
    );
    let events = all_events(&out);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0.as_deref(), Some("error"));
    assert!(stream.finish().unwrap().is_empty());
}

#[test]
fn unreadable_chunk_is_an_adapter_error_then_fail_renders_it() {
    let mut stream = AnthropicMessages::open_stream(ctx());
    let mut out = push(&mut stream, &chunk(json!({"content": "a"}), None));
    assert!(
        stream
            .push(SseEvent {
                event: None,
                data: "not json".to_owned()
            })
            .is_err()
    );
    out.extend(stream.fail(GatewayError {
        kind: ErrorKind::Upstream,
        status: 502,
        message: "bad upstream chunk".to_owned(),
        retry_after_seconds: None,
    }));
    assert_eq!(check_order(&all_events(&out)), Ok("error"));
}

#[test]
fn keepalive_is_a_ping_and_allowed_anywhere() {
    let mut stream = AnthropicMessages::open_stream(ctx());
    let mut out = stream.keepalive();
    assert_eq!(out, b"event: ping\ndata: {\"type\":\"ping\"}\n\n");
    out.extend(push(&mut stream, &chunk(json!({"content": "a"}), None)));
    out.extend(stream.keepalive());
    out.extend(push(&mut stream, &chunk(json!({}), Some("stop"))));
    out.extend(stream.keepalive());
    out.extend(stream.finish().unwrap());
    assert!(stream.keepalive().is_empty(), "nothing after message_stop");
    assert_eq!(check_order(&all_events(&out)), Ok("message_stop"));
}

#[test]
fn empty_upstream_still_gives_a_complete_message() {
    for upstream in [&b""[..], b"data: [DONE]\n\n"] {
        let out = replay_stream::<AnthropicMessages>(ctx(), upstream, 1).unwrap();
        let events = all_events(&out);
        assert_eq!(check_order(&events), Ok("message_stop"));
        let message = assemble(&events);
        assert_eq!(message["content"], json!([]));
        assert_eq!(message["stop_reason"], "end_turn");
    }
}

#[test]
fn the_checker_rejects_what_the_sdk_rejects() {
    let ev = |name: &str, data: Value| (Some(name.to_owned()), data.to_string());
    let start = ev(
        "message_start",
        json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
            "model": "m", "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 1, "output_tokens": 0}}}),
    );
    let block = |i: usize| {
        ev(
            "content_block_start",
            json!({"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}}),
        )
    };
    let stop = |i: usize| {
        ev(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": i}),
        )
    };
    let delta = ev(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 1}}),
    );
    let end = ev("message_stop", json!({"type": "message_stop"}));

    assert!(check_order(&[start.clone(), block(0), stop(0), delta.clone(), end.clone()]).is_ok());
    assert!(
        check_order(&[block(0), start.clone()]).is_err(),
        "before message_start"
    );
    assert!(
        check_order(&[start.clone(), block(1)]).is_err(),
        "index gap"
    );
    assert!(
        check_order(&[start.clone(), block(0), block(1)]).is_err(),
        "two open"
    );
    assert!(
        check_order(&[start.clone(), block(0), delta.clone()]).is_err(),
        "message_delta with open block"
    );
    assert!(
        check_order(&[start.clone(), delta.clone()]).is_err(),
        "no message_stop"
    );
    assert!(
        check_order(&[start.clone(), delta.clone(), end.clone(), end.clone()]).is_err(),
        "after terminal"
    );
    assert!(
        check_order(&[start.clone(), (None, json!({"type": "ping"}).to_string())]).is_err(),
        "unnamed event"
    );
    let thinking = ev(
        "content_block_start",
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
    );
    assert!(
        check_order(&[start.clone(), thinking, stop(0), delta, end]).is_err(),
        "thinking without signature"
    );
}

/// Native per-event cost of `push` for typical text and tool-argument chunks; run with
/// `cargo test --release -p cligate-adapter-anthropic-messages -- --ignored --nocapture`.
#[test]
#[ignore]
fn bench_push_per_chunk() {
    let text = chunk(
        json!({"content": "Hello, this is a typical streamed token run."}),
        None,
    );
    let args = chunk(
        calls(vec![call(0, None, None, Some("\"/home/dev/x"))]),
        None,
    );
    let open_tool = chunk(
        calls(vec![call(0, Some("call_a"), Some("Read"), Some("{\"p\":"))]),
        None,
    );
    for (name, setup, data) in [
        ("text", None, text.clone()),
        ("tool arguments", Some(&open_tool), args),
        ("text held behind an open call", Some(&open_tool), text),
    ] {
        let mut stream = AnthropicMessages::open_stream(ctx());
        push(&mut stream, &chunk(json!({"role": "assistant"}), None));
        if let Some(setup) = setup {
            push(&mut stream, setup);
        }
        let mut times = Vec::new();
        for _ in 0..20_000 {
            let event = SseEvent {
                event: None,
                data: data.clone(),
            };
            let start = std::time::Instant::now();
            let out = stream.push(event).unwrap();
            times.push(start.elapsed());
            std::hint::black_box(out);
        }
        times.sort();
        eprintln!(
            "push ({name}): median {:?}, p99 {:?}",
            times[times.len() / 2],
            times[times.len() * 99 / 100]
        );
    }
}

#[test]
fn text_held_behind_an_incomplete_call_follows_it_in_order() {
    let mut chunks = vec![chunk(
        calls(vec![call(
            0,
            Some("call_a"),
            Some("Read"),
            Some("{\"file_path\":"),
        )]),
        None,
    )];
    for i in 0..2_000 {
        chunks.push(chunk(json!({"content": format!("{i} ")}), None));
    }
    chunks.push(chunk(
        calls(vec![call(0, None, None, Some("\"/a\"}"))]),
        None,
    ));
    chunks.push(chunk(json!({"content": "end"}), Some("stop")));
    let out = replay_stream::<AnthropicMessages>(ctx(), &sse(&chunks, true), 4096).unwrap();
    let events = parse_client_sse(&out);
    assert_eq!(check_order(&events), Ok("message_stop"));
    let message = assemble(&events);
    assert_eq!(message["content"][0]["input"], json!({"file_path": "/a"}));
    let text = message["content"][1]["text"].as_str().unwrap();
    assert!(text.starts_with("0 1 2 ") && text.ends_with("1998 1999 end"));
    assert_eq!(message["content"].as_array().unwrap().len(), 2);
}
