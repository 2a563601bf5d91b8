//! The audit log through the real gateway: one complete line per request (whole, streamed,
//! failed, refused), no prompt or completion in it, removed values only when configured; the
//! hash chain verified by `cligate audit verify` across rotation and a restart, a changed or
//! deleted line detected and named; everything queued is written at a graceful shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "team_support/support.rs"]
mod support;

use std::path::{Path, PathBuf};

use cligate_e2e::fixture::http;
use cligate_e2e::{Reply, ScriptedUpstream};
use serde_json::{Value, json};
use support::{Team, cligate, hash, wait_for_lines};

const KEY: &str = "audit-test-key";
const PROMPT: &str = "the secret prompt text that must not be logged";
const ANSWER: &str = "the secret completion that must not be logged";

fn config(audit_path: &Path, extra: &str) -> String {
    format!(
        r#"
[[auth.keys]]
user = "dana"
sha256 = "{}"

[[models]]
match = "claude-*"
backend_model = "claude-backend"
max_output_tokens = 1000

[audit]
path = "{}"
{extra}
"#,
        hash(KEY),
        audit_path.display()
    )
}

fn files(path: &Path) -> Vec<String> {
    let dir = path.parent().unwrap();
    let base = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut rotated: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .strip_prefix(&format!("{base}."))
                .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
        })
        .collect();
    rotated.sort();
    rotated.push(path.to_path_buf());
    rotated.iter().map(|p| p.display().to_string()).collect()
}

fn verify(files: &[String]) -> (bool, String) {
    let mut args = vec!["audit", "verify"];
    args.extend(files.iter().map(String::as_str));
    let (ok, out, err) = cligate(&args);
    (ok, format!("{out}{err}"))
}

async fn post(
    team: &Team,
    path: &str,
    headers: &[(&str, &str)],
    body: Value,
) -> (u16, String, String) {
    let mut rb = http()
        .post(team.gateway.url(path))
        .header("content-type", "application/json");
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let resp = rb.body(body.to_string()).send().await.unwrap();
    let status = resp.status().as_u16();
    let id = resp.headers()["x-cligate-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    (status, resp.text().await.unwrap(), id)
}

#[tokio::test]
async fn every_request_gets_a_complete_chained_line_and_tampering_is_detected() {
    let upstream = ScriptedUpstream::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let team = Team::start(
        &upstream.url(),
        &config(&audit, ""),
        &[],
        &["openai-chat", "anthropic-messages"],
    )
    .await;
    let bearer = format!("Bearer {KEY}");

    // 1. A streamed chat request with usage, a session id and a user agent.
    upstream.push(Reply::text_stream(ANSWER, 3));
    let (status, body, stream_id) = post(
        &team,
        "/v1/chat/completions",
        &[
            ("authorization", &bearer),
            ("user-agent", "audit-test-client/1.2.3"),
            ("session_id", "sess-audit-1"),
        ],
        json!({"model": "gpt-4o", "stream": true, "stream_options": {"include_usage": true},
               "messages": [{"role": "user", "content": PROMPT}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // 2. A whole Anthropic request: clamped, with a removed metadata.user_id.
    upstream.push(Reply::text(ANSWER));
    let user_id = r#"{"device_id":"d3v1ce","account_uuid":"","session_id":"sess-claude-9"}"#;
    let (status, body, whole_id) = post(
        &team,
        "/v1/messages",
        &[("x-api-key", KEY), ("anthropic-version", "2023-06-01")],
        json!({"model": "claude-opus-4-8", "max_tokens": 64000,
               "metadata": {"user_id": user_id},
               "messages": [{"role": "user", "content": PROMPT}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // 3. An upstream failure, 4. a refused key.
    upstream.push(Reply::status(400, "backend says no"));
    let (status, _, failed_id) = post(
        &team,
        "/v1/chat/completions",
        &[("authorization", &bearer)],
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": PROMPT}]}),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _, refused_id) = post(
        &team,
        "/v1/chat/completions",
        &[("authorization", "Bearer wrong")],
        json!({"model": "gpt-4o", "messages": []}),
    )
    .await;
    assert_eq!(status, 401);

    let lines = wait_for_lines(&audit, 4).await;
    let text = std::fs::read_to_string(&audit).unwrap();
    assert!(!text.contains(PROMPT), "the prompt is in the audit log");
    assert!(
        !text.contains("secret completion"),
        "the completion is in the audit log"
    );
    assert!(!text.contains(KEY), "the key is in the audit log");

    let stream = support::line_of(&lines, &stream_id);
    for field in [
        "time",
        "request_id",
        "user",
        "client_addr",
        "method",
        "path",
        "client_software",
        "session_id",
        "dialect",
        "adapter",
        "adapter_version",
        "route",
        "requested_model",
        "upstream",
        "backend_model",
        "attempts",
        "stream",
        "status",
        "outcome",
        "error_class",
        "tokens",
        "ttfb_ms",
        "duration_ms",
        "bytes_in",
        "bytes_out",
        "warnings",
        "removed",
        "prev",
        "hash",
    ] {
        assert!(stream.get(field).is_some(), "missing {field}: {stream}");
    }
    let time = stream["time"].as_str().unwrap();
    assert!(
        time.len() == 24 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
        "{time}"
    );
    assert_eq!(stream["user"], "dana");
    assert!(
        stream["client_addr"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    assert_eq!(stream["client_software"], "audit-test-client/1.2.3");
    assert_eq!(stream["session_id"], "sess-audit-1");
    assert_eq!(stream["dialect"], "openai-chat-completions");
    assert_eq!(stream["adapter"], "openai-chat");
    assert_eq!(stream["route"], "POST /v1/chat/completions");
    assert_eq!(stream["requested_model"], "gpt-4o");
    assert_eq!(stream["upstream"], "default");
    assert_eq!(
        stream["backend_model"],
        cligate_e2e::fixture::backend_model()
    );
    assert_eq!(stream["stream"], true);
    assert_eq!(stream["status"], 200);
    assert_eq!(stream["outcome"], "completed");
    assert!(stream["error_class"].is_null());
    assert_eq!(stream["tokens"]["input"], 11);
    assert_eq!(stream["tokens"]["output"], 7);
    assert!(stream["ttfb_ms"].as_u64().unwrap() <= stream["duration_ms"].as_u64().unwrap());
    assert!(stream["bytes_in"].as_u64().unwrap() > 0);
    assert!(stream["bytes_out"].as_u64().unwrap() > 0);

    let whole = support::line_of(&lines, &whole_id);
    assert_eq!(whole["dialect"], "anthropic-messages");
    assert_eq!(whole["backend_model"], "claude-backend");
    assert_eq!(whole["stream"], false);
    assert_eq!(whole["outcome"], "ok");
    assert_eq!(whole["session_id"], "sess-claude-9");
    assert_eq!(whole["tokens"]["input"], 11);
    assert!(
        whole["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("clamped from 64000 to 1000")),
        "{whole}"
    );
    let removed = whole["removed"].as_array().unwrap();
    assert!(
        removed.iter().any(|r| r["location"] == "metadata.user_id"),
        "{whole}"
    );
    assert!(
        removed.iter().all(|r| r.get("value").is_none()),
        "values are off by default: {whole}"
    );
    assert!(
        !text.contains("d3v1ce"),
        "the device id is not in the audit log"
    );

    let failed = support::line_of(&lines, &failed_id);
    assert_eq!(failed["status"], 400);
    assert_eq!(failed["outcome"], "error");
    assert_eq!(failed["error_class"], "upstream_status");
    assert_eq!(failed["attempts"][0]["outcome"], "status_4xx");
    let refused = support::line_of(&lines, &refused_id);
    assert_eq!(refused["status"], 401);
    assert_eq!(refused["user"], "anonymous");
    assert_eq!(refused["error_class"], "unauthenticated");

    // The chain.
    assert_eq!(lines[0]["prev"], "0".repeat(64));
    for pair in lines.windows(2) {
        assert_eq!(pair[1]["prev"], pair[0]["hash"]);
    }
    let all = files(&audit);
    let (ok, out) = verify(&all);
    assert!(ok, "{out}");
    assert!(out.contains("4 line(s)"), "{out}");

    // A changed field on line 2.
    let original = text.clone();
    let mut changed: Vec<String> = original.lines().map(str::to_owned).collect();
    changed[1] = changed[1].replacen("\"dana\"", "\"eve\"", 1);
    std::fs::write(&audit, changed.join("\n") + "\n").unwrap();
    let (ok, out) = verify(&all);
    assert!(!ok, "a changed line passed: {out}");
    assert!(out.contains("audit.jsonl:2:"), "{out}");
    assert!(out.contains("does not match its hash"), "{out}");

    // A deleted line 2: line 3 no longer links.
    let mut deleted: Vec<&str> = original.lines().collect();
    deleted.remove(1);
    std::fs::write(&audit, deleted.join("\n") + "\n").unwrap();
    let (ok, out) = verify(&all);
    assert!(!ok, "a deleted line passed: {out}");
    assert!(
        out.contains("audit.jsonl:2:") && out.contains("prev"),
        "{out}"
    );
    std::fs::write(&audit, &original).unwrap();
    assert!(verify(&all).0);
}

#[tokio::test]
async fn removed_values_are_logged_only_when_configured() {
    let upstream = ScriptedUpstream::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let team = Team::start(
        &upstream.url(),
        &config(&audit, "include_removed_values = true"),
        &[],
        &["anthropic-messages"],
    )
    .await;
    let (status, body, id) = post(
        &team,
        "/v1/messages",
        &[("x-api-key", KEY), ("anthropic-version", "2023-06-01")],
        json!({"model": "claude-x", "max_tokens": 10,
               "metadata": {"user_id": "user-id-value-42"},
               "messages": [{"role": "user", "content": PROMPT}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let lines = wait_for_lines(&audit, 1).await;
    let line = support::line_of(&lines, &id);
    assert_eq!(line["removed"][0]["location"], "metadata.user_id");
    assert_eq!(line["removed"][0]["value"], "user-id-value-42");
    assert!(!upstream.requests()[0].body.is_empty());
    let sent = String::from_utf8_lossy(&upstream.requests()[0].body).into_owned();
    assert!(!sent.contains("user-id-value-42"));
}

#[tokio::test]
async fn the_chain_spans_rotation_and_restarts_and_shutdown_writes_everything() {
    let upstream = ScriptedUpstream::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let mut sent = 0;
    for round in 0..2 {
        let mut team = Team::start(
            &upstream.url(),
            &config(&audit, "max_file_bytes = 4096\nmax_files = 50"),
            &[],
            &["openai-chat"],
        )
        .await;
        let bearer = format!("Bearer {KEY}");
        for _ in 0..12 {
            let (status, _, _) = post(
                &team,
                "/v1/chat/completions",
                &[("authorization", &bearer)],
                json!({"model": "gpt-4o", "stream": round == 1,
                       "messages": [{"role": "user", "content": "hi"}]}),
            )
            .await;
            assert_eq!(status, 200);
            sent += 1;
        }
        // SIGTERM right away: what is queued is written before the process exits.
        let exit = team.gateway.terminate(std::time::Duration::from_secs(15));
        assert!(exit.is_some_and(|s| s.success()), "{exit:?}");
        let total: usize = files(&audit)
            .iter()
            .map(|f| {
                std::fs::read_to_string(f)
                    .unwrap()
                    .lines()
                    .filter(|l| !l.is_empty())
                    .count()
            })
            .sum();
        assert_eq!(total, sent, "every request has its line after shutdown");
        assert!(team.gateway.log().contains("audit log closed"));
    }
    let all = files(&audit);
    assert!(all.len() >= 3, "rotated by size: {all:?}");
    let (ok, out) = verify(&all);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("{sent} line(s) in {} file(s)", all.len())),
        "{out}"
    );
    assert!(out.contains("from its start"), "{out}");
    // Out of order, the chain breaks at the boundary.
    let mut reversed = all.clone();
    reversed.reverse();
    assert!(!verify(&reversed).0);
}
