//! Model routing through the real gateway, for all four dialects: exact names and globs, the
//! per-dialect defaults, `CLIGATE_DEFAULT_MODEL` (and pass-through without it), weighted
//! targets on two upstreams, output-token clamping, and the client's model name echoed back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "team_support/support.rs"]
mod support;

use cligate_e2e::ScriptedUpstream;
use cligate_e2e::fixture::backend_model;
use serde_json::Value;
use support::{ADAPTERS, Team, call, dialect_calls};

const RULES: &str = r#"
[[models]]
match = "claude-*haiku*"
backend_model = "small-model"

[[models]]
match = "gemini-*flash-lite*"
backend_model = "lite-model"

[[models]]
match = "exact-name"
backend_model = "exact-backend"

[[models]]
match = "gpt-*"
backend_model = "gpt-backend"
max_output_tokens = 8192

[defaults]
anthropic-messages = "claude-main"
gemini-generate-content = "gemini-main"

[[models]]
match = "claude-main"
backend_model = "claude-main-backend"
max_output_tokens = 4096
"#;

/// The model the upstream was asked for in its last request.
fn last_model(upstream: &ScriptedUpstream) -> String {
    upstream.requests().last().unwrap().json()["model"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The model name the client sees in a whole answer of its dialect.
fn answered_model(dialect: &str, body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body).unwrap();
    let model = match dialect {
        "gemini" => v["modelVersion"].as_str(),
        _ => v["model"].as_str(),
    };
    model.map(str::to_owned)
}

#[tokio::test]
async fn globs_exact_names_dialect_defaults_and_the_default_model() {
    let upstream = ScriptedUpstream::start().await.unwrap();
    let team = Team::start(&upstream.url(), RULES, &[], ADAPTERS).await;
    let calls = dialect_calls("", false);
    let by = |d: &str| calls.iter().find(|c| c.dialect == d).unwrap();
    for (dialect, requested, expected) in [
        (
            "anthropic-messages",
            "claude-3-5-haiku-20241022",
            "small-model",
        ),
        ("anthropic-messages", "claude-haiku-4-5", "small-model"),
        // No rule: the anthropic default, routed through its own rule.
        (
            "anthropic-messages",
            "claude-opus-4-8",
            "claude-main-backend",
        ),
        ("gemini", "gemini-3.5-flash-lite", "lite-model"),
        // No rule: the gemini default, which no rule matches: a backend model as is.
        ("gemini", "gemini-3.8-flash", "gemini-main"),
        ("openai-chat", "gpt-5", "gpt-backend"),
        ("openai-responses", "gpt-6.1-sol", "gpt-backend"),
        ("openai-chat", "exact-name", "exact-backend"),
        // Not exact, no glob: no rule, no default for the dialect: CLIGATE_DEFAULT_MODEL.
        ("openai-chat", "exact-name-2", backend_model()),
        ("openai-responses", "internal-coder", backend_model()),
    ] {
        let (status, body, _) = call(&team.gateway, by(dialect), requested, &[]).await;
        assert_eq!(status, 200, "{dialect} {requested}: {body}");
        assert_eq!(last_model(&upstream), expected, "{dialect} {requested}");
        if let Some(model) = answered_model(dialect, &body) {
            assert_eq!(
                model, requested,
                "{dialect} echoes the requested name: {body}"
            );
        }
    }
}

#[tokio::test]
async fn without_a_default_model_the_requested_name_passes_through() {
    let upstream = ScriptedUpstream::start().await.unwrap();
    let team = Team::start(
        &upstream.url(),
        RULES,
        &[("CLIGATE_DEFAULT_MODEL", "")],
        &["openai-chat", "gemini"],
    )
    .await;
    let calls = dialect_calls("", false);
    let (status, body, _) = call(&team.gateway, &calls[0], "llama3.3:70b", &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(last_model(&upstream), "llama3.3:70b");
    // A dialect default still applies to its dialect.
    let (status, body, _) = call(&team.gateway, &calls[3], "gemini-2.5-pro", &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(last_model(&upstream), "gemini-main");
}

#[tokio::test]
async fn output_tokens_are_clamped_in_every_dialect() {
    let upstream = ScriptedUpstream::start().await.unwrap();
    let team = Team::start(&upstream.url(), RULES, &[], ADAPTERS).await;
    // Every call asks for 64 000 output tokens.
    for stream in [false, true] {
        for c in dialect_calls("", stream) {
            let model = match c.dialect {
                "anthropic-messages" => "claude-opus-4-8",
                "gemini" => "gemini-3.5-flash-lite",
                _ => "gpt-5",
            };
            let (status, body, id) = call(&team.gateway, &c, model, &[]).await;
            assert_eq!(status, 200, "{}: {body}", c.dialect);
            let sent = upstream.requests().last().unwrap().json();
            let cap = match c.dialect {
                "anthropic-messages" => Some(4096),
                "gemini" => None,
                _ => Some(8192),
            };
            let asked = sent["max_tokens"]
                .as_u64()
                .or(sent["max_completion_tokens"].as_u64());
            match cap {
                Some(cap) => {
                    assert_eq!(asked, Some(cap), "{}: {sent}", c.dialect);
                    let _ = id;
                }
                None => assert_eq!(asked, Some(64000), "no cap configured: {sent}"),
            }
        }
    }
}

#[tokio::test]
async fn weighted_targets_spread_requests_over_two_upstreams() {
    let a = ScriptedUpstream::start().await.unwrap();
    let b = ScriptedUpstream::start().await.unwrap();
    let config = format!(
        r#"
[upstreams.a]
url = "{}"
[upstreams.b]
url = "{}"
api_key = "b-service-key"
api_key_header = "api-key"

[[models]]
match = "spread-*"
targets = [
    {{ upstream = "a", model = "model-on-a", weight = 3 }},
    {{ upstream = "b", model = "model-on-b", weight = 1, max_output_tokens = 100 }},
]
max_output_tokens = 1000
"#,
        a.url(),
        b.url()
    );
    let unused = ScriptedUpstream::start().await.unwrap();
    let team = Team::start(&unused.url(), &config, &[], &["anthropic-messages"]).await;
    let anthropic = &dialect_calls("", false)[1];
    for _ in 0..8 {
        let (status, body, _) = call(&team.gateway, anthropic, "spread-1", &[]).await;
        assert_eq!(status, 200, "{body}");
    }
    let (on_a, on_b) = (a.requests(), b.requests());
    assert_eq!((on_a.len(), on_b.len()), (6, 2), "3:1");
    assert_eq!(unused.request_count(), 0);
    for r in &on_a {
        assert_eq!(r.json()["model"], "model-on-a");
        assert_eq!(r.json()["max_tokens"], 1000, "the rule's cap");
        assert!(r.header("authorization").is_none(), "a has no credential");
    }
    for r in &on_b {
        assert_eq!(r.json()["model"], "model-on-b");
        assert_eq!(r.json()["max_tokens"], 100, "the target's own cap");
        assert_eq!(r.header("api-key"), Some("b-service-key"));
        assert!(r.header("authorization").is_none());
    }
}
