//! Hand-written requests for every mapping rule of the request side.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use cligate_adapter_openai_responses::{OpenAiResponses, reasoning};
use cligate_adapter_sdk::{Adapter, AdapterError, Header};
use common::{options, request, translate, translate_body};
use serde_json::{Value, json};

fn messages(body: &Value) -> &Vec<Value> {
    body["messages"].as_array().unwrap()
}

fn error_of(body: Value) -> AdapterError {
    OpenAiResponses::translate_request(request(body), options(false)).unwrap_err()
}

#[test]
fn instructions_and_string_input() {
    let (pivot, body) = translate_body(json!({
        "model": "m", "instructions": "Be brief.", "input": "hello",
        "max_output_tokens": 512, "temperature": 0.2, "top_p": 0.9,
        "store": false, "service_tier": "auto", "truncation": "auto", "some_future_field": {"x": 1}
    }));
    assert!(!pivot.stream);
    assert!(pivot.stream_headers.is_empty());
    assert_eq!(
        body,
        json!({"model": "m", "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello"}],
            "stream": false, "max_tokens": 512, "temperature": 0.2, "top_p": 0.9})
    );
    assert!(pivot.warnings.is_empty());
}

#[test]
fn instructions_as_items_and_easy_messages() {
    let (_, body) = translate_body(json!({
        "model": "m",
        "instructions": [{"role": "system", "content": "sys"}],
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "a"}, {"type": "input_text", "text": "b"}]}]
    }));
    assert_eq!(
        messages(&body)[0],
        json!({"role": "system", "content": "sys"})
    );
    assert_eq!(
        messages(&body)[1],
        json!({"role": "user", "content": "a\nb"})
    );
}

#[test]
fn message_roles_and_content_parts() {
    let (pivot, body) = translate_body(json!({
        "model": "m", "stream": true,
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "dev"}]},
            {"type": "message", "role": "system", "content": "sys"},
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "look"},
                {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "high"},
                {"type": "input_file", "file_id": "file-1"}]},
            {"type": "message", "role": "assistant", "content": [
                {"type": "output_text", "text": "It is"}, {"type": "output_text", "text": "a cat."}]},
            {"type": "message", "role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]},
            {"type": "message", "role": "user", "content": [{"type": "input_image", "image_url": {"url": "https://x/y.png"}}]}
        ]
    }));
    assert!(pivot.stream);
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(
        messages(&body),
        &vec![
            json!({"role": "system", "content": "dev\n\nsys"}),
            json!({"role": "user", "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "high"}}]}),
            json!({"role": "assistant", "content": "It is\na cat.\nNo."}),
            json!({"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}),
        ]
    );
    assert_eq!(pivot.warnings, ["dropped content part input_file"]);
}

#[test]
fn parallel_function_calls_merge_and_results_follow_in_order() {
    let (pivot, body) = translate_body(json!({
        "model": "m",
        "input": [
            {"type": "message", "role": "user", "content": "go"},
            {"type": "function_call", "call_id": "c1", "name": "shell", "arguments": "{\"command\":[\"ls\"]}"},
            {"type": "function_call", "call_id": "c2", "name": "spawn_agent", "namespace": "multi_agent_v1", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "a.txt"},
            {"type": "function_call_output", "call_id": "c2", "output": [
                {"type": "input_text", "text": "screenshot:"},
                {"type": "input_image", "image_url": "data:image/png;base64,BBBB"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "done"}]}
        ]
    }));
    assert_eq!(
        messages(&body)[1..],
        [
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "shell", "arguments": "{\"command\":[\"ls\"]}"}},
                {"id": "c2", "type": "function", "function": {"name": "multi_agent_v1__spawn_agent", "arguments": "{}"}}]}),
            json!({"role": "tool", "content": "a.txt", "tool_call_id": "c1"}),
            json!({"role": "tool", "content": "screenshot:", "tool_call_id": "c2"}),
            json!({"role": "user", "content": [
                {"type": "text", "text": "Images returned by the tool calls above:"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,BBBB"}}]}),
            json!({"role": "assistant", "content": "done"}),
        ]
    );
    assert_eq!(
        pivot.warnings,
        ["moved tool-result images to a user message"]
    );
}

#[test]
fn custom_tool_call_becomes_a_function_call_with_input() {
    let (_, body) = translate_body(json!({
        "model": "m",
        "tools": [{"type": "custom", "name": "apply_patch", "description": "Edit files.",
                   "format": {"type": "grammar", "syntax": "lark", "definition": "start: begin_patch"}}],
        "input": [
            {"type": "custom_tool_call", "status": "completed", "call_id": "c9", "name": "apply_patch",
             "input": "*** Begin Patch\n*** End Patch\n"},
            {"type": "custom_tool_call_output", "call_id": "c9", "output": "Success."}
        ]
    }));
    let call = &messages(&body)[0]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "apply_patch");
    assert_eq!(
        call["function"]["arguments"],
        "{\"input\":\"*** Begin Patch\\n*** End Patch\\n\"}"
    );
    assert_eq!(
        messages(&body)[1],
        json!({"role": "tool", "content": "Success.", "tool_call_id": "c9"})
    );
    let tool = &body["tools"][0]["function"];
    assert_eq!(tool["name"], "apply_patch");
    assert!(
        tool["description"]
            .as_str()
            .unwrap()
            .contains("lark grammar:\nstart: begin_patch")
    );
}

#[test]
fn reasoning_goes_to_the_next_assistant_message() {
    let own = reasoning::encode("exact chain of thought");
    let (pivot, body) = translate_body(json!({
        "model": "m",
        "input": [
            {"type": "message", "role": "user", "content": "q1"},
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "**Plan**"}, {"type": "summary_text", "text": "step"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "a1"}]},
            {"type": "message", "role": "user", "content": "q2"},
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "summary only"}], "encrypted_content": own},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "r"},
            {"type": "reasoning", "summary": [], "content": [{"type": "reasoning_text", "text": "raw text"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "a2"}]},
            {"type": "message", "role": "user", "content": "q3"},
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "visible"}], "encrypted_content": "gAAAAB-openai-opaque"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "a3"}]}
        ]
    }));
    let raw = String::from_utf8(pivot.body.clone()).unwrap();
    let m = messages(&body);
    assert_eq!(m[1]["reasoning_content"], "**Plan**\n\nstep");
    assert_eq!(
        m[3]["reasoning_content"], "exact chain of thought",
        "the gateway's own encoding wins"
    );
    assert_eq!(m[5]["reasoning_content"], "raw text");
    assert_eq!(m[5]["content"], "a2");
    assert_eq!(m[7]["reasoning_content"], "visible");
    assert!(
        !raw.contains("gAAAAB"),
        "foreign encrypted_content is never forwarded"
    );
    assert!(!raw.contains("cligate:v1:"));
    assert_eq!(
        pivot.warnings,
        ["dropped foreign reasoning encrypted_content"]
    );
}

#[test]
fn local_shell_call_and_tool() {
    let (pivot, body) = translate_body(json!({
        "model": "m",
        "tools": [{"type": "local_shell"}],
        "input": [
            {"type": "local_shell_call", "call_id": "c1", "status": "completed",
             "action": {"type": "exec", "command": ["bash", "-lc", "ls"], "timeout_ms": 1000,
                        "working_directory": "/w", "env": null, "user": null}},
            {"type": "function_call_output", "call_id": "c1", "output": "a.txt"}
        ]
    }));
    assert_eq!(body["tools"][0]["function"]["name"], "local_shell");
    assert_eq!(
        body["tools"][0]["function"]["parameters"]["properties"]["command"]["type"],
        "array"
    );
    let call = &messages(&body)[0]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "local_shell");
    assert_eq!(
        serde_json::from_str::<Value>(call["function"]["arguments"].as_str().unwrap()).unwrap(),
        json!({"command": ["bash", "-lc", "ls"], "workdir": "/w", "timeout_ms": 1000})
    );
    let state: Value = serde_json::from_slice(&pivot.state).unwrap();
    assert_eq!(
        state["t"],
        json!([{"f": "local_shell", "n": "local_shell", "k": "l"}])
    );
}

#[test]
fn additional_tools_and_configuration_update() {
    let (pivot, body) = translate_body(json!({
        "model": "m",
        "reasoning": {"effort": "high", "summary": "auto"},
        "tool_choice": {"type": "function", "name": "sleep", "namespace": "clock"},
        "input": [
            {"type": "additional_tools", "role": "developer", "tools": [
                {"type": "namespace", "name": "clock", "description": "Time.", "tools": [
                    {"type": "function", "name": "sleep", "parameters": {"type": "object"}, "strict": true}]}]},
            {"type": "configuration_update", "reasoning": {"effort": "medium"}},
            {"type": "message", "role": "user", "content": "wait"}
        ]
    }));
    assert_eq!(
        body["reasoning_effort"], "medium",
        "the update wins over the top-level setting"
    );
    assert_eq!(
        body["tools"],
        json!([{"type": "function", "function": {"name": "clock__sleep", "parameters": {"type": "object"}, "strict": true}}])
    );
    assert_eq!(
        body["tool_choice"],
        json!({"type": "function", "function": {"name": "clock__sleep"}})
    );
    assert_eq!(
        messages(&body),
        &vec![json!({"role": "user", "content": "wait"})]
    );
    assert!(pivot.warnings.is_empty(), "{:?}", pivot.warnings);
}

#[test]
fn tool_choice_variants() {
    let tools =
        json!([{"type": "function", "name": "f", "parameters": {}}, {"type": "web_search"}]);
    let choice = |choice: Value| {
        let (pivot, body) = translate_body(
            json!({"model": "m", "input": "x", "tools": tools, "tool_choice": choice}),
        );
        (body["tool_choice"].clone(), pivot.warnings)
    };
    assert_eq!(choice(json!("required")).0, "required");
    assert_eq!(choice(json!("none")).0, "none");
    assert_eq!(
        choice(json!({"type": "function", "name": "f"})).0,
        json!({"type": "function", "function": {"name": "f"}})
    );
    let (value, warnings) = choice(json!({"type": "web_search"}));
    assert_eq!(value, "auto");
    assert!(warnings.contains(&"tool_choice web_search sent as auto".to_owned()));
    let (value, warnings) = choice(json!({"type": "function", "name": "missing"}));
    assert_eq!(value, "auto");
    assert!(
        warnings.contains(&"tool_choice names an unknown tool missing; sent as auto".to_owned())
    );
    assert_eq!(
        choice(json!({"type": "allowed_tools", "mode": "required", "tools": []})).0,
        "required"
    );

    // No tool left for the backend: neither tool_choice nor parallel_tool_calls is sent.
    let (pivot, body) = translate_body(
        json!({"model": "m", "input": "x", "tools": [{"type": "web_search_preview"}],
        "tool_choice": "auto", "parallel_tool_calls": true}),
    );
    assert!(body.get("tools").is_none());
    assert!(body.get("tool_choice").is_none());
    assert!(body.get("parallel_tool_calls").is_none());
    assert_eq!(pivot.warnings, ["dropped hosted tool web_search_preview"]);
}

#[test]
fn reasoning_effort_levels() {
    let effort = |level: &str| {
        let (pivot, body) =
            translate_body(json!({"model": "m", "input": "x", "reasoning": {"effort": level}}));
        (body.get("reasoning_effort").cloned(), pivot.warnings)
    };
    assert_eq!(effort("low").0, Some(json!("low")));
    assert_eq!(effort("medium").0, Some(json!("medium")));
    assert_eq!(effort("high").0, Some(json!("high")));
    assert_eq!(
        effort("minimal"),
        (
            Some(json!("low")),
            vec!["reasoning effort minimal sent as low".to_owned()]
        )
    );
    assert_eq!(
        effort("xhigh"),
        (
            Some(json!("high")),
            vec!["reasoning effort xhigh sent as high".to_owned()]
        )
    );
    assert_eq!(
        effort("none"),
        (None, vec!["reasoning effort none not forwarded".to_owned()])
    );
}

#[test]
fn text_format_becomes_response_format() {
    let (pivot, body) = translate_body(json!({
        "model": "m", "input": "x",
        "text": {"verbosity": "low", "format": {"type": "json_schema", "name": "codex_output_schema", "strict": true,
                 "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}}
    }));
    assert_eq!(
        body["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "codex_output_schema",
               "schema": {"type": "object", "properties": {"a": {"type": "string"}}}, "strict": true}})
    );
    assert_eq!(pivot.warnings, ["dropped text.verbosity"]);
    let (_, body) = translate_body(
        json!({"model": "m", "input": "x", "text": {"format": {"type": "json_object"}}}),
    );
    assert_eq!(body["response_format"], json!({"type": "json_object"}));
    let (_, body) =
        translate_body(json!({"model": "m", "input": "x", "text": {"format": {"type": "text"}}}));
    assert!(body.get("response_format").is_none());
}

#[test]
fn identifying_fields_are_removed_and_reported() {
    let (pivot, body) = translate_body(json!({
        "model": "m", "input": "x",
        "prompt_cache_key": "session-123", "user": "alice@example.com", "safety_identifier": "hash-1",
        "metadata": {"team": "infra"}, "client_metadata": {"session_id": "session-123", "x-codex-installation-id": "inst-9"}
    }));
    let raw = String::from_utf8(pivot.body.clone()).unwrap();
    for secret in [
        "session-123",
        "alice@example.com",
        "hash-1",
        "infra",
        "inst-9",
    ] {
        assert!(!raw.contains(secret), "{secret} must not reach the backend");
    }
    assert!(body.get("user").is_none());
    let removed: Vec<(&str, &str)> = pivot
        .removed
        .iter()
        .map(|r| (r.location.as_str(), r.value.as_str()))
        .collect();
    assert_eq!(
        removed,
        [
            ("prompt_cache_key", "session-123"),
            (
                "client_metadata",
                r#"{"session_id":"session-123","x-codex-installation-id":"inst-9"}"#
            ),
            ("metadata", r#"{"team":"infra"}"#),
            ("user", "alice@example.com"),
            ("safety_identifier", "hash-1"),
        ]
    );
    assert_eq!(
        pivot.session_id.as_deref(),
        Some("session-123"),
        "from client_metadata"
    );
}

#[test]
fn session_id_and_client_software_from_headers() {
    let mut req = request(json!({"model": "m", "input": "x"}));
    req.headers.push(Header::new("session-id", "sess-h"));
    req.headers.push(Header::new("originator", "codex_cli_rs"));
    let (pivot, _) = translate(req);
    assert_eq!(pivot.session_id.as_deref(), Some("sess-h"));
    assert_eq!(pivot.client_software.as_deref(), Some("codex_cli_rs"));
}

#[test]
fn unknown_items_are_dropped_with_a_warning() {
    let (pivot, body) = translate_body(json!({
        "model": "m",
        "input": [
            {"type": "message", "role": "user", "content": "x", "id": "msg_1", "internal_chat_message_metadata_passthrough": {"turn_id": "t"}},
            {"type": "web_search_call", "status": "completed", "action": {"type": "search", "query": "q"}},
            {"type": "compaction", "encrypted_content": "blob"},
            {"type": "message", "role": "tool_reviewer", "content": "odd role"}
        ]
    }));
    assert_eq!(
        messages(&body),
        &vec![
            json!({"role": "user", "content": "x"}),
            json!({"role": "user", "content": "odd role"})
        ]
    );
    assert_eq!(
        pivot.warnings,
        [
            "dropped input item web_search_call",
            "dropped input item compaction",
            "message role tool_reviewer sent as user"
        ]
    );
}

#[test]
fn stateful_and_invalid_requests_are_refused() {
    assert!(matches!(
        error_of(json!({"model": "m", "input": "x", "previous_response_id": "resp_1"})),
        AdapterError::Unsupported(m) if m.contains("previous_response_id")
    ));
    assert!(matches!(
        error_of(json!({"model": "m", "input": "x", "background": true})),
        AdapterError::Unsupported(_)
    ));
    assert!(
        matches!(error_of(json!({"input": "x"})), AdapterError::InvalidRequest(m) if m.contains("model"))
    );
    assert!(matches!(
        error_of(json!({"model": "m", "input": [{"content": "no role, no type"}]})),
        AdapterError::InvalidRequest(_)
    ));
    assert!(matches!(
        error_of(json!({"model": "m", "tools": [{"type": "custom"}]})),
        AdapterError::InvalidRequest(_)
    ));
    let mut req = request(json!({}));
    req.body = b"{not json".to_vec();
    assert!(matches!(
        OpenAiResponses::translate_request(req, options(false)),
        Err(AdapterError::InvalidRequest(m)) if m.starts_with("request body is not valid")
    ));
}

#[test]
fn function_call_output_as_object_and_missing_results() {
    let (pivot, body) = translate_body(json!({
        "model": "m",
        "input": [
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": {"a": 1}},
            {"type": "function_call_output", "call_id": "c1", "output": {"content": "failed: no such file", "success": false}},
            {"type": "function_call", "call_id": "c2", "name": "f", "arguments": ""},
            {"type": "message", "role": "user", "content": "never mind"}
        ]
    }));
    let m = messages(&body);
    assert_eq!(m[0]["tool_calls"][0]["function"]["arguments"], "{\"a\":1}");
    assert_eq!(m[1]["content"], "failed: no such file");
    assert_eq!(m[2]["tool_calls"][0]["id"], "c2");
    assert_eq!(m[3]["role"], "tool");
    assert_eq!(m[3]["tool_call_id"], "c2");
    assert_eq!(m[4], json!({"role": "user", "content": "never mind"}));
    assert_eq!(
        pivot.warnings,
        ["synthesised a result for a tool call that had none"]
    );
}
