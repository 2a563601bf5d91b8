//! Configuration: built-in defaults ← optional TOML file ← `CLIGATE_*` environment.
//!
//! Quick start needs no file at all: `CLIGATE_LISTEN`, `CLIGATE_PLUGINS_DIR`,
//! `CLIGATE_UPSTREAM_URL`, `CLIGATE_UPSTREAM_API_KEY` and `CLIGATE_DEFAULT_MODEL` are top-level
//! keys. Nested keys use `__` in the environment (`CLIGATE_LIMITS__MAX_BODY_BYTES`). Unknown keys
//! in the file are errors that name the key; unrelated `CLIGATE_*` variables (used by tests and
//! scripts) are ignored.

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
    /// Directory of adapter components (`*.wasm`), watched for changes.
    pub plugins_dir: PathBuf,
    /// Where compiled adapters are cached so restarts skip compilation.
    /// Default: `$XDG_CACHE_HOME/cligate` or `~/.cache/cligate`.
    pub cache_dir: Option<PathBuf>,
    /// After binding, write the bound address here (for scripts and tests using port 0).
    pub addr_file: Option<PathBuf>,
    /// `text` or `json` logs on stderr (filter from `RUST_LOG`, default `info`).
    pub log_format: LogFormat,
    /// Base URL of the default OpenAI-compatible upstream, ending in `/v1`.
    pub upstream_url: String,
    /// Service credential for the default upstream, sent as `Authorization: Bearer`.
    pub upstream_api_key: Option<String>,
    /// Backend model used when no `[[models]]` rule matches the requested name.
    /// When unset, the requested name is passed through unchanged.
    pub default_model: Option<String>,
    /// Model routing rules, first match wins.
    pub models: Vec<ModelRule>,
    /// Timeouts and size limits.
    pub limits: Limits,
    /// Adapter sandbox settings.
    pub sandbox: Sandbox,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8787".to_owned(),
            plugins_dir: PathBuf::from("plugins-dist"),
            cache_dir: None,
            addr_file: None,
            log_format: LogFormat::Text,
            upstream_url: "http://127.0.0.1:11434/v1".to_owned(),
            upstream_api_key: None,
            default_model: None,
            models: Vec::new(),
            limits: Limits::default(),
            sandbox: Sandbox::default(),
        }
    }
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

/// One model routing rule: requests for a matching name go to `backend_model`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelRule {
    /// Requested model name or glob (`*` matches any run of characters): `claude-*haiku*`.
    #[serde(rename = "match")]
    pub pattern: String,
    /// The model name the backend knows.
    pub backend_model: String,
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
    "plugins_dir",
    "cache_dir",
    "addr_file",
    "log_format",
    "upstream_url",
    "upstream_api_key",
    "default_model",
    "models",
    "limits",
    "sandbox",
];

/// Keys whose values must stay strings even when they look like numbers
/// (a numeric API key or model name must not become an integer).
const STRING_KEYS: &[&str] = &[
    "listen",
    "upstream_url",
    "upstream_api_key",
    "default_model",
    "plugins_dir",
    "cache_dir",
    "addr_file",
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
        if !(self.upstream_url.starts_with("http://") || self.upstream_url.starts_with("https://"))
        {
            return Err(format!(
                "upstream_url must start with http:// or https://, got {:?}",
                self.upstream_url
            ));
        }
        if self.limits.max_concurrent_requests == 0 {
            return Err("limits.max_concurrent_requests must be at least 1".to_owned());
        }
        if self.sandbox.deadline_ms == 0 || self.sandbox.memory_mb == 0 {
            return Err("sandbox.deadline_ms and sandbox.memory_mb must be above 0".to_owned());
        }
        for rule in &self.models {
            if rule.pattern.is_empty() || rule.backend_model.is_empty() {
                return Err(
                    "every [[models]] rule needs a non-empty match and backend_model".to_owned(),
                );
            }
        }
        Ok(())
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
            assert_eq!(config.upstream_api_key.as_deref(), Some("12345"));
            assert_eq!(config.default_model.as_deref(), Some("7"));
            assert_eq!(config.limits.max_body_bytes, 10);
            assert_eq!(config.sandbox.deadline_ms, 50);
            assert_eq!(config.models[0].max_output_tokens, Some(100));
            assert!(config.models[0].vision);

            jail.create_file("bad.toml", "[limits]\nmax_bdy_bytes = 1\n")?;
            let err = Config::load(Some(Path::new("bad.toml"))).expect_err("unknown key");
            assert!(err.to_string().contains("max_bdy_bytes"), "{err}");
            Ok(())
        });
    }
}
