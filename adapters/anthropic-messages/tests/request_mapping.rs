//! Hand-written edge cases of the request mapping (dialects.md §1.4, §5.4).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use cligate_adapter_anthropic_messages::{AnthropicMessages, State};
use cligate_adapter_sdk::{Adapter, AdapterError, Header};
use common::{messages, options, post, translate, translate_json};
use serde_json::{Value, json};

fn roles(list: &[Value]) -> Vec<&str> {
    list.iter().map(|m| m["role"].as_str().unwrap()).collect()
}

fn error_of(body: Value) -> AdapterError {
    AnthropicMessages::translate_request(post(&body), options()).expect_err("expected an error")
}

#[test]
fn system_string_and_billing_header_line() {
    let (pivot, body) = translate_json(json!({"system": "Be brief."}));
    assert_eq!(
        body["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
    assert!(pivot.removed.is_empty());

    let (pivot, body) = translate_json(json!({
        "system": "x-anthropic-billing-header: cc_version=1.0; cc_entrypoint=cli;\nBe brief."
    }));
    assert_eq!(body["messages"][0]["content"], "Be brief.");
    assert_eq!(pivot.removed[0].location, "system billing header");
    assert!(
        pivot.removed[0]
            .value
            .starts_with("x-anthropic-billing-header:")
    );
}

#[test]
fn system_blocks_are_joined_and_non_text_blocks_dropped() {
    let (pivot, body) = translate_json(json!({"system": [
        {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.197.1c6;"},
        {"type": "text", "text": "One.", "cache_control": {"type": "ephemeral"}},
        {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
        {"type": "text", "text": "Two.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
    ]}));
    assert_eq!(body["messages"][0]["content"], "One.\n\nTwo.");
    assert_eq!(pivot.removed[0].location, "system[0] billing header");
    assert_eq!(
        pivot.warnings,
        ["dropped image block in system", "dropped cache_control"]
    );
}

#[test]
fn user_text_image_and_url_image() {
    let (pivot, list) = messages(json!([{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "AAAA"}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
        {"type": "image", "source": {"type": "file", "file_id": "file_1"}},
        {"type": "text", "text": "And this?"}
    ]}]));
    assert_eq!(
        list[0]["content"],
        json!([
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAAA"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
            {"type": "text", "text": "And this?"}
        ])
    );
    assert_eq!(pivot.warnings, ["dropped image with file source"]);
}

#[test]
fn documents_text_inline_pdf_dropped() {
    let (pivot, list) = messages(json!([{"role": "user", "content": [
        {"type": "document", "title": "notes.txt", "source": {"type": "text", "media_type": "text/plain", "data": "line 1\nline 2"}},
        {"type": "document", "source": {"type": "content", "content": [{"type": "text", "text": "chunk A"}, {"type": "text", "text": "chunk B"}]}},
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}},
        {"type": "document", "source": {"type": "url", "url": "https://x/y.pdf"}},
        {"type": "text", "text": "Summarise."}
    ]}]));
    assert_eq!(
        list[0]["content"],
        "Document: notes.txt\n\nline 1\nline 2\n\nchunk A\n\nchunk B\n\nSummarise."
    );
    assert_eq!(
        pivot.warnings,
        ["dropped PDF document", "dropped document with url source"]
    );
}

#[test]
fn tools_server_tools_dropped_with_a_warning() {
    let (pivot, body) = translate_json(json!({"tools": [
        {"name": "Read", "description": "Reads", "input_schema": {"type": "object", "properties": {"p": {"type": "string"}}}, "cache_control": {"type": "ephemeral"}},
        {"type": "custom", "name": "Custom", "input_schema": {"type": "object"}, "defer_loading": true},
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
        {"type": "web_fetch_20250910", "name": "web_fetch"},
        {"type": "bash_20250124", "name": "bash"}
    ]}));
    let tools = body["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 2);
    assert_eq!(
        tools[0],
        json!({"type": "function", "function": {"name": "Read", "description": "Reads",
            "parameters": {"type": "object", "properties": {"p": {"type": "string"}}}}})
    );
    assert_eq!(
        tools[1],
        json!({"type": "function", "function": {"name": "Custom", "parameters": {"type": "object"}}})
    );
    assert_eq!(
        pivot.warnings,
        [
            "dropped server tool web_search",
            "dropped server tool web_fetch",
            "dropped server tool bash",
            "dropped cache_control"
        ]
    );
}

#[test]
fn tool_schema_is_forwarded_byte_for_byte() {
    let raw = br#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],
        "tools":[{"name":"T","input_schema":{"type":"object","properties":{"b":{"type":"integer","maximum":9007199254740991},"a":{"type":"number","minimum":1.50}}}}]}"#;
    let mut req = post(&json!({}));
    req.body = raw.to_vec();
    let pivot = AnthropicMessages::translate_request(req, options()).unwrap();
    let text = String::from_utf8(pivot.body).unwrap();
    // Key order and number spelling survive (no DOM round trip).
    assert!(text.contains(r#""parameters":{"type":"object","properties":{"b":{"type":"integer","maximum":9007199254740991},"a":{"type":"number","minimum":1.50}}}"#));
}

#[test]
fn tool_choice_variants() {
    let tools = json!([{"name": "Read", "input_schema": {"type": "object"}}]);
    let cases = [
        (json!({"type": "auto"}), json!("auto"), None),
        (json!({"type": "any"}), json!("required"), None),
        (json!({"type": "none"}), json!("none"), None),
        (
            json!({"type": "tool", "name": "Read", "disable_parallel_tool_use": true}),
            json!({"type": "function", "function": {"name": "Read"}}),
            Some(false),
        ),
        (
            json!({"type": "auto", "disable_parallel_tool_use": true}),
            json!("auto"),
            Some(false),
        ),
    ];
    for (choice, expected, parallel) in cases {
        let (_, body) = translate_json(json!({"tools": tools, "tool_choice": choice}));
        assert_eq!(body["tool_choice"], expected);
        assert_eq!(
            body.get("parallel_tool_calls").and_then(Value::as_bool),
            parallel
        );
    }
    // Naming a tool that is not there, or choosing without tools: nothing is sent.
    let (pivot, body) =
        translate_json(json!({"tools": tools, "tool_choice": {"type": "tool", "name": "Nope"}}));
    assert!(body.get("tool_choice").is_none());
    assert_eq!(
        pivot.warnings,
        ["dropped tool_choice naming an unknown tool"]
    );
    let (_, body) = translate_json(json!({"tool_choice": {"type": "any"}}));
    assert!(body.get("tool_choice").is_none() && body.get("tools").is_none());
}

#[test]
fn tool_results_string_blocks_error_and_images() {
    let (pivot, list) = messages(json!([
        {"role": "user", "content": "Look at both"},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Reading."},
            {"type": "tool_use", "id": "toolu_A", "name": "Read", "input": {"file_path": "/a"}},
            {"type": "tool_use", "id": "toolu_B", "name": "Read", "input": {"file_path": "/b.png"}},
            {"type": "tool_use", "id": "toolu_C", "name": "Bash", "input": {"command": "false"}}
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_A", "content": [
                {"type": "text", "text": "line 1"}, {"type": "text", "text": "line 2"}]},
            {"type": "tool_result", "tool_use_id": "toolu_B", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}}]},
            {"type": "tool_result", "tool_use_id": "toolu_C", "content": "exit 1", "is_error": true},
            {"type": "text", "text": "Now compare."}
        ]}
    ]));
    assert_eq!(
        roles(&list),
        ["user", "assistant", "tool", "tool", "tool", "user"]
    );
    // Parallel calls: one assistant message.
    let calls = list[1]["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 3);
    assert_eq!(
        calls[1]["function"]["arguments"],
        r#"{"file_path":"/b.png"}"#
    );
    assert_eq!(list[1]["content"], "Reading.");

    assert_eq!(
        list[2],
        json!({"role": "tool", "tool_call_id": "toolu_A", "content": "line 1\n\nline 2"})
    );
    assert_eq!(list[3]["tool_call_id"], "toolu_B");
    assert!(
        list[3]["content"]
            .as_str()
            .unwrap()
            .contains("follows in the next message")
    );
    assert_eq!(list[4]["content"], "[tool error] exit 1");
    // The tool's image travels in the user message after the tool messages, labelled.
    assert_eq!(
        list[5]["content"],
        json!([
            {"type": "text", "text": "Image returned by tool call toolu_B:"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}},
            {"type": "text", "text": "Now compare."}
        ])
    );
    assert!(pivot.warnings.is_empty(), "{:?}", pivot.warnings);
}

#[test]
fn tool_result_with_text_and_image_keeps_text_in_tool_message() {
    let (_, list) = messages(json!([
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Shot", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [
            {"type": "text", "text": "screenshot taken"},
            {"type": "image", "source": {"type": "url", "url": "https://x/s.png"}}]}]}
    ]));
    assert_eq!(roles(&list), ["user", "assistant", "tool", "user"]);
    assert_eq!(list[1]["content"], Value::Null);
    assert_eq!(list[1]["tool_calls"][0]["function"]["arguments"], "{}");
    assert_eq!(list[2]["content"], "screenshot taken");
    assert_eq!(list[3]["content"][1]["image_url"]["url"], "https://x/s.png");
}

#[test]
fn consecutive_same_role_messages_form_one_turn() {
    let (_, list) = messages(json!([
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "a", "name": "X", "input": {"n": 1}}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "b", "name": "X", "input": {"n": 2}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "a", "content": "1"}]},
        {"role": "user", "content": [{"type": "text", "text": "more"}, {"type": "tool_result", "tool_use_id": "b", "content": "2"}]}
    ]));
    assert_eq!(roles(&list), ["user", "assistant", "tool", "tool", "user"]);
    assert_eq!(list[1]["tool_calls"].as_array().unwrap().len(), 2);
    assert_eq!(list[4]["content"], "more");
}

#[test]
fn missing_and_orphan_tool_results() {
    let (pivot, list) = messages(json!([
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "a", "name": "X", "input": {}},
            {"type": "tool_use", "id": "b", "name": "X", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "a", "content": "ok"},
            {"type": "tool_result", "tool_use_id": "zzz", "content": "stray"}]}
    ]));
    assert_eq!(roles(&list), ["user", "assistant", "tool", "tool", "user"]);
    assert_eq!(list[3]["tool_call_id"], "b");
    assert_eq!(list[4]["content"], "Result of tool call zzz:\nstray");
    assert_eq!(
        pivot.warnings,
        [
            "converted tool_result without matching tool_use to text",
            "added placeholder for missing tool_result"
        ]
    );
}

#[test]
fn mid_conversation_system_message_keeps_its_place() {
    let (_, list) = messages(json!([
        {"role": "user", "content": "first"},
        {"role": "system", "content": "Agents: a, b"},
        {"role": "assistant", "content": "ok"},
        {"role": "system", "content": [{"type": "text", "text": "Reminder"}]},
        {"role": "user", "content": "second"}
    ]));
    assert_eq!(
        roles(&list),
        ["user", "system", "assistant", "system", "user"]
    );
    assert_eq!(list[1]["content"], "Agents: a, b");
    assert_eq!(list[3]["content"], "Reminder");
}

#[test]
fn system_message_between_calls_and_results_waits_for_the_results() {
    let (_, list) = messages(json!([
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "a", "name": "X", "input": {}}]},
        {"role": "system", "content": "note"},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "a", "content": "r"}, {"type": "text", "text": "next"}]}
    ]));
    assert_eq!(
        roles(&list),
        ["user", "assistant", "tool", "system", "user"]
    );
}

#[test]
fn prior_thinking_becomes_reasoning_content_without_signatures() {
    let (pivot, list) = messages(json!([
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "Let me look.", "signature": "EqQBSIG-FROM-ANTHROPIC"},
            {"type": "redacted_thinking", "data": "ENCRYPTED-BLOB"},
            {"type": "text", "text": "Looking."},
            {"type": "tool_use", "id": "t", "name": "Read", "input": {"file_path": "/x"}}
        ]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "x"}]}
    ]));
    assert_eq!(list[1]["reasoning_content"], "Let me look.");
    assert_eq!(list[1]["content"], "Looking.");
    assert_eq!(pivot.warnings, ["dropped redacted_thinking"]);
    let text = String::from_utf8(pivot.body).unwrap();
    assert!(!text.contains("EqQBSIG") && !text.contains("ENCRYPTED-BLOB"));
}

#[test]
fn thinking_to_reasoning_effort() {
    let effort = |extra: Value| translate_json(extra).1.get("reasoning_effort").cloned();
    assert_eq!(effort(json!({})), None);
    assert_eq!(effort(json!({"thinking": {"type": "disabled"}})), None);
    assert_eq!(
        effort(json!({"thinking": {"type": "disabled"}, "output_config": {"effort": "high"}})),
        None
    );
    assert_eq!(
        effort(json!({"thinking": {"type": "adaptive"}})),
        Some(json!("high"))
    );
    assert_eq!(
        effort(json!({"thinking": {"type": "adaptive"}, "output_config": {"effort": "low"}})),
        Some(json!("low"))
    );
    assert_eq!(
        effort(json!({"thinking": {"type": "adaptive"}, "output_config": {"effort": "max"}})),
        Some(json!("high"))
    );
    assert_eq!(
        effort(json!({"thinking": {"type": "enabled", "budget_tokens": 4000}})),
        Some(json!("low"))
    );
    assert_eq!(
        effort(json!({"thinking": {"type": "enabled", "budget_tokens": 10000}})),
        Some(json!("medium"))
    );
    assert_eq!(
        effort(json!({"thinking": {"type": "enabled", "budget_tokens": 31999}})),
        Some(json!("high"))
    );
    assert_eq!(
        effort(
            json!({"thinking": {"type": "enabled", "budget_tokens": 31999}, "output_config": {"effort": "medium"}})
        ),
        Some(json!("medium"))
    );

    let (pivot, _) = translate_json(
        json!({"thinking": {"type": "enabled", "budget_tokens": 2048, "display": "omitted"}}),
    );
    assert!(State::decode(&pivot.state).omit_thinking);
}

#[test]
fn sampling_limits_and_stop_sequences() {
    let (_, body) = translate_json(json!({
        "max_tokens": 32000, "temperature": 0.2, "top_p": 0.9, "top_k": 40,
        "stop_sequences": ["</answer>", "STOP"], "stream": false
    }));
    assert_eq!(body["max_tokens"], 32000);
    assert_eq!(body["temperature"], 0.2);
    assert_eq!(body["top_p"], 0.9);
    assert_eq!(body["top_k"], 40);
    assert_eq!(body["stop"], json!(["</answer>", "STOP"]));
    assert_eq!(body["stream"], false);
    assert!(body.get("stream_options").is_none());
}

#[test]
fn non_streaming_request_has_no_stream_headers() {
    let (pivot, body) = translate_json(json!({}));
    assert!(!pivot.stream);
    assert!(pivot.stream_headers.is_empty());
    assert_eq!(body["stream"], false);
}

#[test]
fn json_schema_output_becomes_response_format() {
    let schema = json!({"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]});
    let expected =
        json!({"type": "json_schema", "json_schema": {"name": "response", "schema": schema}});
    let (_, body) = translate_json(
        json!({"output_config": {"format": {"type": "json_schema", "schema": schema}}}),
    );
    assert_eq!(body["response_format"], expected);
    let (_, body) =
        translate_json(json!({"output_format": {"type": "json_schema", "schema": schema}}));
    assert_eq!(body["response_format"], expected);
}

#[test]
fn metadata_removed_and_session_found() {
    let (pivot, body) =
        translate_json(json!({"metadata": {"user_id": "user_abc123_account__session_9f1c"}}));
    assert!(body.get("metadata").is_none() && body.get("user").is_none());
    assert_eq!(pivot.session_id.as_deref(), Some("9f1c"));
    assert_eq!(pivot.removed[0].location, "metadata.user_id");
    assert!(!String::from_utf8(pivot.body).unwrap().contains("abc123"));

    // No metadata: the session header is the fallback; the user agent names the client.
    let mut req = post(
        &json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}),
    );
    req.headers
        .push(Header::new("x-claude-code-session-id", "sess-1"));
    req.headers.push(Header::new(
        "user-agent",
        "claude-cli/2.1.197 (external, cli)",
    ));
    let (pivot, _) = translate(req);
    assert_eq!(pivot.session_id.as_deref(), Some("sess-1"));
    assert_eq!(pivot.client_software.as_deref(), Some("claude-cli/2.1.197"));
}

#[test]
fn cache_control_gives_one_warning_per_request() {
    let (pivot, _) = translate_json(json!({
        "cache_control": {"type": "ephemeral"},
        "system": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}],
        "tools": [{"name": "T", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "T", "input": {}, "cache_control": {"type": "ephemeral"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "r", "cache_control": {"type": "ephemeral"}}]}
        ]
    }));
    assert_eq!(pivot.warnings, ["dropped cache_control"]);
}

#[test]
fn unknown_fields_and_nulls_are_tolerated() {
    let (pivot, body) = translate_json(json!({
        "tools": null, "stop_sequences": null, "system": null, "metadata": null,
        "service_tier": "auto", "inference_geo": "us", "container": "c1",
        "brand_new_field": {"nested": [1, 2]},
        "messages": [{"role": "user", "content": [{"type": "text", "text": "x", "citations": null, "future": 1}]}]
    }));
    assert!(pivot.warnings.is_empty());
    assert_eq!(body["messages"][0]["content"], "x");
}

#[test]
fn unknown_blocks_and_server_results_are_dropped_with_warnings() {
    let (pivot, list) = messages(json!([
        {"role": "user", "content": [{"type": "text", "text": "q"}, {"type": "container_upload", "file_id": "f"}]},
        {"role": "assistant", "content": [
            {"type": "server_tool_use", "id": "srv", "name": "web_search", "input": {"query": "x"}},
            {"type": "web_search_tool_result", "tool_use_id": "srv", "content": []},
            {"type": "text", "text": "found"}]}
    ]));
    assert_eq!(roles(&list), ["user", "assistant"]);
    assert_eq!(
        pivot.warnings,
        [
            "dropped container_upload block",
            "dropped server_tool_use block",
            "dropped web_search_tool_result block"
        ]
    );
}

#[test]
fn bad_input_is_invalid_request() {
    let mut req = post(&json!({}));
    req.body = b"{not json".to_vec();
    assert!(matches!(
        AnthropicMessages::translate_request(req, options()),
        Err(AdapterError::InvalidRequest(_))
    ));
    assert!(matches!(
        error_of(json!({"model": "m", "max_tokens": 1, "messages": []})),
        AdapterError::InvalidRequest(_)
    ));
    assert!(matches!(
        error_of(json!({"max_tokens": 1, "messages": [{"role": "user", "content": "x"}]})),
        AdapterError::InvalidRequest(_)
    ));
    assert!(matches!(
        error_of(json!({"model": "m", "messages": [{"role": "robot", "content": "x"}]})),
        AdapterError::InvalidRequest(_)
    ));
    assert!(matches!(
        error_of(json!({"model": "m", "messages": [
            {"role": "assistant", "content": [{"type": "tool_use", "name": "X", "input": {}}]}]})),
        AdapterError::InvalidRequest(_)
    ));
}
