//! `/metrics` through the real gateway: the values move as requests, tokens, warnings,
//! streams, upstream outcomes and adapter traps and deadline hits happen; with `admin_listen`,
//! `/metrics` and `/admin/*` are served there and not on the main address.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "team_support/support.rs"]
mod support;

use std::time::{Duration, Instant};

use cligate_e2e::fixture::{backend_model, http};
use cligate_e2e::paths::test_plugin;
use cligate_e2e::{ChatStream, Reply, ScriptedUpstream};
use support::{ADAPTERS, Team, call, dialect_calls, get_text, metric};

const RULES: &str = r#"
[[models]]
match = "claude-*"
backend_model = "claude-backend"
max_output_tokens = 1000
"#;

#[tokio::test]
async fn metrics_move_with_requests_tokens_warnings_and_streams() {
    let upstream = ScriptedUpstream::start().await.unwrap();
    let team = Team::start(&upstream.url(), RULES, &[], ADAPTERS).await;
    let before = team.metrics().await;
    assert!(before.contains("# TYPE cligate_requests_total counter"));
    assert_eq!(metric(&before, "cligate_adapters_loaded", &[]), 4.0);
    assert_eq!(
        metric(&before, "cligate_adapter_loads_total", &[("result", "ok")]),
        4.0
    );
    let chat = [
        ("dialect", "openai-chat-completions"),
        ("route", "POST /v1/chat/completions"),
        ("status", "200"),
    ];
    assert_eq!(metric(&before, "cligate_requests_total", &chat), 0.0);

    let calls = dialect_calls("", false);
    for _ in 0..3 {
        let (status, _, _) = call(&team.gateway, &calls[0], "gpt-4o", &[]).await;
        assert_eq!(status, 200);
    }
    // Clamped (a warning), streamed (tokens from the usage chunk).
    let stream_calls = dialect_calls("", true);
    let (status, _, _) = call(&team.gateway, &stream_calls[1], "claude-opus-4", &[]).await;
    assert_eq!(status, 200);
    // No route.
    let resp = http()
        .get(team.gateway.url("/nowhere"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    let after = team.metrics().await;
    assert_eq!(
        metric(&after, "cligate_requests_total", &chat),
        3.0,
        "{after}"
    );
    assert_eq!(
        metric(
            &after,
            "cligate_requests_total",
            &[
                ("dialect", "anthropic-messages"),
                ("route", "POST /v1/messages"),
                ("status", "200")
            ]
        ),
        1.0
    );
    assert_eq!(
        metric(
            &after,
            "cligate_requests_total",
            &[
                ("dialect", "none"),
                ("route", "unmatched"),
                ("status", "404")
            ]
        ),
        1.0
    );
    assert_eq!(
        metric(
            &after,
            "cligate_request_duration_seconds_count",
            &[("dialect", "openai-chat-completions")]
        ),
        3.0
    );
    assert_eq!(
        metric(
            &after,
            "cligate_request_duration_seconds_bucket",
            &[("dialect", "openai-chat-completions"), ("le", "+Inf")]
        ),
        3.0
    );
    assert_eq!(
        metric(
            &after,
            "cligate_time_to_first_byte_seconds_count",
            &[("dialect", "anthropic-messages")]
        ),
        1.0
    );
    // The scripted default answer reports 11 prompt tokens.
    assert_eq!(
        metric(
            &after,
            "cligate_tokens_total",
            &[
                ("user", "anonymous"),
                ("model", backend_model()),
                ("kind", "input")
            ]
        ),
        33.0,
        "{after}"
    );
    assert_eq!(
        metric(
            &after,
            "cligate_tokens_total",
            &[
                ("user", "anonymous"),
                ("model", "claude-backend"),
                ("kind", "input")
            ]
        ),
        11.0
    );
    assert_eq!(
        metric(
            &after,
            "cligate_translation_warnings_total",
            &[
                ("dialect", "anthropic-messages"),
                ("kind", "max_tokens clamped from N to N")
            ]
        ),
        1.0,
        "{after}"
    );
    assert_eq!(
        metric(
            &after,
            "cligate_upstream_requests_total",
            &[("upstream", "default"), ("outcome", "ok")]
        ),
        4.0
    );
    assert_eq!(
        metric(&after, "cligate_upstream_up", &[("upstream", "default")]),
        1.0
    );
    assert!(
        metric(
            &after,
            "cligate_adapter_sessions_total",
            &[("adapter", "openai-chat")]
        ) >= 3.0
    );

    // A stream in flight is a gauge of 1 while it runs.
    upstream.push(
        ChatStream::new()
            .role()
            .content("slow")
            .sleep(1500)
            .finish("stop")
            .done()
            .build(),
    );
    let gateway_url = team.gateway.url("/v1/chat/completions");
    let slow = tokio::spawn(async move {
        http()
            .post(gateway_url)
            .header("content-type", "application/json")
            .body(r#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}"#)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    let started = Instant::now();
    loop {
        let text = team.metrics().await;
        if metric(&text, "cligate_streams_in_flight", &[]) == 1.0 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "{text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    slow.await.unwrap();
    let started = Instant::now();
    while metric(&team.metrics().await, "cligate_streams_in_flight", &[]) != 0.0 {
        assert!(started.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn adapter_traps_and_deadline_hits_are_counted() {
    let upstream = ScriptedUpstream::start().await.unwrap();
    let team = Team::start(
        &upstream.url(),
        "",
        &[("CLIGATE_ADAPTER_DEADLINE_MS", "200")],
        &[],
    )
    .await;
    team.plugins
        .copy("misbehave.wasm", &test_plugin("misbehave-a").unwrap())
        .unwrap();
    team.gateway
        .wait_for_adapter("misbehave", |_| true)
        .await
        .unwrap();
    for mode in ["trap", "loop"] {
        let resp = http()
            .post(team.gateway.url(&format!("/misbehave/{mode}")))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 502, "{mode}");
    }
    let text = team.metrics().await;
    assert_eq!(
        metric(
            &text,
            "cligate_adapter_traps_total",
            &[("adapter", "misbehave")]
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "cligate_adapter_deadline_hits_total",
            &[("adapter", "misbehave")]
        ),
        1.0
    );
    assert_eq!(
        metric(&text, "cligate_adapter_loads_total", &[("result", "ok")]),
        1.0
    );
}

#[tokio::test]
async fn admin_listen_serves_metrics_and_admin_apart_from_the_main_address() {
    let upstream = ScriptedUpstream::start().await.unwrap();
    let team = Team::start(
        &upstream.url(),
        "admin_listen = \"127.0.0.1:0\"\nadmin_addr_file = \"{dir}/admin-addr\"\n",
        &[],
        &["openai-chat"],
    )
    .await;
    let admin_addr = std::fs::read_to_string(team.path("admin-addr")).unwrap();
    let admin = format!("http://{}", admin_addr.trim());
    let started = Instant::now();
    loop {
        let state: serde_json::Value =
            serde_json::from_str(&get_text(&format!("{admin}/admin/adapters")).await).unwrap();
        if state["adapters"].as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    upstream.push(Reply::text("hi"));
    let (status, _, _) = call(&team.gateway, &dialect_calls("", false)[0], "gpt-4o", &[]).await;
    assert_eq!(status, 200);
    let text = get_text(&format!("{admin}/metrics")).await;
    assert!(
        metric(&text, "cligate_requests_total", &[("status", "200")]) >= 1.0,
        "{text}"
    );
    for path in ["/metrics", "/admin/adapters"] {
        let resp = http().get(team.gateway.url(path)).send().await.unwrap();
        assert_ne!(resp.status(), 200, "{path} must not be on the main address");
    }
    assert_eq!(
        http()
            .get(team.gateway.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}
