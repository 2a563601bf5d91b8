//! The one error type of the request path. Every failure becomes a [`GatewayError`], which the
//! serving adapter renders in the client's own dialect (`translate-error`); only when no adapter
//! can render it does the host fall back to a plain OpenAI-style JSON body.

use std::time::Duration;

use crate::adapter_host::wit::latest::types::{ErrorKind, GatewayError as WitGatewayError};

/// A failure of one request.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GatewayError {
    /// No adapter serves this path.
    #[error("no route for {method} {path}")]
    RouteNotFound {
        /// Request method.
        method: String,
        /// Request path.
        path: String,
    },
    /// The path is served, but not with this method.
    #[error("{method} is not allowed on {path}")]
    MethodNotAllowed {
        /// Request method.
        method: String,
        /// Request path.
        path: String,
    },
    /// The body is over the configured cap (after decompression).
    #[error("request body exceeds the limit of {limit} bytes")]
    BodyTooLarge {
        /// The cap.
        limit: usize,
    },
    /// The request is malformed (body unreadable, bad encoding, or the adapter said so).
    #[error("{0}")]
    InvalidRequest(String),
    /// Well-formed but not expressible by this adapter or the pivot.
    #[error("{0}")]
    Unsupported(String),
    /// The adapter trapped, ran past its deadline or its memory cap.
    #[error("adapter {adapter} {version} failed: {reason}")]
    AdapterBroken {
        /// Adapter name.
        adapter: String,
        /// Adapter version.
        version: String,
        /// What happened (trap message, deadline, memory).
        reason: String,
    },
    /// The adapter returned its `internal` error.
    #[error("adapter {adapter} {version} reported an internal error: {message}")]
    AdapterInternal {
        /// Adapter name.
        adapter: String,
        /// Adapter version.
        version: String,
        /// The adapter's message.
        message: String,
    },
    /// Could not connect to or talk with the upstream.
    #[error("upstream unreachable: {0}")]
    UpstreamUnreachable(String),
    /// The upstream did not answer (or went silent) in time.
    #[error("upstream did not answer within {}s", .0.as_secs_f64())]
    UpstreamTimeout(Duration),
    /// The upstream answered with an error status.
    #[error("upstream answered {status}: {message}")]
    UpstreamStatus {
        /// The upstream's HTTP status.
        status: u16,
        /// The upstream's error message, if it sent one.
        message: String,
        /// `Retry-After` in seconds, if sent.
        retry_after: Option<u32>,
    },
    /// The upstream's answer could not be read.
    #[error("upstream sent an unreadable answer: {0}")]
    UpstreamGarbage(String),
    /// A gateway key is required and the request carries none, or a wrong one.
    #[error("{0}")]
    Unauthenticated(String),
    /// Too many requests in flight here.
    #[error("the gateway is at capacity, retry shortly")]
    Overloaded,
    /// A bug or an unexpected state inside the gateway.
    #[error("internal gateway error: {0}")]
    Internal(String),
}

/// How an upstream error bears on failover and the upstream's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamVerdict {
    /// Not the upstream's fault (a 4xx about the request): answer the client.
    Fine,
    /// The upstream is failing (connect error, 5xx): count it, try the next target.
    Failover,
    /// The upstream asked to slow down (429): keep it out for `Retry-After`, try the next.
    RateLimited,
    /// The upstream is failing but retrying elsewhere is unwise (timeout after sending).
    Unhealthy,
}

impl GatewayError {
    /// The error class, as adapters see it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            GatewayError::RouteNotFound { .. } => ErrorKind::NotFound,
            GatewayError::MethodNotAllowed { .. } => ErrorKind::MethodNotAllowed,
            GatewayError::BodyTooLarge { .. } => ErrorKind::RequestTooLarge,
            GatewayError::InvalidRequest(_) | GatewayError::Unsupported(_) => {
                ErrorKind::InvalidRequest
            }
            GatewayError::AdapterBroken { .. } | GatewayError::AdapterInternal { .. } => {
                ErrorKind::AdapterBroken
            }
            GatewayError::UpstreamUnreachable(_) | GatewayError::UpstreamGarbage(_) => {
                ErrorKind::Upstream
            }
            GatewayError::UpstreamTimeout(_) => ErrorKind::Timeout,
            GatewayError::UpstreamStatus { status, .. } => match status {
                400 | 422 => ErrorKind::InvalidRequest,
                404 => ErrorKind::NotFound,
                413 => ErrorKind::RequestTooLarge,
                429 => ErrorKind::RateLimited,
                503 | 529 => ErrorKind::Overloaded,
                504 => ErrorKind::Timeout,
                _ => ErrorKind::Upstream,
            },
            GatewayError::Unauthenticated(_) => ErrorKind::Authentication,
            GatewayError::Overloaded => ErrorKind::Overloaded,
            GatewayError::Internal(_) => ErrorKind::Internal,
        }
    }

    /// What this error says about the upstream that produced it, for failover and passive
    /// health. Only errors from before the first byte reached the client are ever retried.
    pub fn upstream_verdict(&self) -> UpstreamVerdict {
        match self {
            // Nothing reached the backend, or it refused: another target may do.
            GatewayError::UpstreamUnreachable(_) => UpstreamVerdict::Failover,
            GatewayError::UpstreamStatus { status: 429, .. } => UpstreamVerdict::RateLimited,
            GatewayError::UpstreamStatus { status, .. } if *status >= 500 => {
                UpstreamVerdict::Failover
            }
            // The backend took the request and went quiet: it may still be generating, so
            // sending it elsewhere would double the load and the wait. It counts against the
            // upstream's health all the same.
            GatewayError::UpstreamTimeout(_) => UpstreamVerdict::Unhealthy,
            _ => UpstreamVerdict::Fine,
        }
    }

    /// The HTTP status the host suggests (adapters may use their dialect's own).
    pub fn status(&self) -> u16 {
        match self.kind() {
            ErrorKind::InvalidRequest => 400,
            ErrorKind::Authentication => 401,
            ErrorKind::Permission => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::MethodNotAllowed => 405,
            ErrorKind::RequestTooLarge => 413,
            ErrorKind::RateLimited => 429,
            ErrorKind::Upstream | ErrorKind::AdapterBroken => 502,
            ErrorKind::Overloaded => 503,
            ErrorKind::Timeout => 504,
            ErrorKind::Internal => 500,
        }
    }

    /// Seconds to wait before retrying, if known.
    pub fn retry_after(&self) -> Option<u32> {
        match self {
            GatewayError::UpstreamStatus { retry_after, .. } => *retry_after,
            GatewayError::Overloaded => Some(1),
            _ => None,
        }
    }

    /// A short stable label for logs and metrics.
    pub fn class(&self) -> &'static str {
        match self {
            GatewayError::RouteNotFound { .. } => "route_not_found",
            GatewayError::MethodNotAllowed { .. } => "method_not_allowed",
            GatewayError::BodyTooLarge { .. } => "body_too_large",
            GatewayError::InvalidRequest(_) => "invalid_request",
            GatewayError::Unsupported(_) => "unsupported",
            GatewayError::AdapterBroken { .. } => "adapter_broken",
            GatewayError::AdapterInternal { .. } => "adapter_internal",
            GatewayError::UpstreamUnreachable(_) => "upstream_unreachable",
            GatewayError::UpstreamTimeout(_) => "upstream_timeout",
            GatewayError::UpstreamStatus { .. } => "upstream_status",
            GatewayError::UpstreamGarbage(_) => "upstream_garbage",
            GatewayError::Unauthenticated(_) => "unauthenticated",
            GatewayError::Overloaded => "overloaded",
            GatewayError::Internal(_) => "internal",
        }
    }

    /// The error as the contract carries it to an adapter.
    pub fn to_wit(&self) -> WitGatewayError {
        WitGatewayError {
            kind: self.kind(),
            status: self.status(),
            message: self.to_string(),
            retry_after_seconds: self.retry_after(),
        }
    }

    /// The last-resort body when no adapter can render the error: OpenAI's error shape,
    /// which most clients at least display.
    pub fn fallback_body(&self) -> Vec<u8> {
        serde_json::json!({
            "error": {
                "message": self.to_string(),
                "type": self.class(),
                "code": self.status(),
            }
        })
        .to_string()
        .into_bytes()
    }
}
