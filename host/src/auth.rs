//! Gateway keys: who may use the gateway, and under which name they appear in the audit log
//! and the metrics.
//!
//! Keys are stored as SHA-256 hashes (in the configuration and/or a key file that is re-read
//! when its content changes, without a restart). A request's key is taken from wherever its
//! client sends one — `x-api-key` (Claude Code), `Authorization: Bearer` (Codex, OpenAI SDKs),
//! `x-goog-api-key` or `?key=` (Gemini), `api-key` (Azure-style SDKs) — and an empty value
//! counts as none (Gemini CLI sends an empty `x-goog-api-key` when no key is set). The hash of
//! the presented key is compared with every stored hash in constant time.
//!
//! Which routes need a key: all of them when keys are configured, local ones included (model
//! lists and token counts reveal the configuration), except `HEAD /`: Claude Code probes the
//! base URL with it at start, without a key, and the answer reveals nothing.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::http::HeaderMap;
use figment::Figment;
use figment::providers::{Format, Toml};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use crate::config::{Auth, KeyConfig, check_key_config};

/// The user name of requests when access is open (and of refused requests).
pub const ANONYMOUS: &str = "anonymous";

/// The outcome of checking a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No keys are configured, or the route needs none.
    Open,
    /// A valid key of this user.
    User(Arc<str>),
    /// Keys are required and the request carries none.
    Missing,
    /// The request carries a key that is not valid.
    Invalid,
}

impl Verdict {
    /// The user name for logs and metrics.
    pub fn user(&self) -> &str {
        match self {
            Verdict::User(user) => user,
            _ => ANONYMOUS,
        }
    }
}

#[derive(Debug)]
struct Entry {
    user: Arc<str>,
    hash: [u8; 32],
}

/// The key file: the same `[[keys]]` list as `[auth]` in the configuration.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    #[serde(default)]
    keys: Vec<KeyConfig>,
}

/// The gateway keys in force.
#[derive(Debug)]
pub struct Keys {
    required: bool,
    inline: Vec<KeyConfig>,
    file: Option<PathBuf>,
    entries: ArcSwap<Vec<Entry>>,
    /// SHA-256 of the key file content last seen (loaded or refused).
    seen: Mutex<Option<[u8; 32]>>,
}

impl Keys {
    /// The keys of the configuration; reads the key file now (an unreadable or invalid file is
    /// a start-up error).
    pub fn from_config(auth: &Auth) -> Result<Keys, String> {
        let keys = Keys {
            required: auth.enabled(),
            inline: auth.keys.clone(),
            file: auth.keys_file.clone(),
            entries: ArcSwap::from_pointee(Vec::new()),
            seen: Mutex::new(None),
        };
        let mut entries = entries(&keys.inline)?;
        if let Some(file) = &keys.file {
            let content = std::fs::read(file)
                .map_err(|e| format!("cannot read the key file {}: {e}", file.display()))?;
            entries.extend(parse_key_file(file, &content)?);
            if let Ok(mut seen) = keys.seen.lock() {
                *seen = Some(Sha256::digest(&content).into());
            }
        }
        keys.entries.store(Arc::new(entries));
        Ok(keys)
    }

    /// Whether requests need a key.
    pub fn required(&self) -> bool {
        self.required
    }

    /// How many keys are in force.
    pub fn count(&self) -> usize {
        self.entries.load().len()
    }

    /// Check a request for `method path` with these headers and query.
    pub fn check(
        &self,
        method: &str,
        path: &str,
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> Verdict {
        if !self.required || (method == "HEAD" && path == "/") {
            return Verdict::Open;
        }
        let presented = presented_keys(headers, query);
        if presented.is_empty() {
            return Verdict::Missing;
        }
        let entries = self.entries.load();
        for key in presented {
            if let Some(user) = find(&entries, &key) {
                return Verdict::User(user);
            }
        }
        Verdict::Invalid
    }

    /// Re-read the key file if its content changed. `Ok(true)` when new keys took effect;
    /// on an error the previous keys stay in force.
    pub fn reload_if_changed(&self) -> Result<bool, String> {
        let Some(file) = &self.file else {
            return Ok(false);
        };
        let content = std::fs::read(file)
            .map_err(|e| format!("cannot read the key file {}: {e}", file.display()))?;
        let fingerprint: [u8; 32] = Sha256::digest(&content).into();
        {
            let Ok(mut seen) = self.seen.lock() else {
                return Ok(false);
            };
            if *seen == Some(fingerprint) {
                return Ok(false);
            }
            // Remember it even if it fails to parse: one error log per change, not per poll.
            *seen = Some(fingerprint);
        }
        let mut entries = entries(&self.inline)?;
        entries.extend(parse_key_file(file, &content)?);
        self.entries.store(Arc::new(entries));
        Ok(true)
    }

    /// Poll the key file every `every` and reload it when it changed.
    pub fn watch(self: &Arc<Self>, every: Duration) {
        if self.file.is_none() {
            return;
        }
        let keys = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every.max(Duration::from_millis(50)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failing = false;
            loop {
                tick.tick().await;
                let keys = Arc::clone(&keys);
                let outcome = tokio::task::spawn_blocking(move || {
                    let outcome = keys.reload_if_changed();
                    (outcome, keys.count())
                })
                .await;
                match outcome {
                    Ok((Ok(true), count)) => {
                        failing = false;
                        tracing::info!(keys = count, "gateway key file reloaded");
                    }
                    Ok((Ok(false), _)) => failing = false,
                    Ok((Err(error), _)) => {
                        if !failing {
                            tracing::error!(error = %error, "gateway key file not reloaded; the previous keys stay in force");
                        }
                        failing = true;
                    }
                    Err(_) => {}
                }
            }
        });
    }
}

fn entries(keys: &[KeyConfig]) -> Result<Vec<Entry>, String> {
    keys.iter()
        .map(|key| {
            check_key_config(key)?;
            let mut hash = [0u8; 32];
            hex::decode_to_slice(key.sha256.to_ascii_lowercase(), &mut hash)
                .map_err(|e| format!("the key of {}: {e}", key.user))?;
            Ok(Entry {
                user: Arc::from(key.user.as_str()),
                hash,
            })
        })
        .collect()
}

fn parse_key_file(file: &Path, content: &[u8]) -> Result<Vec<Entry>, String> {
    let text = std::str::from_utf8(content)
        .map_err(|_| format!("the key file {} is not UTF-8", file.display()))?;
    let parsed: KeyFile = Figment::from(Toml::string(text))
        .extract()
        .map_err(|e| format!("the key file {}: {e}", file.display()))?;
    entries(&parsed.keys).map_err(|e| format!("the key file {}: {e}", file.display()))
}

/// The user whose stored hash equals the hash of `key`. Every entry is compared, in constant
/// time, whatever matches.
fn find(entries: &[Entry], key: &str) -> Option<Arc<str>> {
    let hash: [u8; 32] = Sha256::digest(key.as_bytes()).into();
    let mut found = subtle::Choice::from(0);
    let mut index = 0u64;
    for (i, entry) in entries.iter().enumerate() {
        let equal = entry.hash.ct_eq(&hash);
        index = u64::conditional_select(&index, &(i as u64), equal & !found);
        found |= equal;
    }
    if bool::from(found) {
        entries
            .get(usize::try_from(index).ok()?)
            .map(|e| Arc::clone(&e.user))
    } else {
        None
    }
}

/// Every non-empty key the request presents, in the order the headers are listed above.
fn presented_keys(headers: &HeaderMap, query: Option<&str>) -> Vec<String> {
    let mut keys = Vec::new();
    let mut push = |value: &str| {
        let value = value.trim();
        if !value.is_empty() && !keys.iter().any(|k| k == value) {
            keys.push(value.to_owned());
        }
    };
    for name in ["x-api-key", "x-goog-api-key", "api-key"] {
        for value in headers.get_all(name) {
            if let Ok(value) = value.to_str() {
                push(value);
            }
        }
    }
    for value in headers.get_all("authorization") {
        if let Ok(value) = value.to_str()
            && let Some((scheme, token)) = value.trim().split_once(' ')
            && scheme.eq_ignore_ascii_case("bearer")
        {
            push(token);
        }
    }
    if let Some(query) = query {
        for pair in query.split('&') {
            if let Some(value) = pair.strip_prefix("key=") {
                push(&percent_decode(value));
            }
        }
    }
    keys
}

fn percent_decode(value: &str) -> String {
    fn hex_digit(byte: u8) -> Option<u8> {
        (byte as char)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    }
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        let escaped = match (byte, bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&high), Some(&low)) => hex_digit(high).zip(hex_digit(low)),
            _ => None,
        };
        match (escaped, byte) {
            (Some((high, low)), _) => {
                out.push(high << 4 | low);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, byte) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The SHA-256 hex of a key, as the configuration stores it.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::http::HeaderValue;

    fn auth(keys: &[(&str, &str)], file: Option<PathBuf>) -> Auth {
        Auth {
            keys: keys
                .iter()
                .map(|(user, key)| KeyConfig {
                    user: (*user).into(),
                    sha256: hash_key(key),
                })
                .collect(),
            keys_file: file,
            reload_ms: 1000,
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn keys_from_every_place_clients_send_them() {
        let keys = Keys::from_config(&auth(&[("alice", "ka"), ("bob", "kb")], None)).unwrap();
        let check = |h: &[(&'static str, &str)], q: Option<&str>| {
            keys.check("POST", "/v1/x", &headers(h), q)
        };
        assert_eq!(check(&[("x-api-key", "ka")], None).user(), "alice");
        assert_eq!(check(&[("authorization", "Bearer kb")], None).user(), "bob");
        assert_eq!(check(&[("authorization", "bearer kb")], None).user(), "bob");
        assert_eq!(check(&[("x-goog-api-key", "ka")], None).user(), "alice");
        assert_eq!(check(&[("api-key", "kb")], None).user(), "bob");
        assert_eq!(check(&[], Some("alt=sse&key=ka")).user(), "alice");
        // Gemini CLI's empty key is no key; a wrong key next to a right one still passes.
        assert_eq!(check(&[("x-goog-api-key", "")], None), Verdict::Missing);
        assert_eq!(
            check(
                &[("x-goog-api-key", ""), ("authorization", "Bearer ka")],
                None
            )
            .user(),
            "alice"
        );
        assert_eq!(check(&[], None), Verdict::Missing);
        assert_eq!(check(&[("x-api-key", "nope")], None), Verdict::Invalid);
        assert_eq!(
            check(&[("authorization", "Basic ka")], None),
            Verdict::Missing
        );
        assert_eq!(check(&[("x-api-key", "kb")], None).user(), "bob");
        assert_eq!(keys.check("HEAD", "/", &headers(&[]), None), Verdict::Open);
        assert_eq!(
            keys.check("GET", "/", &headers(&[]), None),
            Verdict::Missing
        );
        let open = Keys::from_config(&Auth::default()).unwrap();
        assert_eq!(open.check("POST", "/", &headers(&[]), None), Verdict::Open);
        assert_eq!(Verdict::Open.user(), ANONYMOUS);
    }

    #[test]
    fn key_file_reload_keeps_old_keys_on_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keys.toml");
        let write = |entries: &[(&str, &str)]| {
            let text: String = entries
                .iter()
                .map(|(u, k)| format!("[[keys]]\nuser = \"{u}\"\nsha256 = \"{}\"\n", hash_key(k)))
                .collect();
            std::fs::write(&file, text).unwrap();
        };
        write(&[("carol", "kc")]);
        let keys = Keys::from_config(&auth(&[("alice", "ka")], Some(file.clone()))).unwrap();
        let user = |k: &str| keys.check("POST", "/", &headers(&[("x-api-key", k)]), None);
        assert_eq!(user("kc").user(), "carol");
        assert_eq!(user("ka").user(), "alice");
        assert!(!keys.reload_if_changed().unwrap());
        write(&[("dave", "kd")]);
        assert!(keys.reload_if_changed().unwrap());
        assert_eq!(user("kd").user(), "dave");
        assert_eq!(user("kc"), Verdict::Invalid);
        std::fs::write(&file, "[[keys]]\nuser = \"x\"\nsha256 = \"short\"\n").unwrap();
        assert!(keys.reload_if_changed().is_err());
        assert_eq!(user("kd").user(), "dave", "old keys stay");
        assert!(
            !keys.reload_if_changed().unwrap(),
            "the same bad content is not retried"
        );
        assert!(Keys::from_config(&auth(&[], Some(dir.path().join("missing")))).is_err());
    }

    #[test]
    fn percent_decoding_of_query_keys() {
        assert_eq!(percent_decode("a%2Fb+c"), "a/b c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
