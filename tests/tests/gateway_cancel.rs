//! A client that goes away cancels the upstream request: the gateway closes its upstream
//! connection promptly instead of reading a stream nobody will see.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use cligate_e2e::fixture::{CLIENT_MODEL, http, misbehave_stack, openai_chat_stack};
use cligate_e2e::sse::EventStream;
use cligate_e2e::upstream::Outcome;
use cligate_e2e::{ChatStream, Reply};
use serde_json::json;

/// How long the gateway may take to notice and drop the upstream (generous).
const NOTICE_WITHIN: Duration = Duration::from_secs(10);

fn long_stream() -> Reply {
    let mut s = ChatStream::new().role();
    for i in 0..600 {
        s = s.content(&format!("piece {i} ")).sleep(100);
    }
    s.finish("stop").done().build()
}

#[tokio::test]
async fn client_disconnect_mid_stream_cancels_the_upstream() {
    let s = openai_chat_stack(&[]).await.unwrap();
    s.upstream.push(long_stream());
    let resp = http()
        .post(s.gateway.url("/v1/chat/completions"))
        .json(&json!({"model": CLIENT_MODEL, "stream": true,
                      "messages": [{"role": "user", "content": "go on forever"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut es = EventStream::new(resp);
    let mut text_events = 0;
    while text_events < 3 {
        let ev = es
            .next_within(Duration::from_secs(30))
            .await
            .unwrap()
            .unwrap();
        if ev
            .json()
            .is_some_and(|v| v["choices"][0]["delta"]["content"].is_string())
        {
            text_events += 1;
        }
    }
    assert_eq!(s.upstream.outcome(0), Some(Outcome::Streaming));
    let dropped = Instant::now();
    drop(es);
    let outcome = s
        .upstream
        .wait_for_outcome(0, NOTICE_WITHIN, |o| o.is_final())
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::ClosedByPeer);
    let took = dropped.elapsed();
    assert!(took < NOTICE_WITHIN, "upstream dropped after {took:?}");
    // The gateway is fine afterwards.
    s.upstream.push(Reply::text("next"));
    let r = http()
        .post(s.gateway.url("/v1/chat/completions"))
        .json(&json!({"model": CLIENT_MODEL, "messages": [{"role": "user", "content": "x"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        s.upstream.request_count(),
        2,
        "no retry of the cancelled call"
    );
}

#[tokio::test]
async fn client_giving_up_before_the_first_byte_cancels_the_upstream() {
    let s = openai_chat_stack(&[]).await.unwrap();
    s.upstream
        .push(Reply::stall(60_000, Reply::text("too late")));
    let impatient = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(1500))
        .build()
        .unwrap();
    let r = impatient
        .post(s.gateway.url("/v1/chat/completions"))
        .json(&json!({"model": CLIENT_MODEL, "messages": [{"role": "user", "content": "x"}]}))
        .send()
        .await;
    assert!(r.is_err(), "the client timed out");
    let outcome = s
        .upstream
        .wait_for_outcome(0, NOTICE_WITHIN, |o| o.is_final())
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::ClosedByPeer);
}

#[tokio::test]
async fn client_disconnect_cancels_through_any_adapter() {
    let s = misbehave_stack(&[]).await.unwrap();
    s.upstream.push(long_stream());
    let resp = http()
        .post(s.gateway.url("/misbehave/ok"))
        .json(&json!({"model": "m", "stream": true, "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut es = EventStream::new(resp);
    es.next_within(Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    drop(es);
    let outcome = s
        .upstream
        .wait_for_outcome(0, NOTICE_WITHIN, |o| o.is_final())
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::ClosedByPeer);
}
