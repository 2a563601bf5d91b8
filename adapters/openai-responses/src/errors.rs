//! Failures in OpenAI's shapes: the HTTP error body, and the `response.failed` error codes
//! Codex acts on (dialects.md §2.7 item 6, §5.7).

use cligate_adapter_sdk::{ClientResponse, ErrorKind, ErrorSite, GatewayError, Header};
use serde::Serialize;

#[derive(Serialize)]
struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Serialize)]
struct Detail<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    param: Option<()>,
    code: Option<&'static str>,
}

/// Whether a backend message says the prompt does not fit the context window.
pub fn is_context_length(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    [
        "context length",
        "context_length",
        "maximum context",
        "context window",
        "too many tokens",
        "prompt is too long",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

/// The `response.failed` code for an error the backend reported inside the stream.
/// Codex treats `context_length_exceeded` as fatal and retries anything else.
pub fn failure_code_for_message(message: &str) -> &'static str {
    if is_context_length(message) {
        "context_length_exceeded"
    } else {
        "server_error"
    }
}

/// The message, with the retry hint Codex parses (`try again in Ns`) when the delay is known.
fn message_with_retry(error: &GatewayError) -> String {
    match error.retry_after_seconds {
        Some(seconds) if !error.message.to_ascii_lowercase().contains("try again in") => {
            let separator = if error.message.is_empty() { "" } else { " " };
            format!(
                "{}{separator}Please try again in {seconds}s.",
                error.message
            )
        }
        _ => error.message.clone(),
    }
}

/// Code and message of `response.failed` for a failure after the stream began.
pub fn stream_failure(error: &GatewayError) -> (&'static str, String) {
    let code = match error.kind {
        ErrorKind::RateLimited => "rate_limit_exceeded",
        ErrorKind::InvalidRequest if is_context_length(&error.message) => "context_length_exceeded",
        ErrorKind::InvalidRequest => "invalid_prompt",
        ErrorKind::Overloaded => "server_is_overloaded",
        _ => failure_code_for_message(&error.message),
    };
    (code, message_with_retry(error))
}

/// An HTTP error response in OpenAI's shape, `{"error":{"message","type","param","code"}}`.
pub fn render(site: &ErrorSite, error: &GatewayError) -> ClientResponse {
    let (status, kind, code) = match error.kind {
        ErrorKind::InvalidRequest if is_context_length(&error.message) => (
            400,
            "invalid_request_error",
            Some("context_length_exceeded"),
        ),
        ErrorKind::InvalidRequest => (400, "invalid_request_error", None),
        ErrorKind::Authentication => (401, "invalid_request_error", Some("invalid_api_key")),
        ErrorKind::Permission => (403, "permission_error", Some("permission_denied")),
        ErrorKind::NotFound if site.client_model.is_some() => {
            (404, "invalid_request_error", Some("model_not_found"))
        }
        ErrorKind::NotFound => (404, "invalid_request_error", Some("not_found")),
        ErrorKind::MethodNotAllowed => (405, "invalid_request_error", Some("method_not_allowed")),
        ErrorKind::RequestTooLarge => (413, "invalid_request_error", Some("request_too_large")),
        ErrorKind::RateLimited => (429, "rate_limit_error", Some("rate_limit_exceeded")),
        ErrorKind::Upstream => {
            let status = if (500..=599).contains(&error.status) {
                error.status
            } else {
                502
            };
            (status, "server_error", Some("server_error"))
        }
        ErrorKind::Overloaded => (503, "server_error", Some("server_is_overloaded")),
        ErrorKind::Timeout => (504, "server_error", Some("timeout")),
        ErrorKind::AdapterBroken => (502, "server_error", Some("server_error")),
        ErrorKind::Internal => (500, "server_error", Some("server_error")),
    };
    let message = message_with_retry(error);
    let body = serde_json::to_vec(&Body {
        error: Detail {
            message: &message,
            kind,
            param: None,
            code,
        },
    })
    .unwrap_or_else(|_| b"{\"error\":{\"message\":\"error\",\"type\":\"server_error\",\"param\":null,\"code\":null}}".to_vec());
    let mut headers = vec![Header::new("content-type", "application/json")];
    if let Some(seconds) = error.retry_after_seconds {
        headers.push(Header::new("retry-after", &seconds.to_string()));
    }
    ClientResponse {
        status,
        headers,
        body,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn site(model: Option<&str>) -> ErrorSite {
        ErrorSite {
            request_id: "r".into(),
            path: "/v1/responses".into(),
            query: None,
            client_model: model.map(str::to_owned),
        }
    }

    fn err(kind: ErrorKind, status: u16, message: &str, retry: Option<u32>) -> GatewayError {
        GatewayError {
            kind,
            status,
            message: message.into(),
            retry_after_seconds: retry,
        }
    }

    fn body(response: &ClientResponse) -> serde_json::Value {
        serde_json::from_slice(&response.body).unwrap()
    }

    #[test]
    fn every_kind_has_its_status_type_and_code() {
        let cases = [
            (
                ErrorKind::InvalidRequest,
                400,
                "invalid_request_error",
                serde_json::Value::Null,
            ),
            (
                ErrorKind::Authentication,
                401,
                "invalid_request_error",
                "invalid_api_key".into(),
            ),
            (
                ErrorKind::Permission,
                403,
                "permission_error",
                "permission_denied".into(),
            ),
            (
                ErrorKind::NotFound,
                404,
                "invalid_request_error",
                "model_not_found".into(),
            ),
            (
                ErrorKind::MethodNotAllowed,
                405,
                "invalid_request_error",
                "method_not_allowed".into(),
            ),
            (
                ErrorKind::RequestTooLarge,
                413,
                "invalid_request_error",
                "request_too_large".into(),
            ),
            (
                ErrorKind::RateLimited,
                429,
                "rate_limit_error",
                "rate_limit_exceeded".into(),
            ),
            (
                ErrorKind::Upstream,
                502,
                "server_error",
                "server_error".into(),
            ),
            (
                ErrorKind::Overloaded,
                503,
                "server_error",
                "server_is_overloaded".into(),
            ),
            (ErrorKind::Timeout, 504, "server_error", "timeout".into()),
            (
                ErrorKind::AdapterBroken,
                502,
                "server_error",
                "server_error".into(),
            ),
            (
                ErrorKind::Internal,
                500,
                "server_error",
                "server_error".into(),
            ),
        ];
        for (kind, status, kind_name, code) in cases {
            let response = render(&site(Some("m")), &err(kind, 0, "boom", None));
            assert_eq!(response.status, status, "{kind:?}");
            let json = body(&response);
            assert_eq!(json["error"]["type"], kind_name, "{kind:?}");
            assert_eq!(json["error"]["code"], code, "{kind:?}");
            assert_eq!(json["error"]["param"], serde_json::Value::Null);
            assert_eq!(json["error"]["message"], "boom");
        }
    }

    #[test]
    fn retry_hint_header_and_backend_status() {
        let response = render(
            &site(None),
            &err(ErrorKind::RateLimited, 429, "slow down", Some(20)),
        );
        assert_eq!(
            body(&response)["error"]["message"],
            "slow down Please try again in 20s."
        );
        assert!(
            response
                .headers
                .iter()
                .any(|h| h.name == "retry-after" && h.value == "20")
        );
        let response = render(&site(None), &err(ErrorKind::Upstream, 503, "x", None));
        assert_eq!(response.status, 503);
        let response = render(&site(None), &err(ErrorKind::NotFound, 404, "x", None));
        assert_eq!(body(&response)["error"]["code"], "not_found");
        let response = render(
            &site(None),
            &err(
                ErrorKind::InvalidRequest,
                400,
                "This model's maximum context length is 8192",
                None,
            ),
        );
        assert_eq!(body(&response)["error"]["code"], "context_length_exceeded");
    }

    #[test]
    fn stream_failure_codes_codex_understands() {
        let (code, message) = stream_failure(&err(ErrorKind::RateLimited, 429, "limited", Some(3)));
        assert_eq!(code, "rate_limit_exceeded");
        assert_eq!(message, "limited Please try again in 3s.");
        assert_eq!(
            stream_failure(&err(ErrorKind::Timeout, 504, "t", None)).0,
            "server_error"
        );
        assert_eq!(
            stream_failure(&err(ErrorKind::Upstream, 500, "prompt is too long", None)).0,
            "context_length_exceeded"
        );
        assert_eq!(
            stream_failure(&err(ErrorKind::Overloaded, 503, "o", None)).0,
            "server_is_overloaded"
        );
        assert_eq!(
            stream_failure(&err(ErrorKind::InvalidRequest, 400, "bad", None)).0,
            "invalid_prompt"
        );
    }
}
