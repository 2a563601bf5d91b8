//! Bad input and failing upstreams, through the `openai-chat` adapter: each gets the right
//! status and an OpenAI-shaped error body, and the gateway keeps serving.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use cligate_e2e::chat::ChatSummary;
use cligate_e2e::fixture::{CLIENT_MODEL, Stack, assert_openai_error, http, openai_chat_stack};
use cligate_e2e::paths::dist_plugin;
use cligate_e2e::sse::EventStream;
use cligate_e2e::upstream::Outcome;
use cligate_e2e::{ChatStream, Gateway, GatewayOptions, PluginsDir, Reply};
use serde_json::{Value, json};

fn chat(stream: bool) -> Value {
    json!({"model": CLIENT_MODEL, "stream": stream,
           "messages": [{"role": "user", "content": "hi"}]})
}

async fn send(s: &Stack, method: reqwest::Method, path: &str, body: Vec<u8>) -> (u16, String) {
    let resp = http()
        .request(method, s.gateway.url(path))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

async fn post_chat(s: &Stack, body: &Value) -> (u16, String) {
    send(
        s,
        reqwest::Method::POST,
        "/v1/chat/completions",
        body.to_string().into_bytes(),
    )
    .await
}

/// The gateway still answers a normal request afterwards.
async fn still_serving(s: &mut Stack) {
    assert!(s.gateway.is_running(), "the gateway process died");
    s.upstream.push(Reply::text("still here"));
    let (status, body) = post_chat(s, &chat(false)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("still here"));
}

#[tokio::test]
async fn malformed_json_is_400() {
    let mut s = openai_chat_stack(&[]).await.unwrap();
    for bad in [
        &b"{\"model\": \"gpt-4o-mini\", \"messages\": [ "[..],
        b"not json at all",
        b"",
    ] {
        let (status, body) = send(
            &s,
            reqwest::Method::POST,
            "/v1/chat/completions",
            bad.to_vec(),
        )
        .await;
        assert_eq!(
            status,
            400,
            "for {:?}: {body}",
            String::from_utf8_lossy(bad)
        );
        let err = assert_openai_error(&body);
        assert_eq!(err["type"], "invalid_request_error", "{body}");
    }
    // Well-formed JSON without what a chat request requires.
    for incomplete in [
        json!({"messages": [{"role": "user", "content": "no model"}]}),
        json!({"model": CLIENT_MODEL}),
        json!([1, 2, 3]),
    ] {
        let (status, body) = post_chat(&s, &incomplete).await;
        assert_eq!(status, 400, "for {incomplete}: {body}");
        assert_openai_error(&body);
    }
    assert_eq!(
        s.upstream.request_count(),
        0,
        "nothing reached the upstream"
    );
    still_serving(&mut s).await;
}

#[tokio::test]
async fn unknown_route_is_404_and_wrong_method_is_405() {
    let mut s = openai_chat_stack(&[]).await.unwrap();
    let (status, body) = send(
        &s,
        reqwest::Method::POST,
        "/v1/no-such-endpoint",
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_openai_error(&body);
    let (status, body) = send(&s, reqwest::Method::GET, "/v1/chat/completions", Vec::new()).await;
    assert_eq!(status, 405, "{body}");
    assert_openai_error(&body);
    let (status, body) = send(&s, reqwest::Method::DELETE, "/v1/models", Vec::new()).await;
    assert_eq!(status, 405, "{body}");
    assert_openai_error(&body);
    assert_eq!(s.upstream.request_count(), 0);
    still_serving(&mut s).await;
}

#[tokio::test]
async fn oversized_body_is_413() {
    let mut s = openai_chat_stack(&[("CLIGATE_MAX_BODY_BYTES", "65536")])
        .await
        .unwrap();
    let big = "x".repeat(200 * 1024);
    let body = json!({"model": CLIENT_MODEL, "messages": [{"role": "user", "content": big}]});
    let (status, text) = post_chat(&s, &body).await;
    assert_eq!(status, 413, "{}", &text[..text.len().min(500)]);
    assert_openai_error(&text);
    assert_eq!(s.upstream.request_count(), 0);
    // Just under the cap still works.
    let fits = json!({"model": CLIENT_MODEL, "messages": [{"role": "user", "content": "x".repeat(60 * 1024)}]});
    s.upstream.push(Reply::text("fits"));
    let (status, text) = post_chat(&s, &fits).await;
    assert_eq!(status, 200, "{text}");
    still_serving(&mut s).await;
}

#[tokio::test]
async fn upstream_unreachable_is_502() {
    // A port that was just free: nothing listens there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let plugins = PluginsDir::with(&[(
        "openai-chat.wasm",
        dist_plugin("openai-chat").unwrap().as_path(),
    )])
    .unwrap();
    let gw = Gateway::start(GatewayOptions::new(
        plugins.path(),
        &format!("http://127.0.0.1:{port}/v1"),
    ))
    .await
    .unwrap();
    gw.wait_for_adapter("openai-chat", |_| true).await.unwrap();
    for stream in [false, true] {
        let started = Instant::now();
        let resp = http()
            .post(gw.url("/v1/chat/completions"))
            .json(&chat(stream))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        assert_eq!(status, 502, "stream={stream}: {text}");
        assert_openai_error(&text);
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "took {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn upstream_5xx_maps_to_a_gateway_error() {
    let mut s = openai_chat_stack(&[]).await.unwrap();
    // Each error queued several times, so a gateway that retries still sees only errors
    // (the default success reply would hide them).
    for (reply, stream, allowed) in [
        (Reply::server_error(), false, [500, 502]),
        (Reply::server_error(), true, [500, 502]),
        (Reply::overloaded(), false, [502, 503]),
        (Reply::overloaded(), true, [502, 503]),
    ] {
        s.upstream.clear_queue();
        s.upstream.push_all(std::iter::repeat_n(reply.clone(), 5));
        let (status, body) = post_chat(&s, &chat(stream)).await;
        assert!(
            allowed.contains(&status),
            "upstream {reply:?} (stream={stream}) → {status}: {body}"
        );
        assert_openai_error(&body);
        assert_eq!(s.upstream.defaults_used(), 0);
    }
    s.upstream.clear_queue();
    still_serving(&mut s).await;
}

#[tokio::test]
async fn upstream_429_is_429_with_retry_after() {
    let mut s = openai_chat_stack(&[]).await.unwrap();
    s.upstream.push(Reply::rate_limited(7));
    let resp = http()
        .post(s.gateway.url("/v1/chat/completions"))
        .json(&chat(false))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = resp.text().await.unwrap();
    assert_eq!(status, 429, "{body}");
    assert_openai_error(&body);
    assert_eq!(
        retry_after.as_deref(),
        Some("7"),
        "the upstream's Retry-After reaches the client"
    );
    assert_eq!(s.upstream.defaults_used(), 0, "a 429 is not retried here");
    still_serving(&mut s).await;
}

#[tokio::test]
async fn upstream_first_byte_timeout_is_504_and_the_upstream_call_is_dropped() {
    let mut s = openai_chat_stack(&[("CLIGATE_UPSTREAM_FIRST_BYTE_TIMEOUT_MS", "1000")])
        .await
        .unwrap();
    s.upstream.push_all(std::iter::repeat_n(
        Reply::stall(30_000, Reply::text("too late")),
        3,
    ));
    let started = Instant::now();
    let (status, body) = post_chat(&s, &chat(false)).await;
    let took = started.elapsed();
    assert_eq!(status, 504, "{body}");
    assert_openai_error(&body);
    assert!(
        took < Duration::from_secs(1 + 5),
        "timeout answered after {took:?}"
    );
    s.upstream
        .wait_for_outcome(0, Duration::from_secs(10), |o| o == Outcome::ClosedByPeer)
        .await
        .unwrap();
    // Streamed request: same.
    let started = Instant::now();
    let (status, body) = post_chat(&s, &chat(true)).await;
    assert_eq!(status, 504, "{body}");
    assert_openai_error(&body);
    assert!(started.elapsed() < Duration::from_secs(6));
    s.upstream.clear_queue();
    still_serving(&mut s).await;
}

#[tokio::test]
async fn upstream_idle_timeout_mid_stream_ends_with_an_error_event() {
    let mut s = openai_chat_stack(&[("CLIGATE_UPSTREAM_IDLE_TIMEOUT_MS", "1000")])
        .await
        .unwrap();
    s.upstream.push(
        ChatStream::new()
            .role()
            .content("started, then silence")
            .sleep(30_000)
            .content("never")
            .finish("stop")
            .done()
            .build(),
    );
    let started = Instant::now();
    let resp = http()
        .post(s.gateway.url("/v1/chat/completions"))
        .json(&chat(true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (events, _err) = EventStream::new(resp)
        .collect(Duration::from_secs(20))
        .await;
    let took = started.elapsed();
    let sum = ChatSummary::from_events(&events);
    assert_eq!(sum.text, "started, then silence");
    assert!(!sum.errors.is_empty(), "an error event: {events:?}");
    assert!(took < Duration::from_secs(1 + 5), "ended after {took:?}");
    s.upstream
        .wait_for_outcome(0, Duration::from_secs(10), |o| o == Outcome::ClosedByPeer)
        .await
        .unwrap();
    still_serving(&mut s).await;
}

#[tokio::test]
async fn upstream_garbage_is_502() {
    let mut s = openai_chat_stack(&[]).await.unwrap();
    s.upstream
        .push_all(std::iter::repeat_n(Reply::garbage(), 3));
    let (status, body) = post_chat(&s, &chat(false)).await;
    assert_eq!(status, 502, "{body}");
    assert_openai_error(&body);
    // Garbage where a stream was expected: an error either before the stream (502) or as
    // the stream's error event — never a clean, empty answer.
    let resp = http()
        .post(s.gateway.url("/v1/chat/completions"))
        .json(&chat(true))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    if status == 200 {
        let (events, _) = EventStream::new(resp)
            .collect(Duration::from_secs(20))
            .await;
        let sum = ChatSummary::from_events(&events);
        assert!(
            !sum.errors.is_empty(),
            "garbage answered as a clean stream: {events:?}"
        );
    } else {
        assert_eq!(status, 502);
        assert_openai_error(&resp.text().await.unwrap());
    }
    s.upstream.clear_queue();
    still_serving(&mut s).await;
}
