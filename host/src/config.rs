//! Configuration: built-in defaults ← optional TOML file ← `CLIGATE_*` environment.
//!
//! Quick start needs no file at all: `CLIGATE_LISTEN`, `CLIGATE_PLUGINS_DIR`,
//! `CLIGATE_UPSTREAM_URL`, `CLIGATE_UPSTREAM_API_KEY` and `CLIGATE_DEFAULT_MODEL` are top-level
//! keys. Nested keys use `__` in the environment (`CLIGATE_LIMITS__MAX_BODY_BYTES`). Unknown keys
//! in the file are errors that name the key; unrelated `CLIGATE_*` variables (used by tests and
//! scripts) are ignored.
//!
//! A team deployment adds named upstreams with their service credentials, model routing with
//! weighted failover targets, per-dialect defaults, gateway keys, the audit log and a separate
//! admin address; every one of those keys has a default that keeps the quick start unchanged
//! (see `deploy/config/team.toml` for an example of each).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port (written to `addr_file`).
    pub listen: String,
    /// Separate address for `/metrics` and `/admin/*`. When set, those endpoints are served
    /// only there (not on `listen`); when unset they are on `listen` with everything else.
    pub admin_listen: Option<String>,
    /// Directory of adapter components (`*.wasm`), watched for changes.
    pub plugins_dir: PathBuf,
    /// Where compiled adapters are cached so restarts skip compilation.
    /// Default: `$XDG_CACHE_HOME/cligate` or `~/.cache/cligate`.
    pub cache_dir: Option<PathBuf>,
    /// After binding, write the bound address here (for scripts and tests using port 0).
    pub addr_file: Option<PathBuf>,
    /// After binding `admin_listen`, write its bound address here.
    pub admin_addr_file: Option<PathBuf>,
    /// `text` or `json` logs on stderr (filter from `RUST_LOG`, default `info`).
    pub log_format: LogFormat,
    /// Base URL of the quick-start upstream (named `default`), ending in `/v1`.
    pub upstream_url: String,
    /// Service credential for the `default` upstream, sent as `Authorization: Bearer`: the key
    /// itself, `{ env = "VAR" }` or `{ file = "/run/secrets/key" }`.
    pub upstream_api_key: Option<SecretRef>,
    /// Backend model used when no `[[models]]` rule and no `[defaults]` entry matches.
    /// When unset, the requested name is passed through unchanged.
    pub default_model: Option<String>,
    /// The upstream of rules and defaults that name none. `default` is the quick-start one.
    pub default_upstream: String,
    /// More upstreams, by name: `[upstreams.vllm]`.
    pub upstreams: BTreeMap<String, UpstreamConfig>,
    /// Model routing rules, first match wins.
    pub models: Vec<ModelRule>,
    /// Per-dialect default model, keyed by the adapter's dialect (`anthropic-messages`):
    /// used when no `[[models]]` rule matches the requested name. The value is routed through
    /// the `[[models]]` rules again (so it may name a rule with targets); if none matches it is
    /// the backend model on `default_upstream`.
    pub defaults: BTreeMap<String, String>,
    /// Failover between a rule's targets and passive health of upstreams.
    pub failover: Failover,
    /// Gateway keys (none configured = open access).
    pub auth: Auth,
    /// The audit log (off unless `audit.path` is set).
    pub audit: Audit,
    /// Ask adapters to remove environment sections (working directory, OS, home paths) from
    /// prompts. Off by default: it changes what the model sees.
    pub redact_environment: bool,
    /// Timeouts and size limits.
    pub limits: Limits,
    /// Adapter sandbox settings.
    pub sandbox: Sandbox,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8787".to_owned(),
            admin_listen: None,
            plugins_dir: PathBuf::from("plugins-dist"),
            cache_dir: None,
            addr_file: None,
            admin_addr_file: None,
            log_format: LogFormat::Text,
            upstream_url: "http://127.0.0.1:11434/v1".to_owned(),
            upstream_api_key: None,
            default_model: None,
            default_upstream: DEFAULT_UPSTREAM.to_owned(),
            upstreams: BTreeMap::new(),
            models: Vec::new(),
            defaults: BTreeMap::new(),
            failover: Failover::default(),
            auth: Auth::default(),
            audit: Audit::default(),
            redact_environment: false,
            limits: Limits::default(),
            sandbox: Sandbox::default(),
        }
    }
}

/// The name of the quick-start upstream built from `upstream_url` and `upstream_api_key`.
pub const DEFAULT_UPSTREAM: &str = "default";

/// A secret given in the configuration: the value itself, or where to read it.
/// `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SecretRef {
    /// The secret itself (fine for quick starts; prefer `env` or `file` in shared files).
    Literal(String),
    /// Read from this environment variable at start.
    Env {
        /// Variable name.
        env: String,
    },
    /// Read from this file at start (trailing whitespace trimmed), e.g. a mounted secret.
    File {
        /// File path.
        file: PathBuf,
    },
}

impl std::fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretRef::Literal(_) => f.write_str("SecretRef::Literal(<redacted>)"),
            SecretRef::Env { env } => write!(f, "SecretRef::Env({env})"),
            SecretRef::File { file } => write!(f, "SecretRef::File({})", file.display()),
        }
    }
}

impl SecretRef {
    /// The secret's value; `None` when it resolves to an empty string.
    pub fn resolve(&self) -> Result<Option<String>, String> {
        let value = match self {
            SecretRef::Literal(value) => value.clone(),
            SecretRef::Env { env } => {
                std::env::var(env).map_err(|_| format!("environment variable {env} is not set"))?
            }
            SecretRef::File { file } => std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?
                .trim_end()
                .to_owned(),
        };
        Ok(Some(value).filter(|v| !v.is_empty()))
    }
}

/// One named upstream: `[upstreams.<name>]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Base URL of the OpenAI-compatible API, ending in `/v1`.
    pub url: String,
    /// Service credential: the key, `{ env = "VAR" }` or `{ file = "/path" }`.
    #[serde(default)]
    pub api_key: Option<SecretRef>,
    /// Header carrying the key. `authorization` (the default) sends `Bearer <key>`; any other
    /// name (`api-key`, `x-api-key`) sends the key as is.
    #[serde(default)]
    pub api_key_header: Option<String>,
    /// Overrides `limits.upstream_connect_timeout_ms` for this upstream.
    #[serde(default)]
    pub connect_timeout_ms: Option<u64>,
    /// Overrides `limits.upstream_first_byte_timeout_ms` for this upstream.
    #[serde(default)]
    pub first_byte_timeout_ms: Option<u64>,
    /// Overrides `limits.upstream_idle_timeout_ms` for this upstream.
    #[serde(default)]
    pub idle_timeout_ms: Option<u64>,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// One model routing rule: requests for a matching name go to `backend_model` (on `upstream`,
/// else `default_upstream`), or to one of several weighted `targets`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelRule {
    /// Requested model name or glob (`*` matches any run of characters): `claude-*haiku*`.
    #[serde(rename = "match")]
    pub pattern: String,
    /// The model name the backend knows (the single-target form).
    #[serde(default)]
    pub backend_model: Option<String>,
    /// The upstream of `backend_model`; default `default_upstream`.
    #[serde(default)]
    pub upstream: Option<String>,
    /// Several targets: `[{upstream = "vllm", model = "qwen", weight = 3}, …]`. Requests are
    /// spread by weight; the others are the failover order.
    #[serde(default)]
    pub targets: Vec<TargetConfig>,
    /// Largest output the backend model accepts; larger requests are clamped to it.
    #[serde(default)]
    pub max_output_tokens: Option<u64>,
    /// Context window in tokens (reported in model lists).
    #[serde(default)]
    pub context_window: Option<u32>,
    /// Whether the backend model accepts images (when false, images are dropped with a warning).
    #[serde(default = "yes")]
    pub vision: bool,
    /// Whether the backend model takes reasoning parameters and reasoning history.
    #[serde(default = "yes")]
    pub reasoning: bool,
}

/// One target of a rule. Unset capabilities are the rule's.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// Upstream name; default `default_upstream`.
    #[serde(default)]
    pub upstream: Option<String>,
    /// The model name that upstream knows.
    pub model: String,
    /// Share of requests (relative to the rule's other targets). 0 = failover only.
    #[serde(default = "one")]
    pub weight: u32,
    /// Overrides the rule's `max_output_tokens`.
    #[serde(default)]
    pub max_output_tokens: Option<u64>,
    /// Overrides the rule's `context_window`.
    #[serde(default)]
    pub context_window: Option<u32>,
    /// Overrides the rule's `vision`.
    #[serde(default)]
    pub vision: Option<bool>,
    /// Overrides the rule's `reasoning`.
    #[serde(default)]
    pub reasoning: Option<bool>,
}

fn one() -> u32 {
    1
}

/// Failover and passive health.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Failover {
    /// Most upstream attempts for one request (the first try included).
    pub max_attempts: u32,
    /// Consecutive failures (connect errors, timeouts, 5xx) after which an upstream is ejected.
    pub eject_after_failures: u32,
    /// How long an ejected upstream gets no traffic (unless every other target is down too);
    /// then it is tried again, and one more failure ejects it again.
    pub eject_ms: u64,
    /// How long a 429 without `Retry-After` keeps an upstream out.
    pub rate_limited_ms: u64,
    /// The longest `Retry-After` honoured (a backend asking for an hour is capped).
    pub max_retry_after_ms: u64,
}

impl Default for Failover {
    fn default() -> Self {
        Failover {
            max_attempts: 3,
            eject_after_failures: 3,
            eject_ms: 30_000,
            rate_limited_ms: 5_000,
            max_retry_after_ms: 300_000,
        }
    }
}

/// Gateway keys. With none configured (no `keys`, no `keys_file`) access is open.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Auth {
    /// Keys in the configuration: `[[auth.keys]] user = "alice", sha256 = "<hex>"`.
    pub keys: Vec<KeyConfig>,
    /// A TOML file with the same `[[keys]]` list, re-read when it changes (no restart).
    pub keys_file: Option<PathBuf>,
    /// How often `keys_file` is checked for changes.
    pub reload_ms: u64,
}

impl Default for Auth {
    fn default() -> Self {
        Auth {
            keys: Vec::new(),
            keys_file: None,
            reload_ms: 1_000,
        }
    }
}

impl Auth {
    /// Whether keys are required.
    pub fn enabled(&self) -> bool {
        !self.keys.is_empty() || self.keys_file.is_some()
    }
}

/// One gateway key, stored as the SHA-256 of the key (`printf %s "$KEY" | sha256sum`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// Who holds it (audit log, metrics label).
    pub user: String,
    /// Lower-case hex SHA-256 of the key.
    pub sha256: String,
}

/// The audit log: one JSON line per request, hash-chained.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Audit {
    /// File to append to; no audit log when unset. Rotated files are `<path>.000001`, ….
    pub path: Option<PathBuf>,
    /// Also log the values adapters removed from requests (device, installation and session
    /// ids, billing headers, redacted environment sections), not only where they were.
    /// Off by default: they are persistent identifiers of people's machines, and the key's
    /// user name already says who made the request.
    pub include_removed_values: bool,
    /// Rotate when the file would grow past this size.
    pub max_file_bytes: u64,
    /// Rotated files kept (the oldest are deleted).
    pub max_files: u32,
    /// Records waiting for the writer; when full, records are dropped and counted.
    pub queue: usize,
}

impl Default for Audit {
    fn default() -> Self {
        Audit {
            path: None,
            include_removed_values: false,
            max_file_bytes: 100 << 20,
            max_files: 10,
            queue: 4096,
        }
    }
}

fn yes() -> bool {
    true
}

/// Timeouts and size limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body accepted, after decompression.
    pub max_body_bytes: usize,
    /// Largest single upstream SSE event.
    pub max_event_bytes: usize,
    /// Largest whole (non-streamed) upstream answer.
    pub max_upstream_body_bytes: usize,
    /// Requests served at once; more get 503 in their dialect.
    pub max_concurrent_requests: u32,
    /// Connecting to the upstream.
    pub upstream_connect_timeout_ms: u64,
    /// From sending the request to the upstream's response headers.
    pub upstream_first_byte_timeout_ms: u64,
    /// Longest silence between upstream stream events (and for reading a whole answer).
    pub upstream_idle_timeout_ms: u64,
    /// Interval of dialect keep-alive events while the upstream is silent.
    pub keepalive_ms: u64,
    /// How long in-flight streams may finish after SIGTERM/SIGINT.
    pub shutdown_grace_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 32 << 20,
            max_event_bytes: 8 << 20,
            max_upstream_body_bytes: 64 << 20,
            max_concurrent_requests: 512,
            upstream_connect_timeout_ms: 5_000,
            upstream_first_byte_timeout_ms: 120_000,
            upstream_idle_timeout_ms: 120_000,
            keepalive_ms: 15_000,
            shutdown_grace_ms: 30_000,
        }
    }
}

impl Limits {
    /// Connect timeout.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.upstream_connect_timeout_ms)
    }
    /// First-byte timeout.
    pub fn first_byte_timeout(&self) -> Duration {
        Duration::from_millis(self.upstream_first_byte_timeout_ms)
    }
    /// Idle timeout.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.upstream_idle_timeout_ms)
    }
    /// Keep-alive interval.
    pub fn keepalive(&self) -> Duration {
        Duration::from_millis(self.keepalive_ms.max(1))
    }
    /// Shutdown grace.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
}

/// Adapter sandbox settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sandbox {
    /// Wall-clock budget of one adapter call; past it the call traps (epoch interruption).
    pub deadline_ms: u64,
    /// Linear-memory cap of one adapter instance.
    pub memory_mb: u64,
    /// Quiet period after the last file event before the plugins directory is rescanned.
    pub reload_debounce_ms: u64,
}

impl Default for Sandbox {
    fn default() -> Self {
        Sandbox {
            deadline_ms: 1_000,
            memory_mb: 256,
            reload_debounce_ms: 200,
        }
    }
}

/// Environment variables that are shorthands for nested keys, so the quick-start names stay
/// flat (`CLIGATE_MAX_BODY_BYTES`) while the file keeps its sections.
const FLAT_ENV_ALIASES: &[(&str, &str)] = &[
    ("max_body_bytes", "limits.max_body_bytes"),
    ("max_event_bytes", "limits.max_event_bytes"),
    ("max_concurrent_requests", "limits.max_concurrent_requests"),
    (
        "upstream_connect_timeout_ms",
        "limits.upstream_connect_timeout_ms",
    ),
    (
        "upstream_first_byte_timeout_ms",
        "limits.upstream_first_byte_timeout_ms",
    ),
    (
        "upstream_idle_timeout_ms",
        "limits.upstream_idle_timeout_ms",
    ),
    ("keepalive_ms", "limits.keepalive_ms"),
    ("shutdown_grace_ms", "limits.shutdown_grace_ms"),
    ("adapter_deadline_ms", "sandbox.deadline_ms"),
    ("adapter_memory_mb", "sandbox.memory_mb"),
    ("reload_debounce_ms", "sandbox.reload_debounce_ms"),
];

const TOP_LEVEL_KEYS: &[&str] = &[
    "listen",
    "admin_listen",
    "plugins_dir",
    "cache_dir",
    "addr_file",
    "admin_addr_file",
    "log_format",
    "upstream_url",
    "upstream_api_key",
    "default_model",
    "default_upstream",
    "upstreams",
    "models",
    "defaults",
    "failover",
    "auth",
    "audit",
    "redact_environment",
    "limits",
    "sandbox",
];

/// Keys whose values must stay strings even when they look like numbers
/// (a numeric API key or model name must not become an integer).
const STRING_KEYS: &[&str] = &[
    "listen",
    "admin_listen",
    "upstream_url",
    "upstream_api_key",
    "default_model",
    "default_upstream",
    "plugins_dir",
    "cache_dir",
    "addr_file",
    "admin_addr_file",
];

impl Config {
    /// Load defaults, then `file` (if given), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        let nested = Env::prefixed("CLIGATE_")
            .filter(|key| {
                // Keys are not lower-cased yet at this point.
                let first = key.as_str().split("__").next().unwrap_or_default();
                TOP_LEVEL_KEYS.iter().any(|k| k.eq_ignore_ascii_case(first))
                    && !STRING_KEYS
                        .iter()
                        .any(|k| k.eq_ignore_ascii_case(key.as_str()))
            })
            .split("__");
        let strings = Env::prefixed("CLIGATE_")
            .only(STRING_KEYS)
            .map(|key| key.as_str().to_owned().into());
        let strings = StringEnv(strings);
        let flat = Env::prefixed("CLIGATE_").filter_map(|key| {
            FLAT_ENV_ALIASES
                .iter()
                .find(|(flat, _)| flat.eq_ignore_ascii_case(key.as_str()))
                .map(|(_, nested)| (*nested).into())
        });
        figment = figment.merge(flat).merge(nested).merge(strings);
        figment.extract().map_err(Box::new)
    }

    /// Checks figment cannot express.
    pub fn validate(&self) -> Result<(), String> {
        check_url("upstream_url", &self.upstream_url)?;
        if self.limits.max_concurrent_requests == 0 {
            return Err("limits.max_concurrent_requests must be at least 1".to_owned());
        }
        if self.sandbox.deadline_ms == 0 || self.sandbox.memory_mb == 0 {
            return Err("sandbox.deadline_ms and sandbox.memory_mb must be above 0".to_owned());
        }
        if self.admin_listen.as_deref() == Some(self.listen.as_str())
            && !self.listen.ends_with(":0")
        {
            return Err("admin_listen must differ from listen".to_owned());
        }
        for (name, upstream) in &self.upstreams {
            if name == DEFAULT_UPSTREAM {
                return Err(format!(
                    "[upstreams.{DEFAULT_UPSTREAM}]: the name is reserved for upstream_url and \
                     upstream_api_key; name this upstream differently and set default_upstream"
                ));
            }
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                return Err(format!(
                    "upstream name {name:?} must be letters, digits, - _ ."
                ));
            }
            check_url(&format!("upstreams.{name}.url"), &upstream.url)?;
            if let Some(header) = &upstream.api_key_header {
                check_credential_header(header)
                    .map_err(|e| format!("upstreams.{name}.api_key_header: {e}"))?;
            }
        }
        let known = |name: &str| name == DEFAULT_UPSTREAM || self.upstreams.contains_key(name);
        if !known(&self.default_upstream) {
            return Err(format!(
                "default_upstream {:?} is not a configured upstream",
                self.default_upstream
            ));
        }
        for (i, rule) in self.models.iter().enumerate() {
            let at = format!("[[models]] #{} (match {:?})", i + 1, rule.pattern);
            if rule.pattern.is_empty() {
                return Err(format!("{at}: match must not be empty"));
            }
            match (&rule.backend_model, rule.targets.is_empty()) {
                (Some(model), true) if !model.is_empty() => {}
                (None, false) => {}
                _ => {
                    return Err(format!(
                        "{at}: give either a non-empty backend_model or a non-empty targets list"
                    ));
                }
            }
            if rule.upstream.is_some() && !rule.targets.is_empty() {
                return Err(format!(
                    "{at}: upstream goes with backend_model; each target names its own"
                ));
            }
            if let Some(upstream) = &rule.upstream
                && !known(upstream)
            {
                return Err(format!("{at}: unknown upstream {upstream:?}"));
            }
            for target in &rule.targets {
                if target.model.is_empty() {
                    return Err(format!("{at}: every target needs a model"));
                }
                if let Some(upstream) = &target.upstream
                    && !known(upstream)
                {
                    return Err(format!("{at}: unknown upstream {upstream:?}"));
                }
            }
            if !rule.targets.is_empty() && rule.targets.iter().all(|t| t.weight == 0) {
                return Err(format!("{at}: at least one target needs a weight above 0"));
            }
        }
        for (dialect, model) in &self.defaults {
            if model.is_empty() {
                return Err(format!("defaults.{dialect} must not be empty"));
            }
        }
        if self.failover.max_attempts == 0 || self.failover.eject_after_failures == 0 {
            return Err(
                "failover.max_attempts and failover.eject_after_failures must be at least 1"
                    .to_owned(),
            );
        }
        for key in &self.auth.keys {
            check_key_config(key).map_err(|e| format!("[[auth.keys]]: {e}"))?;
        }
        if self.audit.max_files == 0 || self.audit.queue == 0 || self.audit.max_file_bytes < 4096 {
            return Err(
                "audit.max_files and audit.queue must be at least 1, audit.max_file_bytes at least 4096"
                    .to_owned(),
            );
        }
        Ok(())
    }

    /// For `cligate check`, which often runs where the gateway does not (CI, a laptop):
    /// secrets in environment variables or files and the key file may exist only in the
    /// deployment. Unresolvable references are dropped from this copy and reported as
    /// warnings instead of failing the check; everything else is checked as for serving.
    pub fn relax_for_check(&mut self) -> Vec<String> {
        let mut warnings = Vec::new();
        let mut relax = |what: &str, secret: &mut Option<SecretRef>| {
            if let Some(Err(error)) = secret.as_ref().map(SecretRef::resolve) {
                warnings.push(format!("{what}: not resolvable here ({error})"));
                *secret = None;
            }
        };
        relax("upstream_api_key", &mut self.upstream_api_key);
        for (name, upstream) in &mut self.upstreams {
            relax(&format!("upstreams.{name}.api_key"), &mut upstream.api_key);
        }
        if let Some(file) = &self.auth.keys_file
            && !file.exists()
        {
            warnings.push(format!(
                "auth.keys_file: {} does not exist here",
                file.display()
            ));
            self.auth.keys_file = None;
        }
        warnings
    }

    /// The compiled-adapter cache directory.
    pub fn cache_dir(&self) -> PathBuf {
        if let Some(dir) = &self.cache_dir {
            return dir.clone();
        }
        if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
            return PathBuf::from(dir).join("cligate");
        }
        if let Some(home) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
            return PathBuf::from(home).join(".cache").join("cligate");
        }
        std::env::temp_dir().join("cligate-cache")
    }
}

fn check_url(key: &str, url: &str) -> Result<(), String> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(format!(
            "{key} must start with http:// or https://, got {url:?}"
        ))
    }
}

/// Headers a credential may not be sent in: the ones the gateway sets itself or that frame the
/// request.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-type",
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "connection",
    "accept",
    "user-agent",
    "cookie",
    "te",
    "upgrade",
];

/// A header name fit to carry a service credential.
pub fn check_credential_header(name: &str) -> Result<(), String> {
    let lower = name.to_ascii_lowercase();
    if http::HeaderName::from_bytes(lower.as_bytes()).is_err() {
        return Err(format!("{name:?} is not a valid header name"));
    }
    if RESERVED_HEADERS.contains(&lower.as_str()) {
        return Err(format!("{name:?} cannot carry a credential"));
    }
    Ok(())
}

/// A gateway key entry: a user name and a 64-hex-digit SHA-256.
pub fn check_key_config(key: &KeyConfig) -> Result<(), String> {
    if key.user.trim().is_empty() || key.user.len() > 64 {
        return Err("user must be 1-64 characters".to_owned());
    }
    if key
        .user
        .chars()
        .any(|c| c.is_control() || c == '"' || c == '\\')
    {
        return Err(format!(
            "user {:?} contains a quote, backslash or control character",
            key.user
        ));
    }
    if key.sha256.len() != 64 || !key.sha256.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "the key of {} must be a SHA-256 in hex (64 characters), e.g. `printf %s \"$KEY\" | sha256sum`",
            key.user
        ));
    }
    Ok(())
}

/// An environment provider whose values are never parsed as numbers or booleans.
struct StringEnv(Env);

impl figment::Provider for StringEnv {
    fn metadata(&self) -> figment::Metadata {
        self.0.metadata()
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        let mut dict = figment::value::Dict::new();
        for (key, value) in self.0.iter() {
            dict.insert(key.as_str().to_owned(), value.into());
        }
        Ok(figment::Profile::Default.collect(dict))
    }
}

/// `*`-glob match of a model name (case-sensitive, like model ids).
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return false;
    };
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(pos) => rest = &rest[pos + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::result_large_err)]
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_matches("claude-*haiku*", "claude-3-5-haiku-20241022"));
        assert!(glob_matches("gpt-*", "gpt-5"));
        assert!(glob_matches("exact", "exact"));
        assert!(!glob_matches("exact", "exact2"));
        assert!(glob_matches("*", "anything"));
        assert!(glob_matches("a*b*c", "aXbYc"));
        assert!(!glob_matches("a*b*c", "aXcYb"));
        assert!(!glob_matches("ab*ba", "aba"));
    }

    #[test]
    fn env_and_file_layers_and_errors_that_name_the_key() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "c.toml",
                r#"
                listen = "0.0.0.0:1"
                [limits]
                max_body_bytes = 10
                [[models]]
                match = "claude-*"
                backend_model = "qwen"
                max_output_tokens = 100
                "#,
            )?;
            jail.set_env("CLIGATE_LISTEN", "127.0.0.1:0");
            jail.set_env("CLIGATE_UPSTREAM_API_KEY", "12345");
            jail.set_env("CLIGATE_DEFAULT_MODEL", "7");
            jail.set_env("CLIGATE_ADAPTER_DEADLINE_MS", "50");
            jail.set_env("CLIGATE_BIN", "/ignored/by/config");
            let config = Config::load(Some(Path::new("c.toml"))).expect("loads");
            assert_eq!(config.listen, "127.0.0.1:0");
            assert_eq!(
                config.upstream_api_key,
                Some(SecretRef::Literal("12345".into()))
            );
            assert_eq!(config.default_model.as_deref(), Some("7"));
            assert_eq!(config.limits.max_body_bytes, 10);
            assert_eq!(config.sandbox.deadline_ms, 50);
            assert_eq!(config.models[0].max_output_tokens, Some(100));
            assert!(config.models[0].vision);

            jail.create_file("bad.toml", "[limits]\nmax_bdy_bytes = 1\n")?;
            let err = Config::load(Some(Path::new("bad.toml"))).expect_err("unknown key");
            assert!(err.to_string().contains("max_bdy_bytes"), "{err}");

            jail.create_file("bad.toml", "[audit]\npth = \"x\"\n")?;
            let err = Config::load(Some(Path::new("bad.toml"))).expect_err("unknown key");
            assert!(err.to_string().contains("pth"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn the_team_example_loads_and_validates() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("team.toml", include_str!("../../deploy/config/team.toml"))?;
            jail.set_env("CLIGATE_AUDIT__INCLUDE_REMOVED_VALUES", "true");
            jail.set_env("CLIGATE_FAILOVER__EJECT_MS", "10");
            let mut config = Config::load(Some(Path::new("team.toml"))).expect("loads");
            config.validate().expect("valid");
            assert!(config.audit.include_removed_values);
            assert_eq!(config.failover.eject_ms, 10);
            assert!(config.auth.enabled());
            assert!(config.upstreams.len() >= 2);
            assert!(config.models.iter().any(|m| m.targets.len() > 1));
            assert!(!config.defaults.is_empty());
            assert!(config.admin_listen.is_some());
            let warnings = config.relax_for_check();
            assert!(
                warnings.iter().any(|w| w.contains("auth.keys_file")),
                "{warnings:?}"
            );
            assert!(
                !format!("{config:?}").contains("sk-"),
                "Debug shows no secret"
            );
            Ok(())
        });
    }

    #[test]
    fn validation_names_the_problem() {
        let check = |edit: &dyn Fn(&mut Config)| {
            let mut config = Config::default();
            edit(&mut config);
            config.validate().err().unwrap_or_default()
        };
        let upstream = |url: &str| UpstreamConfig {
            url: url.into(),
            api_key: None,
            api_key_header: None,
            connect_timeout_ms: None,
            first_byte_timeout_ms: None,
            idle_timeout_ms: None,
        };
        let rule = |backend: Option<&str>, targets: Vec<TargetConfig>| ModelRule {
            pattern: "m".into(),
            backend_model: backend.map(str::to_owned),
            upstream: None,
            targets,
            max_output_tokens: None,
            context_window: None,
            vision: true,
            reasoning: true,
        };
        let target = |upstream: &str, weight: u32| TargetConfig {
            upstream: Some(upstream.into()),
            model: "x".into(),
            weight,
            max_output_tokens: None,
            context_window: None,
            vision: None,
            reasoning: None,
        };
        assert_eq!(check(&|_| {}), "");
        assert!(
            check(&|c| {
                c.upstreams.insert("default".into(), upstream("http://x"));
            })
            .contains("reserved")
        );
        assert!(
            check(&|c| {
                c.upstreams.insert("a".into(), upstream("ftp://x"));
            })
            .contains("upstreams.a.url")
        );
        assert!(check(&|c| c.default_upstream = "nope".into()).contains("default_upstream"));
        assert!(check(&|c| c.models.push(rule(None, Vec::new()))).contains("either"));
        assert!(
            check(&|c| c.models.push(rule(Some("b"), vec![target("default", 1)])))
                .contains("either")
        );
        assert!(
            check(&|c| c.models.push(rule(None, vec![target("nope", 1)])))
                .contains("unknown upstream")
        );
        assert!(
            check(&|c| c.models.push(rule(None, vec![target("default", 0)]))).contains("weight")
        );
        assert!(
            check(&|c| {
                let mut r = rule(Some("b"), Vec::new());
                r.upstream = Some("nope".into());
                c.models.push(r);
            })
            .contains("unknown upstream")
        );
        assert!(
            check(&|c| c.auth.keys.push(KeyConfig {
                user: "alice".into(),
                sha256: "abc".into()
            }))
            .contains("SHA-256")
        );
        assert!(
            check(&|c| {
                let mut u = upstream("http://x");
                u.api_key_header = Some("Host".into());
                c.upstreams.insert("a".into(), u);
            })
            .contains("api_key_header")
        );
        assert!(check(&|c| c.admin_listen = Some(c.listen.clone())).contains("admin_listen"));
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let secret = SecretRef::Literal("sk-very-secret".into());
        assert!(!format!("{secret:?}").contains("very-secret"));
        let mut config = Config {
            upstream_api_key: Some(secret),
            ..Config::default()
        };
        assert!(!format!("{config:?}").contains("very-secret"));
        let env = SecretRef::Env {
            env: "CLIGATE_TEST_UNSET_SECRET".into(),
        };
        assert_eq!(
            format!("{env:?}"),
            "SecretRef::Env(CLIGATE_TEST_UNSET_SECRET)"
        );
        config.upstream_api_key = Some(env);
        let warnings = config.relax_for_check();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(config.upstream_api_key.is_none());
    }
}
