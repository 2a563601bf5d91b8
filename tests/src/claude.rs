//! Claude Code and the Anthropic SDK through the gateway: a stack with the
//! `anthropic-messages` adapter, the exact environment Claude Code runs with (the one the
//! README documents), and a headless `claude -p` runner with a temp HOME and work dir.
//!
//! The assertion helpers panic on purpose: they are called from tests.
#![allow(clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::io::AsyncReadExt;

use crate::fixture::{CLIENT_KEY, Stack};
use crate::gateway::{Gateway, GatewayOptions, PluginsDir};
use crate::node::node_bin;
use crate::paths;
use crate::upstream::{ScriptedUpstream, UpstreamOptions};

/// `PATH` of the Claude Code process: the system directories only, as under `env -i`.
pub const CLAUDE_PATH: &str = "/usr/local/bin:/usr/bin:/bin";
/// How long one Claude Code run may take.
pub const CLAUDE_TIMEOUT: Duration = Duration::from_secs(120);

/// A gateway with only `anthropic-messages.wasm` (from `plugins-dist/`), waited for until
/// loaded, in front of a scripted upstream with the default options.
pub async fn anthropic_stack(env: &[(&str, &str)]) -> anyhow::Result<Stack> {
    anthropic_stack_with(UpstreamOptions::default(), env).await
}

/// As [`anthropic_stack`], with these upstream options (e.g. another default reply).
pub async fn anthropic_stack_with(
    options: UpstreamOptions,
    env: &[(&str, &str)],
) -> anyhow::Result<Stack> {
    let upstream = ScriptedUpstream::start_with(options).await?;
    let plugins = PluginsDir::with(&[(
        "anthropic-messages.wasm",
        &paths::dist_plugin("anthropic-messages")?,
    )])?;
    let mut opts = GatewayOptions::new(plugins.path(), &upstream.url());
    for (k, v) in env {
        opts = opts.env(k, v);
    }
    let gateway = Gateway::start(opts).await?;
    gateway
        .wait_for_adapter("anthropic-messages", |_| true)
        .await?;
    Ok(Stack {
        upstream,
        plugins,
        gateway,
    })
}

/// The whole environment of a Claude Code run, nothing inherited (`env -i`): what the
/// README's "Claude Code" section tells a developer to set, plus `PATH`, `HOME`, `TERM`,
/// `LANG`. `ANTHROPIC_BASE_URL` is the gateway's base URL without `/v1` (Claude Code appends
/// `/v1/messages?beta=true`); `ANTHROPIC_API_KEY` is the client's key, which Claude Code sends
/// as `x-api-key` and the gateway never forwards.
pub fn claude_code_env(gateway_base_url: &str, home: &Path) -> Vec<(String, String)> {
    [
        ("PATH", CLAUDE_PATH),
        ("HOME", &home.to_string_lossy()),
        ("TERM", "xterm"),
        ("LANG", "C.UTF-8"),
        ("ANTHROPIC_BASE_URL", gateway_base_url),
        ("ANTHROPIC_API_KEY", CLIENT_KEY),
        ("DISABLE_TELEMETRY", "1"),
        ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// A scratch HOME and work directory for one Claude Code session.
#[derive(Debug)]
pub struct ClaudeDirs {
    home: tempfile::TempDir,
    work: tempfile::TempDir,
}

impl ClaudeDirs {
    pub fn new() -> anyhow::Result<Self> {
        Ok(ClaudeDirs {
            home: tempfile::Builder::new()
                .prefix("cligate-cc-home-")
                .tempdir()?,
            work: tempfile::Builder::new()
                .prefix("cligate-cc-work-")
                .tempdir()?,
        })
    }

    /// The HOME (canonical path).
    pub fn home(&self) -> PathBuf {
        canonical(self.home.path())
    }

    /// The work directory Claude Code runs in (canonical path, as Claude Code reports it).
    pub fn work(&self) -> PathBuf {
        canonical(self.work.path())
    }

    /// Write a file in the work directory; returns its absolute path.
    pub fn write(&self, name: &str, content: &str) -> anyhow::Result<PathBuf> {
        let path = self.work().join(name);
        std::fs::write(&path, content).with_context(|| format!("write {}", path.display()))?;
        Ok(path)
    }
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// What one Claude Code run did.
#[derive(Debug)]
pub struct ClaudeRun {
    pub args: Vec<String>,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl ClaudeRun {
    /// Everything about the run, for failure messages.
    pub fn describe(&self) -> String {
        format!(
            "claude {:?} exited with {} after {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- end ---",
            self.args, self.status, self.elapsed, self.stdout, self.stderr
        )
    }

    /// stdout as one JSON document (`--output-format json`).
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!("stdout is not one JSON document ({e})\n{}", self.describe())
        })
    }

    /// stdout as JSON lines (`--output-format stream-json`).
    pub fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| {
                    panic!("stdout line is not JSON ({e}): {l}\n{}", self.describe())
                })
            })
            .collect()
    }

    /// The `{"type":"result",…}` object: the whole stdout with `json`, the last such line with
    /// `stream-json`.
    pub fn result(&self) -> Value {
        let trimmed = self.stdout.trim();
        if let Ok(v) = serde_json::from_str::<Value>(trimmed)
            && v["type"] == "result"
        {
            return v;
        }
        self.json_lines()
            .into_iter()
            .rev()
            .find(|v| v["type"] == "result")
            .unwrap_or_else(|| panic!("no result object in stdout\n{}", self.describe()))
    }

    /// The process ended by itself (no signal, no crash) with this code.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

/// Run `claude <args>` headless in `dirs.work()` with exactly [`claude_code_env`] plus
/// `extra_env`, stdin closed. Fails (with whatever was printed) if it takes longer than
/// `timeout`.
pub async fn run_claude(
    dirs: &ClaudeDirs,
    gateway_base_url: &str,
    args: &[&str],
    extra_env: &[(&str, &str)],
    timeout: Duration,
) -> anyhow::Result<ClaudeRun> {
    let bin = node_bin("claude")?;
    let mut cmd = tokio::process::Command::new(&bin);
    cmd.args(args)
        .current_dir(dirs.work())
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in claude_code_env(gateway_base_url, &dirs.home()) {
        cmd.env(k, v);
    }
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("spawn {}", bin.display()))?;
    let mut stdout = child.stdout.take().context("stdout")?;
    let mut stderr = child.stderr.take().context("stderr")?;
    let out_task = tokio::spawn(async move {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf).await;
        buf
    });
    let err_task = tokio::spawn(async move {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf).await;
        buf
    });
    let waited = tokio::time::timeout(timeout, child.wait()).await;
    let timed_out = waited.is_err();
    if timed_out {
        let _ = child.kill().await;
    }
    let status = match waited {
        Ok(status) => status?,
        Err(_) => child.wait().await?,
    };
    let stdout = String::from_utf8_lossy(&out_task.await.unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&err_task.await.unwrap_or_default()).into_owned();
    let run = ClaudeRun {
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        status,
        stdout,
        stderr,
        elapsed: started.elapsed(),
    };
    if timed_out {
        bail!(
            "Claude Code did not finish within {timeout:?}\n{}",
            run.describe()
        );
    }
    Ok(run)
}

/// Claude Code's start-up probe `HEAD /` was answered 2xx and the gateway logged no `ERROR`
/// line at all.
pub fn assert_clean_head_probe(gateway: &Gateway) {
    let log = gateway.log();
    let head = log
        .lines()
        .find(|l| l.contains("method=HEAD") && l.contains("path=/ "))
        .unwrap_or_else(|| panic!("no HEAD / request in the gateway log:\n{log}"));
    assert!(
        head.contains("status=200"),
        "HEAD / was not answered 200: {head}"
    );
    let errors: Vec<&str> = log.lines().filter(|l| l.contains(" ERROR ")).collect();
    assert!(
        errors.is_empty(),
        "the gateway logged errors:\n{}",
        errors.join("\n")
    );
}

/// The messages of a recorded upstream chat request.
pub fn upstream_messages(body: &Value) -> Vec<Value> {
    body["messages"].as_array().cloned().unwrap_or_default()
}

/// The tool names a recorded upstream chat request declares.
pub fn upstream_tool_names(body: &Value) -> Vec<String> {
    body["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t["function"]["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
