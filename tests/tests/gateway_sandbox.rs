//! The sandbox, with the `misbehave` test adapter: an adapter that loops, allocates without
//! bound or traps fails only its own request, cleanly (502 in its dialect, naming the
//! adapter) within its deadline, and the gateway keeps serving others meanwhile.
//!
//! Deadlines here are generous upper bounds for "fails cleanly", never performance checks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use cligate_e2e::fixture::{Stack, http, misbehave_stack};
use cligate_e2e::gateway::find_adapter;
use cligate_e2e::sse::EventStream;
use serde_json::{Value, json};

const DEADLINE_MS: u64 = 1000;
/// Upper bound for a misbehaving request to fail: its deadline plus slack for a loaded machine.
const FAIL_WITHIN: Duration = Duration::from_millis(DEADLINE_MS + 5000);

async fn sandboxed() -> Stack {
    misbehave_stack(&[
        ("CLIGATE_ADAPTER_DEADLINE_MS", &DEADLINE_MS.to_string()),
        ("CLIGATE_ADAPTER_MEMORY_MB", "64"),
    ])
    .await
    .unwrap()
}

fn ok_body(stream: bool) -> Value {
    json!({"model": "test-model", "stream": stream,
           "messages": [{"role": "user", "content": "hi"}]})
}

/// POST /misbehave/{mode}; returns status, body and how long it took.
async fn misbehave(s: &Stack, mode: &str) -> (u16, String, Duration) {
    let started = Instant::now();
    let resp = http()
        .post(s.gateway.url(&format!("/misbehave/{mode}")))
        .json(&ok_body(false))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap();
    (status, body, started.elapsed())
}

fn assert_adapter_broken(mode: &str, status: u16, body: &str, took: Duration) {
    assert_eq!(status, 502, "{mode}: {body}");
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{mode}: {e}: {body}"));
    assert_eq!(v["error"]["kind"], "adapter-broken", "{mode}: {body}");
    let msg = v["error"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("misbehave"),
        "{mode}: the message names the adapter: {body}"
    );
    assert!(took <= FAIL_WITHIN, "{mode}: failed after {took:?}");
}

/// A normal request works (whole answer from the default upstream reply).
async fn ok_works(s: &Stack) {
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
    assert_eq!(v["variant"], "a");
}

async fn each_fails_cleanly_while_others_are_served(mode: &str) {
    let mut s = sandboxed().await;
    let bad = misbehave(&s, mode);
    let others = async {
        // Give the bad request a head start so it is inside the adapter.
        tokio::time::sleep(Duration::from_millis(100)).await;
        for _ in 0..3 {
            ok_works(&s).await;
        }
    };
    let ((status, body, took), ()) = tokio::join!(bad, others);
    assert_adapter_broken(mode, status, &body, took);
    // Again, to show the adapter is not left broken for later requests.
    let (status, body, took) = misbehave(&s, mode).await;
    assert_adapter_broken(mode, status, &body, took);
    ok_works(&s).await;
    assert!(s.gateway.is_running(), "the gateway survived");
    let admin = s.gateway.admin_adapters().await.unwrap();
    assert!(
        find_adapter(&admin, "misbehave").is_some(),
        "still loaded: {admin}"
    );
}

#[tokio::test]
async fn an_infinite_loop_is_cut_off() {
    each_fails_cleanly_while_others_are_served("loop").await;
}

#[tokio::test]
async fn unbounded_allocation_is_cut_off() {
    each_fails_cleanly_while_others_are_served("alloc").await;
}

#[tokio::test]
async fn a_trap_fails_only_its_request() {
    each_fails_cleanly_while_others_are_served("trap").await;
}

#[tokio::test]
async fn several_loops_at_once_still_fail_within_the_deadline() {
    let s = sandboxed().await;
    let loops = futures::future::join_all((0..4).map(|_| misbehave(&s, "loop")));
    let others = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        ok_works(&s).await;
    };
    let (results, ()) = tokio::join!(loops, others);
    for (status, body, took) in results {
        assert_adapter_broken("loop ×4", status, &body, took);
    }
    ok_works(&s).await;
}

/// A stream whose translator loops or traps ends with an error, not a normal ending and not
/// a hang.
async fn stream_failure(mode: &str) {
    let s = sandboxed().await;
    let started = Instant::now();
    let resp = http()
        .post(s.gateway.url(&format!("/misbehave/{mode}")))
        .json(&ok_body(true))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    if status == 200 {
        let (events, _err) = EventStream::new(resp).collect(FAIL_WITHIN).await;
        let took = started.elapsed();
        assert!(took <= FAIL_WITHIN, "{mode}: ended after {took:?}");
        let jsons: Vec<Value> = events.iter().filter_map(|e| e.json()).collect();
        assert!(
            !jsons.iter().any(|v| v["done"] == true),
            "{mode}: a normal ending after a broken translator: {events:?}"
        );
        let err = jsons
            .iter()
            .find(|v| v.get("error").is_some())
            .unwrap_or_else(|| panic!("{mode}: no error event: {events:?}"));
        assert_eq!(err["error"]["kind"], "adapter-broken", "{mode}: {err}");
    } else {
        let body = resp.text().await.unwrap();
        assert_adapter_broken(mode, status, &body, started.elapsed());
    }
    ok_works(&s).await;
}

#[tokio::test]
async fn a_looping_stream_translator_is_cut_off() {
    stream_failure("stream-loop").await;
}

#[tokio::test]
async fn a_trapping_stream_translator_fails_the_stream() {
    stream_failure("stream-trap").await;
}

#[tokio::test]
async fn an_unknown_mode_is_the_adapters_own_400() {
    let s = sandboxed().await;
    let (status, body, _) = misbehave(&s, "nonsense").await;
    assert_eq!(status, 400, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["kind"], "invalid-request");
    assert!(v["error"]["message"].as_str().unwrap().contains("nonsense"));
    assert_eq!(s.upstream.request_count(), 0);
}
