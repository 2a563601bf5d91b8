//! The client for OpenAI-compatible upstreams: pooled connections, the standard egress proxy
//! variables (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`, honoured by reqwest), timeouts, and
//! headers built from scratch — nothing the client sent is copied.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};

use crate::config::{Config, Limits};
use crate::error::GatewayError;

/// How much of an upstream error body is read to find its message.
const ERROR_BODY_BYTES: usize = 64 * 1024;

/// One OpenAI-compatible upstream.
#[derive(Clone)]
pub struct Upstream {
    client: reqwest::Client,
    chat_url: String,
    api_key: Option<HeaderValue>,
    limits: Limits,
}

impl Upstream {
    /// The default upstream from the configuration.
    pub fn from_config(config: &Config) -> anyhow::Result<Upstream> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("cligate/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.limits.connect_timeout())
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .build()?;
        let api_key = match &config.upstream_api_key {
            Some(key) if !key.is_empty() => {
                let mut value = HeaderValue::from_str(&format!("Bearer {key}"))?;
                value.set_sensitive(true);
                Some(value)
            }
            _ => None,
        };
        Ok(Upstream {
            client,
            chat_url: format!(
                "{}/chat/completions",
                config.upstream_url.trim_end_matches('/')
            ),
            api_key,
            limits: config.limits.clone(),
        })
    }

    /// Send a pivot request and wait for the response headers (first-byte timeout).
    /// A non-2xx answer becomes [`GatewayError::UpstreamStatus`] with the upstream's message.
    pub async fn send(
        &self,
        body: Vec<u8>,
        stream: bool,
    ) -> Result<reqwest::Response, GatewayError> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(
            ACCEPT,
            HeaderValue::from_static(if stream {
                "text/event-stream"
            } else {
                "application/json"
            }),
        );
        if let Some(key) = &self.api_key {
            headers.insert(AUTHORIZATION, key.clone());
        }
        let request = self
            .client
            .post(&self.chat_url)
            .headers(headers)
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

    /// Timeouts and limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
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
    if err.is_timeout() {
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
    use super::*;

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
