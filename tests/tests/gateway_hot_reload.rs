//! Hot reload with the `misbehave` test adapter, variants a and b (`bash
//! tests/build-test-adapters.sh`): a swap during a stream leaves the stream on the old
//! version and sends the next request to the new one; a corrupt file keeps the old version
//! serving; deleting a file removes its routes; adding one adds them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use cligate_e2e::fixture::{Stack, http, misbehave_stack};
use cligate_e2e::gateway::find_adapter;
use cligate_e2e::paths::{sha256_file, sha256_hex, test_plugin};
use cligate_e2e::sse::{Event, EventStream};
use cligate_e2e::upstream::Outcome;
use cligate_e2e::{ChatStream, Reply};
use serde_json::{Value, json};

const FILE: &str = "misbehave.wasm";

fn ok_body(stream: bool) -> Value {
    json!({"model": "test-model", "stream": stream,
           "messages": [{"role": "user", "content": "hi"}]})
}

/// A whole `ok` request; returns the variant that answered.
async fn variant_of_whole(s: &Stack) -> String {
    s.upstream.push(Reply::text("whole"));
    let resp = http()
        .post(s.gateway.url("/misbehave/ok"))
        .json(&ok_body(false))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["text"], "whole");
    v["variant"].as_str().unwrap().to_owned()
}

/// The variants of the text events and the final `done` event of a stream.
fn variants(events: &[Event]) -> (Vec<String>, Option<String>, String) {
    let mut texts = Vec::new();
    let mut done = None;
    let mut joined = String::new();
    for e in events {
        let v = e.json().unwrap_or(Value::Null);
        if let Some(t) = v["text"].as_str() {
            joined.push_str(t);
            texts.push(v["variant"].as_str().unwrap_or("?").to_owned());
        }
        if v["done"] == true {
            done = Some(v["variant"].as_str().unwrap_or("?").to_owned());
        }
    }
    (texts, done, joined)
}

async fn swap_during_stream(atomic: bool) {
    let s = misbehave_stack(&[("CLIGATE_RELOAD_DEBOUNCE_MS", "100")])
        .await
        .unwrap();
    let b = test_plugin("misbehave-b").unwrap();
    let sha_b = sha256_file(&b).unwrap();
    let pieces: Vec<String> = (0..40).map(|i| format!("p{i} ")).collect();
    let mut stream = ChatStream::new().role();
    for p in &pieces {
        stream = stream.content(p).sleep(250);
    }
    s.upstream
        .push(stream.finish("stop").usage(5, 40).done().build());

    let resp = http()
        .post(s.gateway.url("/misbehave/ok"))
        .json(&ok_body(true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut es = EventStream::new(resp);
    let mut events = vec![
        es.next_within(Duration::from_secs(30))
            .await
            .unwrap()
            .expect("a first event"),
    ];
    assert_eq!(events[0].json().unwrap()["variant"], "a");

    if atomic {
        s.plugins.replace_atomic_from(FILE, &b).unwrap();
    } else {
        s.plugins.copy(FILE, &b).unwrap();
    }
    let entry = s.gateway.wait_for_reload(FILE, &sha_b).await.unwrap();
    assert_eq!(entry["ok"], true, "variant b failed to load: {entry}");
    s.gateway
        .wait_for_adapter("misbehave", |a| a["version"] == "1.0.0-b")
        .await
        .unwrap();
    assert_eq!(
        s.upstream.outcome(0),
        Some(Outcome::Streaming),
        "the upstream stream was still in flight when b became active"
    );

    // The rest of the in-flight stream.
    while let Some(ev) = es.next_within(Duration::from_secs(30)).await.unwrap() {
        events.push(ev);
    }
    let (texts, done, joined) = variants(&events);
    assert_eq!(joined, pieces.concat(), "the stream is complete");
    assert!(
        texts.iter().all(|v| v == "a"),
        "every event of the in-flight stream comes from the old version: {texts:?}"
    );
    assert_eq!(
        done.as_deref(),
        Some("a"),
        "the stream ends normally on the old version"
    );

    // The next request runs on the new version.
    assert_eq!(variant_of_whole(&s).await, "b");
    s.upstream.push(Reply::text_stream("after", 2));
    let resp = http()
        .post(s.gateway.url("/misbehave/ok"))
        .json(&ok_body(true))
        .send()
        .await
        .unwrap();
    let (events, err) = EventStream::new(resp)
        .collect(Duration::from_secs(30))
        .await;
    assert!(err.is_none(), "{err:?}");
    let (texts, done, joined) = variants(&events);
    assert_eq!(joined, "after");
    assert!(texts.iter().all(|v| v == "b"));
    assert_eq!(done.as_deref(), Some("b"));

    let admin = s.gateway.admin_adapters().await.unwrap();
    let a = find_adapter(&admin, "misbehave").unwrap();
    assert_eq!(a["sha256"], sha_b);
    assert_eq!(a["contract"], "0.1.0");
}

#[tokio::test]
async fn atomic_swap_during_a_stream_keeps_the_stream_on_the_old_version() {
    swap_during_stream(true).await;
}

#[tokio::test]
async fn copy_over_during_a_stream_keeps_the_stream_on_the_old_version() {
    swap_during_stream(false).await;
}

#[tokio::test]
async fn a_corrupt_file_keeps_the_old_version_serving() {
    let s = misbehave_stack(&[("CLIGATE_RELOAD_DEBOUNCE_MS", "100")])
        .await
        .unwrap();
    let a = test_plugin("misbehave-a").unwrap();
    let sha_a = sha256_file(&a).unwrap();
    let b_bytes = std::fs::read(test_plugin("misbehave-b").unwrap()).unwrap();

    let corruptions: Vec<(&str, Vec<u8>, bool)> = vec![
        (
            "not wasm at all",
            b"this is not a wasm component\n".to_vec(),
            true,
        ),
        (
            "truncated component",
            b_bytes[..b_bytes.len() / 2].to_vec(),
            false,
        ),
        (
            "wasm magic, garbage after",
            [b"\0asm\x0d\x00\x01\x00".as_slice(), &[0xff; 64]].concat(),
            true,
        ),
    ];
    for (what, bytes, atomic) in corruptions {
        let sha = sha256_hex(&bytes);
        if atomic {
            s.plugins.replace_atomic(FILE, &bytes).unwrap();
        } else {
            s.plugins.write(FILE, &bytes).unwrap();
        }
        let entry = s.gateway.wait_for_reload(FILE, &sha).await.unwrap();
        assert_eq!(entry["ok"], false, "{what} loaded?! {entry}");
        assert!(
            entry["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{what}: the failed reload names a reason: {entry}"
        );
        let admin = s.gateway.admin_adapters().await.unwrap();
        let loaded = find_adapter(&admin, "misbehave").expect("old version still listed");
        assert_eq!(loaded["sha256"], sha_a, "{what}");
        assert_eq!(loaded["version"], "1.0.0-a");
        assert_eq!(
            variant_of_whole(&s).await,
            "a",
            "{what}: old version serves"
        );
    }
    // A good file after the bad ones loads.
    let b = test_plugin("misbehave-b").unwrap();
    s.plugins.replace_atomic_from(FILE, &b).unwrap();
    s.gateway
        .wait_for_adapter("misbehave", |a| a["version"] == "1.0.0-b")
        .await
        .unwrap();
    assert_eq!(variant_of_whole(&s).await, "b");
}

#[tokio::test]
async fn deleting_a_file_removes_its_routes_and_adding_one_restores_them() {
    let s = misbehave_stack(&[("CLIGATE_RELOAD_DEBOUNCE_MS", "100")])
        .await
        .unwrap();
    let ready = http().get(s.gateway.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(variant_of_whole(&s).await, "a");

    s.plugins.remove(FILE).unwrap();
    s.gateway.wait_for_adapter_gone("misbehave").await.unwrap();
    let resp = http()
        .post(s.gateway.url("/misbehave/ok"))
        .json(&ok_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404, "{}", resp.text().await.unwrap());
    let info = http()
        .get(s.gateway.url("/misbehave/info"))
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 404);
    let ready = http().get(s.gateway.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503, "no adapter loaded → not ready");
    let health = http().get(s.gateway.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    // A new file under another name brings the routes back.
    let b = test_plugin("misbehave-b").unwrap();
    s.plugins.copy("renamed-misbehave.wasm", &b).unwrap();
    s.gateway
        .wait_for_adapter("misbehave", |a| a["version"] == "1.0.0-b")
        .await
        .unwrap();
    assert_eq!(variant_of_whole(&s).await, "b");
    let info: Value = http()
        .get(s.gateway.url("/misbehave/info"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["version"], "1.0.0-b");
    let ready = http().get(s.gateway.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
}

#[tokio::test]
async fn admin_lists_the_loaded_adapter_and_its_routes() {
    let s = misbehave_stack(&[]).await.unwrap();
    let admin = s.gateway.admin_adapters().await.unwrap();
    let a = find_adapter(&admin, "misbehave").unwrap();
    let sha_a = sha256_file(&test_plugin("misbehave-a").unwrap()).unwrap();
    assert_eq!(a["sha256"], sha_a);
    assert_eq!(a["dialect"], "misbehave-test");
    assert_eq!(a["contract"], "0.1.0");
    assert!(
        a["file"].as_str().unwrap().ends_with(FILE),
        "file: {}",
        a["file"]
    );
    let routes = a["routes"].as_array().unwrap();
    let has = |method: &str, path: &str, action: &str| {
        routes
            .iter()
            .any(|r| r["method"] == method && r["path"] == path && r["action"] == action)
    };
    assert!(has("POST", "/misbehave/{mode}", "translate"), "{routes:#?}");
    assert!(has("GET", "/misbehave/info", "local"), "{routes:#?}");
    let reloads = admin["reloads"].as_array().unwrap();
    assert!(
        reloads
            .iter()
            .any(|r| r["ok"] == true && r["sha256"] == sha_a),
        "{admin:#}"
    );
}
