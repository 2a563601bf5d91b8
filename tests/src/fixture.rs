//! Ready-made setups and assertions shared by the gateway tests.
//!
//! The assertion helpers panic on purpose: they are called from tests.
#![allow(clippy::panic)]

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::gateway::{BACKEND_MODEL, Gateway, GatewayOptions, PluginsDir, UPSTREAM_SERVICE_KEY};
use crate::paths;
use crate::upstream::{RecordedRequest, ScriptedUpstream};

/// The client's own key. It must never reach the upstream.
pub const CLIENT_KEY: &str = "sk-client-secret-never-forwarded";
/// The model clients ask for (not configured: it routes to the default backend model).
pub const CLIENT_MODEL: &str = "gpt-4o-mini";

/// Headers a real client sends that identify it, its user or its machine, plus its keys.
pub const IDENTIFYING_HEADERS: &[(&str, &str)] = &[
    ("authorization", "Bearer sk-client-secret-never-forwarded"),
    ("x-api-key", "sk-client-secret-never-forwarded"),
    ("user-agent", "OpenAI/JS 7.57.0"),
    ("x-stainless-lang", "js"),
    ("x-stainless-package-version", "7.57.0"),
    ("x-stainless-os", "Linux"),
    ("x-stainless-arch", "x64"),
    ("x-stainless-runtime", "node"),
    ("x-stainless-runtime-version", "v20.20.2"),
    ("x-stainless-retry-count", "0"),
    ("x-forwarded-for", "10.1.2.3"),
    ("x-real-ip", "10.1.2.3"),
    ("originator", "codex_cli_rs"),
    ("session-id", "client-session-7f3a"),
    ("x-client-request-id", "client-req-9c1d"),
    ("x-app", "cli"),
    ("cookie", "sid=client-cookie-value"),
];

/// Header names the gateway may send upstream: its allow-list (content type, accept, its own
/// authorization and user agent) plus what the HTTP client adds by itself.
pub const UPSTREAM_HEADER_ALLOW_LIST: &[&str] = &[
    "host",
    "content-type",
    "content-length",
    "transfer-encoding",
    "accept",
    "accept-encoding",
    "authorization",
    "user-agent",
    "connection",
    "x-request-id",
];

/// An HTTP client for tests: no proxy, a generous overall timeout.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// A request builder carrying every identifying header.
pub fn with_identifying_headers(mut rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    for (n, v) in IDENTIFYING_HEADERS {
        rb = rb.header(*n, *v);
    }
    rb
}

/// Assert the upstream request carries nothing of the client: only allow-listed headers,
/// the service credential, the gateway's own user agent, no client key anywhere.
pub fn assert_no_client_leak(req: &RecordedRequest) {
    for (name, value) in &req.headers {
        assert!(
            UPSTREAM_HEADER_ALLOW_LIST.contains(&name.as_str()),
            "header `{name}: {value}` reached the upstream (not on the allow-list); \
             all headers: {:?}",
            req.headers
        );
        assert!(
            !value.contains(CLIENT_KEY),
            "the client's key reached the upstream in `{name}`"
        );
        for (_, client_value) in IDENTIFYING_HEADERS {
            // Short values (`js`, `0`) are only checked whole; distinctive ones anywhere.
            let leaked = if client_value.len() >= 8 {
                value.contains(client_value)
            } else {
                value == client_value
            };
            assert!(
                !leaked,
                "client value `{client_value}` reached the upstream in `{name}: {value}`"
            );
        }
    }
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {UPSTREAM_SERVICE_KEY}").as_str()),
        "the upstream must get the service credential"
    );
    if let Some(ua) = req.header("user-agent") {
        assert!(
            ua.starts_with("cligate/"),
            "upstream user-agent is `{ua}`, expected cligate/<version>"
        );
    }
    let body = String::from_utf8_lossy(&req.body);
    assert!(
        !body.contains(CLIENT_KEY),
        "the client's key is in the upstream body"
    );
}

/// Assert an OpenAI-shaped error: `{"error":{"message":<non-empty>,"type":<non-empty>,
/// "code":…}}`. Returns the `error` object.
pub fn assert_openai_error(body: &str) -> Value {
    let v: Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("error body is not JSON ({e}): {body}"));
    let err = &v["error"];
    assert!(
        err["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error.message missing or empty: {body}"
    );
    assert!(
        err["type"].as_str().is_some_and(|m| !m.is_empty()),
        "error.type missing or empty: {body}"
    );
    assert!(
        err.get("code").is_some(),
        "error.code missing (OpenAI errors carry it, null or not): {body}"
    );
    err.clone()
}

/// Upstream + plugins dir + gateway.
#[derive(Debug)]
pub struct Stack {
    pub upstream: ScriptedUpstream,
    pub plugins: PluginsDir,
    pub gateway: Gateway,
}

/// Start a scripted upstream and a gateway with these plugins (`(file name, source)`) and
/// extra environment.
pub async fn stack(plugins: &[(&str, PathBuf)], env: &[(&str, &str)]) -> anyhow::Result<Stack> {
    let upstream = ScriptedUpstream::start().await?;
    let dir = PluginsDir::new()?;
    for (name, src) in plugins {
        dir.copy(name, src)?;
    }
    let mut opts = GatewayOptions::new(dir.path(), &upstream.url());
    for (k, v) in env {
        opts = opts.env(k, v);
    }
    let gateway = Gateway::start(opts).await?;
    Ok(Stack {
        upstream,
        plugins: dir,
        gateway,
    })
}

/// A gateway with only `openai-chat.wasm` from `plugins-dist/`, waited for until loaded.
pub async fn openai_chat_stack(env: &[(&str, &str)]) -> anyhow::Result<Stack> {
    let s = stack(
        &[("openai-chat.wasm", paths::dist_plugin("openai-chat")?)],
        env,
    )
    .await?;
    s.gateway.wait_for_adapter("openai-chat", |_| true).await?;
    Ok(s)
}

/// A gateway with `misbehave.wasm` (variant a), waited for until loaded.
pub async fn misbehave_stack(env: &[(&str, &str)]) -> anyhow::Result<Stack> {
    let s = stack(
        &[("misbehave.wasm", paths::test_plugin("misbehave-a")?)],
        env,
    )
    .await?;
    s.gateway
        .wait_for_adapter("misbehave", |a| a["version"] == "1.0.0-a")
        .await?;
    Ok(s)
}

/// The backend model the gateway routes unknown models to.
pub fn backend_model() -> &'static str {
    BACKEND_MODEL
}
