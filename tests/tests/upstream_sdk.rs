//! The official `openai` npm SDK against the scripted upstream directly: proves the scripted
//! replies are what a real client parses, and that the Node tooling works. Needs
//! `npm ci --prefix tests/node`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cligate_e2e::node::{node_bin, run_node};
use cligate_e2e::upstream::{ReasoningField, SCRIPTED_MODEL, ToolCall};
use cligate_e2e::{Reply, ScriptedUpstream};
use serde_json::{Value, json};

fn stdout_json(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "node failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "node printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[tokio::test]
async fn openai_sdk_parses_scripted_text_and_tool_calls() {
    let up = ScriptedUpstream::start().await.unwrap();
    let text = "Hello — streamed through the SDK ✓";
    let calls = vec![
        ToolCall::new("call_1", "read_file", r#"{"path":"/tmp/a b.txt"}"#),
        ToolCall::new("call_2", "read_file", r#"{"path":"/tmp/c.txt"}"#),
    ];
    up.push(Reply::text_stream(text, 6));
    up.push(Reply::tool_calls(&calls));
    let url = up.url();
    let out = run_node(
        "openai-chat-stream.mjs",
        &[("BASE_URL", url.as_str()), ("TOOLS", "1")],
    )
    .await
    .unwrap();
    let v = stdout_json(&out);
    assert_eq!(v["stream"]["text"], text);
    assert_eq!(v["stream"]["finish_reason"], "stop");
    assert_eq!(v["stream"]["model"], SCRIPTED_MODEL);
    assert_eq!(
        v["stream"]["usage"],
        json!({"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18})
    );
    assert_eq!(v["whole"]["finish_reason"], "tool_calls");
    assert_eq!(v["whole"]["tool_calls"][1]["arguments"], calls[1].arguments);

    // What the SDK sent: its identifying headers (which the gateway must never forward).
    let reqs = up.chat_requests();
    assert_eq!(reqs.len(), 2);
    let r = &reqs[0];
    assert_eq!(
        r.header("authorization"),
        Some("Bearer sk-client-secret-never-forwarded")
    );
    assert!(r.header("user-agent").unwrap().starts_with("OpenAI/JS"));
    assert!(
        r.header_names()
            .iter()
            .any(|n| n.starts_with("x-stainless-"))
    );
    assert_eq!(r.json()["stream_options"]["include_usage"], true);
    assert_eq!(r.json()["tools"][0]["function"]["name"], "read_file");
}

#[tokio::test]
async fn openai_sdk_reads_fragmented_tool_calls_and_reasoning() {
    let up = ScriptedUpstream::start().await.unwrap();
    let calls = vec![
        ToolCall::new("call_x", "shell", r#"{"cmd":"echo \"hi\" && ls"}"#),
        ToolCall::new("call_y", "read_file", r#"{"path":"README.md"}"#),
    ];
    up.push(Reply::tool_calls_stream(&calls, 5));
    up.push(Reply::reasoning_stream(
        ReasoningField::ReasoningContent,
        "let me think",
        "42",
        3,
    ));
    let url = up.url();
    let out = run_node(
        "openai-chat-stream.mjs",
        &[("BASE_URL", url.as_str()), ("STEPS", "stream,stream")],
    )
    .await
    .unwrap();
    let v = stdout_json(&out);
    // STEPS=stream,stream keeps the last summary under "stream".
    assert_eq!(
        v["stream"]["reasoning"]["reasoning_content"],
        "let me think"
    );
    assert_eq!(v["stream"]["text"], "42");
    let out = {
        up.push(Reply::tool_calls_stream(&calls, 5));
        run_node(
            "openai-chat-stream.mjs",
            &[("BASE_URL", url.as_str()), ("STEPS", "stream")],
        )
        .await
        .unwrap()
    };
    let v = stdout_json(&out);
    let got = &v["stream"]["tool_calls"];
    assert_eq!(got[0]["id"], "call_x");
    assert_eq!(got[0]["arguments"], calls[0].arguments);
    assert_eq!(got[1]["name"], "read_file");
    assert_eq!(got[1]["arguments"], calls[1].arguments);
    assert_eq!(v["stream"]["finish_reason"], "tool_calls");
}

#[tokio::test]
async fn openai_sdk_raises_on_a_mid_stream_error_chunk() {
    let up = ScriptedUpstream::start().await.unwrap();
    up.push(Reply::error_mid_stream("partial ", "backend exploded"));
    let url = up.url();
    let out = run_node(
        "openai-chat-stream.mjs",
        &[
            ("BASE_URL", url.as_str()),
            ("STEPS", "stream"),
            ("EXPECT_ERROR", "1"),
        ],
    )
    .await
    .unwrap();
    let v = stdout_json(&out);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("backend exploded"),
        "{v}"
    );
}

#[test]
fn the_three_clis_are_installed() {
    for (bin, expect) in [
        ("claude", "2.1.197"),
        ("codex", "0.169.0"),
        ("gemini", "0.61.0"),
    ] {
        let path = node_bin(bin).unwrap();
        let out = std::process::Command::new(&path)
            .arg("--version")
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains(expect),
            "{} --version: {} {text} {}",
            path.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
