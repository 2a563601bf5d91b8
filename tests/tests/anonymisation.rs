//! The anonymisation replay: every captured real request of Claude Code, Codex CLI and Gemini
//! CLI (`tests/fixtures/captures/*/*.request.json`, headers and body as the CLI sent them) goes
//! through the real gateway with all four shipped adapters to the scripted upstream, and none
//! of the client's identifying values appears anywhere in what the upstream recorded: not in a
//! header, not in the body (raw, or any string inside it, JSON-in-strings included).
//!
//! The identifying values are collected generically from each capture: every value of every
//! request header except the transport ones (user agents, session/thread/window/request ids,
//! `x-stainless-*`, `originator`, `x-app`, `x-goog-api-client`,
//! `x-gemini-api-privileged-user-id`, the client's keys, …), every string and number inside a
//! JSON header value (`x-codex-turn-metadata`: installation id, turn ids, timestamps, …), and
//! the body's identifying fields (`metadata.user_id` and the ids inside it, `prompt_cache_key`,
//! `client_metadata` and everything inside it, the billing header block of `system`).
//!
//! A value that is also part of the conversation itself (the body without those fields: a
//! `read-only` or `exec` that the prompt mentions too) is the user's content, which is
//! forwarded by design; such values are listed, and none of them may look like an identifier.
//!
//! The audit log, on the other hand, must have received what was removed: with
//! `audit.include_removed_values` on, each request's line carries the body identifiers among
//! its removed values, its client software and session id.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "team_support/support.rs"]
mod support;

use std::collections::BTreeSet;
use std::path::PathBuf;

use cligate_e2e::fixture::http;
use cligate_e2e::paths::workspace_root;
use cligate_e2e::upstream::{RecordedRequest, ScriptedUpstream};
use serde_json::Value;
use support::{ADAPTERS, Team, cligate, line_of};

/// Headers that identify nothing: framing, content negotiation, API versions.
const TRANSPORT_HEADERS: &[&str] = &[
    "host",
    "content-type",
    "content-length",
    "connection",
    "accept",
    "accept-encoding",
    "accept-language",
    "sec-fetch-mode",
    "anthropic-version",
    "anthropic-beta",
    "anthropic-dangerous-direct-browser-access",
];

/// Not sent by the test client: hop-by-hop or recomputed.
const NOT_REPLAYED: &[&str] = &["host", "content-length", "connection", "transfer-encoding"];

/// The body fields that identify the client, session or machine.
const IDENTIFYING_BODY_FIELDS: &[&str] = &["metadata", "prompt_cache_key", "client_metadata"];

const BILLING_PREFIX: &str = "x-anthropic-billing-header";

struct Capture {
    file: PathBuf,
    request: Value,
}

fn captures() -> Vec<Capture> {
    let root = workspace_root().join("tests/fixtures/captures");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .flat_map(|dir| std::fs::read_dir(dir.unwrap().path()).unwrap())
        .map(|f| f.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".request.json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|file| Capture {
            request: serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap(),
            file,
        })
        .collect()
}

/// Every string (and number) inside a value, JSON-in-strings included.
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => {
            out.push(s.clone());
            if let Ok(inner @ (Value::Object(_) | Value::Array(_))) =
                serde_json::from_str::<Value>(s)
            {
                strings(&inner, out);
            }
        }
        Value::Number(n) => out.push(n.to_string()),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        Value::Bool(_) | Value::Null => {}
    }
}

fn headers(capture: &Capture) -> Vec<(String, String)> {
    capture.request["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| {
            (
                pair[0].as_str().unwrap().to_ascii_lowercase(),
                pair[1].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn is_billing_block(block: &Value) -> bool {
    block["text"]
        .as_str()
        .is_some_and(|t| t.trim_start().starts_with(BILLING_PREFIX))
}

/// The identifying values of one captured request, and the body identifiers the adapter must
/// have reported as removed.
fn identifying_values(capture: &Capture) -> (BTreeSet<String>, Vec<String>) {
    let mut values = Vec::new();
    for (name, value) in headers(capture) {
        if TRANSPORT_HEADERS.contains(&name.as_str()) {
            continue;
        }
        if name == "authorization"
            && let Some((_, token)) = value.split_once(' ')
        {
            values.push(token.to_owned());
        }
        strings(&Value::String(value), &mut values);
    }
    let body = &capture.request["body"];
    let mut removed = Vec::new();
    for field in IDENTIFYING_BODY_FIELDS {
        if let Some(value) = body.get(*field).filter(|v| !v.is_null()) {
            strings(value, &mut values);
            removed.push(match (*field, value) {
                ("metadata", v) => v["user_id"].as_str().unwrap().to_owned(),
                (_, Value::String(s)) => s.clone(),
                (_, v) => v.to_string(),
            });
        }
    }
    if let Some(system) = body["system"].as_array() {
        for block in system.iter().filter(|b| is_billing_block(b)) {
            let text = block["text"].as_str().unwrap().to_owned();
            values.push(text.clone());
            removed.push(text);
        }
    }
    let values = values.into_iter().filter(|v| !v.is_empty()).collect();
    (values, removed)
}

/// The conversation: the body without its identifying fields.
fn conversation(capture: &Capture) -> String {
    let mut body = capture.request["body"].clone();
    if let Some(map) = body.as_object_mut() {
        for field in IDENTIFYING_BODY_FIELDS {
            map.remove(*field);
        }
        if let Some(Value::Array(system)) = map.get_mut("system") {
            system.retain(|b| !is_billing_block(b));
        }
    }
    let mut all = Vec::new();
    strings(&body, &mut all);
    all.push(body.to_string());
    all.join("\n")
}

/// Everything the upstream recorded of one request, as text: header values, the raw body and
/// every string inside it.
fn recorded_text(request: &RecordedRequest) -> String {
    let mut parts: Vec<String> = request
        .headers
        .iter()
        .map(|(n, v)| format!("{n}: {v}"))
        .collect();
    parts.push(String::from_utf8_lossy(&request.body).into_owned());
    strings(&request.json(), &mut parts);
    parts.join("\n")
}

/// Whether a value looks like an identifier rather than a word.
fn looks_like_an_id(value: &str) -> bool {
    let digits = value.chars().filter(char::is_ascii_digit).count();
    value.len() >= 20 || digits >= 6
}

#[tokio::test]
async fn no_identifying_value_of_any_captured_request_reaches_the_upstream() {
    let upstream = ScriptedUpstream::start().await.unwrap();
    let team = Team::start(
        &upstream.url(),
        "[audit]\npath = \"{dir}/audit.jsonl\"\ninclude_removed_values = true\n",
        &[],
        ADAPTERS,
    )
    .await;
    let captures = captures();
    let dirs: BTreeSet<String> = captures
        .iter()
        .map(|c| {
            c.file
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert!(
        dirs.len() >= 4 && captures.len() >= 10,
        "expected every capture of the three CLIs, got {captures:?}",
        captures = captures.iter().map(|c| &c.file).collect::<Vec<_>>()
    );

    // Replay each request as the CLI sent it.
    let mut sent = Vec::new();
    for capture in &captures {
        let r = &capture.request;
        let method = reqwest::Method::from_bytes(r["method"].as_str().unwrap().as_bytes()).unwrap();
        let mut rb = http().request(method, team.gateway.url(r["raw_target"].as_str().unwrap()));
        for (name, value) in headers(capture) {
            if !NOT_REPLAYED.contains(&name.as_str()) {
                rb = rb.header(name, value);
            }
        }
        if !r["body"].is_null() {
            rb = rb.body(serde_json::to_vec(&r["body"]).unwrap());
        }
        let resp = rb.send().await.unwrap();
        let status = resp.status();
        let id = resp.headers()["x-cligate-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let body = resp.text().await.unwrap();
        assert!(
            status.is_success(),
            "{} answered {status}: {body}",
            capture.file.display()
        );
        sent.push(id);
    }

    let recorded = upstream.requests();
    let upstream_calls = captures
        .iter()
        .filter(|c| c.request["method"] == "POST")
        .count();
    assert_eq!(recorded.len(), upstream_calls, "one upstream call per POST");
    let recorded: Vec<(usize, String)> = recorded
        .iter()
        .map(|r| (r.index, recorded_text(r)))
        .collect();

    let conversations: Vec<String> = captures.iter().map(conversation).collect();
    let mut checked = BTreeSet::new();
    let mut content = BTreeSet::new();
    for capture in &captures {
        let (values, _) = identifying_values(capture);
        for value in values {
            if conversations.iter().any(|c| c.contains(&value)) {
                content.insert(value);
                continue;
            }
            for (index, text) in &recorded {
                assert!(
                    !text.contains(&value),
                    "`{value}` (from {}) reached the upstream in request {index}:\n{text:.2000}",
                    capture.file.display()
                );
            }
            checked.insert(value);
        }
    }
    for value in &content {
        assert!(
            !looks_like_an_id(value),
            "`{value}` is part of the conversation and looks like an identifier"
        );
    }
    // The distinctive ones are among the checked values.
    for expected in [
        "fbc76d8b-92b9-4a94-8a0a-f32cdeea79f1",
        "5ec3f6e9e793f7a7367fca098b2325675f3e405ed5299ae9e78c77b357b13c23",
        "e1ab2015-ade0-47f4-a7dd-9cb6874fd6e6",
        "0eb0e1f8-a3a5-4c2d-9c65-b91dab7f07bf",
        "sk-ant-dummy",
        "sk-dummy-codex",
        "dummy",
        "claude-cli/2.1.197 (external, sdk-cli)",
        "google-genai-sdk/1.30.0 gl-node/v20.20.2",
    ] {
        assert!(checked.contains(expected), "{expected} was not checked");
    }
    eprintln!(
        "{} identifying values checked against {} upstream requests; {} also in the conversation: {content:?}",
        checked.len(),
        recorded.len(),
        content.len()
    );

    // The audit log got what the upstream did not.
    let lines = team.audit(captures.len()).await;
    for (capture, id) in captures.iter().zip(&sent) {
        let line = line_of(&lines, id);
        assert_eq!(line["user"], "anonymous");
        assert_eq!(line["status"], 200, "{line}");
        if capture.request["method"] != "POST" {
            continue;
        }
        assert!(line["client_software"].is_string(), "{line}");
        let removed: Vec<&str> = line["removed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["value"].as_str().unwrap())
            .collect();
        let (_, must_be_removed) = identifying_values(capture);
        for value in &must_be_removed {
            let found = removed.iter().any(|r| {
                *r == value
                    || matches!(
                        (serde_json::from_str::<Value>(r), serde_json::from_str::<Value>(value)),
                        (Ok(a), Ok(b)) if a == b
                    )
            });
            assert!(
                found,
                "{}: `{value:.120}` is not among the removed values in the audit log: {removed:?}",
                capture.file.display()
            );
        }
        let session = headers(capture)
            .into_iter()
            .find(|(n, _)| n == "x-claude-code-session-id" || n == "session-id")
            .map(|(_, v)| v);
        if let Some(session) = session {
            assert_eq!(line["session_id"], session.as_str(), "{line}");
        }
    }
    let files = [team.path("audit.jsonl").display().to_string()];
    let (ok, out, err) = cligate(&["audit", "verify", &files[0]]);
    assert!(ok, "audit verify: {out}{err}");

    // Nor did the gateway's own log get the client keys.
    let log = team.gateway.log();
    for key in ["sk-ant-dummy", "sk-dummy-codex"] {
        assert!(!log.contains(key), "the gateway log contains {key}");
    }
}
