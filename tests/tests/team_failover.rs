//! Failover and passive health through the real gateway: a connect error, a 503 and a 429 on
//! the first target are retried on the next before the client has seen a byte (whole and
//! streamed answers); `Retry-After` keeps an upstream out for that long; a failing upstream is
//! ejected, gets no traffic for `eject_ms`, then is tried again and recovers; a 4xx is not
//! retried.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "team_support/support.rs"]
mod support;

use std::time::Duration;

use cligate_e2e::fixture::http;
use cligate_e2e::{Reply, ScriptedUpstream};
use support::{Team, call, closed_port, dialect_calls, metric};

/// Two upstreams `first` (weight 1) and `second` (weight 0: failover only) behind model
/// `m`, plus a rule `solo` on `first` alone.
fn config(first: &str, second: &str, failover: &str) -> String {
    format!(
        r#"
[upstreams.first]
url = "{first}"
[upstreams.second]
url = "{second}"

[[models]]
match = "m"
targets = [
    {{ upstream = "first", model = "on-first", weight = 1 }},
    {{ upstream = "second", model = "on-second", weight = 0 }},
]

[[models]]
match = "solo"
upstream = "first"
backend_model = "on-first"

[failover]
{failover}

[audit]
path = "{{dir}}/audit.jsonl"
"#
    )
}

async fn chat(team: &Team, model: &str, stream: bool) -> (u16, String, String) {
    let c = &dialect_calls("", stream)[0];
    call(&team.gateway, c, model, &[]).await
}

#[tokio::test]
async fn a_connect_error_fails_over_to_the_next_target() {
    let second = ScriptedUpstream::start().await.unwrap();
    let dead = format!("http://127.0.0.1:{}/v1", closed_port());
    let team = Team::start(
        &second.url(),
        &config(&dead, &second.url(), "eject_after_failures = 5"),
        &[],
        &["openai-chat"],
    )
    .await;
    for stream in [false, true] {
        let (status, body, id) = chat(&team, "m", stream).await;
        assert_eq!(status, 200, "{body}");
        let line = team.audit_line(&id).await;
        assert_eq!(line["upstream"], "second", "{line}");
        assert_eq!(line["backend_model"], "on-second");
        let attempts = line["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 2, "{line}");
        assert_eq!(attempts[0]["upstream"], "first");
        assert_eq!(attempts[0]["outcome"], "connect_error");
        assert_eq!(attempts[1]["outcome"], "ok");
    }
    assert_eq!(second.request_count(), 2);
    assert_eq!(second.requests()[0].json()["model"], "on-second");
    let text = team.metrics().await;
    assert_eq!(
        metric(
            &text,
            "cligate_failovers_total",
            &[("upstream", "first"), ("reason", "connect_error")]
        ),
        2.0,
        "{text}"
    );
}

#[tokio::test]
async fn a_503_fails_over_and_a_400_does_not() {
    let first = ScriptedUpstream::start().await.unwrap();
    let second = ScriptedUpstream::start().await.unwrap();
    let team = Team::start(
        &second.url(),
        &config(&first.url(), &second.url(), "eject_after_failures = 5"),
        &[],
        &["openai-chat", "anthropic-messages"],
    )
    .await;
    first.push(Reply::overloaded());
    let (status, body, _) = chat(&team, "m", false).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((first.request_count(), second.request_count()), (1, 1));

    // Streamed, in another dialect: the 503 comes before the stream begins.
    first.push(Reply::server_error());
    let anthropic = &dialect_calls("", true)[1];
    let (status, body, _) = call(&team.gateway, anthropic, "m", &[]).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("message_stop"), "{body}");
    assert_eq!((first.request_count(), second.request_count()), (2, 2));

    // A 400 is about the request: the same on any backend, not retried.
    first.push(Reply::status(400, "bad request from the backend"));
    let (status, body, _) = chat(&team, "m", false).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("bad request from the backend"), "{body}");
    assert_eq!((first.request_count(), second.request_count()), (3, 2));
}

#[tokio::test]
async fn a_429_fails_over_and_its_retry_after_is_respected() {
    let first = ScriptedUpstream::start().await.unwrap();
    let second = ScriptedUpstream::start().await.unwrap();
    let team = Team::start(
        &second.url(),
        &config(&first.url(), &second.url(), ""),
        &[],
        &["openai-chat"],
    )
    .await;
    first.push(Reply::rate_limited(2));
    let (status, body, _) = chat(&team, "m", false).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((first.request_count(), second.request_count()), (1, 1));

    // Within Retry-After: `first` is skipped while another target can answer.
    let (status, _, _) = chat(&team, "m", false).await;
    assert_eq!(status, 200);
    assert_eq!((first.request_count(), second.request_count()), (1, 2));
    let text = team.metrics().await;
    assert_eq!(
        metric(&text, "cligate_upstream_up", &[("upstream", "first")]),
        0.0
    );

    // After it: back in the rotation.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, _, _) = chat(&team, "m", false).await;
    assert_eq!(status, 200);
    assert_eq!((first.request_count(), second.request_count()), (2, 2));
    let text = team.metrics().await;
    assert_eq!(
        metric(&text, "cligate_upstream_up", &[("upstream", "first")]),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            "cligate_upstream_requests_total",
            &[("upstream", "first"), ("outcome", "status_429")]
        ),
        1.0
    );

    // A route with no other target: the client gets the 429 and its Retry-After; the next
    // request is still sent (a rate-limited upstream is only skipped in favour of another).
    first.push(Reply::rate_limited(30));
    let solo = || {
        http()
            .post(team.gateway.url("/v1/chat/completions"))
            .header("content-type", "application/json")
            .body(r#"{"model":"solo","messages":[{"role":"user","content":"hi"}]}"#)
            .send()
    };
    let resp = solo().await.unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "30");
    let resp = solo().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!((first.request_count(), second.request_count()), (4, 2));
}

#[tokio::test]
async fn a_failing_upstream_is_ejected_then_tried_again_and_recovers() {
    let first = ScriptedUpstream::start().await.unwrap();
    let second = ScriptedUpstream::start().await.unwrap();
    let team = Team::start(
        &second.url(),
        &config(
            &first.url(),
            &second.url(),
            "eject_after_failures = 2\neject_ms = 1500",
        ),
        &[],
        &["openai-chat"],
    )
    .await;
    // Two consecutive failures eject `first`.
    first.push_all([Reply::overloaded(), Reply::server_error()]);
    for _ in 0..2 {
        let (status, body, _) = chat(&team, "m", false).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!((first.request_count(), second.request_count()), (2, 2));
    let text = team.metrics().await;
    assert_eq!(
        metric(&text, "cligate_upstream_up", &[("upstream", "first")]),
        0.0
    );
    assert_eq!(
        metric(
            &text,
            "cligate_upstream_ejections_total",
            &[("upstream", "first")]
        ),
        1.0
    );
    let admin = team.gateway.admin_adapters().await.unwrap();
    let state = admin["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "first")
        .unwrap()
        .clone();
    assert_eq!(state["status"], "ejected", "{admin}");

    // While ejected, it gets nothing.
    for _ in 0..3 {
        let (status, _, _) = chat(&team, "m", true).await;
        assert_eq!(status, 200);
    }
    assert_eq!((first.request_count(), second.request_count()), (2, 5));

    // After eject_ms it is tried again, answers, and is healthy.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let (status, _, _) = chat(&team, "m", false).await;
    assert_eq!(status, 200);
    assert_eq!((first.request_count(), second.request_count()), (3, 5));
    let text = team.metrics().await;
    assert_eq!(
        metric(&text, "cligate_upstream_up", &[("upstream", "first")]),
        1.0
    );
    assert!(team.gateway.log().contains("upstream recovered"));
}
