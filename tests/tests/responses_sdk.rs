//! The official `openai` npm SDK's Responses API (`client.responses.stream(...)`,
//! `responses.create({stream: true})` iterated by hand, and non-streaming `responses.create`)
//! through the real gateway and the `openai-responses` adapter, against the scripted Chat
//! Completions upstream: text, reasoning, parallel fragmented function calls, a whole call, a
//! freeform custom tool call, usage after the finish chunk, `length` → `response.incomplete`,
//! a mid-stream error → `response.failed`, and HTTP errors the SDK throws.
//!
//! The SDK (7.57.0) validates the event stream strictly (output indexes, item identities,
//! unfinished items at `response.completed`): a case passes only if it parsed every event.
//! Each request carries Codex-style identifying headers and body fields; none may reach the
//! upstream.
//!
//! Needs the `cligate` binary, `plugins-dist/openai-responses.wasm` (or
//! `CLIGATE_PLUGINS_DIST`) and `npm ci --prefix tests/node`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;

use cligate_e2e::fixture::{Stack, assert_no_client_leak, backend_model, stack};
use cligate_e2e::node::run_node;
use cligate_e2e::paths;
use cligate_e2e::upstream::{CREATED, ReasoningField, RecordedRequest, SCRIPTED_MODEL, ToolCall};
use cligate_e2e::{ChatStream, Reply};
use serde_json::{Value, json};

/// The model the SDK asks for; the gateway routes it to the default backend model and echoes it.
const CLIENT_MODEL: &str = "gpt-5-codex";
/// What the request's instructions and developer message say (merged into one system message).
const SYSTEM_TEXT: &str = "You are a terse coding agent.\n\nPrefer tools.";
/// Values the client sends that must never reach the upstream.
const CLIENT_SECRETS: &[&str] = &[
    "client-session-7f3a",
    "client-req-9c1d",
    "inst-5e6f",
    "client-user-42",
    "client-safety-id",
    "client-meta-value",
    "remote_compaction_v2",
];
/// Body fields the adapter must not forward.
const DROPPED_FIELDS: &[&str] = &[
    "prompt_cache_key",
    "client_metadata",
    "metadata",
    "user",
    "safety_identifier",
    "store",
    "include",
    "text",
    "verbosity",
    "instructions",
    "input",
];

async fn responses_stack() -> Stack {
    let s = stack(
        &[(
            "openai-responses.wasm",
            paths::dist_plugin("openai-responses").unwrap(),
        )],
        &[],
    )
    .await
    .unwrap();
    s.gateway
        .wait_for_adapter("openai-responses", |_| true)
        .await
        .unwrap();
    s
}

/// Run the SDK script with these cases; returns its summary keyed by case name.
async fn run_cases(s: &Stack, cases: Value) -> Value {
    let base = s.gateway.base_url();
    let cases = cases.to_string();
    let out = run_node(
        "responses-stream.mjs",
        &[("BASE_URL", base.as_str()), ("CASES", cases.as_str())],
    )
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "responses-stream.mjs failed ({}):\n--- stderr ---\n{stderr}\n--- stdout ---\n{stdout}",
        out.status
    );
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("SDK summary is not JSON ({e}):\n{stdout}\n{stderr}"))
}

/// A case that must have parsed without an SDK error; returns it.
fn ok_case<'a>(out: &'a Value, name: &str) -> &'a Value {
    let c = &out[name];
    assert!(c.is_object(), "no result for case {name}: {out:#}");
    assert!(
        c.get("error").is_none() || c["error"].is_null(),
        "the SDK failed on case {name}: {:#}",
        c["error"]
    );
    assert!(
        c["final"].is_object(),
        "case {name} has no final response: {c:#}"
    );
    c
}

/// The stream invariants every streamed case must satisfy (on top of the SDK's own checks).
fn assert_stream_shape(name: &str, c: &Value, terminal: &str) {
    let types: Vec<&str> = c["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(types.len() >= 3, "{name}: too few events: {types:?}");
    assert_eq!(
        &types[..2],
        ["response.created", "response.in_progress"],
        "{name}: {types:?}"
    );
    assert_eq!(types.last().copied(), Some(terminal), "{name}: {types:?}");
    let terminals = types
        .iter()
        .filter(|t| {
            matches!(
                **t,
                "response.completed" | "response.incomplete" | "response.failed"
            )
        })
        .count();
    assert_eq!(
        terminals, 1,
        "{name}: exactly one terminal event: {types:?}"
    );
    let added = types
        .iter()
        .filter(|t| **t == "response.output_item.added")
        .count();
    let done = types
        .iter()
        .filter(|t| **t == "response.output_item.done")
        .count();
    if terminal != "response.failed" {
        assert_eq!(added, done, "{name}: every item is closed: {types:?}");
    }
    let seq: Vec<u64> = c["seq"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            n.as_u64()
                .unwrap_or_else(|| panic!("{name}: event without sequence_number"))
        })
        .collect();
    let expected: Vec<u64> = (0..seq.len() as u64).collect();
    assert_eq!(seq, expected, "{name}: sequence_number counts from 0");
}

/// The parts of a Response that must agree between streamed and whole answers (ids and
/// timestamps differ per request).
fn outline(r: &Value) -> Value {
    let items: Vec<Value> = r["output"]
        .as_array()
        .unwrap_or_else(|| panic!("no output array: {r:#}"))
        .iter()
        .map(|item| {
            let mut o = json!({"type": item["type"]});
            match item["type"].as_str().unwrap_or_default() {
                "message" => {
                    o["role"] = item["role"].clone();
                    let text: String = item["content"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|p| p["type"] == "output_text")
                        .map(|p| p["text"].as_str().unwrap())
                        .collect();
                    o["text"] = json!(text);
                }
                "reasoning" => {
                    let summary: String = item["summary"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|p| p["text"].as_str().unwrap())
                        .collect();
                    o["summary"] = json!(summary);
                }
                "function_call" => {
                    o["name"] = item["name"].clone();
                    o["call_id"] = item["call_id"].clone();
                    o["arguments"] = item["arguments"].clone();
                }
                "custom_tool_call" => {
                    o["name"] = item["name"].clone();
                    o["call_id"] = item["call_id"].clone();
                    o["input"] = item["input"].clone();
                }
                other => panic!("unexpected output item type {other}: {item:#}"),
            }
            o
        })
        .collect();
    json!({
        "object": r["object"],
        "model": r["model"],
        "status": r["status"],
        "output": items,
        "usage": usage_outline(&r["usage"]),
        "incomplete_details": r["incomplete_details"],
    })
}

fn usage_outline(u: &Value) -> Value {
    if u.is_null() {
        return Value::Null;
    }
    json!({"input_tokens": u["input_tokens"], "output_tokens": u["output_tokens"],
           "total_tokens": u["total_tokens"]})
}

fn usage(input: u64, output: u64) -> Value {
    json!({"input_tokens": input, "output_tokens": output, "total_tokens": input + output})
}

/// Ids: `resp_…`, unique item ids.
fn assert_ids(name: &str, r: &Value) {
    assert!(
        r["id"].as_str().is_some_and(|id| id.starts_with("resp_")),
        "{name}: response id {}",
        r["id"]
    );
    let ids: Vec<&str> = r["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i["id"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: item without id: {i}"))
        })
        .collect();
    let unique: HashSet<&&str> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "{name}: item ids repeat: {ids:?}");
}

/// A whole Chat Completion with this message, finish reason and usage.
fn completion(message: Value, finish: &str, prompt: u64, completion_tokens: u64) -> Reply {
    Reply::Json {
        status: 200,
        body: json!({
            "id": "chatcmpl-scripted", "object": "chat.completion", "created": CREATED,
            "model": SCRIPTED_MODEL,
            "choices": [{"index": 0, "message": message, "logprobs": null,
                         "finish_reason": finish}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion_tokens,
                      "total_tokens": prompt + completion_tokens},
        }),
    }
}

/// What every upstream request must (not) carry.
fn assert_upstream_request(r: &RecordedRequest, stream: bool) {
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_no_client_leak(r);
    for (name, value) in &r.headers {
        assert!(
            !name.starts_with("x-codex")
                && !matches!(
                    name.as_str(),
                    "session-id" | "session_id" | "originator" | "x-client-request-id"
                ),
            "client header `{name}: {value}` reached the upstream"
        );
    }
    let body = String::from_utf8_lossy(&r.body);
    for secret in CLIENT_SECRETS {
        assert!(
            !body.contains(secret) && !r.headers.iter().any(|(_, v)| v.contains(secret)),
            "client value `{secret}` reached the upstream: {body}"
        );
    }
    let up = r.json();
    for field in DROPPED_FIELDS {
        assert!(
            up.get(field).is_none(),
            "`{field}` reached the upstream: {up:#}"
        );
    }
    assert_eq!(up["model"], backend_model(), "routed to the default model");
    assert_eq!(up["reasoning_effort"], "medium");
    assert_eq!(
        up["messages"][0],
        json!({"role": "system", "content": SYSTEM_TEXT}),
        "instructions and the developer message become one system message"
    );
    assert_eq!(
        up["messages"][1],
        json!({"role": "user", "content": "Say hello: héllo, 你好."})
    );
    assert_eq!(up["stream"] == json!(true), stream, "stream flag: {up:#}");
}

fn function_calls() -> Vec<ToolCall> {
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

const TEXT: &str = "Hello — héllo, 你好. A longer answer, streamed in many small pieces ✓.";

#[tokio::test]
async fn sdk_parses_text_streams_and_usage_after_finish() {
    let s = responses_stack().await;
    s.upstream.push_all([
        Reply::text_stream(TEXT, 9),
        Reply::text_stream(TEXT, 9),
        Reply::text(TEXT),
        // The usage chunk arrives 300 ms after the finish chunk: the terminal event waits.
        ChatStream::new()
            .role()
            .content_pieces("late usage", 2)
            .finish("stop")
            .sleep(300)
            .usage(31, 17)
            .done()
            .build(),
    ]);
    let out = run_cases(
        &s,
        json!([
            {"name": "helper", "mode": "helper"},
            {"name": "iterate", "mode": "iterate"},
            {"name": "whole", "mode": "whole"},
            {"name": "late_usage", "mode": "helper"},
        ]),
    )
    .await;

    let expected = json!({
        "object": "response", "model": CLIENT_MODEL, "status": "completed",
        "output": [{"type": "message", "role": "assistant", "text": TEXT}],
        "usage": usage(11, 7), "incomplete_details": null,
    });
    for name in ["helper", "iterate", "whole"] {
        let c = ok_case(&out, name);
        assert_eq!(outline(&c["final"]), expected, "{name}: {:#}", c["final"]);
        assert_ids(name, &c["final"]);
        if name != "whole" {
            assert_stream_shape(name, c, "response.completed");
            assert_eq!(c["text"], TEXT, "{name}: the deltas add up to the text");
            let types = c["types"].as_array().unwrap();
            for t in [
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
            ] {
                assert!(types.contains(&json!(t)), "{name}: no {t}: {types:?}");
            }
        }
    }
    assert_eq!(out["helper"]["final"]["output_text"], TEXT);

    let c = ok_case(&out, "late_usage");
    assert_stream_shape("late_usage", c, "response.completed");
    assert_eq!(c["final"]["usage"]["input_tokens"], 31);
    assert_eq!(c["final"]["usage"]["output_tokens"], 17);
    assert_eq!(c["final"]["usage"]["total_tokens"], 48);

    let reqs = s.upstream.requests();
    assert_eq!(reqs.len(), 4, "one upstream call per SDK call");
    for (i, r) in reqs.iter().enumerate() {
        assert_upstream_request(r, i != 2);
        assert!(r.json().get("tools").is_none(), "no tools declared");
    }
    assert_eq!(s.upstream.defaults_used(), 0);
}

#[tokio::test]
async fn sdk_parses_reasoning_then_text() {
    let s = responses_stack().await;
    let thought = "First, consider — the user's greeting (héllo), then answer briefly.";
    let answer = "Hi! — héllo, 你好.";
    s.upstream.push_all([
        Reply::reasoning_stream(ReasoningField::ReasoningContent, thought, answer, 5),
        Reply::reasoning_stream(ReasoningField::Reasoning, thought, answer, 5),
        Reply::reasoning(ReasoningField::ReasoningContent, thought, answer),
    ]);
    let out = run_cases(
        &s,
        json!([
            {"name": "reasoning_content", "mode": "helper"},
            {"name": "reasoning", "mode": "iterate"},
            {"name": "whole", "mode": "whole"},
        ]),
    )
    .await;
    let expected = json!({
        "object": "response", "model": CLIENT_MODEL, "status": "completed",
        "output": [
            {"type": "reasoning", "summary": thought},
            {"type": "message", "role": "assistant", "text": answer},
        ],
        "usage": usage(15, 12), "incomplete_details": null,
    });
    for name in ["reasoning_content", "reasoning", "whole"] {
        let c = ok_case(&out, name);
        assert_eq!(outline(&c["final"]), expected, "{name}: {:#}", c["final"]);
        assert_ids(name, &c["final"]);
        // include: ["reasoning.encrypted_content"] → the gateway's own encoding of the text.
        let enc = c["final"]["output"][0]["encrypted_content"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no encrypted_content: {:#}", c["final"]));
        assert!(enc.starts_with("cligate:v1:"), "{name}: {enc}");
        if name != "whole" {
            assert_stream_shape(name, c, "response.completed");
            assert_eq!(c["reasoning"], thought, "{name}: summary deltas");
            assert_eq!(c["text"], answer, "{name}: text deltas");
        }
    }
    let reqs = s.upstream.requests();
    assert_eq!(reqs.len(), 3);
    for (i, r) in reqs.iter().enumerate() {
        assert_upstream_request(r, i != 2);
    }
}

#[tokio::test]
async fn sdk_parses_function_calls_and_a_custom_tool_call() {
    let s = responses_stack().await;
    let calls = function_calls();
    let whole_call = vec![ToolCall::new(
        "call_gamma",
        "read_file",
        r#"{"path":"README.md"}"#,
    )];
    let patch = "*** Begin Patch\n*** Add File: hello.txt\n+Hello — héllo, \"你好\"\n*** End Patch";
    let custom_call = vec![ToolCall::new(
        "call_patch",
        "apply_patch",
        &json!({ "input": patch }).to_string(),
    )];
    s.upstream.push_all([
        Reply::tool_calls_stream(&calls, 6),
        Reply::tool_calls_stream(&calls, 6),
        Reply::tool_calls(&calls),
        Reply::tool_calls_stream_whole(&whole_call),
        Reply::tool_calls_stream(&custom_call, 7),
        Reply::tool_calls(&custom_call),
    ]);
    let out = run_cases(
        &s,
        json!([
            {"name": "parallel_helper", "mode": "helper", "tools": "functions"},
            {"name": "parallel_iterate", "mode": "iterate", "tools": "functions"},
            {"name": "parallel_whole", "mode": "whole", "tools": "functions"},
            {"name": "whole_fragment", "mode": "helper", "tools": "functions"},
            {"name": "custom_helper", "mode": "helper", "tools": "custom"},
            {"name": "custom_whole", "mode": "whole", "tools": "custom"},
        ]),
    )
    .await;

    let expected_parallel = json!({
        "object": "response", "model": CLIENT_MODEL, "status": "completed",
        "output": calls.iter().map(|c| json!({"type": "function_call", "name": c.name,
            "call_id": c.id, "arguments": c.arguments})).collect::<Vec<_>>(),
        "usage": usage(20, 9), "incomplete_details": null,
    });
    for name in ["parallel_helper", "parallel_iterate", "parallel_whole"] {
        let c = ok_case(&out, name);
        assert_eq!(
            outline(&c["final"]),
            expected_parallel,
            "{name}: {:#}",
            c["final"]
        );
        assert_ids(name, &c["final"]);
        if name != "parallel_whole" {
            assert_stream_shape(name, c, "response.completed");
            // The argument deltas of each item add up to exactly the scripted arguments.
            let items = c["final"]["output"].as_array().unwrap();
            for (item, call) in items.iter().zip(&calls) {
                let id = item["id"].as_str().unwrap();
                assert_eq!(c["args"][id], call.arguments, "{name}: deltas of {id}");
            }
        }
    }

    let c = ok_case(&out, "whole_fragment");
    assert_stream_shape("whole_fragment", c, "response.completed");
    assert_eq!(
        outline(&c["final"])["output"],
        json!([{"type": "function_call", "name": "read_file", "call_id": "call_gamma",
                "arguments": r#"{"path":"README.md"}"#}])
    );

    let expected_custom = json!([{"type": "custom_tool_call", "name": "apply_patch",
                                  "call_id": "call_patch", "input": patch}]);
    for name in ["custom_helper", "custom_whole"] {
        let c = ok_case(&out, name);
        assert_eq!(
            outline(&c["final"])["output"],
            expected_custom,
            "{name}: {:#}",
            c["final"]
        );
        assert_eq!(c["final"]["status"], "completed");
        assert_ids(name, &c["final"]);
    }
    let c = &out["custom_helper"];
    assert_stream_shape("custom_helper", c, "response.completed");
    let types = c["types"].as_array().unwrap();
    assert!(
        types.contains(&json!("response.custom_tool_call_input.done")),
        "{types:?}"
    );
    let item_id = c["final"]["output"][0]["id"].as_str().unwrap();
    assert_eq!(
        c["custom_input"][item_id], patch,
        "custom input deltas add up to the raw patch"
    );

    let reqs = s.upstream.requests();
    assert_eq!(reqs.len(), 6);
    for (i, r) in reqs.iter().enumerate() {
        assert_upstream_request(r, ![2, 5].contains(&i));
    }
    // Function tools pass as Chat functions, parallel calls allowed.
    let up = reqs[0].json();
    let names: Vec<&str> = up["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["read_file", "run_shell"]);
    assert_eq!(up["parallel_tool_calls"], true);
    assert_eq!(up["tool_choice"], "auto");
    // The freeform tool is a function with one required string argument `input`.
    let up = reqs[4].json();
    let patch_tool = up["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["function"]["name"] == "apply_patch")
        .unwrap_or_else(|| panic!("no apply_patch function upstream: {up:#}"));
    let params = &patch_tool["function"]["parameters"];
    assert_eq!(
        params["properties"]["input"]["type"], "string",
        "{params:#}"
    );
    assert_eq!(params["required"], json!(["input"]), "{params:#}");
    assert_eq!(up["parallel_tool_calls"], false);
}

#[tokio::test]
async fn sdk_sees_incomplete_failed_and_http_errors() {
    let s = responses_stack().await;
    let length_stream = ChatStream::new()
        .role()
        .content_pieces("cut off in the mid", 3)
        .finish("length")
        .usage(11, 16)
        .done()
        .build();
    s.upstream.push_all([
        length_stream.clone(),
        length_stream,
        completion(
            json!({"role": "assistant", "content": "cut off in the mid"}),
            "length",
            11,
            16,
        ),
        Reply::error_mid_stream("partial answer ", "backend exploded"),
        Reply::error_mid_stream("partial answer ", "backend exploded"),
        Reply::server_error(),
        Reply::server_error(),
    ]);
    let out = run_cases(
        &s,
        json!([
            {"name": "length_helper", "mode": "helper", "max_output_tokens": 16},
            {"name": "length_iterate", "mode": "iterate", "max_output_tokens": 16},
            {"name": "length_whole", "mode": "whole", "max_output_tokens": 16},
            {"name": "failed_helper", "mode": "helper"},
            {"name": "failed_iterate", "mode": "iterate"},
            {"name": "http_error_stream", "mode": "helper"},
            {"name": "http_error_whole", "mode": "whole"},
        ]),
    )
    .await;

    let expected_length = json!({
        "object": "response", "model": CLIENT_MODEL, "status": "incomplete",
        "output": [{"type": "message", "role": "assistant", "text": "cut off in the mid"}],
        "usage": usage(11, 16), "incomplete_details": {"reason": "max_output_tokens"},
    });
    for name in ["length_helper", "length_iterate", "length_whole"] {
        let c = ok_case(&out, name);
        assert_eq!(
            outline(&c["final"]),
            expected_length,
            "{name}: {:#}",
            c["final"]
        );
        if name != "length_whole" {
            assert_stream_shape(name, c, "response.incomplete");
        }
    }

    // A mid-stream upstream error: the SDK parses the stream to its end and surfaces the
    // `response.failed` event; the final response is `failed` with the error.
    for name in ["failed_helper", "failed_iterate"] {
        let c = ok_case(&out, name);
        assert_stream_shape(name, c, "response.failed");
        let f = &c["final"];
        assert_eq!(f["status"], "failed", "{name}: {f:#}");
        assert!(
            f["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("backend exploded")),
            "{name}: error carried to the client: {f:#}"
        );
        assert_eq!(f["error"]["code"], "server_error", "{name}: {f:#}");
        assert_eq!(c["failed_event"], f["error"], "{name}: the event's error");
        assert_eq!(
            c["text"], "partial answer ",
            "{name}: text before the error"
        );
        // Only items closed before the error are in the failed response (adapter README,
        // "Responses"); the text item still open when the error came is not.
        assert_eq!(outline(f)["output"], json!([]), "{name}");
    }

    // An upstream HTTP 500 before the stream: the gateway answers 502 (the host's status for
    // an upstream failure) in OpenAI's error shape, and the SDK throws an APIError.
    for name in ["http_error_stream", "http_error_whole"] {
        let e = &out[name]["error"];
        assert_eq!(e["status"], 502, "{name}: {:#}", out[name]);
        assert_eq!(e["name"], "InternalServerError", "{name}: {e:#}");
        assert_eq!(e["error"]["type"], "server_error", "{name}: {e:#}");
        assert!(
            e["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{name}: {e:#}"
        );
    }

    let reqs = s.upstream.requests();
    assert_eq!(reqs.len(), 7, "no retries (maxRetries 0)");
    for (i, r) in reqs.iter().enumerate() {
        assert_upstream_request(r, ![2, 6].contains(&i));
        if i < 3 {
            assert_eq!(r.json()["max_tokens"], 16, "max_output_tokens → max_tokens");
        }
    }
}
