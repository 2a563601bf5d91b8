//! Running the Node clients in `tests/node/`.

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::paths::workspace_root;

/// `tests/node`.
pub fn node_dir() -> PathBuf {
    workspace_root().join("tests").join("node")
}

/// `tests/node/node_modules`, or an error telling how to install it.
pub fn node_modules() -> anyhow::Result<PathBuf> {
    let nm = node_dir().join("node_modules");
    if !nm.join("openai").is_dir() {
        bail!(
            "{} is missing or incomplete: run `npm ci --prefix tests/node` first",
            nm.display()
        );
    }
    Ok(nm)
}

/// A binary installed by npm (`claude`, `codex`, `gemini`).
pub fn node_bin(name: &str) -> anyhow::Result<PathBuf> {
    let p = node_modules()?.join(".bin").join(name);
    if !p.exists() {
        bail!(
            "{} is missing: run `npm ci --prefix tests/node`",
            p.display()
        );
    }
    Ok(p)
}

/// How long one Node script may run.
pub const NODE_TIMEOUT: Duration = Duration::from_secs(120);

/// Run `node <script>` (a path relative to `tests/node`) with these extra environment
/// variables, in `tests/node`. Proxy variables are removed (all traffic is loopback).
pub async fn run_node(script: &str, env: &[(&str, &str)]) -> anyhow::Result<Output> {
    node_modules()?;
    let dir = node_dir();
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(dir.join(script))
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for k in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().context("spawn node (is Node.js installed?)")?;
    match tokio::time::timeout(NODE_TIMEOUT, child.wait_with_output()).await {
        Ok(out) => Ok(out?),
        Err(_) => bail!("node {script} did not finish within {NODE_TIMEOUT:?}"),
    }
}
