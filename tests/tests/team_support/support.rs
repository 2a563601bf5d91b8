//! Shared by the `team_*` and `anonymisation` tests: a gateway started with a TOML
//! configuration (through `CLIGATE_CONFIG`), the audit log, `/metrics`, the `cligate` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cligate_e2e::fixture::http;
use cligate_e2e::paths;
use cligate_e2e::{Gateway, GatewayOptions, PluginsDir};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The four shipped adapters.
pub const ADAPTERS: &[&str] = &[
    "openai-chat",
    "anthropic-messages",
    "openai-responses",
    "gemini",
];

/// A gateway with a configuration file, its plugins and a scratch directory (audit log, key
/// files).
pub struct Team {
    pub gateway: Gateway,
    pub plugins: PluginsDir,
    pub dir: tempfile::TempDir,
}

impl Team {
    /// Start a gateway whose default upstream is `upstream_url`, with `config` (TOML; `{dir}`
    /// is replaced by the scratch directory) and extra environment, serving `adapters`.
    pub async fn start(
        upstream_url: &str,
        config: &str,
        env: &[(&str, &str)],
        adapters: &[&str],
    ) -> Team {
        let dir = tempfile::Builder::new()
            .prefix("cligate-team-")
            .tempdir()
            .unwrap();
        Team::start_in(dir, upstream_url, config, env, adapters).await
    }

    /// As [`Team::start`], in an existing scratch directory (files written beforehand).
    pub async fn start_in(
        dir: tempfile::TempDir,
        upstream_url: &str,
        config: &str,
        env: &[(&str, &str)],
        adapters: &[&str],
    ) -> Team {
        let config_path = dir.path().join("cligate.toml");
        let text = config.replace("{dir}", &dir.path().display().to_string());
        std::fs::write(&config_path, text).unwrap();
        let plugins = PluginsDir::new().unwrap();
        for name in adapters {
            plugins
                .copy(&format!("{name}.wasm"), &paths::dist_plugin(name).unwrap())
                .unwrap();
        }
        let mut opts = GatewayOptions::new(plugins.path(), upstream_url)
            .env("CLIGATE_CONFIG", &config_path.display().to_string());
        for (k, v) in env {
            opts = opts.env(k, v);
        }
        let gateway = Gateway::start(opts).await.unwrap();
        // With a separate admin address, the harness's admin polling has nothing to poll.
        if !config.contains("admin_listen") {
            for name in adapters {
                gateway.wait_for_adapter(name, |_| true).await.unwrap();
            }
        }
        Team {
            gateway,
            plugins,
            dir,
        }
    }

    /// A path in the scratch directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The audit log's lines (`{dir}/audit.jsonl`) once there are at least `n`.
    pub async fn audit(&self, n: usize) -> Vec<Value> {
        wait_for_lines(&self.path("audit.jsonl"), n).await
    }

    /// The audit line of `request_id`, once written (waits up to 10 s).
    pub async fn audit_line(&self, request_id: &str) -> Value {
        let started = Instant::now();
        loop {
            let text = std::fs::read_to_string(self.path("audit.jsonl")).unwrap_or_default();
            if let Some(line) = text
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find(|l| l["request_id"] == request_id)
            {
                return line;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no audit line for {request_id}:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `GET /metrics` on the main address.
    pub async fn metrics(&self) -> String {
        get_text(&self.gateway.url("/metrics")).await
    }
}

/// The lines of a JSON-lines file once it has at least `n` (waits up to 10 s).
pub async fn wait_for_lines(path: &Path, n: usize) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let lines: Vec<Value> = std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if lines.len() >= n {
            return lines;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{} has {} line(s), expected at least {n}",
            path.display(),
            lines.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The audit line of a request id.
pub fn line_of<'a>(lines: &'a [Value], request_id: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["request_id"] == request_id)
        .unwrap_or_else(|| panic!("no audit line for {request_id} in {lines:#?}"))
}

pub async fn get_text(url: &str) -> String {
    let resp = http().get(url).send().await.unwrap();
    assert!(resp.status().is_success(), "GET {url}: {}", resp.status());
    resp.text().await.unwrap()
}

/// The value of one sample in a Prometheus text body: `name{labels}` with the labels given in
/// any order (each `k="v"` must be present). 0 when absent.
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (series_name, series_labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        if series_name != name {
            continue;
        }
        if labels.iter().all(|(k, v)| {
            series_labels
                .split(',')
                .any(|p| p == format!("{k}=\"{v}\""))
        }) {
            return value.parse().unwrap();
        }
    }
    0.0
}

/// Hex SHA-256 of a key, as the configuration stores it.
pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Run the `cligate` binary: (success, stdout, stderr).
pub fn cligate(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(paths::cligate_bin().unwrap())
        .args(args)
        .env_remove("CLIGATE_CONFIG")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A local port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// One request per dialect, with the path and body that dialect uses.
pub struct DialectCall {
    pub dialect: &'static str,
    pub path: &'static str,
    pub headers: &'static [(&'static str, &'static str)],
    pub body: Value,
}

pub fn dialect_calls(model: &str, stream: bool) -> Vec<DialectCall> {
    use serde_json::json;
    vec![
        DialectCall {
            dialect: "openai-chat",
            path: "/v1/chat/completions",
            headers: &[],
            body: json!({"model": model, "stream": stream, "max_tokens": 64000,
                         "messages": [{"role": "user", "content": "hi"}]}),
        },
        DialectCall {
            dialect: "anthropic-messages",
            path: "/v1/messages",
            headers: &[("anthropic-version", "2023-06-01")],
            body: json!({"model": model, "max_tokens": 64000, "stream": stream,
                         "messages": [{"role": "user", "content": "hi"}]}),
        },
        DialectCall {
            dialect: "openai-responses",
            path: "/v1/responses",
            headers: &[],
            body: json!({"model": model, "stream": stream, "input": "hi",
                         "max_output_tokens": 64000}),
        },
        DialectCall {
            dialect: "gemini",
            path: if stream {
                "/v1beta/models/{model}:streamGenerateContent?alt=sse"
            } else {
                "/v1beta/models/{model}:generateContent"
            },
            headers: &[],
            body: json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                         "generationConfig": {"maxOutputTokens": 64000}}),
        },
    ]
}

/// Send one dialect call: (status, body, request id).
pub async fn call(
    gateway: &Gateway,
    call: &DialectCall,
    model: &str,
    key_headers: &[(&str, &str)],
) -> (u16, String, String) {
    let path = call.path.replace("{model}", model);
    let mut body = call.body.clone();
    if body.get("model").is_some() {
        body["model"] = Value::String(model.to_owned());
    }
    let mut rb = http()
        .post(gateway.url(&path))
        .header("content-type", "application/json");
    for (k, v) in call.headers.iter().chain(key_headers) {
        rb = rb.header(*k, *v);
    }
    let resp = rb.body(body.to_string()).send().await.unwrap();
    let status = resp.status().as_u16();
    let id = resp
        .headers()
        .get("x-cligate-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, resp.text().await.unwrap(), id)
}
