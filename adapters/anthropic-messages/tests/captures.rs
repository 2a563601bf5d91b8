//! The real Claude Code 2.1.197 requests (tests/fixtures/captures/claude-code-main).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use cligate_adapter_anthropic_messages::{AnthropicMessages, State};
use cligate_adapter_sdk::Adapter;
use common::{capture, options, translate};
use serde_json::Value;

const DEVICE_ID: &str = "5ec3f6e9e793f7a7367fca098b2325675f3e405ed5299ae9e78c77b357b13c23";
const SESSION_ID: &str = "fbc76d8b-92b9-4a94-8a0a-f32cdeea79f1";

fn original(file: &str) -> Value {
    serde_json::from_slice(&capture(file).body).unwrap()
}

#[test]
fn first_turn_maps_system_tools_and_settings() {
    let req = capture("02-POST-v1-messages.request.json");
    let anthropic = original("02-POST-v1-messages.request.json");
    let (pivot, body) = translate(req);

    assert_eq!(pivot.model, "claude-opus-4-8");
    assert!(pivot.stream);
    assert_eq!(body["model"], "claude-opus-4-8");
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
    assert_eq!(body["max_tokens"], 64000);
    // thinking adaptive + output_config.effort high
    assert_eq!(body["reasoning_effort"], "high");
    assert!(
        pivot
            .stream_headers
            .iter()
            .any(|h| h.name == "content-type" && h.value == "text/event-stream")
    );
    assert_eq!(pivot.client_software.as_deref(), Some("claude-cli/2.1.197"));
    assert_eq!(pivot.session_id.as_deref(), Some(SESSION_ID));

    // 24 tools, names, descriptions and schemas unchanged.
    let tools = body["tools"].as_array().unwrap();
    let originals = anthropic["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 24);
    for (tool, orig) in tools.iter().zip(originals) {
        assert_eq!(tool["type"], "function");
        assert_eq!(tool["function"]["name"], orig["name"]);
        assert_eq!(tool["function"]["description"], orig["description"]);
        assert_eq!(tool["function"]["parameters"], orig["input_schema"]);
    }
    assert!(body.get("tool_choice").is_none());

    // [system prompt, first user message, the mid-conversation system message]
    let messages = body["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "system"]);

    // System: blocks 1 and 2 joined, the billing header (block 0) gone.
    let system = messages[0]["content"].as_str().unwrap();
    let blocks = anthropic["system"].as_array().unwrap();
    assert!(system.starts_with(blocks[1]["text"].as_str().unwrap()));
    assert!(system.ends_with(blocks[2]["text"].as_str().unwrap()));
    assert!(!system.contains("x-anthropic-billing-header"));
    assert!(system.contains("# Environment"), "not redacted by default");

    // User: two text blocks become one string, in order.
    let user = messages[1]["content"].as_str().unwrap();
    assert!(user.starts_with("<system-reminder>"));
    assert!(user.ends_with("Read hello.txt and tell me what it says"));

    // The mid-conversation system message keeps its place and text.
    assert_eq!(messages[2]["content"], anthropic["messages"][1]["content"]);
    assert!(
        messages[2]["content"]
            .as_str()
            .unwrap()
            .starts_with("Available agent types")
    );

    // Removed for the audit log, never forwarded.
    let removed: Vec<(&str, &str)> = pivot
        .removed
        .iter()
        .map(|r| (r.location.as_str(), r.value.as_str()))
        .collect();
    assert!(removed.contains(&(
        "system[0] billing header",
        "x-anthropic-billing-header: cc_version=2.1.197.1c6; cc_entrypoint=sdk-cli;"
    )));
    let user_id = removed
        .iter()
        .find(|(loc, _)| *loc == "metadata.user_id")
        .unwrap()
        .1;
    assert!(user_id.contains(DEVICE_ID));

    let text = String::from_utf8(pivot.body.clone()).unwrap();
    for secret in [
        DEVICE_ID,
        SESSION_ID,
        "x-anthropic-billing-header",
        "cc_version",
        "account_uuid",
        "user_id",
    ] {
        assert!(
            !text.contains(secret),
            "{secret} leaked into the pivot body"
        );
    }
    assert!(body.get("metadata").is_none() && body.get("user").is_none());
    for hint in [
        "cache_control",
        "ephemeral",
        "context_management",
        "adaptive",
    ] {
        assert!(!text.contains(hint), "{hint} forwarded");
    }

    // One cache warning for the whole request, and the beta feature we cannot honour.
    assert_eq!(
        pivot
            .warnings
            .iter()
            .filter(|w| *w == "dropped cache_control")
            .count(),
        1
    );
    assert!(
        pivot
            .warnings
            .contains(&"dropped context_management".to_owned())
    );

    // The input estimate travels to the answer translation; it is in the right range
    // (the recorder counted 19,455 tokens for this request).
    let state = State::decode(&pivot.state);
    assert!(
        (12_000..30_000).contains(&state.input_estimate),
        "{}",
        state.input_estimate
    );
}

#[test]
fn second_turn_pairs_tool_use_with_its_result() {
    let (pivot, body) = translate(capture("03-POST-v1-messages.request.json"));
    let messages = body["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "system", "assistant", "tool"]);

    let assistant = &messages[3];
    assert_eq!(assistant["content"], "I'll read the file.");
    let calls = assistant["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["id"], "toolu_1e265d848c7d430d97d3f62d");
    assert_eq!(calls[0]["type"], "function");
    assert_eq!(calls[0]["function"]["name"], "Read");
    let args: Value =
        serde_json::from_str(calls[0]["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(
        args,
        serde_json::json!({"file_path": "/home/dev/work-claude/hello.txt"})
    );

    let tool = &messages[4];
    assert_eq!(tool["tool_call_id"], "toolu_1e265d848c7d430d97d3f62d");
    assert_eq!(tool["content"], "1\tHello from the capture fixture!\n2\t");

    assert_eq!(pivot.session_id.as_deref(), Some(SESSION_ID));
    assert_eq!(
        pivot
            .warnings
            .iter()
            .filter(|w| w.contains("cache_control"))
            .count(),
        1
    );
    let text = String::from_utf8(pivot.body).unwrap();
    assert!(!text.contains(DEVICE_ID) && !text.contains(SESSION_ID));
}

#[test]
fn redact_environment_removes_the_environment_section() {
    let mut opts = options();
    opts.redact_environment = true;
    let pivot =
        AnthropicMessages::translate_request(capture("02-POST-v1-messages.request.json"), opts)
            .unwrap();
    let body: Value = serde_json::from_slice(&pivot.body).unwrap();
    let system = body["messages"][0]["content"].as_str().unwrap();
    assert!(!system.contains("# Environment"));
    assert!(!system.contains("/home/dev/work-claude"));
    assert!(!system.contains("Linux 6.18.44"));
    assert!(
        system.contains("# Context management"),
        "the next section stays"
    );
    let section = pivot
        .removed
        .iter()
        .find(|r| r.location == "system environment section")
        .unwrap();
    assert!(
        section
            .value
            .contains("Primary working directory: /home/dev/work-claude")
    );
}

/// Native timing of the 76 KB translation; run with
/// `cargo test --release -p cligate-adapter-anthropic-messages -- --ignored --nocapture`.
#[test]
#[ignore]
fn bench_translate_captured_request() {
    let req = capture("03-POST-v1-messages.request.json");
    let mut times = Vec::new();
    for _ in 0..2_000 {
        let req = req.clone();
        let start = std::time::Instant::now();
        let pivot = AnthropicMessages::translate_request(req, options()).unwrap();
        times.push(start.elapsed());
        std::hint::black_box(pivot);
    }
    times.sort();
    eprintln!(
        "translate_request 03 ({} bytes): median {:?}, p99 {:?}",
        req.body.len(),
        times[times.len() / 2],
        times[times.len() * 99 / 100]
    );
}
