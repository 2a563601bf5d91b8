//! The client for OpenAI-compatible upstreams: pooled connections, the standard egress proxy
//! variables (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`, honoured by reqwest), timeouts, and
//! headers built from scratch by an allow-list — nothing the client sent is copied.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER,
};

use crate::config::{Config, DEFAULT_UPSTREAM, Limits, SecretRef, UpstreamConfig};
use crate::error::GatewayError;

/// How much of an upstream error body is read to find its message.
const ERROR_BODY_BYTES: usize = 64 * 1024;

/// Every header the gateway sends to an upstream, and the only ones. The request is built
/// from scratch: no header of the client is copied, so its user agent, `X-Stainless-*`,
/// session, window, turn and installation ids, `originator`, `x-app`, `x-goog-api-client`,
/// `x-gemini-api-privileged-user-id`, `X-Forwarded-*`, cookies and keys never pass, and a
/// header a future client invents does not pass either. Besides these, the HTTP client adds
/// only the framing headers (`host`, `content-length`).
///
/// - `content-type`, `accept`: what the pivot request is and what the gateway wants back;
/// - `user-agent`: the gateway's own ([`USER_AGENT`]);
/// - `authorization`: the upstream's service credential (`Bearer`), when it has one.
///
/// An upstream configured with another credential header (`api_key_header = "api-key"`) gets
/// that one header instead of `authorization`; it is checked by
/// [`crate::config::check_credential_header`].
pub const UPSTREAM_HEADER_ALLOW_LIST: &[&str] =
    &["content-type", "accept", "user-agent", "authorization"];

/// The gateway's user agent towards upstreams.
pub const USER_AGENT: &str = concat!("cligate/", env!("CARGO_PKG_VERSION"));

/// One named OpenAI-compatible upstream.
#[derive(Clone)]
pub struct Upstream {
    name: String,
    client: reqwest::Client,
    chat_url: String,
    credential: Option<(HeaderName, HeaderValue)>,
    limits: Limits,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("name", &self.name)
            .field("chat_url", &self.chat_url)
            .field(
                "credential",
                &self
                    .credential
                    .as_ref()
                    .map(|(name, _)| format!("{name}: <redacted>")),
            )
            .finish()
    }
}

impl Upstream {
    /// The quick-start upstream (`upstream_url`, `upstream_api_key`), named `default`.
    pub fn from_config(config: &Config) -> anyhow::Result<Upstream> {
        Upstream::new(
            DEFAULT_UPSTREAM,
            &UpstreamConfig {
                url: config.upstream_url.clone(),
                api_key: config.upstream_api_key.clone(),
                api_key_header: None,
                connect_timeout_ms: None,
                first_byte_timeout_ms: None,
                idle_timeout_ms: None,
            },
            &config.limits,
        )
    }

    /// An upstream from its `[upstreams.<name>]` section; its timeouts override `limits`.
    /// Resolves the credential (environment variable or file) now.
    pub fn new(name: &str, upstream: &UpstreamConfig, limits: &Limits) -> anyhow::Result<Upstream> {
        let mut limits = limits.clone();
        if let Some(ms) = upstream.connect_timeout_ms {
            limits.upstream_connect_timeout_ms = ms;
        }
        if let Some(ms) = upstream.first_byte_timeout_ms {
            limits.upstream_first_byte_timeout_ms = ms;
        }
        if let Some(ms) = upstream.idle_timeout_ms {
            limits.upstream_idle_timeout_ms = ms;
        }
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(limits.connect_timeout())
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .build()?;
        let credential = credential(
            upstream.api_key.as_ref(),
            upstream.api_key_header.as_deref(),
        )
        .map_err(|e| anyhow::anyhow!("upstream {name}: service credential: {e}"))?;
        Ok(Upstream {
            name: name.to_owned(),
            client,
            chat_url: format!("{}/chat/completions", upstream.url.trim_end_matches('/')),
            credential,
            limits,
        })
    }

    /// The upstream's configured name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether a service credential is configured.
    pub fn has_credential(&self) -> bool {
        self.credential.is_some()
    }

    /// The request headers of a pivot request: exactly the allow-list.
    fn headers(&self, stream: bool) -> HeaderMap {
        let mut headers = HeaderMap::with_capacity(3);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(
            ACCEPT,
            HeaderValue::from_static(if stream {
                "text/event-stream"
            } else {
                "application/json"
            }),
        );
        if let Some((name, value)) = &self.credential {
            headers.insert(name.clone(), value.clone());
        }
        headers
    }

    /// Send a pivot request and wait for the response headers (first-byte timeout).
    /// A non-2xx answer becomes [`GatewayError::UpstreamStatus`] with the upstream's message.
    pub async fn send(
        &self,
        body: Vec<u8>,
        stream: bool,
    ) -> Result<reqwest::Response, GatewayError> {
        let request = self
            .client
            .post(&self.chat_url)
            .headers(self.headers(stream))
            .body(body)
            .send();
        let response = match tokio::time::timeout(self.limits.first_byte_timeout(), request).await {
            Err(_) => {
                return Err(GatewayError::UpstreamTimeout(
                    self.limits.first_byte_timeout(),
                ));
            }
            Ok(Err(err)) => return Err(classify(err, self.limits.connect_timeout())),
            Ok(Ok(response)) => response,
        };
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u32>().ok());
        let body = self
            .read_capped(response, ERROR_BODY_BYTES)
            .await
            .unwrap_or_default();
        Err(GatewayError::UpstreamStatus {
            status,
            message: error_message(&body),
            retry_after,
        })
    }

    /// Read a whole body, failing past `cap` bytes or after the idle timeout between pieces.
    pub async fn read_capped(
        &self,
        response: reqwest::Response,
        cap: usize,
    ) -> Result<Vec<u8>, GatewayError> {
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        loop {
            match tokio::time::timeout(self.limits.idle_timeout(), stream.next()).await {
                Err(_) => return Err(GatewayError::UpstreamTimeout(self.limits.idle_timeout())),
                Ok(None) => return Ok(body),
                Ok(Some(Err(err))) => return Err(classify(err, self.limits.connect_timeout())),
                Ok(Some(Ok(piece))) => {
                    if body.len() + piece.len() > cap {
                        return Err(GatewayError::UpstreamGarbage(format!(
                            "answer larger than {cap} bytes"
                        )));
                    }
                    body.extend_from_slice(&piece);
                }
            }
        }
    }

    /// Timeouts and limits in force for this upstream.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}

/// The credential header of an upstream: `Authorization: Bearer <key>` by default, or the key
/// as is in the configured header. Marked sensitive so no HTTP-level debug output shows it.
fn credential(
    key: Option<&SecretRef>,
    header: Option<&str>,
) -> Result<Option<(HeaderName, HeaderValue)>, String> {
    let Some(key) = key.map(SecretRef::resolve).transpose()?.flatten() else {
        return Ok(None);
    };
    let name = match header {
        Some(header) => {
            crate::config::check_credential_header(header)?;
            HeaderName::from_bytes(header.to_ascii_lowercase().as_bytes())
                .map_err(|e| e.to_string())?
        }
        None => AUTHORIZATION,
    };
    let text = if name == AUTHORIZATION {
        format!("Bearer {key}")
    } else {
        key
    };
    let mut value = HeaderValue::from_str(&text)
        .map_err(|_| "the key contains characters a header cannot carry".to_owned())?;
    value.set_sensitive(true);
    Ok(Some((name, value)))
}

/// A streamed body's next piece with the idle timeout applied.
pub async fn next_piece(
    stream: &mut (impl futures::Stream<Item = reqwest::Result<Bytes>> + Unpin),
    idle: Duration,
) -> Result<Option<Bytes>, GatewayError> {
    match tokio::time::timeout(idle, stream.next()).await {
        Err(_) => Err(GatewayError::UpstreamTimeout(idle)),
        Ok(None) => Ok(None),
        Ok(Some(Ok(piece))) => Ok(Some(piece)),
        Ok(Some(Err(err))) => Err(GatewayError::UpstreamUnreachable(format!(
            "the stream broke off: {err}"
        ))),
    }
}

fn classify(err: reqwest::Error, connect_timeout: Duration) -> GatewayError {
    // A connect timeout is a connect error: nothing reached the backend, so failing over is
    // safe. Other timeouts are reqwest's own (none is configured) and read as timeouts.
    if err.is_timeout() && !err.is_connect() {
        GatewayError::UpstreamTimeout(connect_timeout)
    } else {
        // reqwest's Display hides the cause ("error sending request"); the chain names it.
        let mut message = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        GatewayError::UpstreamUnreachable(message)
    }
}

/// The message of an upstream error body in any of the shapes backends use
/// (`{"error":{"message"}}`, `{"error":"…"}`, vLLM's `{"object":"error","message"}`), or the
/// start of the raw text.
fn error_message(body: &[u8]) -> String {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        let message = value
            .pointer("/error/message")
            .or_else(|| value.get("error").filter(|e| e.is_string()))
            .or_else(|| value.get("message"))
            .or_else(|| value.get("detail"))
            .and_then(|m| m.as_str());
        if let Some(message) = message {
            return message.to_owned();
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        "(no message)".to_owned()
    } else {
        text.chars().take(300).collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn upstream(api_key: Option<&str>, header: Option<&str>) -> Upstream {
        Upstream::new(
            "u",
            &UpstreamConfig {
                url: "http://127.0.0.1:1/v1/".into(),
                api_key: api_key.map(|k| SecretRef::Literal(k.into())),
                api_key_header: header.map(str::to_owned),
                connect_timeout_ms: Some(7),
                first_byte_timeout_ms: None,
                idle_timeout_ms: None,
            },
            &Limits::default(),
        )
        .unwrap()
    }

    #[test]
    fn headers_are_exactly_the_allow_list() {
        for (key, header) in [
            (None, None),
            (Some("k"), None),
            (Some("k"), Some("api-key")),
        ] {
            let up = upstream(key, header);
            for stream in [true, false] {
                for name in up.headers(stream).keys() {
                    let allowed = UPSTREAM_HEADER_ALLOW_LIST.contains(&name.as_str())
                        || header == Some(name.as_str());
                    assert!(allowed, "{name} is not on the allow-list");
                }
            }
        }
        let up = upstream(Some("sekrit"), None);
        assert_eq!(up.headers(true)["authorization"], "Bearer sekrit");
        assert_eq!(up.chat_url, "http://127.0.0.1:1/v1/chat/completions");
        assert_eq!(up.limits().upstream_connect_timeout_ms, 7);
        let up = upstream(Some("sekrit"), Some("API-Key"));
        assert_eq!(up.headers(false)["api-key"], "sekrit");
        assert!(up.headers(false).get("authorization").is_none());
        assert!(!format!("{up:?}").contains("sekrit"));
        assert!(!upstream(Some(""), None).has_credential());
    }

    #[test]
    fn credentials_from_env_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key");
        std::fs::write(&file, "from-file\n").unwrap();
        let (_, value) = credential(Some(&SecretRef::File { file }), None)
            .unwrap()
            .unwrap();
        assert_eq!(value, "Bearer from-file");
        assert!(value.is_sensitive());
        let missing = SecretRef::Env {
            env: "CLIGATE_TEST_SURELY_UNSET_VARIABLE".into(),
        };
        assert!(
            credential(Some(&missing), None)
                .unwrap_err()
                .contains("not set")
        );
        assert!(credential(Some(&SecretRef::Literal("k".into())), Some("host")).is_err());
    }

    #[test]
    fn error_messages_from_every_shape() {
        assert_eq!(
            error_message(br#"{"error":{"message":"bad model","type":"x"}}"#),
            "bad model"
        );
        assert_eq!(error_message(br#"{"error":"plain"}"#), "plain");
        assert_eq!(
            error_message(br#"{"object":"error","message":"vllm","code":400}"#),
            "vllm"
        );
        assert_eq!(error_message(b"Bad Gateway"), "Bad Gateway");
        assert_eq!(error_message(b""), "(no message)");
    }
}
