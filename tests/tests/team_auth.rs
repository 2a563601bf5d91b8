//! Gateway keys through the real gateway: a missing or wrong key is a 401 in each client's own
//! error shape (nothing reaches the upstream); each CLI's way of sending its key works; local
//! routes need a key too, except Claude Code's `HEAD /` probe; the key file is re-read without
//! a restart; the user's name reaches the audit log and the metrics.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "team_support/support.rs"]
mod support;

use std::time::{Duration, Instant};

use cligate_e2e::ScriptedUpstream;
use cligate_e2e::fixture::http;
use serde_json::Value;
use support::{ADAPTERS, Team, call, dialect_calls, hash, metric};

const ALICE_KEY: &str = "alice-gateway-key-1";

fn keys_config(extra: &str) -> String {
    format!(
        "[[auth.keys]]\nuser = \"alice\"\nsha256 = \"{}\"\n{extra}\n[audit]\npath = \"{{dir}}/audit.jsonl\"\n",
        hash(ALICE_KEY)
    )
}

/// The key header each CLI uses for its dialect.
fn natural_key(dialect: &str, key: &'static str) -> Vec<(&'static str, String)> {
    match dialect {
        "anthropic-messages" => vec![("x-api-key", key.to_owned())],
        "gemini" => vec![("x-goog-api-key", key.to_owned())],
        _ => vec![("authorization", format!("Bearer {key}"))],
    }
}

/// Assert a 401 body in the dialect's own error shape.
fn assert_401_shape(dialect: &str, body: &str) {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{dialect}: {e}: {body}"));
    match dialect {
        "openai-chat" => {
            assert_eq!(v["error"]["type"], "authentication_error", "{body}");
            assert_eq!(v["error"]["code"], "invalid_api_key", "{body}");
        }
        "anthropic-messages" => {
            assert_eq!(v["type"], "error", "{body}");
            assert_eq!(v["error"]["type"], "authentication_error", "{body}");
        }
        "openai-responses" => {
            assert_eq!(v["error"]["code"], "invalid_api_key", "{body}");
            assert!(v["error"]["message"].is_string(), "{body}");
        }
        "gemini" => {
            assert_eq!(v["error"]["code"], 401, "{body}");
            assert_eq!(v["error"]["status"], "UNAUTHENTICATED", "{body}");
        }
        other => panic!("unknown dialect {other}"),
    }
    assert!(body.contains("gateway key"), "the message says why: {body}");
}

#[tokio::test]
async fn missing_or_wrong_keys_get_a_401_in_each_dialect_and_right_keys_pass() {
    let upstream = ScriptedUpstream::start().await.unwrap();
    let team = Team::start(&upstream.url(), &keys_config(""), &[], ADAPTERS).await;
    for stream in [false, true] {
        for c in dialect_calls("gpt-4o", stream) {
            for (what, headers) in [
                ("no key", Vec::new()),
                ("a wrong key", natural_key(c.dialect, "not-a-valid-key")),
                ("an empty key", natural_key(c.dialect, "")),
            ] {
                let headers: Vec<(&str, &str)> =
                    headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
                let (status, body, _) = call(&team.gateway, &c, "gpt-4o", &headers).await;
                assert_eq!(status, 401, "{} with {what}: {body}", c.dialect);
                assert_401_shape(c.dialect, &body);
            }
            let key = natural_key(c.dialect, ALICE_KEY);
            let key: Vec<(&str, &str)> = key.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (status, body, _) = call(&team.gateway, &c, "gpt-4o", &key).await;
            assert_eq!(status, 200, "{} with the key: {body}", c.dialect);
        }
    }
    assert_eq!(
        upstream.request_count(),
        8,
        "only the requests with a valid key reached the upstream"
    );

    // Every place a key can be: any dialect accepts any of them.
    let chat = &dialect_calls("gpt-4o", false)[0];
    let bearer = format!("Bearer {ALICE_KEY}");
    for headers in [
        vec![("x-api-key", ALICE_KEY)],
        vec![("authorization", bearer.as_str())],
        vec![("x-goog-api-key", ALICE_KEY)],
        vec![("api-key", ALICE_KEY)],
        // Gemini CLI sends an empty x-goog-api-key when unset; the other header counts.
        vec![("x-goog-api-key", ""), ("authorization", bearer.as_str())],
    ] {
        let (status, body, _) = call(&team.gateway, chat, "gpt-4o", &headers).await;
        assert_eq!(status, 200, "{headers:?}: {body}");
    }
    let gemini = &dialect_calls("gemini-2.5-flash", false)[3];
    let url = team.gateway.url(&format!(
        "/v1beta/models/gemini-2.5-flash:generateContent?key={ALICE_KEY}"
    ));
    let resp = http()
        .post(url)
        .header("content-type", "application/json")
        .body(gemini.body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "?key= is accepted");
    let last = upstream.requests().pop().unwrap();
    assert!(
        last.query.is_none(),
        "the key is not passed on: {:?}",
        last.query
    );

    let lines = team.audit(38).await;
    let refused = lines.iter().filter(|l| l["status"] == 401).count();
    assert_eq!(refused, 24);
    for line in &lines {
        let expected = if line["status"] == 401 {
            "anonymous"
        } else {
            "alice"
        };
        assert_eq!(line["user"], expected, "{line}");
        assert!(
            !line.to_string().contains(ALICE_KEY),
            "no key in the audit log"
        );
    }
    let refused_line = lines.iter().find(|l| l["status"] == 401).unwrap();
    assert_eq!(refused_line["error_class"], "unauthenticated");
    let text = team.metrics().await;
    assert_eq!(
        metric(
            &text,
            "cligate_auth_failures_total",
            &[("reason", "missing")]
        ),
        16.0
    );
    assert_eq!(
        metric(
            &text,
            "cligate_auth_failures_total",
            &[("reason", "invalid")]
        ),
        8.0
    );
    assert!(
        metric(
            &text,
            "cligate_tokens_total",
            &[("user", "alice"), ("kind", "input")]
        ) > 0.0,
        "{text}"
    );
    assert!(!team.gateway.log().contains(ALICE_KEY), "no key in the log");
}

#[tokio::test]
async fn local_routes_need_a_key_except_the_head_probe() {
    let upstream = ScriptedUpstream::start().await.unwrap();
    let team = Team::start(&upstream.url(), &keys_config(""), &[], ADAPTERS).await;
    let bearer = format!("Bearer {ALICE_KEY}");
    // Claude Code's start-up probe carries no key and reveals nothing.
    let resp = http().head(team.gateway.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    for (path, headers, body) in [
        ("/v1/models", vec![], None),
        (
            "/v1/models",
            vec![("anthropic-version", "2023-06-01")],
            None,
        ),
        ("/v1beta/models", vec![], None),
        (
            "/v1/messages/count_tokens",
            vec![("anthropic-version", "2023-06-01")],
            Some(r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#),
        ),
        (
            "/v1beta/models/gemini-2.5-flash:countTokens",
            vec![],
            Some(r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#),
        ),
        ("/no/such/route", vec![], None),
    ] {
        for with_key in [false, true] {
            let mut rb = match body {
                Some(body) => http().post(team.gateway.url(path)).body(body),
                None => http().get(team.gateway.url(path)),
            };
            rb = rb.header("content-type", "application/json");
            for (k, v) in &headers {
                rb = rb.header(*k, *v);
            }
            if with_key {
                rb = rb.header("authorization", &bearer);
            }
            let resp = rb.send().await.unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap();
            match (with_key, path) {
                (false, _) => assert_eq!(status, 401, "{path} without a key: {text}"),
                (true, "/no/such/route") => assert_eq!(status, 404, "{text}"),
                (true, _) => assert_eq!(status, 200, "{path} with the key: {text}"),
            }
        }
    }
    assert_eq!(upstream.request_count(), 0);
}

#[tokio::test]
async fn the_key_file_is_reloaded_without_a_restart() {
    let upstream = ScriptedUpstream::start().await.unwrap();
    let dir = tempfile::Builder::new()
        .prefix("cligate-team-")
        .tempdir()
        .unwrap();
    let keys_file = dir.path().join("keys.toml");
    let write_keys = |entries: &[(&str, &str)]| {
        let text: String = entries
            .iter()
            .map(|(user, key)| format!("[[keys]]\nuser = \"{user}\"\nsha256 = \"{}\"\n", hash(key)))
            .collect();
        let tmp = keys_file.with_extension("tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &keys_file).unwrap();
    };
    write_keys(&[("bob", "bob-key")]);
    let config = keys_config("[auth]\nkeys_file = \"{dir}/keys.toml\"\nreload_ms = 100\n");
    let team = Team::start_in(dir, &upstream.url(), &config, &[], &["openai-chat"]).await;
    let chat = &dialect_calls("gpt-4o", false)[0];
    let status_with = |key: &'static str| {
        let gateway = &team.gateway;
        async move {
            let bearer = format!("Bearer {key}");
            call(
                gateway,
                chat,
                "gpt-4o",
                &[("authorization", bearer.as_str())],
            )
            .await
        }
    };
    assert_eq!(status_with("bob-key").await.0, 200);
    assert_eq!(status_with(ALICE_KEY).await.0, 200, "config keys stay");
    assert_eq!(status_with("carol-key").await.0, 401);

    write_keys(&[("carol", "carol-key")]);
    let started = Instant::now();
    while status_with("carol-key").await.0 != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "carol's key never took effect"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status_with("bob-key").await.0, 401, "bob's key was revoked");

    // A broken file keeps the keys in force.
    std::fs::write(
        team.path("keys.toml"),
        "[[keys]]\nuser = \"x\"\nsha256 = \"short\"\n",
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, _, id) = status_with("carol-key").await;
    assert_eq!(status, 200);
    assert!(team.gateway.log().contains("gateway key file not reloaded"));
    assert_eq!(team.audit_line(&id).await["user"], "carol");
    let text = team.metrics().await;
    assert_eq!(
        metric(&text, "cligate_gateway_keys", &[]),
        2.0,
        "alice and carol"
    );
}
