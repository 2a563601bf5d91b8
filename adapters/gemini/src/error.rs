//! Google's error shape (`google.rpc.Status` as JSON), dialects.md §3.12 and §5.7.
//!
//! `{"error":{"code":<http status>,"message":…,"status":"<canonical code>","details":[…]}}`,
//! with a `RetryInfo` detail when the wait is known: Gemini CLI reads `retryDelay` on 429
//! and 503 and retries 429, 499 and 5xx, never 400.

use cligate_adapter_sdk::{ClientResponse, ErrorKind, GatewayError, Header, json};
use serde::Serialize;

/// The body of an error response (and of the error that ends a stream).
#[derive(Serialize, Debug)]
pub struct ErrorBody {
    pub error: Status,
}

/// `google.rpc.Status`.
#[derive(Serialize, Debug)]
pub struct Status {
    pub code: u16,
    pub message: String,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<RetryInfo>,
}

/// `google.rpc.RetryInfo`.
#[derive(Serialize, Debug)]
pub struct RetryInfo {
    #[serde(rename = "@type")]
    pub kind: &'static str,
    #[serde(rename = "retryDelay")]
    pub retry_delay: String,
}

/// HTTP status and canonical code per error class. The gateway's own 5xx classes
/// (`upstream`, `adapter-broken`, `internal`) all read as Google's 500 `INTERNAL`: the
/// client retries them alike, and Google's API never answers 502.
pub fn status_of(kind: ErrorKind) -> (u16, &'static str) {
    match kind {
        // Google answers an over-size body with 400 too; retrying it would not help.
        ErrorKind::InvalidRequest | ErrorKind::RequestTooLarge => (400, "INVALID_ARGUMENT"),
        ErrorKind::Authentication => (401, "UNAUTHENTICATED"),
        ErrorKind::Permission => (403, "PERMISSION_DENIED"),
        ErrorKind::NotFound => (404, "NOT_FOUND"),
        ErrorKind::MethodNotAllowed => (405, "UNIMPLEMENTED"),
        ErrorKind::RateLimited => (429, "RESOURCE_EXHAUSTED"),
        ErrorKind::Overloaded => (503, "UNAVAILABLE"),
        ErrorKind::Timeout => (504, "DEADLINE_EXCEEDED"),
        ErrorKind::Upstream | ErrorKind::AdapterBroken | ErrorKind::Internal => (500, "INTERNAL"),
    }
}

/// The error body for `error`.
pub fn body(error: &GatewayError) -> ErrorBody {
    let (code, status) = status_of(error.kind);
    let details = match error.retry_after_seconds {
        Some(seconds) if matches!(error.kind, ErrorKind::RateLimited | ErrorKind::Overloaded) => {
            vec![RetryInfo {
                kind: "type.googleapis.com/google.rpc.RetryInfo",
                retry_delay: format!("{seconds}s"),
            }]
        }
        _ => Vec::new(),
    };
    ErrorBody {
        error: Status {
            code,
            message: error.message.clone(),
            status,
            details,
        },
    }
}

/// A whole error response.
pub fn response(error: &GatewayError) -> ClientResponse {
    let body = body(error);
    let mut response = json::response(body.error.code, &body);
    if let Some(seconds) = error.retry_after_seconds
        && !body.error.details.is_empty()
    {
        response
            .headers
            .push(Header::new("retry-after", &seconds.to_string()));
    }
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn err(kind: ErrorKind, retry: Option<u32>) -> GatewayError {
        GatewayError {
            kind,
            status: 0,
            message: "m".into(),
            retry_after_seconds: retry,
        }
    }

    #[test]
    fn rate_limit_carries_retry_info() {
        let r = response(&err(ErrorKind::RateLimited, Some(20)));
        assert_eq!(r.status, 429);
        assert_eq!(
            String::from_utf8(r.body).unwrap(),
            r#"{"error":{"code":429,"message":"m","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"20s"}]}}"#
        );
        assert!(
            r.headers
                .iter()
                .any(|h| h.name == "retry-after" && h.value == "20")
        );
    }

    #[test]
    fn statuses() {
        for (kind, code, status) in [
            (ErrorKind::InvalidRequest, 400, "INVALID_ARGUMENT"),
            (ErrorKind::RequestTooLarge, 400, "INVALID_ARGUMENT"),
            (ErrorKind::Authentication, 401, "UNAUTHENTICATED"),
            (ErrorKind::Permission, 403, "PERMISSION_DENIED"),
            (ErrorKind::NotFound, 404, "NOT_FOUND"),
            (ErrorKind::Overloaded, 503, "UNAVAILABLE"),
            (ErrorKind::Timeout, 504, "DEADLINE_EXCEEDED"),
            (ErrorKind::Upstream, 500, "INTERNAL"),
            (ErrorKind::AdapterBroken, 500, "INTERNAL"),
        ] {
            let r = response(&err(kind, Some(3)));
            assert_eq!(r.status, code);
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(v["error"]["status"], status);
            assert_eq!(v["error"]["code"], code);
            assert_eq!(
                v["error"].get("details").is_some(),
                kind == ErrorKind::Overloaded
            );
        }
    }
}
