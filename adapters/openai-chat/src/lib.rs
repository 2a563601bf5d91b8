//! The `openai-chat` adapter: OpenAI Chat Completions clients (`POST /v1/chat/completions`,
//! `GET /v1/models`) in front of a Chat Completions backend.
//!
//! The client already speaks the pivot, so this adapter normalises rather than translates:
//! - the backend model is set by the host's routing; the client sees the name it asked for;
//! - a streamed request always asks the backend for usage (`stream_options.include_usage`),
//!   and the usage-only chunk is passed on only if the client asked for it;
//! - `max_completion_tokens` becomes `max_tokens`, the field every backend reads (the host
//!   clamps it);
//! - reasoning arrives as `reasoning_content`, whichever field the backend used (`reasoning`,
//!   or an object with `text`), and reasoning history is sent back as `reasoning_content`;
//! - identifying fields (`user`, `metadata`, `safety_identifier`, `prompt_cache_key`) and
//!   OpenAI-only storage fields (`store`) are not forwarded; identifiers go to the audit log.
//!
//! Top-level fields are handled as raw JSON, so message contents and tool schemas are copied,
//! never rebuilt as a DOM.

use std::collections::BTreeMap;

use cligate_adapter_sdk::{
    Adapter, AdapterError, AdapterInfo, ClientRequest, ClientResponse, ErrorKind, ErrorSite,
    GatewayError, Header, LocalContext, PivotRequest, RemovedField, RequestContext, RequestOptions,
    Route, SseEvent, StreamTranslator, json, register_adapter, sse,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

/// The adapter.
pub struct OpenAiChat;

type TopLevel = BTreeMap<String, Box<RawValue>>;

/// Fields that identify the end user or ask OpenAI to store data: never forwarded.
const IDENTIFYING_FIELDS: &[&str] = &["user", "metadata", "safety_identifier", "prompt_cache_key"];
const DROPPED_FIELDS: &[&str] = &["store", "service_tier", "prediction", "audio", "modalities"];

/// What the stream translator needs to remember from the request.
#[derive(serde::Serialize, Deserialize, Default)]
struct State {
    /// The client asked for the usage chunk.
    client_wants_usage: bool,
}

fn raw(value: &impl serde::Serialize) -> Result<Box<RawValue>, AdapterError> {
    serde_json::value::to_raw_value(value)
        .map_err(|e| AdapterError::Internal(format!("cannot build JSON: {e}")))
}

impl Adapter for OpenAiChat {
    type Stream = ChatStream;

    fn info() -> AdapterInfo {
        AdapterInfo {
            name: "openai-chat".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            dialect: "openai-chat-completions".into(),
            routes: vec![
                Route::translate("POST", "/v1/chat/completions"),
                Route::local("GET", "/v1/models"),
            ],
        }
    }

    fn translate_request(
        req: ClientRequest,
        _options: RequestOptions,
    ) -> Result<PivotRequest, AdapterError> {
        let mut top: TopLevel = json::parse_request(&req.body)?;
        let model: String = match top.get("model") {
            Some(model) => serde_json::from_str(model.get())
                .map_err(|_| AdapterError::InvalidRequest("`model` must be a string".to_owned()))?,
            None => {
                return Err(AdapterError::InvalidRequest(
                    "`model` is required".to_owned(),
                ));
            }
        };
        if !top.contains_key("messages") {
            return Err(AdapterError::InvalidRequest(
                "`messages` is required".to_owned(),
            ));
        }
        let stream = match top.get("stream") {
            Some(v) => v.get() == "true",
            None => false,
        };
        let mut warnings = Vec::new();
        let mut removed = Vec::new();
        for field in IDENTIFYING_FIELDS {
            if let Some(value) = top.remove(*field) {
                removed.push(RemovedField {
                    location: (*field).to_owned(),
                    value: value.get().to_owned(),
                });
            }
        }
        for field in DROPPED_FIELDS {
            if top.remove(*field).is_some() {
                warnings.push(format!("{field} is not forwarded to the backend"));
            }
        }
        if let Some(n) = top.get("n")
            && n.get() != "1"
        {
            return Err(AdapterError::Unsupported(
                "only n = 1 is supported".to_owned(),
            ));
        }
        if let Some(limit) = top.remove("max_completion_tokens") {
            top.entry("max_tokens".to_owned()).or_insert(limit);
        }

        let mut client_wants_usage = false;
        if stream {
            #[derive(Deserialize, Default)]
            struct StreamOptions {
                #[serde(default)]
                include_usage: bool,
            }
            let options: StreamOptions = top
                .get("stream_options")
                .and_then(|v| serde_json::from_str(v.get()).ok())
                .unwrap_or_default();
            client_wants_usage = options.include_usage;
            top.insert(
                "stream_options".to_owned(),
                raw(&json!({"include_usage": true}))?,
            );
        } else {
            top.remove("stream_options");
        }

        // Reasoning history: some clients echo `reasoning`; the pivot convention is
        // `reasoning_content`. Only messages that carry it are rebuilt.
        if let Some(messages) = top.get("messages")
            && messages.get().contains("\"reasoning\"")
        {
            let mut list: Vec<TopLevel> = serde_json::from_str(messages.get()).map_err(|e| {
                AdapterError::InvalidRequest(format!("`messages` is not a list of objects: {e}"))
            })?;
            for message in &mut list {
                if let Some(reasoning) = message.remove("reasoning")
                    && !message.contains_key("reasoning_content")
                {
                    message.insert("reasoning_content".to_owned(), reasoning);
                }
            }
            top.insert("messages".to_owned(), raw(&list)?);
        }

        let session_id = req
            .header("session_id")
            .or_else(|| req.header("x-session-id"))
            .map(str::to_owned);
        Ok(PivotRequest {
            model,
            stream,
            body: json::to_vec(&top)?,
            warnings,
            removed,
            client_software: req.header("user-agent").map(str::to_owned),
            session_id,
            stream_headers: sse::headers(),
            state: json::to_vec(&State { client_wants_usage })?,
        })
    }

    fn translate_response(
        ctx: RequestContext,
        body: Vec<u8>,
    ) -> Result<ClientResponse, AdapterError> {
        let mut answer: Value = json::parse_upstream(&body)?;
        normalise(&mut answer, &ctx, "message");
        Ok(json::response(200, &answer))
    }

    fn translate_error(_site: ErrorSite, error: GatewayError) -> ClientResponse {
        let (status, kind, code) = error_shape(&error);
        let mut response = json::response(
            status,
            &json!({"error": {"message": error.message, "type": kind, "param": null, "code": code}}),
        );
        if let Some(seconds) = error.retry_after_seconds {
            response
                .headers
                .push(Header::new("retry-after", &seconds.to_string()));
        }
        response
    }

    fn answer_local(req: ClientRequest, ctx: LocalContext) -> Result<ClientResponse, AdapterError> {
        if req.path.trim_end_matches('/') != "/v1/models" {
            return Err(AdapterError::Unsupported(format!(
                "no local answer for {}",
                req.path
            )));
        }
        let data: Vec<Value> = ctx
            .models
            .iter()
            .map(|m| json!({"id": m.id, "object": "model", "created": ctx.created_unix, "owned_by": m.owned_by}))
            .collect();
        Ok(json::response(
            200,
            &json!({"object": "list", "data": data}),
        ))
    }

    fn open_stream(ctx: RequestContext) -> ChatStream {
        let state: State = serde_json::from_slice(&ctx.state).unwrap_or_default();
        ChatStream {
            ctx,
            client_wants_usage: state.client_wants_usage,
        }
    }
}

/// Status, OpenAI error `type` and `code` for a gateway error.
fn error_shape(error: &GatewayError) -> (u16, &'static str, &'static str) {
    match error.kind {
        ErrorKind::InvalidRequest => (400, "invalid_request_error", "invalid_request"),
        ErrorKind::Authentication => (401, "authentication_error", "invalid_api_key"),
        ErrorKind::Permission => (403, "permission_error", "permission_denied"),
        ErrorKind::NotFound => (404, "not_found_error", "not_found"),
        ErrorKind::MethodNotAllowed => (405, "invalid_request_error", "method_not_allowed"),
        ErrorKind::RequestTooLarge => (413, "invalid_request_error", "request_too_large"),
        ErrorKind::RateLimited => (429, "rate_limit_error", "rate_limit_exceeded"),
        ErrorKind::Upstream => (502, "api_error", "upstream_error"),
        ErrorKind::Overloaded => (503, "api_error", "overloaded"),
        ErrorKind::Timeout => (504, "api_error", "timeout"),
        ErrorKind::AdapterBroken => (502, "api_error", "adapter_error"),
        ErrorKind::Internal => (500, "api_error", "internal_error"),
    }
}

/// Show the client its own model name and reasoning as `reasoning_content`.
/// `field` is `message` (whole answer) or `delta` (stream chunk).
fn normalise(answer: &mut Value, ctx: &RequestContext, field: &str) {
    if let Some(model) = answer.get_mut("model") {
        *model = Value::String(ctx.client_model.clone());
    }
    let Some(choices) = answer.get_mut("choices").and_then(Value::as_array_mut) else {
        return;
    };
    for choice in choices {
        let Some(message) = choice.get_mut(field).and_then(Value::as_object_mut) else {
            continue;
        };
        if let Some(reasoning) = message.remove("reasoning") {
            let text = match reasoning {
                Value::String(text) => Some(text),
                Value::Object(mut object) => object
                    .remove("text")
                    .or_else(|| object.remove("content"))
                    .and_then(|v| v.as_str().map(str::to_owned)),
                _ => None,
            };
            if let Some(text) = text
                && !message.contains_key("reasoning_content")
            {
                message.insert("reasoning_content".to_owned(), Value::String(text));
            }
        }
    }
}

/// Per-stream state: which model name to show, whether to pass the usage chunk on.
pub struct ChatStream {
    ctx: RequestContext,
    client_wants_usage: bool,
}

impl StreamTranslator for ChatStream {
    fn push(&mut self, event: SseEvent) -> Result<Vec<u8>, AdapterError> {
        let mut chunk: Value = json::parse_upstream(event.data.as_bytes())?;
        if chunk.get("error").is_some() {
            // Passed on as is: the OpenAI SDKs raise on a data chunk with an `error` key.
            return Ok(sse::frame(None, &event.data));
        }
        let usage_only = chunk
            .get("choices")
            .and_then(Value::as_array)
            .is_some_and(|c| c.is_empty());
        if usage_only && !self.client_wants_usage {
            return Ok(Vec::new());
        }
        if !self.client_wants_usage
            && let Some(object) = chunk.as_object_mut()
        {
            object.remove("usage");
        }
        normalise(&mut chunk, &self.ctx, "delta");
        let mut out = Vec::new();
        sse::push_json(&mut out, None, &chunk);
        Ok(out)
    }

    fn keepalive(&mut self) -> Vec<u8> {
        // A comment line: every OpenAI SSE parser skips it, and it keeps proxies from
        // closing an idle connection.
        b": keepalive\n\n".to_vec()
    }

    fn finish(&mut self) -> Result<Vec<u8>, AdapterError> {
        Ok(sse::frame(None, "[DONE]"))
    }

    fn fail(&mut self, error: GatewayError) -> Vec<u8> {
        let (_, kind, code) = error_shape(&error);
        let mut out = Vec::new();
        sse::push_json(
            &mut out,
            None,
            &json!({"error": {"message": error.message, "type": kind, "param": null, "code": code}}),
        );
        out
    }
}

register_adapter!(OpenAiChat);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use cligate_adapter_sdk::testing::{context, parse_client_sse, replay_stream};

    fn request(body: &str) -> ClientRequest {
        ClientRequest {
            method: "POST".into(),
            path: "/v1/chat/completions".into(),
            query: None,
            headers: vec![Header::new("user-agent", "OpenAI/JS 6.0")],
            body: body.as_bytes().to_vec(),
        }
    }

    fn options() -> RequestOptions {
        RequestOptions {
            request_id: "req_1".into(),
            redact_environment: false,
        }
    }

    #[test]
    fn streamed_request_always_asks_for_usage_and_drops_identifiers() {
        let pivot = OpenAiChat::translate_request(
            request(
                r#"{"model":"gpt-5","stream":true,"user":"alice@example.com","store":true,
                "max_completion_tokens":50,"metadata":{"team":"x"},
                "messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"a","reasoning":"r"}]}"#,
            ),
            options(),
        )
        .unwrap();
        assert_eq!(pivot.model, "gpt-5");
        assert!(pivot.stream);
        let body: Value = serde_json::from_slice(&pivot.body).unwrap();
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert_eq!(body["max_tokens"], 50);
        assert!(body.get("max_completion_tokens").is_none());
        assert!(
            body.get("user").is_none()
                && body.get("metadata").is_none()
                && body.get("store").is_none()
        );
        assert_eq!(body["messages"][1]["reasoning_content"], "r");
        assert!(body["messages"][1].get("reasoning").is_none());
        assert!(!String::from_utf8_lossy(&pivot.body).contains("alice"));
        assert_eq!(pivot.removed.len(), 2);
        assert_eq!(
            pivot.warnings,
            vec!["store is not forwarded to the backend"]
        );
        assert_eq!(pivot.client_software.as_deref(), Some("OpenAI/JS 6.0"));
    }

    #[test]
    fn bad_requests_are_invalid_not_traps() {
        for body in [
            "{",
            "[]",
            r#"{"messages":[]}"#,
            r#"{"model":1,"messages":[]}"#,
            r#"{"model":"m"}"#,
        ] {
            assert!(
                matches!(
                    OpenAiChat::translate_request(request(body), options()),
                    Err(AdapterError::InvalidRequest(_))
                ),
                "{body}"
            );
        }
        assert!(matches!(
            OpenAiChat::translate_request(
                request(r#"{"model":"m","n":2,"messages":[]}"#),
                options()
            ),
            Err(AdapterError::Unsupported(_))
        ));
    }

    const STREAM: &str = concat!(
        "data: {\"id\":\"c1\",\"model\":\"qwen3\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
        "data: {\"id\":\"c1\",\"model\":\"qwen3\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning\":\"think\"}}]}\n\n",
        "data: {\"id\":\"c1\",\"model\":\"qwen3\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n",
        ": backend comment\n\n",
        "data: {\"id\":\"c1\",\"model\":\"qwen3\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\n",
        "data: {\"id\":\"c1\",\"model\":\"qwen3\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}\n\n",
        "data: [DONE]\n\n",
    );

    fn ctx(wants_usage: bool) -> RequestContext {
        let mut ctx = context("gpt-5", "qwen3");
        ctx.state = serde_json::to_vec(&State {
            client_wants_usage: wants_usage,
        })
        .unwrap();
        ctx
    }

    #[test]
    fn stream_is_split_invariant_and_shows_the_client_model() {
        let reference = replay_stream::<OpenAiChat>(ctx(true), STREAM.as_bytes(), 4096).unwrap();
        for split in [1, 7] {
            assert_eq!(
                replay_stream::<OpenAiChat>(ctx(true), STREAM.as_bytes(), split).unwrap(),
                reference
            );
        }
        let events = parse_client_sse(&reference);
        assert_eq!(events.len(), 6, "4 chunks + usage + [DONE]: {events:?}");
        assert_eq!(events.last().unwrap().1, "[DONE]");
        let text: String = events[..4]
            .iter()
            .map(|(_, d)| {
                let v: Value = serde_json::from_str(d).unwrap();
                assert_eq!(v["model"], "gpt-5");
                v["choices"][0]["delta"]["content"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned()
            })
            .collect();
        assert_eq!(text, "Hello");
        let reasoning: Value = serde_json::from_str(&events[1].1).unwrap();
        assert_eq!(
            reasoning["choices"][0]["delta"]["reasoning_content"],
            "think"
        );
        let usage: Value = serde_json::from_str(&events[4].1).unwrap();
        assert_eq!(usage["usage"]["total_tokens"], 5);
    }

    #[test]
    fn usage_chunk_hidden_when_the_client_did_not_ask() {
        let out = replay_stream::<OpenAiChat>(ctx(false), STREAM.as_bytes(), 7).unwrap();
        let events = parse_client_sse(&out);
        assert_eq!(events.len(), 5);
        assert!(!String::from_utf8_lossy(&out).contains("usage"));
    }

    #[test]
    fn failure_mid_stream_is_an_error_chunk_without_done() {
        let mut stream = OpenAiChat::open_stream(ctx(false));
        let out = stream.fail(GatewayError {
            kind: ErrorKind::Timeout,
            status: 504,
            message: "upstream did not answer within 120s".into(),
            retry_after_seconds: None,
        });
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("data: {\"error\":"), "{text}");
        assert!(!text.contains("[DONE]"));
    }

    #[test]
    fn errors_and_models_in_openai_shape() {
        let response = OpenAiChat::translate_error(
            ErrorSite {
                request_id: "r".into(),
                path: "/v1/chat/completions".into(),
                query: None,
                client_model: None,
            },
            GatewayError {
                kind: ErrorKind::RateLimited,
                status: 429,
                message: "slow down".into(),
                retry_after_seconds: Some(20),
            },
        );
        assert_eq!(response.status, 429);
        let body: Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(body["error"]["type"], "rate_limit_error");
        assert!(
            response
                .headers
                .iter()
                .any(|h| h.name == "retry-after" && h.value == "20")
        );

        let models = OpenAiChat::answer_local(
            ClientRequest {
                method: "GET".into(),
                path: "/v1/models".into(),
                query: None,
                headers: vec![],
                body: vec![],
            },
            LocalContext {
                request_id: "r".into(),
                created_unix: 5,
                models: vec![cligate_adapter_sdk::ModelEntry {
                    id: "qwen3".into(),
                    owned_by: "cligate".into(),
                    context_window: None,
                    max_output_tokens: None,
                }],
            },
        )
        .unwrap();
        let body: Value = serde_json::from_slice(&models.body).unwrap();
        assert_eq!(body["data"][0]["id"], "qwen3");
    }

    #[test]
    fn whole_answer_normalised() {
        let response = OpenAiChat::translate_response(
            ctx(false),
            br#"{"id":"x","object":"chat.completion","model":"qwen3","choices":[{"index":0,
            "message":{"role":"assistant","content":"hi","reasoning":{"text":"why"}},"finish_reason":"stop"}]}"#
                .to_vec(),
        )
        .unwrap();
        let body: Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(body["model"], "gpt-5");
        assert_eq!(body["choices"][0]["message"]["reasoning_content"], "why");
    }
}
