//! Runs the real `cligate serve` binary for a test.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::paths;

/// The service credential the harness gives the gateway for the upstream.
pub const UPSTREAM_SERVICE_KEY: &str = "sk-upstream-service-credential";
/// The backend model the harness configures as the default route.
pub const BACKEND_MODEL: &str = "backend-default-model";
/// How long to wait for the gateway to bind.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Default wait for admin state (hot reload).
pub const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);

/// How to start the gateway.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    pub plugins_dir: PathBuf,
    /// `CLIGATE_UPSTREAM_URL`, ending in `/v1`.
    pub upstream_url: String,
    /// Extra environment, applied last (overrides the harness defaults).
    pub env: Vec<(String, String)>,
}

impl GatewayOptions {
    pub fn new(plugins_dir: &Path, upstream_url: &str) -> Self {
        GatewayOptions {
            plugins_dir: plugins_dir.to_path_buf(),
            upstream_url: upstream_url.to_owned(),
            env: Vec::new(),
        }
    }

    /// Add one environment variable.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// A running gateway. Stopped (SIGTERM, then SIGKILL) on drop; its log is printed to
/// stderr when the test is failing.
#[derive(Debug)]
pub struct Gateway {
    child: Option<Child>,
    addr: SocketAddr,
    log_path: PathBuf,
    http: reqwest::Client,
    bin: PathBuf,
    _temp: tempfile::TempDir,
}

/// Proxy variables removed from the gateway's environment so loopback traffic is direct.
const PROXY_VARS: &[&str] = &[
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
];

impl Gateway {
    /// Spawn `cligate serve` and wait until it wrote its address.
    pub async fn start(opts: GatewayOptions) -> anyhow::Result<Gateway> {
        let bin = paths::cligate_bin()?;
        let temp = tempfile::Builder::new().prefix("cligate-e2e-").tempdir()?;
        let addr_file = temp.path().join("addr");
        let cache_dir = temp.path().join("cache");
        std::fs::create_dir_all(&cache_dir)?;
        let log_path = temp.path().join("cligate.log");
        let log = File::create(&log_path)?;

        let mut cmd = Command::new(&bin);
        cmd.arg("serve")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        // Hermetic: nothing of the harness's own CLIGATE_* settings leaks in.
        for (k, _) in std::env::vars_os() {
            if let Some(k) = k.to_str()
                && k.starts_with("CLIGATE_")
            {
                cmd.env_remove(k);
            }
        }
        for k in PROXY_VARS {
            cmd.env_remove(k);
        }
        cmd.env("NO_PROXY", "127.0.0.1,localhost,::1")
            .env("no_proxy", "127.0.0.1,localhost,::1")
            .env("CLIGATE_LISTEN", "127.0.0.1:0")
            .env("CLIGATE_PLUGINS_DIR", &opts.plugins_dir)
            .env("CLIGATE_UPSTREAM_URL", &opts.upstream_url)
            .env("CLIGATE_UPSTREAM_API_KEY", UPSTREAM_SERVICE_KEY)
            .env("CLIGATE_DEFAULT_MODEL", BACKEND_MODEL)
            .env("CLIGATE_ADDR_FILE", &addr_file)
            .env("CLIGATE_CACHE_DIR", &cache_dir)
            .env("CLIGATE_LOG_FORMAT", "text")
            .env("NO_COLOR", "1")
            .env("CLIGATE_SHUTDOWN_GRACE_MS", "2000")
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned()),
            );
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("spawn {} serve", bin.display()))?;

        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()?;
        let mut gw = Gateway {
            child: Some(child),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log_path,
            http,
            bin,
            _temp: temp,
        };
        gw.addr = gw.wait_for_addr(&addr_file).await?;
        Ok(gw)
    }

    async fn wait_for_addr(&mut self, addr_file: &Path) -> anyhow::Result<SocketAddr> {
        let started = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!(
                    "{} exited with {status} before writing its address.\n--- gateway log ---\n{}",
                    self.bin.display(),
                    self.log()
                );
            }
            if let Ok(text) = std::fs::read_to_string(addr_file)
                && let Ok(addr) = text.trim().parse::<SocketAddr>()
            {
                return Ok(addr);
            }
            if started.elapsed() > START_TIMEOUT {
                bail!(
                    "{} wrote no address to {} within {:?}.\n--- gateway log ---\n{}",
                    self.bin.display(),
                    addr_file.display(),
                    START_TIMEOUT,
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A full URL for a path (`/v1/chat/completions`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url(), path)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The binary that runs.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// The gateway's log so far (stdout and stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// `GET /admin/adapters`.
    pub async fn admin_adapters(&self) -> anyhow::Result<Value> {
        let resp = self
            .http
            .get(self.url("/admin/adapters"))
            .send()
            .await
            .context("GET /admin/adapters")?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!("GET /admin/adapters answered {status}: {text}");
        }
        serde_json::from_str(&text).with_context(|| format!("/admin/adapters is not JSON: {text}"))
    }

    /// Poll `/admin/adapters` until `pred` holds; returns that state.
    pub async fn wait_for_admin(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let started = Instant::now();
        let mut last = Value::Null;
        loop {
            if let Ok(v) = self.admin_adapters().await {
                if pred(&v) {
                    return Ok(v);
                }
                last = v;
            }
            if started.elapsed() > timeout {
                bail!("waited {timeout:?} for {what}; last /admin/adapters: {last:#}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait until adapter `name` is loaded and `pred` holds for its entry; returns the entry.
    pub async fn wait_for_adapter(
        &self,
        name: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let state = self
            .wait_for_admin(&format!("adapter {name}"), ADMIN_TIMEOUT, |v| {
                find_adapter(v, name).is_some_and(|a| pred(&a))
            })
            .await?;
        find_adapter(&state, name).context("adapter vanished")
    }

    /// Wait until adapter `name` is no longer listed.
    pub async fn wait_for_adapter_gone(&self, name: &str) -> anyhow::Result<Value> {
        self.wait_for_admin(&format!("adapter {name} to unload"), ADMIN_TIMEOUT, |v| {
            find_adapter(v, name).is_none()
        })
        .await
    }

    /// Wait until the reload history has an entry for `file` (file name or path) with this
    /// sha256; returns the entry (its `ok` says whether it loaded).
    pub async fn wait_for_reload(&self, file: &str, sha: &str) -> anyhow::Result<Value> {
        let state = self
            .wait_for_admin(
                &format!("a reload of {file} with sha256 {sha}"),
                ADMIN_TIMEOUT,
                |v| find_reload(v, file, sha).is_some(),
            )
            .await?;
        find_reload(&state, file, sha).context("reload entry vanished")
    }

    /// Stop the gateway: SIGTERM, wait up to `grace`, then SIGKILL. Returns the exit status.
    pub fn terminate(&mut self, grace: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let started = Instant::now();
        while started.elapsed() < grace {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        child.wait().ok()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.terminate(Duration::from_secs(5));
        if std::thread::panicking() {
            eprintln!(
                "--- cligate log ({} on {}) ---\n{}\n--- end of cligate log ---",
                self.bin.display(),
                self.addr,
                self.log()
            );
        }
    }
}

/// The entry of adapter `name` in an `/admin/adapters` answer.
pub fn find_adapter(state: &Value, name: &str) -> Option<Value> {
    state["adapters"]
        .as_array()?
        .iter()
        .find(|a| a["name"] == name)
        .cloned()
}

/// Whether two file references name the same file (a bare name matches a path ending in it).
fn same_file(a: &str, b: &str) -> bool {
    a == b || Path::new(a).file_name() == Path::new(b).file_name()
}

/// The newest reload entry for `file` with `sha`.
pub fn find_reload(state: &Value, file: &str, sha: &str) -> Option<Value> {
    state["reloads"]
        .as_array()?
        .iter()
        .rev()
        .find(|r| r["file"].as_str().is_some_and(|f| same_file(f, file)) && r["sha256"] == sha)
        .cloned()
}

/// A temporary plugins directory.
#[derive(Debug)]
pub struct PluginsDir {
    dir: tempfile::TempDir,
}

impl PluginsDir {
    /// An empty directory.
    pub fn new() -> anyhow::Result<Self> {
        Ok(PluginsDir {
            dir: tempfile::Builder::new()
                .prefix("cligate-plugins-")
                .tempdir()?,
        })
    }

    /// A directory holding these files: `(name in the directory, source path)`.
    pub fn with(files: &[(&str, &Path)]) -> anyhow::Result<Self> {
        let d = Self::new()?;
        for (name, src) in files {
            d.copy(name, src)?;
        }
        Ok(d)
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The full path of `name` in the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Plain copy (the watcher sees create/modify/close-write).
    pub fn copy(&self, name: &str, src: &Path) -> anyhow::Result<()> {
        std::fs::copy(src, self.file(name))
            .with_context(|| format!("copy {} to {}", src.display(), name))?;
        Ok(())
    }

    /// Write bytes in place (truncate + write).
    pub fn write(&self, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
        std::fs::write(self.file(name), bytes).with_context(|| format!("write {name}"))
    }

    /// Atomic replace: write a hidden temp file (not `*.wasm`) and rename it over `name`.
    pub fn replace_atomic(&self, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
        let tmp = self.file(&format!(".{name}.tmp"));
        std::fs::write(&tmp, bytes).with_context(|| format!("write {}", tmp.display()))?;
        std::fs::rename(&tmp, self.file(name)).with_context(|| format!("rename over {name}"))
    }

    /// Atomic replace from a source file.
    pub fn replace_atomic_from(&self, name: &str, src: &Path) -> anyhow::Result<()> {
        let bytes = std::fs::read(src).with_context(|| format!("read {}", src.display()))?;
        self.replace_atomic(name, &bytes)
    }

    pub fn remove(&self, name: &str) -> anyhow::Result<()> {
        std::fs::remove_file(self.file(name)).with_context(|| format!("remove {name}"))
    }
}
