//! Failures in Anthropic's error shape (dialects.md §1.12, §5.7).
//!
//! The TypeScript SDK picks its exception class from the HTTP status alone, so the status
//! matters more than `error.type`; both follow Anthropic's own pairs.

use cligate_adapter_sdk::{ClientResponse, ErrorKind, ErrorSite, GatewayError, Header};
use serde::Serialize;

/// `{"type":"error","error":{"type":…,"message":…}}`, also the data of a stream `error` event.
#[derive(Serialize)]
pub(crate) struct ErrorBody<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: ErrorDetail<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    message: &'a str,
}

impl<'a> ErrorBody<'a> {
    /// An error body with the given Anthropic error type.
    pub(crate) fn new(error_type: &'a str, message: &'a str, request_id: Option<&'a str>) -> Self {
        ErrorBody {
            kind: "error",
            error: ErrorDetail {
                kind: error_type,
                message,
            },
            request_id,
        }
    }
}

/// Anthropic's `error.type` for a gateway error kind.
pub(crate) fn error_type(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest | ErrorKind::MethodNotAllowed => "invalid_request_error",
        ErrorKind::Authentication => "authentication_error",
        ErrorKind::Permission => "permission_error",
        ErrorKind::NotFound => "not_found_error",
        ErrorKind::RequestTooLarge => "request_too_large",
        ErrorKind::RateLimited => "rate_limit_error",
        ErrorKind::Overloaded => "overloaded_error",
        ErrorKind::Timeout => "timeout_error",
        ErrorKind::Upstream | ErrorKind::AdapterBroken | ErrorKind::Internal => "api_error",
    }
}

/// The HTTP status Claude Code should see for a gateway error.
pub(crate) fn status(error: &GatewayError) -> u16 {
    match error.kind {
        ErrorKind::InvalidRequest => 400,
        ErrorKind::Authentication => 401,
        ErrorKind::Permission => 403,
        ErrorKind::NotFound => 404,
        ErrorKind::MethodNotAllowed => 405,
        ErrorKind::RequestTooLarge => 413,
        ErrorKind::RateLimited => 429,
        // Anthropic's own "overloaded" status; the SDK retries it like any 5xx.
        ErrorKind::Overloaded => 529,
        ErrorKind::Timeout => 504,
        // Keep the backend's 5xx when the host passed one through.
        ErrorKind::Upstream if (500..=599).contains(&error.status) => error.status,
        ErrorKind::Upstream | ErrorKind::AdapterBroken => 502,
        ErrorKind::Internal => 500,
    }
}

/// The whole HTTP error response.
pub(crate) fn render(site: &ErrorSite, error: &GatewayError) -> ClientResponse {
    let body = ErrorBody::new(
        error_type(error.kind),
        &error.message,
        Some(site.request_id.as_str()).filter(|id| !id.is_empty()),
    );
    let mut response = cligate_adapter_sdk::json::response(status(error), &body);
    if !site.request_id.is_empty() {
        response
            .headers
            .push(Header::new("request-id", &site.request_id));
    }
    if let Some(seconds) = error.retry_after_seconds {
        response
            .headers
            .push(Header::new("retry-after", &seconds.to_string()));
    }
    response
}
