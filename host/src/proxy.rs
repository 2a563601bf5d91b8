//! The request path. For every request not answered by a fixed endpoint:
//!
//! 1. match the route table of the current registry (pins the adapter version for this request);
//! 2. read the body (capped, decompressed) and strip the client's credentials;
//! 3. start a sandboxed session of the adapter;
//! 4. local route → `answer-local`; translate route → `translate-request`, route the model,
//!    adjust the pivot for the backend model, call the upstream;
//! 5. whole answer → `translate-response`; stream → frame upstream SSE, `push` each event,
//!    `keepalive` while the upstream is silent, then `finish` or `fail`.
//!
//! Every failure is rendered by the adapter in the client's dialect (`translate-error`, or
//! `fail` once a stream has begun).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::{Semaphore, mpsc};
use wasmtime::component::ResourceAny;

use crate::adapter_host::registry::AdapterRegistry;
use crate::adapter_host::wit::latest::types::{
    ClientRequest, ClientResponse, ErrorSite, Header, LocalContext, ModelEntry, RequestContext,
    RequestOptions, RouteAction, SseEvent,
};
use crate::adapter_host::{AdapterEngine, LoadedAdapter, Session, unix_now};
use crate::config::Config;
use crate::error::GatewayError;
use crate::pivot::{adjust_pivot, route_model};
use crate::routes::Lookup;
use crate::upstream::{Upstream, next_piece};

/// Request headers that carry the client's credentials: never shown to adapters, never
/// forwarded. (The upstream request is built from scratch anyway; this keeps secrets out of
/// the sandbox too.)
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "cookie",
];

/// Most warning headers put on one response.
const MAX_WARNING_HEADERS: usize = 8;

/// Everything a request needs, shared.
pub struct AppState {
    /// Configuration.
    pub config: Arc<Config>,
    /// The wasmtime engine.
    pub engine: Arc<AdapterEngine>,
    /// Loaded adapters.
    pub registry: Arc<AdapterRegistry>,
    /// The default upstream.
    pub upstream: Upstream,
    /// Concurrency limit.
    pub permits: Arc<Semaphore>,
    /// Request id counter.
    pub sequence: AtomicU64,
    /// Streams in flight (for shutdown logging and metrics).
    pub streams_in_flight: Arc<AtomicU64>,
}

impl AppState {
    fn next_request_id(&self) -> String {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let seq = self.sequence.fetch_add(1, Ordering::Relaxed);
        format!("req_{millis:x}{:04x}{seq:06x}", std::process::id() & 0xffff)
    }
}

/// What is known about a request when something goes wrong.
struct Failure {
    adapter: Option<Arc<LoadedAdapter>>,
    site: ErrorSite,
    error: GatewayError,
}

/// The fallback handler: every adapter route.
pub async fn handle(State(state): State<Arc<AppState>>, request: Request<Body>) -> Response {
    let started = Instant::now();
    let request_id = state.next_request_id();
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let site = ErrorSite {
        request_id: request_id.clone(),
        path: path.clone(),
        query: query.clone(),
        client_model: None,
    };
    let result = serve(&state, request, &request_id, site.clone()).await;
    let response = match result {
        Ok(response) => response,
        Err(failure) => render_failure(&state, failure).await,
    };
    let mut response = response;
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-cligate-request-id", value);
    }
    tracing::info!(
        request_id = %request_id,
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

async fn serve(
    state: &Arc<AppState>,
    request: Request<Body>,
    request_id: &str,
    mut site: ErrorSite,
) -> Result<Response, Failure> {
    let registry = state.registry.current();
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let lookup = registry
        .routes
        .lookup(parts.method.as_str(), parts.uri.path(), |name| {
            headers.contains_key(name)
        });
    let route = match lookup {
        Lookup::Found(route) => route,
        Lookup::MethodNotAllowed(adapter) => {
            return Err(Failure {
                adapter: Some(Arc::clone(adapter)),
                site,
                error: GatewayError::MethodNotAllowed {
                    method: parts.method.to_string(),
                    path: parts.uri.path().to_owned(),
                },
            });
        }
        Lookup::NotFound(adapter) => {
            return Err(Failure {
                adapter: adapter.cloned(),
                site,
                error: GatewayError::RouteNotFound {
                    method: parts.method.to_string(),
                    path: parts.uri.path().to_owned(),
                },
            });
        }
    };
    let adapter = Arc::clone(&route.adapter);
    let action = route.action;
    let fail = |site: &ErrorSite, error: GatewayError| Failure {
        adapter: Some(Arc::clone(&adapter)),
        site: site.clone(),
        error,
    };

    let permit = Arc::clone(&state.permits)
        .try_acquire_owned()
        .map_err(|_| fail(&site, GatewayError::Overloaded))?;

    let encoding = headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = crate::body::read_body(
        body,
        encoding.as_deref(),
        state.config.limits.max_body_bytes,
    )
    .await
    .map_err(|e| fail(&site, e))?;
    let client_request = ClientRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().and_then(strip_key_param),
        headers: client_headers(headers),
        body,
    };

    let mut session = Session::start(Arc::clone(&adapter), &state.engine)
        .await
        .map_err(|e| fail(&site, e))?;

    if action == RouteAction::Local {
        let ctx = LocalContext {
            request_id: request_id.to_owned(),
            created_unix: unix_now(),
            models: model_entries(&state.config),
        };
        return match session.answer_local(&client_request, &ctx).await {
            Ok(answer) => Ok(client_response(answer, &[])),
            Err(error) => Err(render_with(session, fail(&site, error))),
        };
    }

    let options = RequestOptions {
        request_id: request_id.to_owned(),
        redact_environment: false,
    };
    let pivot = match session.translate_request(&client_request, &options).await {
        Ok(pivot) => pivot,
        Err(error) => return Err(render_with(session, fail(&site, error))),
    };
    site.client_model = Some(pivot.model.clone());
    let routed = route_model(&state.config, &pivot.model);
    let mut warnings = pivot.warnings.clone();
    let body = match adjust_pivot(&pivot.body, &routed, &mut warnings) {
        Ok(body) => body,
        Err(error) => return Err(render_with(session, fail(&site, error))),
    };
    if !warnings.is_empty() {
        tracing::warn!(request_id, adapter = %adapter.name, warnings = ?warnings, "translation warnings");
    }
    tracing::debug!(
        request_id,
        client_model = %pivot.model,
        backend_model = %routed.backend_model,
        stream = pivot.stream,
        client = pivot.client_software.as_deref().unwrap_or("-"),
        removed = pivot.removed.len(),
        "routed"
    );
    let ctx = RequestContext {
        request_id: request_id.to_owned(),
        created_unix: unix_now(),
        client_model: pivot.model.clone(),
        backend_model: routed.backend_model.clone(),
        path: client_request.path.clone(),
        query: client_request.query.clone(),
        warnings: warnings.clone(),
        state: pivot.state.clone(),
    };

    let upstream_response = match state.upstream.send(body, pivot.stream).await {
        Ok(response) => response,
        Err(error) => return Err(render_with(session, fail(&site, error))),
    };

    if !pivot.stream {
        let body = match state
            .upstream
            .read_capped(
                upstream_response,
                state.config.limits.max_upstream_body_bytes,
            )
            .await
        {
            Ok(body) => body,
            Err(error) => return Err(render_with(session, fail(&site, error))),
        };
        return match session.translate_response(&ctx, &body).await {
            Ok(answer) => Ok(client_response(answer, &warnings)),
            Err(GatewayError::AdapterInternal { message, .. }) => Err(render_with(
                session,
                fail(&site, GatewayError::UpstreamGarbage(message)),
            )),
            Err(error) => Err(render_with(session, fail(&site, error))),
        };
    }

    let is_event_stream = upstream_response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
    if !is_event_stream {
        // Some backends ignore `stream: true` and answer with one JSON completion. Replay it
        // as a stream; anything else (an HTML error page behind a 200) is a bad gateway,
        // refused before the client has seen a byte.
        let body = match state
            .upstream
            .read_capped(
                upstream_response,
                state.config.limits.max_upstream_body_bytes,
            )
            .await
        {
            Ok(body) => body,
            Err(error) => return Err(render_with(session, fail(&site, error))),
        };
        let events = match crate::pivot::completion_as_stream(&body) {
            Ok(events) => events,
            Err(error) => return Err(render_with(session, fail(&site, error))),
        };
        return match replay_whole(&mut session, &ctx, events).await {
            Ok(bytes) => {
                let mut response = Response::new(Body::from(bytes));
                apply_headers(response.headers_mut(), &pivot.stream_headers);
                add_warning_headers(response.headers_mut(), &warnings);
                Ok(response)
            }
            Err(error) => Err(render_with(session, fail(&site, error))),
        };
    }

    let stream = match session.open_stream(&ctx).await {
        Ok(stream) => stream,
        Err(error) => return Err(render_with(session, fail(&site, error))),
    };
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(32);
    let mut response = Response::new(Body::from_stream(tokio_stream_from_receiver(rx)));
    *response.status_mut() = StatusCode::OK;
    apply_headers(response.headers_mut(), &pivot.stream_headers);
    add_warning_headers(response.headers_mut(), &warnings);
    let pump = StreamPump {
        state: Arc::clone(state),
        session,
        stream,
        ctx,
        tx,
    };
    let in_flight = Arc::clone(&state.streams_in_flight);
    in_flight.fetch_add(1, Ordering::Relaxed);
    tokio::spawn(async move {
        pump.run(upstream_response).await;
        in_flight.fetch_sub(1, Ordering::Relaxed);
        drop(permit);
    });
    Ok(response)
}

/// Translate a stream that is already complete (a whole answer replayed as events).
async fn replay_whole(
    session: &mut Session,
    ctx: &RequestContext,
    events: Vec<String>,
) -> Result<Vec<u8>, GatewayError> {
    let stream = session.open_stream(ctx).await?;
    let mut out = Vec::new();
    for data in events {
        out.extend(
            session
                .push(stream, &SseEvent { event: None, data })
                .await?,
        );
    }
    out.extend(session.finish(stream).await?);
    Ok(out)
}

/// A failure whose error should be rendered by this (possibly still healthy) session.
fn render_with(session: Session, failure: Failure) -> Failure {
    // The session is dropped here; `render_failure` starts a fresh one. Rendering an error
    // costs one instantiation (~20 µs) and this keeps the trapped-instance case uniform.
    drop(session);
    failure
}

fn tokio_stream_from_receiver(
    mut rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Drives one streamed response from upstream bytes to client bytes.
struct StreamPump {
    state: Arc<AppState>,
    session: Session,
    stream: ResourceAny,
    ctx: RequestContext,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
}

enum Ended {
    /// The upstream finished (with or without `[DONE]`).
    Upstream,
    /// The client went away: stop, drop the upstream connection.
    ClientGone,
    /// Something failed mid-stream.
    Failed(GatewayError),
}

impl StreamPump {
    async fn run(mut self, upstream: reqwest::Response) {
        let started = Instant::now();
        let limits = self.state.upstream.limits().clone();
        let idle = limits.idle_timeout();
        let tick = limits.keepalive().min(idle);
        let mut framer = cligate_sse::SseFramer::new(self.state.config.limits.max_event_bytes);
        let mut body = upstream.bytes_stream().boxed();
        let mut last_event = Instant::now();
        let mut sent_bytes = 0usize;
        let ended = loop {
            let piece = tokio::select! {
                biased;
                _ = self.tx.closed() => break Ended::ClientGone,
                piece = next_piece(&mut body, tick) => piece,
            };
            match piece {
                Err(GatewayError::UpstreamTimeout(_)) => {
                    if last_event.elapsed() >= idle {
                        break Ended::Failed(GatewayError::UpstreamTimeout(idle));
                    }
                    match self.session.keepalive(self.stream).await {
                        Ok(bytes) => {
                            if !send(&self.tx, bytes, &mut sent_bytes).await {
                                break Ended::ClientGone;
                            }
                        }
                        Err(error) => break Ended::Failed(error),
                    }
                }
                Err(error) => break Ended::Failed(error),
                Ok(None) => break Ended::Upstream,
                Ok(Some(piece)) => {
                    last_event = Instant::now();
                    let events = match framer.feed(&piece) {
                        Ok(events) => events,
                        Err(too_large) => {
                            break Ended::Failed(GatewayError::UpstreamGarbage(
                                too_large.to_string(),
                            ));
                        }
                    };
                    match self.push_all(events, &mut sent_bytes).await {
                        Ok(true) => {}
                        Ok(false) => break Ended::ClientGone,
                        Err(error) => break Ended::Failed(error),
                    }
                }
            }
        };
        // The upstream connection closes here (dropped before any finishing work), which is
        // what cancels the backend's generation when the client went away.
        drop(body);
        let outcome = match ended {
            Ended::ClientGone => "client_gone",
            Ended::Upstream => {
                let tail: Vec<_> = framer.finish().into_iter().collect();
                match self.push_all(tail, &mut sent_bytes).await {
                    Err(error) => self.fail(error, &mut sent_bytes).await,
                    Ok(false) => "client_gone",
                    Ok(true) => match self.session.finish(self.stream).await {
                        Ok(bytes) => {
                            send(&self.tx, bytes, &mut sent_bytes).await;
                            "completed"
                        }
                        Err(error) => self.fail(error, &mut sent_bytes).await,
                    },
                }
            }
            Ended::Failed(error) => self.fail(error, &mut sent_bytes).await,
        };
        tracing::info!(
            request_id = %self.ctx.request_id,
            adapter = %self.session.adapter().name,
            version = %self.session.adapter().version,
            backend_model = %self.ctx.backend_model,
            outcome,
            bytes = sent_bytes,
            ms = started.elapsed().as_millis() as u64,
            "stream ended"
        );
    }

    /// Push whole events; `Ok(false)` when the client is gone.
    async fn push_all(
        &mut self,
        events: Vec<cligate_sse::Event>,
        sent_bytes: &mut usize,
    ) -> Result<bool, GatewayError> {
        for event in events {
            if event.is_done_sentinel() {
                continue;
            }
            let bytes = self
                .session
                .push(
                    self.stream,
                    &SseEvent {
                        event: event.event,
                        data: event.data,
                    },
                )
                .await?;
            if !send(&self.tx, bytes, sent_bytes).await {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// End the client stream with the dialect's error event. If this session's instance is
    /// dead (trap, deadline), a fresh instance renders it from a new stream state.
    async fn fail(&mut self, error: GatewayError, sent_bytes: &mut usize) -> &'static str {
        tracing::warn!(
            request_id = %self.ctx.request_id,
            adapter = %self.session.adapter().name,
            error = %error,
            class = error.class(),
            "stream failed"
        );
        let wit_error = error.to_wit();
        let bytes = if self.session.is_broken() {
            render_stream_failure_fresh(&self.state, self.session.adapter(), &self.ctx, &wit_error)
                .await
        } else {
            self.session.fail(self.stream, &wit_error).await.ok()
        };
        match bytes {
            Some(bytes) => {
                send(&self.tx, bytes, sent_bytes).await;
            }
            None => {
                // Nothing can render it; end the body with an I/O error so the client sees a
                // broken stream rather than a clean (truncated) ending.
                let _ = self
                    .tx
                    .send(Err(std::io::Error::other(error.to_string())))
                    .await;
            }
        }
        "failed"
    }
}

/// Send client bytes; `false` when the client is gone. (A free function: holding `&StreamPump`
/// across an await would make the task non-`Send`, the wasmtime store not being `Sync`.)
async fn send(
    tx: &mpsc::Sender<Result<Bytes, std::io::Error>>,
    bytes: Vec<u8>,
    sent_bytes: &mut usize,
) -> bool {
    if bytes.is_empty() {
        return true;
    }
    *sent_bytes += bytes.len();
    tx.send(Ok(Bytes::from(bytes))).await.is_ok()
}

async fn render_stream_failure_fresh(
    state: &Arc<AppState>,
    adapter: &Arc<LoadedAdapter>,
    ctx: &RequestContext,
    error: &crate::adapter_host::wit::latest::types::GatewayError,
) -> Option<Vec<u8>> {
    let mut session = Session::start(Arc::clone(adapter), &state.engine)
        .await
        .ok()?;
    let stream = session.open_stream(ctx).await.ok()?;
    session.fail(stream, error).await.ok()
}

/// Render a failure in the client's dialect, falling back to a plain JSON body when no
/// adapter can (no route matched anything, or the adapter is broken even for errors).
async fn render_failure(state: &Arc<AppState>, failure: Failure) -> Response {
    let Failure {
        adapter,
        site,
        error,
    } = failure;
    match &error {
        GatewayError::AdapterBroken { .. }
        | GatewayError::AdapterInternal { .. }
        | GatewayError::Internal(_) => {
            tracing::error!(request_id = %site.request_id, class = error.class(), error = %error, "request failed")
        }
        GatewayError::UpstreamUnreachable(_)
        | GatewayError::UpstreamTimeout(_)
        | GatewayError::UpstreamStatus { .. }
        | GatewayError::UpstreamGarbage(_)
        | GatewayError::Overloaded => {
            tracing::warn!(request_id = %site.request_id, class = error.class(), error = %error, "request failed")
        }
        _ => {
            tracing::info!(request_id = %site.request_id, class = error.class(), error = %error, "request refused")
        }
    }
    let wit_error = error.to_wit();
    let rendered = match &adapter {
        Some(adapter) => match Session::start(Arc::clone(adapter), &state.engine).await {
            Ok(mut session) => session.translate_error(&site, &wit_error).await.ok(),
            Err(_) => None,
        },
        None => None,
    };
    let mut response = match rendered {
        Some(answer) => client_response(answer, &[]),
        None => {
            let mut response = Response::new(Body::from(error.fallback_body()));
            *response.status_mut() =
                StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_GATEWAY);
            response
                .headers_mut()
                .insert("content-type", HeaderValue::from_static("application/json"));
            response
        }
    };
    if let Some(seconds) = error.retry_after()
        && !response.headers().contains_key("retry-after")
        && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
    {
        response.headers_mut().insert("retry-after", value);
    }
    response
}

/// Lower-case headers for the adapter, without credentials.
fn client_headers(headers: &HeaderMap) -> Vec<Header> {
    headers
        .iter()
        .filter(|(name, _)| !CREDENTIAL_HEADERS.contains(&name.as_str()))
        .map(|(name, value)| Header {
            name: name.as_str().to_owned(),
            value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
        })
        .collect()
}

/// The query without a `key=` parameter (Gemini clients may put their API key there).
fn strip_key_param(query: &str) -> Option<String> {
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.starts_with("key=") && *pair != "key")
        .collect();
    if kept.is_empty() {
        None
    } else {
        Some(kept.join("&"))
    }
}

fn model_entries(config: &Config) -> Vec<ModelEntry> {
    let mut entries: Vec<ModelEntry> = config
        .models
        .iter()
        .filter(|rule| !rule.pattern.contains('*'))
        .map(|rule| ModelEntry {
            id: rule.pattern.clone(),
            owned_by: "cligate".to_owned(),
            context_window: rule.context_window,
            max_output_tokens: rule.max_output_tokens.and_then(|t| u32::try_from(t).ok()),
        })
        .collect();
    for backend in config
        .models
        .iter()
        .map(|r| r.backend_model.clone())
        .chain(config.default_model.clone())
    {
        if !entries.iter().any(|e| e.id == backend) {
            entries.push(ModelEntry {
                id: backend,
                owned_by: "cligate".to_owned(),
                context_window: None,
                max_output_tokens: None,
            });
        }
    }
    entries
}

fn client_response(answer: ClientResponse, warnings: &[String]) -> Response {
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = StatusCode::from_u16(answer.status)
        .ok()
        .filter(|s| !s.is_informational())
        .unwrap_or(StatusCode::BAD_GATEWAY);
    apply_headers(response.headers_mut(), &answer.headers);
    add_warning_headers(response.headers_mut(), warnings);
    response
}

/// Adapter-supplied headers; invalid names or values are skipped, hop-by-hop ones refused.
fn apply_headers(target: &mut HeaderMap, headers: &[Header]) {
    for header in headers {
        let name = header.name.to_ascii_lowercase();
        if matches!(
            name.as_str(),
            "content-length" | "transfer-encoding" | "connection" | "keep-alive" | "upgrade"
        ) {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&header.value),
        ) {
            target.append(name, value);
        }
    }
}

fn add_warning_headers(target: &mut HeaderMap, warnings: &[String]) {
    for warning in warnings.iter().take(MAX_WARNING_HEADERS) {
        let ascii: String = warning
            .chars()
            .map(|c| {
                if c.is_ascii() && !c.is_ascii_control() {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        if let Ok(value) = HeaderValue::from_str(&ascii) {
            target.append("x-cligate-warning", value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_param_is_stripped() {
        assert_eq!(
            strip_key_param("alt=sse&key=secret"),
            Some("alt=sse".to_owned())
        );
        assert_eq!(strip_key_param("key=secret"), None);
        assert_eq!(strip_key_param("monkey=1"), Some("monkey=1".to_owned()));
    }
}
