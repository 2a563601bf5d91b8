//! The real Gemini CLI 0.61.0 requests (tests/fixtures/captures/gemini-cli-main) through
//! `translate_request`, asserting on the pivot.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use cligate_adapter_gemini::GeminiAdapter;
use cligate_adapter_sdk::{Adapter, RequestOptions};
use common::*;
use serde_json::{Value, json};

#[test]
fn classifier_call_asks_for_json_schema_output_without_streaming() {
    let (req, _) = capture(CLASSIFIER);
    let pivot = translate(req);
    assert_eq!(pivot.model, "gemini-3.5-flash-lite");
    assert!(!pivot.stream);
    assert!(pivot.stream_headers.is_empty());
    assert_eq!(
        pivot.client_software.as_deref(),
        Some("GeminiCLI-tui/0.61.0")
    );
    assert_eq!(pivot.session_id, None);
    assert!(pivot.removed.is_empty());
    assert!(pivot.warnings.is_empty(), "{:?}", pivot.warnings);
    let body = body(&pivot);
    assert_eq!(body["stream"], json!(false));
    assert!(body.get("stream_options").is_none());
    assert_eq!(body["temperature"], json!(1.0));
    assert_eq!(body["top_p"], json!(0.95));
    assert_eq!(body["top_k"], json!(64));
    assert_eq!(body["reasoning_effort"], json!("high"));
    assert!(body.get("tools").is_none());
    // The CLI writes Gemini's upper-case type names into `responseJsonSchema`; a
    // grammar-constrained backend needs JSON Schema's.
    assert_eq!(
        body["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "response", "schema": {
            "type": "object",
            "properties": {
                "complexity_reasoning": {"type": "string", "description": "Brief explanation for the score."},
                "complexity_score": {"type": "integer", "description": "Complexity score from 1-100."}
            },
            "required": ["complexity_reasoning", "complexity_score"]
        }}})
    );
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["role"], "system");
    assert!(
        messages[0]["content"]
            .as_str()
            .unwrap()
            .contains("Task Routing AI")
    );
    // The two user turns (session context, prompt) merge into one user message.
    assert_eq!(messages[1]["role"], "user");
    let user = messages[1]["content"].as_str().unwrap();
    assert!(user.starts_with("<session_context>"));
    assert!(user.ends_with("</session_context>\n\nRead hello.txt and tell me what it says"));
    assert_eq!(pivot.state, br#"{"t":true}"#);
}

#[test]
fn first_turn_streams_with_fifteen_json_schema_tools_passed_through() {
    let (req, original) = capture(TURN_1);
    let pivot = translate(req);
    assert_eq!(pivot.model, "gemini-3.8-flash");
    assert!(pivot.stream);
    let content_type = pivot
        .stream_headers
        .iter()
        .find(|h| h.name == "content-type")
        .unwrap();
    assert_eq!(content_type.value, "text/event-stream");
    let body = body(&pivot);
    assert_eq!(body["stream"], json!(true));
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert!(body.get("tool_choice").is_none());
    let declarations = original["tools"][0]["functionDeclarations"]
        .as_array()
        .unwrap();
    let tools = body["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 15);
    for (tool, declaration) in tools.iter().zip(declarations) {
        assert_eq!(tool["type"], "function");
        assert_eq!(tool["function"]["name"], declaration["name"]);
        assert_eq!(tool["function"]["description"], declaration["description"]);
        assert_eq!(
            tool["function"]["parameters"],
            declaration["parametersJsonSchema"]
        );
    }
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(
        messages
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["system", "user"]
    );
    assert!(pivot.warnings.is_empty(), "{:?}", pivot.warnings);
}

#[test]
fn tool_loop_turn_pairs_call_and_response_by_id_without_signatures() {
    let (req, _) = capture(TURN_2);
    let pivot = translate(req);
    let text = String::from_utf8(pivot.body.clone()).unwrap();
    assert!(!text.contains("thoughtSignature") && !text.contains("thought_signature"));
    assert!(!text.contains("skip_thought_signature_validator"));
    let body = body(&pivot);
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(
        messages
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["system", "user", "assistant", "tool"]
    );
    assert_eq!(
        messages[2],
        json!({"role": "assistant", "content": null, "tool_calls": [{
            "id": "read_file_1795676427605_0", "type": "function",
            "function": {"name": "read_file", "arguments": "{\"file_path\":\"hello.txt\"}"}}]})
    );
    assert_eq!(
        messages[3],
        json!({"role": "tool", "tool_call_id": "read_file_1795676427605_0",
               "content": "Hello from the capture fixture!\n"})
    );
    assert!(pivot.warnings.is_empty(), "{:?}", pivot.warnings);
}

#[test]
fn redact_environment_removes_the_session_context_block() {
    let (req, _) = capture(TURN_1);
    let pivot = GeminiAdapter::translate_request(
        req,
        RequestOptions {
            request_id: "r".into(),
            redact_environment: true,
        },
    )
    .unwrap();
    let body = body(&pivot);
    assert_eq!(
        body["messages"][1]["content"],
        json!("Read hello.txt and tell me what it says")
    );
    assert_eq!(pivot.removed.len(), 1);
    assert_eq!(
        pivot.removed[0].location,
        "contents[0].parts[0] <session_context>"
    );
    assert!(pivot.removed[0].value.contains("/home/dev/work-gemini"));
    assert!(
        pivot
            .warnings
            .contains(&"redacted environment section".to_owned())
    );
}

#[test]
fn every_capture_translates_quickly() {
    // A loose guard against accidental quadratic work (debug build, shared machine); the
    // Wasm numbers come from the host's benchmark.
    for name in [CLASSIFIER, TURN_1, TURN_2] {
        let (req, _) = capture(name);
        let rounds = 50;
        let start = std::time::Instant::now();
        for _ in 0..rounds {
            let pivot = GeminiAdapter::translate_request(req.clone(), options()).unwrap();
            assert!(!pivot.body.is_empty());
        }
        let each = start.elapsed() / rounds;
        println!(
            "{name}: {} bytes, {each:?} per translate_request (debug build)",
            req.body.len()
        );
        assert!(each.as_millis() < 50, "{name} took {each:?}");
    }
}

#[test]
fn captured_pivot_bodies_are_well_formed_chat_requests() {
    for name in [CLASSIFIER, TURN_1, TURN_2] {
        let (req, _) = capture(name);
        let body: Value = body(&translate(req));
        for message in body["messages"].as_array().unwrap() {
            let role = message["role"].as_str().unwrap();
            assert!(["system", "user", "assistant", "tool"].contains(&role));
            if role == "assistant" {
                for call in message["tool_calls"].as_array().into_iter().flatten() {
                    let args: Value =
                        serde_json::from_str(call["function"]["arguments"].as_str().unwrap())
                            .unwrap();
                    assert!(args.is_object());
                }
            }
        }
    }
}
