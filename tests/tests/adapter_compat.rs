//! The contract's compatibility promise, kept by committed binaries:
//!
//! - `tests/fixtures/compat/adapter-v0_1_0.wasm`, built against the frozen `wit/adapter@0.1.0`
//!   (source: `tests/adapters/compat-v0_1_0`), loads and serves through the real gateway —
//!   translate, stream, errors, local route — and replays its fixtures. A future host that adds
//!   contract 0.2.0 must keep passing this unchanged.
//! - `tests/fixtures/compat/adapter-v9_9_9.wasm`, built against a copy of the contract
//!   renumbered 9.9.9 (`tests/adapters/compat-future`), is refused by `cligate check`, by hot
//!   reload and by `cligate adapter test`, with a message naming both versions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/kit.rs"]
mod kit;

use std::path::PathBuf;
use std::time::Duration;

use cligate::adapter_host::wit::SUPPORTED_CONTRACTS;
use cligate_e2e::fixture::{Stack, backend_model, http, stack};
use cligate_e2e::gateway::find_adapter;
use cligate_e2e::paths::{sha256_file, workspace_root};
use cligate_e2e::sse::EventStream;
use cligate_e2e::upstream::DEFAULT_ANSWER;
use cligate_e2e::{ChatStream, Reply};
use kit::cligate;
use serde_json::{Value, json};

/// SHA-256 of the committed 0.1.0 component. It is frozen: this test exists to prove that the
/// very bytes built against 0.1.0 keep working. Change it only together with a deliberate,
/// reviewed rebuild (`tests/adapters/build-compat.sh`).
const V0_1_0_SHA256: &str = "c6c0a73c488e514d267285312642931e59925790ad6cdd260ed4cf5ffb23d85c";

fn compat(file: &str) -> PathBuf {
    workspace_root().join("tests/fixtures/compat").join(file)
}

async fn v0_1_0_stack() -> Stack {
    let s = stack(
        &[("compat-v0_1_0.wasm", compat("adapter-v0_1_0.wasm"))],
        &[("CLIGATE_RELOAD_DEBOUNCE_MS", "100")],
    )
    .await
    .unwrap();
    s.gateway
        .wait_for_adapter("compat-v0_1_0", |_| true)
        .await
        .unwrap();
    s
}

/// The message the loader gives for a contract it does not support.
fn refusal() -> String {
    format!(
        "adapter targets cligate:adapter@9.9.9; this host supports {}",
        SUPPORTED_CONTRACTS.join(", ")
    )
}

#[test]
fn the_committed_v0_1_0_component_is_the_frozen_one() {
    assert_eq!(
        sha256_file(&compat("adapter-v0_1_0.wasm")).unwrap(),
        V0_1_0_SHA256,
        "tests/fixtures/compat/adapter-v0_1_0.wasm changed; it must stay the 0.1.0 build"
    );
    assert!(SUPPORTED_CONTRACTS.contains(&"0.1.0"));
}

#[tokio::test]
async fn a_v0_1_0_adapter_translates_streams_and_renders_errors_through_the_gateway() {
    let s = v0_1_0_stack().await;
    let admin = s.gateway.admin_adapters().await.unwrap();
    let entry = find_adapter(&admin, "compat-v0_1_0").unwrap();
    assert_eq!(entry["contract"], "0.1.0");
    assert_eq!(entry["sha256"], V0_1_0_SHA256);

    // Whole answer: translate-request, the upstream call, translate-response, a warning.
    let resp = http()
        .post(s.gateway.url("/compat/v1/echo"))
        .json(&json!({"model": "compat-model", "input": "hello there"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()
            .get("x-cligate-warning")
            .and_then(|v| v.to_str().ok()),
        Some("compat: example warning")
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"output": DEFAULT_ANSWER, "model": "compat-model", "contract": "0.1.0"})
    );
    let sent = s.upstream.chat_requests().pop().unwrap().json();
    assert_eq!(sent["messages"][0]["content"], "hello there");
    assert_eq!(sent["model"], backend_model());

    // Stream: push per event, then finish.
    let resp = http()
        .post(s.gateway.url("/compat/v1/echo"))
        .json(&json!({"model": "compat-model", "input": "hi", "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (events, err) = EventStream::new(resp)
        .collect(Duration::from_secs(30))
        .await;
    assert!(err.is_none(), "{err:?}");
    let text: String = events
        .iter()
        .filter_map(|e| e.json()?["delta"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(text, DEFAULT_ANSWER);
    assert_eq!(
        events.last().and_then(|e| e.json()),
        Some(json!({"end": true, "finish_reason": "stop"}))
    );

    // A stream the upstream breaks off: fail renders the dialect's error event.
    s.upstream
        .push(ChatStream::new().role().content("Part").close().build());
    let resp = http()
        .post(s.gateway.url("/compat/v1/echo"))
        .json(&json!({"model": "compat-model", "input": "hi", "stream": true}))
        .send()
        .await
        .unwrap();
    let (events, _) = EventStream::new(resp)
        .collect(Duration::from_secs(30))
        .await;
    let last = events.last().unwrap();
    assert_eq!(last.event.as_deref(), Some("error"), "{events:?}");
    assert_eq!(last.json().unwrap()["error"]["kind"], "upstream");

    // An adapter error (invalid request) and an upstream error, rendered by translate-error.
    let resp = http()
        .post(s.gateway.url("/compat/v1/echo"))
        .json(&json!({"model": "compat-model"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": {"kind": "invalid-request", "message": "compat: `input` is required"}})
    );
    s.upstream.push(Reply::rate_limited(7));
    let resp = http()
        .post(s.gateway.url("/compat/v1/echo"))
        .json(&json!({"model": "compat-model", "input": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(
        resp.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("7")
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["kind"], "rate-limited");

    // The local route.
    let info: Value = http()
        .get(s.gateway.url("/compat/v1/info"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["contract"], "0.1.0");
    assert!(
        info["models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == backend_model()),
        "{info}"
    );
}

#[test]
fn the_v0_1_0_adapter_replays_its_fixtures() {
    let run = cligate(
        &[
            "adapter",
            "test",
            compat("adapter-v0_1_0.wasm").to_str().unwrap(),
            workspace_root()
                .join("tests/adapters/compat-v0_1_0/fixtures")
                .to_str()
                .unwrap(),
        ],
        &[],
    );
    assert!(run.ok, "{}", run.all());
    assert!(run.stdout.contains("6 passed, 0 failed"), "{}", run.all());
}

#[test]
fn check_refuses_an_unsupported_contract_naming_both_versions() {
    let plugins = tempfile::tempdir().unwrap();
    std::fs::copy(
        compat("adapter-v9_9_9.wasm"),
        plugins.path().join("future.wasm"),
    )
    .unwrap();
    let run = cligate(
        &["check"],
        &[("CLIGATE_PLUGINS_DIR", plugins.path().to_str().unwrap())],
    );
    assert!(!run.ok, "{}", run.all());
    assert!(
        run.stdout.contains(&format!(
            "FAIL  {}: {}",
            plugins.path().join("future.wasm").display(),
            refusal()
        )),
        "{}",
        run.all()
    );

    let replay = cligate(
        &[
            "adapter",
            "test",
            compat("adapter-v9_9_9.wasm").to_str().unwrap(),
            workspace_root()
                .join("tests/adapters/compat-v0_1_0/fixtures")
                .to_str()
                .unwrap(),
        ],
        &[],
    );
    assert_eq!(replay.code, Some(1), "{}", replay.all());
    assert!(replay.stderr.contains(&refusal()), "{}", replay.all());
}

#[tokio::test]
async fn hot_reload_refuses_an_unsupported_contract_and_keeps_serving() {
    let s = v0_1_0_stack().await;
    let future = compat("adapter-v9_9_9.wasm");
    let sha = sha256_file(&future).unwrap();
    s.plugins
        .replace_atomic_from("compat-future.wasm", &future)
        .unwrap();
    let entry = s
        .gateway
        .wait_for_reload("compat-future.wasm", &sha)
        .await
        .unwrap();
    assert_eq!(entry["ok"], false, "{entry}");
    assert_eq!(entry["error"], refusal(), "{entry}");
    assert!(
        s.gateway.log().contains(&refusal()),
        "the refusal is logged:\n{}",
        s.gateway.log()
    );
    // Nothing of it is served; the 0.1.0 adapter still is.
    let admin = s.gateway.admin_adapters().await.unwrap();
    assert!(find_adapter(&admin, "compat-future").is_none());
    let resp = http()
        .post(s.gateway.url("/future/v1/echo"))
        .json(&json!({"model": "m", "input": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let resp = http()
        .post(s.gateway.url("/compat/v1/echo"))
        .json(&json!({"model": "m", "input": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}
