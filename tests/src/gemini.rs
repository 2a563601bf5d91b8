//! Gemini clients against the gateway's `gemini` adapter: a ready stack, the leak check for
//! what Google's clients send, the official `@google/genai` SDK (`tests/node/gemini-stream.mjs`)
//! and the real Gemini CLI run headless in a scratch HOME.
//!
//! The Gemini CLI setup here is the one the README documents: `GOOGLE_GEMINI_BASE_URL` = the
//! gateway, `GEMINI_API_KEY`, and `$HOME/.gemini/settings.json` pinning the auth type (0.61
//! rejects the "gateway" auth type `GOOGLE_GEMINI_BASE_URL` selects in headless mode), run as
//! `gemini -p … -y --skip-trust` (an untrusted folder overrides `-y`).
//!
//! The assertion helpers panic on purpose: they are called from tests.
#![allow(clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::fixture::{CLIENT_KEY, Stack, assert_no_client_leak};
use crate::gateway::{Gateway, GatewayOptions, PluginsDir};
use crate::node::{node_bin, run_node};
use crate::paths;
use crate::upstream::{RecordedRequest, Reply, ScriptedUpstream, UpstreamOptions};

/// `$HOME/.gemini/settings.json` for Gemini CLI 0.61 against a gateway.
pub const CLI_SETTINGS: &str = r#"{"security":{"auth":{"selectedType":"gemini-api-key"}}}"#;
/// The key Gemini clients send (`x-goog-api-key`). It must never reach the upstream.
pub const GEMINI_CLIENT_KEY: &str = CLIENT_KEY;
/// What Gemini CLI sends as `x-gemini-api-privileged-user-id` (its installation id); the
/// SDK script sends it too.
pub const PRIVILEGED_USER_ID: &str = "0eb0e1f8-a3a5-4c2d-9c65-b91dab7f07bf";
/// The SDK versions tested: the one Gemini CLI 0.61 bundles and the current one.
pub const SDK_VERSIONS: &[&str] = &["1.30", "3.3"];
/// How long one Gemini CLI run may take (its retries back off for seconds).
pub const CLI_TIMEOUT: Duration = Duration::from_secs(180);

/// Values Google's clients send that must not reach the upstream, anywhere.
const GOOGLE_CLIENT_MARKERS: &[&str] = &[
    PRIVILEGED_USER_ID,
    "google-genai-sdk",
    "GeminiCLI",
    "gl-node/",
];

/// A scripted upstream (with these options) and a gateway with only `gemini.wasm` from
/// `plugins-dist/` (or `CLIGATE_PLUGINS_DIST`), waited for until loaded. Every requested model
/// routes to the harness's default backend model.
pub async fn gemini_stack(options: UpstreamOptions) -> anyhow::Result<Stack> {
    let upstream = ScriptedUpstream::start_with(options).await?;
    let plugins = PluginsDir::new()?;
    plugins.copy("gemini.wasm", &paths::dist_plugin("gemini")?)?;
    let gateway = Gateway::start(GatewayOptions::new(plugins.path(), &upstream.url())).await?;
    gateway.wait_for_adapter("gemini", |_| true).await?;
    Ok(Stack {
        upstream,
        plugins,
        gateway,
    })
}

/// [`assert_no_client_leak`] plus Google's own identifying headers and values: no
/// `x-goog-*` / `x-gemini-*` header, no SDK or CLI user agent, no installation id, in
/// headers or body.
pub fn assert_no_gemini_leak(req: &RecordedRequest) {
    assert_no_client_leak(req);
    for (name, value) in &req.headers {
        assert!(
            !name.starts_with("x-goog") && !name.starts_with("x-gemini"),
            "header `{name}: {value}` reached the upstream"
        );
        for marker in GOOGLE_CLIENT_MARKERS {
            assert!(
                !value.contains(marker),
                "client value `{marker}` reached the upstream in `{name}: {value}`"
            );
        }
    }
    let body = String::from_utf8_lossy(&req.body);
    for marker in GOOGLE_CLIENT_MARKERS {
        assert!(
            !body.contains(marker),
            "client value `{marker}` is in the upstream body"
        );
    }
}

/// Run `tests/node/gemini-stream.mjs` with SDK `sdk` (`1.30` or `3.3`) against `base_url`
/// and these extra variables. Returns the JSON summary it printed; fails with the script's
/// output when it exited non-zero.
pub async fn run_genai(sdk: &str, base_url: &str, env: &[(&str, &str)]) -> anyhow::Result<Value> {
    let mut all: Vec<(&str, &str)> = vec![
        ("BASE_URL", base_url),
        ("SDK", sdk),
        ("API_KEY", GEMINI_CLIENT_KEY),
        ("PRIVILEGED_USER_ID", PRIVILEGED_USER_ID),
    ];
    all.extend_from_slice(env);
    let out = run_node("gemini-stream.mjs", &all).await?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!(
            "gemini-stream.mjs (SDK {sdk}) exited with {}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
            out.status
        );
    }
    let last = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    serde_json::from_str(last).with_context(|| {
        format!("gemini-stream.mjs (SDK {sdk}) printed no JSON summary\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}")
    })
}

/// The Gemini CLI classifier's answer (a JSON text matching its `responseJsonSchema`),
/// as a whole Chat Completions answer. Scores below 1 fail the CLI's own validation.
pub fn classifier_reply(score: u32) -> Reply {
    let text = json!({
        "complexity_reasoning": "Simple read-only request.",
        "complexity_score": score
    })
    .to_string();
    Reply::text(&text)
}

/// Whether an upstream request is Gemini CLI's routing classifier call: not streamed, a JSON
/// schema answer asking for `complexity_score`.
pub fn is_classifier(req: &RecordedRequest) -> bool {
    let v = req.json();
    v["stream"] != true
        && v["response_format"]
            .to_string()
            .contains("complexity_score")
}

/// What one run of the real Gemini CLI did.
#[derive(Debug)]
pub struct CliRun {
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    /// It was killed after the timeout.
    pub timed_out: bool,
}

impl CliRun {
    /// stdout parsed as JSON (`--output-format json`), `Null` if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or(Value::Null)
    }

    /// Everything it printed, for failure messages.
    pub fn dump(&self) -> String {
        format!(
            "gemini exited with {:?} after {:?} (timed out: {})\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.elapsed, self.timed_out, self.stdout, self.stderr
        )
    }
}

/// A scratch setup for the real Gemini CLI: HOME with the settings file, a work dir, a temp dir.
#[derive(Debug)]
pub struct GeminiCli {
    root: tempfile::TempDir,
}

impl GeminiCli {
    pub fn new() -> anyhow::Result<Self> {
        let root = tempfile::Builder::new()
            .prefix("cligate-gemini-")
            .tempdir()?;
        for d in ["home/.gemini", "work", "tmp"] {
            std::fs::create_dir_all(root.path().join(d))?;
        }
        std::fs::write(root.path().join("home/.gemini/settings.json"), CLI_SETTINGS)?;
        Ok(GeminiCli { root })
    }

    pub fn home(&self) -> PathBuf {
        self.root.path().join("home")
    }

    /// The working directory the CLI runs in (its workspace).
    pub fn work(&self) -> PathBuf {
        self.root.path().join("work")
    }

    /// The installation id the CLI created in its HOME (sent as
    /// `x-gemini-api-privileged-user-id`), once it has run.
    pub fn installation_id(&self) -> Option<String> {
        std::fs::read_to_string(self.home().join(".gemini/installation_id"))
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    }

    /// Write a file into the work dir; returns its path.
    pub fn write_work_file(&self, name: &str, text: &str) -> anyhow::Result<PathBuf> {
        let p = self.work().join(name);
        std::fs::write(&p, text)?;
        Ok(p)
    }

    /// The environment of a run: only these variables (the capture's `env -i` set, plus a
    /// scratch `TMPDIR` for the CLI's error reports).
    pub fn env(&self, gateway_base: &str) -> Vec<(String, String)> {
        vec![
            ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
            ("TERM".into(), "xterm".into()),
            ("LANG".into(), "C.UTF-8".into()),
            ("HOME".into(), path_string(&self.home())),
            ("TMPDIR".into(), path_string(&self.root.path().join("tmp"))),
            ("GEMINI_API_KEY".into(), GEMINI_CLIENT_KEY.into()),
            ("GOOGLE_GEMINI_BASE_URL".into(), gateway_base.into()),
        ]
    }

    /// `gemini -p <prompt> -y --skip-trust --output-format json` in the work dir, with
    /// nothing but [`GeminiCli::env`]. The whole process group is killed after `timeout`.
    pub async fn run(
        &self,
        gateway_base: &str,
        prompt: &str,
        timeout: Duration,
    ) -> anyhow::Result<CliRun> {
        self.run_with(gateway_base, prompt, &[], timeout).await
    }

    /// [`GeminiCli::run`] with extra arguments (`-m internal-coder`).
    pub async fn run_with(
        &self,
        gateway_base: &str,
        prompt: &str,
        extra_args: &[&str],
        timeout: Duration,
    ) -> anyhow::Result<CliRun> {
        let bin = node_bin("gemini")?;
        let mut cmd = tokio::process::Command::new(&bin);
        cmd.args([
            "-p",
            prompt,
            "-y",
            "--skip-trust",
            "--output-format",
            "json",
        ])
        .args(extra_args)
        .current_dir(self.work())
        .env_clear()
        .envs(self.env(gateway_base))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .with_context(|| format!("spawn {}", bin.display()))?;
        let pid = child.id();
        let stdout = read_all(child.stdout.take());
        let stderr = read_all(child.stderr.take());
        let (status, timed_out) = match tokio::time::timeout(timeout, child.wait()).await {
            Ok(status) => (Some(status?), false),
            Err(_) => {
                if let Some(pid) = pid {
                    kill_group(pid);
                }
                (child.wait().await.ok(), true)
            }
        };
        // Do not wait forever on a grandchild that kept the pipes open.
        let collect = |h: tokio::task::JoinHandle<Vec<u8>>| async move {
            match tokio::time::timeout(Duration::from_secs(10), h).await {
                Ok(Ok(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
                _ => String::from("<output not collected>"),
            }
        };
        Ok(CliRun {
            status,
            stdout: collect(stdout).await,
            stderr: collect(stderr).await,
            elapsed: started.elapsed(),
            timed_out,
        })
    }
}

fn read_all<R>(pipe: Option<R>) -> tokio::task::JoinHandle<Vec<u8>>
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = tokio::io::AsyncReadExt::read_to_end(&mut p, &mut buf).await;
        }
        buf
    })
}

fn kill_group(pid: u32) {
    let _ = std::process::Command::new("kill")
        .arg("-KILL")
        .arg(format!("-{pid}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn path_string(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}
