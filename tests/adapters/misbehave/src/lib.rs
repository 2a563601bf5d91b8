//! A test-only adapter that misbehaves on request, for cligate's sandbox and hot-reload
//! end-to-end tests. Never shipped (it lives under `tests/adapters/`).
//!
//! Routes: `POST /misbehave/{mode}` and `GET /misbehave/info` (local).
//!
//! | mode          | behaviour                                                            |
//! |---------------|----------------------------------------------------------------------|
//! | `loop`        | `translate-request` spins forever (the CPU deadline must cut it off)  |
//! | `alloc`       | `translate-request` allocates without bound (the memory cap must)     |
//! | `trap`        | `translate-request` panics (a trap)                                   |
//! | `ok`          | `{"model","messages",["stream"]}` → pivot; answers plain SSE          |
//! |               | `data: {"text":…,"variant":…}` and a final `{"done":true,…}`           |
//! | `stream-loop` | translates like `ok`, then `push` spins forever                       |
//! | `stream-trap` | translates like `ok`, then `push` panics                              |
//!
//! The build variant (`CLIGATE_TEST_VARIANT` at compile time, default `a`) is in
//! `info().version` (`1.0.0-<variant>`) and in every `ok` answer, so a hot-reload test can
//! tell the two builds apart. Errors render as `{"error":{"kind","message"}}`.

#![allow(clippy::panic)]

use cligate_adapter_sdk::*;
use serde_json::{Value, json};

/// The build variant.
pub const VARIANT: &str = match option_env!("CLIGATE_TEST_VARIANT") {
    Some(v) => v,
    None => "a",
};

/// The adapter name.
pub const NAME: &str = "misbehave";

/// The adapter.
pub struct Misbehave;

/// Stream state: the mode the request came in with.
pub struct MisbehaveStream {
    mode: String,
    /// The finish reason seen, if any.
    finish_reason: Option<String>,
    /// Usage seen, if any.
    usage: Option<Value>,
}

fn mode_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or_default()
}

/// Spin forever without being optimised away.
fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

/// Allocate (and touch) 1 MiB blocks forever.
fn hoard() -> ! {
    let mut held: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut block = vec![0u8; 1 << 20];
        for i in (0..block.len()).step_by(4096) {
            block[i] = 1;
        }
        held.push(std::hint::black_box(block));
    }
}

/// The stable kebab-case name of an error kind.
pub fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest => "invalid-request",
        ErrorKind::Authentication => "authentication",
        ErrorKind::Permission => "permission",
        ErrorKind::NotFound => "not-found",
        ErrorKind::MethodNotAllowed => "method-not-allowed",
        ErrorKind::RequestTooLarge => "request-too-large",
        ErrorKind::RateLimited => "rate-limited",
        ErrorKind::Upstream => "upstream",
        ErrorKind::Overloaded => "overloaded",
        ErrorKind::Timeout => "timeout",
        ErrorKind::AdapterBroken => "adapter-broken",
        ErrorKind::Internal => "internal",
    }
}

fn error_json(kind: &str, message: &str) -> Value {
    json!({"error": {"kind": kind, "message": message}})
}

impl Adapter for Misbehave {
    type Stream = MisbehaveStream;

    fn info() -> AdapterInfo {
        AdapterInfo {
            name: NAME.to_owned(),
            version: format!("1.0.0-{VARIANT}"),
            dialect: "misbehave-test".to_owned(),
            routes: vec![
                Route::translate("POST", "/misbehave/{mode}"),
                Route::local("GET", "/misbehave/info"),
            ],
        }
    }

    fn translate_request(
        req: ClientRequest,
        _options: RequestOptions,
    ) -> Result<PivotRequest, AdapterError> {
        let mode = mode_of(&req.path).to_owned();
        match mode.as_str() {
            "loop" => spin(),
            "alloc" => hoard(),
            "trap" => panic!("misbehave adapter: trap requested"),
            "ok" | "stream-loop" | "stream-trap" => {}
            other => {
                return Err(AdapterError::InvalidRequest(format!(
                    "unknown misbehave mode `{other}`"
                )));
            }
        }
        let body: Value = json::parse_request(&req.body)?;
        let model = body["model"]
            .as_str()
            .ok_or_else(|| AdapterError::InvalidRequest("`model` must be a string".into()))?
            .to_owned();
        let messages = body
            .get("messages")
            .filter(|m| m.is_array())
            .cloned()
            .ok_or_else(|| AdapterError::InvalidRequest("`messages` must be an array".into()))?;
        let stream = body["stream"].as_bool().unwrap_or(true);
        let mut pivot = json!({"model": model, "messages": messages, "stream": stream});
        if stream {
            pivot["stream_options"] = json!({"include_usage": true});
        }
        Ok(PivotRequest {
            model,
            stream,
            body: json::to_vec(&pivot)?,
            warnings: Vec::new(),
            removed: Vec::new(),
            client_software: req.header("user-agent").map(str::to_owned),
            session_id: None,
            stream_headers: sse::headers(),
            state: mode.into_bytes(),
        })
    }

    fn translate_response(
        ctx: RequestContext,
        body: Vec<u8>,
    ) -> Result<ClientResponse, AdapterError> {
        let v: Value = json::parse_upstream(&body)?;
        let text = v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default();
        Ok(json::response(
            200,
            &json!({"text": text, "variant": VARIANT, "model": ctx.client_model,
                    "finish_reason": v["choices"][0]["finish_reason"], "usage": v["usage"]}),
        ))
    }

    fn translate_error(_ctx: ErrorSite, error: GatewayError) -> ClientResponse {
        let mut resp = json::response(
            error.status,
            &error_json(kind_name(error.kind), &error.message),
        );
        if let Some(s) = error.retry_after_seconds {
            resp.headers
                .push(Header::new("retry-after", &s.to_string()));
        }
        resp
    }

    fn answer_local(
        req: ClientRequest,
        _ctx: LocalContext,
    ) -> Result<ClientResponse, AdapterError> {
        if req.path != "/misbehave/info" {
            return Err(AdapterError::InvalidRequest(format!(
                "no local answer for {}",
                req.path
            )));
        }
        Ok(json::response(
            200,
            &json!({"name": NAME, "version": format!("1.0.0-{VARIANT}"), "variant": VARIANT}),
        ))
    }

    fn open_stream(ctx: RequestContext) -> MisbehaveStream {
        MisbehaveStream {
            mode: String::from_utf8_lossy(&ctx.state).into_owned(),
            finish_reason: None,
            usage: None,
        }
    }
}

impl StreamTranslator for MisbehaveStream {
    fn push(&mut self, event: SseEvent) -> Result<Vec<u8>, AdapterError> {
        match self.mode.as_str() {
            "stream-loop" => spin(),
            "stream-trap" => panic!("misbehave adapter: trap in push requested"),
            _ => {}
        }
        let v: Value = json::parse_upstream(event.data.as_bytes())?;
        if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
            return Err(AdapterError::Internal(format!(
                "upstream error in stream: {}",
                err["message"].as_str().unwrap_or("unknown")
            )));
        }
        if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
            self.usage = Some(u.clone());
        }
        let mut out = Vec::new();
        for c in v["choices"].as_array().into_iter().flatten() {
            if let Some(t) = c["delta"]["content"].as_str()
                && !t.is_empty()
            {
                sse::push_json(&mut out, None, &json!({"text": t, "variant": VARIANT}));
            }
            if let Some(f) = c["finish_reason"].as_str() {
                self.finish_reason = Some(f.to_owned());
            }
        }
        Ok(out)
    }

    fn finish(&mut self) -> Result<Vec<u8>, AdapterError> {
        let mut out = Vec::new();
        sse::push_json(
            &mut out,
            None,
            &json!({"done": true, "variant": VARIANT,
                    "finish_reason": self.finish_reason, "usage": self.usage}),
        );
        Ok(out)
    }

    fn fail(&mut self, error: GatewayError) -> Vec<u8> {
        let mut out = Vec::new();
        sse::push_json(
            &mut out,
            None,
            &error_json(kind_name(error.kind), &error.message),
        );
        out
    }
}

// Exported only for wasm: natively the export symbols (with `:` in their names) do not link
// into a cdylib, and the native build only runs the unit tests.
#[cfg(target_arch = "wasm32")]
register_adapter!(Misbehave);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn request(path: &str, body: &str) -> ClientRequest {
        ClientRequest {
            method: "POST".into(),
            path: path.into(),
            query: None,
            headers: vec![Header::new("user-agent", "test/1")],
            body: body.as_bytes().to_vec(),
        }
    }

    fn options() -> RequestOptions {
        RequestOptions {
            request_id: "r1".into(),
            redact_environment: false,
        }
    }

    #[test]
    fn ok_mode_translates_a_tiny_chat_body() {
        let p = Misbehave::translate_request(
            request(
                "/misbehave/ok",
                r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
            ),
            options(),
        )
        .unwrap();
        assert_eq!(p.model, "m");
        assert!(p.stream);
        let body: Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(body["messages"][0]["content"], "hi");
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert_eq!(p.state, b"ok");
    }

    #[test]
    fn bad_bodies_and_modes_are_invalid_requests() {
        for (path, body) in [
            ("/misbehave/ok", "{"),
            ("/misbehave/ok", r#"{"messages":[]}"#),
            ("/misbehave/nope", "{}"),
        ] {
            let err = Misbehave::translate_request(request(path, body), options()).unwrap_err();
            assert!(
                matches!(err, AdapterError::InvalidRequest(_)),
                "{path} {body}"
            );
        }
    }

    #[test]
    fn stream_frames_text_and_ends_with_done() {
        let mut s = MisbehaveStream {
            mode: "ok".into(),
            finish_reason: None,
            usage: None,
        };
        let out = s
            .push(SseEvent {
                event: None,
                data: r#"{"choices":[{"index":0,"delta":{"content":"hé"},"finish_reason":null}]}"#
                    .into(),
            })
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("data: {{\"text\":\"hé\",\"variant\":\"{VARIANT}\"}}\n\n")
        );
        let end = String::from_utf8(s.finish().unwrap()).unwrap();
        assert!(end.contains("\"done\":true"), "{end}");
    }

    #[test]
    fn errors_render_kind_and_message() {
        let r = Misbehave::translate_error(
            ErrorSite {
                request_id: "r".into(),
                path: "/misbehave/ok".into(),
                query: None,
                client_model: None,
            },
            GatewayError {
                kind: ErrorKind::AdapterBroken,
                status: 502,
                message: "adapter misbehave trapped".into(),
                retry_after_seconds: None,
            },
        );
        assert_eq!(r.status, 502);
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["error"]["kind"], "adapter-broken");
    }
}
