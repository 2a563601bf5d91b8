//! The real Codex CLI 0.169.0 requests (tests/fixtures/captures/codex-main and
//! codex-internal-model at the workspace root).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{capture, translate};
use serde_json::Value;

const INSTALLATION_ID: &str = "e1ab2015-ade0-47f4-a7dd-9cb6874fd6e6";
const MAIN_SESSION: &str = "01a216a7-8538-7c73-bfe4-cf9227bdec57";
const INTERNAL_SESSION: &str = "01a216a7-8e0c-70f3-9394-9103b4256333";

fn original(folder: &str, file: &str) -> Value {
    serde_json::from_slice(&capture(folder, file).body).unwrap()
}

fn tool_names(body: &Value) -> Vec<String> {
    body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| {
            assert_eq!(tool["type"], "function");
            tool["function"]["name"].as_str().unwrap().to_owned()
        })
        .collect()
}

fn state(pivot: &cligate_adapter_sdk::PivotRequest) -> Value {
    serde_json::from_slice(&pivot.state).unwrap()
}

#[test]
fn code_mode_request_flattens_additional_tools_and_exposes_exec() {
    let (pivot, body) = translate(capture("codex-main", "01-POST-v1-responses.request.json"));
    let raw = String::from_utf8(pivot.body.clone()).unwrap();

    assert_eq!(pivot.model, "gpt-6.1-sol");
    assert!(pivot.stream);
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
    assert_eq!(body["reasoning_effort"], "low");
    assert_eq!(body["tool_choice"], "auto");
    assert_eq!(body["parallel_tool_calls"], false);
    for absent in [
        "store",
        "include",
        "prompt_cache_key",
        "client_metadata",
        "text",
        "reasoning",
        "input",
    ] {
        assert!(body.get(absent).is_none(), "{absent} is not forwarded");
    }

    // No top-level tools: everything comes from the additional_tools item's namespaces.
    assert_eq!(
        tool_names(&body),
        [
            "exec",
            "wait",
            "request_user_input",
            "request_user_input_async",
            "clock__sleep",
            "collaboration__followup_task",
            "collaboration__interrupt_agent",
            "collaboration__list_agents",
            "collaboration__send_message",
            "collaboration__spawn_agent",
            "collaboration__wait_agent",
        ]
    );
    // The freeform exec tool is a function with one string argument and its grammar in the description.
    let exec = &body["tools"][0]["function"];
    assert_eq!(exec["parameters"]["properties"]["input"]["type"], "string");
    assert_eq!(exec["parameters"]["required"], serde_json::json!(["input"]));
    let description = exec["description"].as_str().unwrap();
    assert!(description.starts_with("Run JavaScript code to orchestrate/compose tool calls"));
    assert!(description.contains("lark grammar:\n\nstart: pragma_source | plain_source"));
    // A namespaced function keeps its schema.
    let original = original("codex-main", "01-POST-v1-responses.request.json");
    let sleep = &original["input"][0]["tools"][1]["tools"][0];
    assert_eq!(
        body["tools"][4]["function"]["parameters"],
        sleep["parameters"]
    );

    // The reverse map: exec is custom, the prefixed names go back to their namespaces.
    let state = state(&pivot);
    assert_eq!(
        state["e"], true,
        "include reasoning.encrypted_content recorded"
    );
    assert_eq!(state["p"], false);
    let entries = state["t"].as_array().unwrap();
    assert!(entries.contains(&serde_json::json!({"f": "exec", "n": "exec", "k": "c"})));
    assert!(
        entries.contains(
            &serde_json::json!({"f": "clock__sleep", "n": "sleep", "s": "clock", "k": "f"})
        )
    );
    assert_eq!(entries.len(), 8, "exec + sleep + six collaboration tools");

    // Four developer messages become one system message, then the two user messages.
    let messages = body["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "user"]);
    let system = messages[0]["content"].as_str().unwrap();
    assert!(system.starts_with("You are Codex, an agent based on GPT-6."));
    assert!(system.contains("\n\n<skills_instructions>"));
    assert!(system.ends_with("</multi_agent_mode>"));
    assert!(
        messages[1]["content"]
            .as_str()
            .unwrap()
            .starts_with("<environment_context>")
    );
    assert_eq!(
        messages[2]["content"],
        "Read hello.txt and tell me what it says"
    );

    // Nothing that identifies the installation or the session reaches the backend.
    assert!(!raw.contains(INSTALLATION_ID));
    assert!(!raw.contains(MAIN_SESSION));
    let removed: Vec<&str> = pivot.removed.iter().map(|r| r.location.as_str()).collect();
    assert_eq!(removed, ["prompt_cache_key", "client_metadata"]);
    assert_eq!(pivot.removed[0].value, MAIN_SESSION);
    assert!(pivot.removed[1].value.contains(INSTALLATION_ID));
    assert_eq!(pivot.session_id.as_deref(), Some(MAIN_SESSION));
    assert_eq!(pivot.client_software.as_deref(), Some("codex_exec/0.169.0"));
    assert_eq!(pivot.warnings, ["dropped text.verbosity"]);
}

#[test]
fn code_mode_follow_up_pairs_the_custom_call_with_its_output() {
    let (pivot, body) = translate(capture("codex-main", "02-POST-v1-responses.request.json"));
    let raw = String::from_utf8(pivot.body.clone()).unwrap();
    assert!(!raw.contains(INSTALLATION_ID));
    assert!(!raw.contains(MAIN_SESSION));

    let messages = body["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "user", "assistant", "tool"]);
    let call = &messages[3]["tool_calls"][0];
    assert_eq!(messages[3]["content"], Value::Null);
    assert_eq!(call["id"], "call_beca1fcbc74842f29dd2b4ac");
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "exec");
    let arguments: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(
        arguments,
        serde_json::json!({"input": "const r = await tools.exec_command({cmd: \"cat hello.txt\"});\ntext(r.output);"})
    );
    assert_eq!(messages[4]["tool_call_id"], "call_beca1fcbc74842f29dd2b4ac");
    assert_eq!(
        messages[4]["content"],
        "Script completed\nWall time 0.1 seconds\nOutput:\nHello from the capture fixture!\n"
    );
}

#[test]
fn classic_request_keeps_function_tools_and_drops_web_search() {
    let (pivot, body) = translate(capture(
        "codex-internal-model",
        "01-POST-v1-responses.request.json",
    ));
    let raw = String::from_utf8(pivot.body.clone()).unwrap();
    assert_eq!(pivot.model, "internal-coder");
    assert_eq!(
        tool_names(&body),
        [
            "exec_command",
            "write_stdin",
            "request_user_input",
            "view_image",
            "multi_agent_v1__close_agent",
            "multi_agent_v1__resume_agent",
            "multi_agent_v1__send_input",
            "multi_agent_v1__spawn_agent",
            "multi_agent_v1__wait_agent",
            "get_goal",
            "create_goal",
            "update_goal",
        ]
    );
    let original = original("codex-internal-model", "01-POST-v1-responses.request.json");
    assert_eq!(
        body["tools"][0]["function"]["parameters"],
        original["tools"][0]["parameters"]
    );
    assert_eq!(
        body["tools"][0]["function"]["description"],
        original["tools"][0]["description"]
    );
    assert_eq!(pivot.warnings, ["dropped hosted tool web_search"]);
    assert_eq!(body["parallel_tool_calls"], true);
    assert!(
        body.get("reasoning_effort").is_none(),
        "reasoning had a summary setting only"
    );
    let state = state(&pivot);
    assert_eq!(
        state["t"].as_array().unwrap().len(),
        5,
        "the namespaced tools only"
    );
    assert!(!raw.contains(INSTALLATION_ID));
    assert!(!raw.contains(INTERNAL_SESSION));
    assert_eq!(pivot.session_id.as_deref(), Some(INTERNAL_SESSION));
    let messages = body["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "user"]);
}

#[test]
fn classic_follow_up_pairs_the_function_call_with_its_output() {
    let (_, body) = translate(capture(
        "codex-internal-model",
        "02-POST-v1-responses.request.json",
    ));
    let messages = body["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "user", "assistant", "tool"]);
    assert_eq!(
        messages[3]["tool_calls"],
        serde_json::json!([{"id": "call_2c53b3e492f44ba382acd2bf", "type": "function",
            "function": {"name": "exec_command", "arguments": "{\"cmd\": \"cat hello.txt\"}"}}])
    );
    assert_eq!(messages[4]["tool_call_id"], "call_2c53b3e492f44ba382acd2bf");
    assert!(
        messages[4]["content"]
            .as_str()
            .unwrap()
            .ends_with("Output:\nHello from the capture fixture!\n")
    );
}

#[test]
fn redaction_removes_the_environment_context_message() {
    use cligate_adapter_openai_responses::OpenAiResponses;
    use cligate_adapter_sdk::Adapter;
    let req = capture("codex-main", "01-POST-v1-responses.request.json");
    let pivot = OpenAiResponses::translate_request(req, common::options(true)).unwrap();
    let body: Value = serde_json::from_slice(&pivot.body).unwrap();
    let raw = String::from_utf8(pivot.body.clone()).unwrap();
    assert!(!raw.contains("<environment_context>"));
    assert!(!raw.contains("/home/dev/work-codex"));
    let roles: Vec<&str> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user"]);
    assert!(
        pivot
            .warnings
            .contains(&"redacted environment_context".to_owned())
    );
    let redacted = pivot
        .removed
        .iter()
        .find(|r| r.location.ends_with("environment_context"))
        .unwrap();
    assert_eq!(redacted.location, "input[5] environment_context");
    assert!(redacted.value.contains("<cwd>/home/dev/work-codex</cwd>"));
}
