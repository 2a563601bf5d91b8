//! The request path. For every request not answered by a fixed endpoint:
//!
//! 1. match the route table of the current registry (pins the adapter version for this request);
//! 2. check the gateway key (when keys are configured);
//! 3. read the body (capped, decompressed) and strip the client's credentials;
//! 4. start a sandboxed session of the adapter;
//! 5. local route → `answer-local`; translate route → `translate-request`, plan the targets
//!    (routing), and for each until one answers: adjust the pivot for its backend model and
//!    call its upstream — failing over on connect errors, 5xx and 429 before the client has
//!    seen a byte;
//! 6. whole answer → `translate-response`; stream → frame upstream SSE, `push` each event,
//!    `keepalive` while the upstream is silent, then `finish` or `fail`;
//! 7. count the request in the metrics and hand its record to the audit log.
//!
//! Every failure is rendered by the adapter in the client's dialect (`translate-error`, or
//! `fail` once a stream has begun).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use http_body::Body as _;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use wasmtime::component::ResourceAny;

use crate::adapter_host::registry::AdapterRegistry;
use crate::adapter_host::wit::latest::types::{
    ClientRequest, ClientResponse, ErrorSite, Header, LocalContext, PivotRequest, RequestContext,
    RequestOptions, RouteAction, SseEvent,
};
use crate::adapter_host::{AdapterEngine, LoadedAdapter, Session, unix_now};
use crate::audit::{Attempt, AuditLog, AuditRecord, RemovedRecord};
use crate::auth::{Keys, Verdict};
use crate::config::Config;
use crate::error::{GatewayError, UpstreamVerdict};
use crate::metrics::{Metrics, RequestSample};
use crate::pivot::{Usage, adjust_pivot, usage_in_body, usage_in_event};
use crate::routes::Lookup;
use crate::routing::{Router, Target};
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

/// The metrics label of requests that matched no route.
const UNMATCHED: &str = "unmatched";

/// Everything a request needs, shared.
pub struct AppState {
    /// Configuration.
    pub config: Arc<Config>,
    /// The wasmtime engine.
    pub engine: Arc<AdapterEngine>,
    /// Loaded adapters.
    pub registry: Arc<AdapterRegistry>,
    /// Model routing, upstreams and their health.
    pub router: Router,
    /// Gateway keys.
    pub keys: Arc<Keys>,
    /// The audit log.
    pub audit: AuditLog,
    /// Request-path metrics.
    pub metrics: Metrics,
    /// Concurrency limit.
    pub permits: Arc<Semaphore>,
    /// Request id counter.
    pub sequence: AtomicU64,
    /// Streams in flight (for shutdown logging and metrics).
    pub streams_in_flight: Arc<AtomicU64>,
    /// Cancelled when the shutdown grace period is over: streams still running end with an
    /// error event (and their audit record) instead of vanishing.
    pub shutdown: CancellationToken,
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

    /// Count a finished request and queue its audit record.
    fn finish(&self, exchange: Exchange) {
        let Exchange {
            started,
            mut record,
            route,
            ttfb,
            ..
        } = exchange;
        let duration = started.map(|s| s.elapsed()).unwrap_or_default();
        record.duration_ms = millis(duration);
        record.ttfb_ms = ttfb.map(millis);
        let model = record
            .backend_model
            .as_deref()
            .map(|m| self.router.model_label(m))
            .unwrap_or(crate::routing::OTHER_MODEL);
        self.metrics.request(&RequestSample {
            dialect: record.dialect.as_deref().unwrap_or("none"),
            route: &route,
            status: record.status,
            duration,
            ttfb,
            user: &record.user,
            model,
            tokens: record.tokens,
            warnings: &record.warnings,
        });
        self.audit.submit(record);
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// What is known about a request while it is served: its audit record in the making.
#[derive(Default)]
struct Exchange {
    started: Option<Instant>,
    record: AuditRecord,
    /// Metrics label: the matched route pattern or `unmatched`.
    route: String,
    /// Until the first body byte went to the client.
    ttfb: Option<Duration>,
    /// A stream pump took over the record; `handle` must not finish it.
    handed_over: bool,
}

impl Exchange {
    fn elapsed(&self) -> Duration {
        self.started.map(|s| s.elapsed()).unwrap_or_default()
    }

    fn adapter(&mut self, adapter: &LoadedAdapter) {
        self.record.dialect = Some(adapter.dialect.clone());
        self.record.adapter = Some(adapter.name.clone());
        self.record.adapter_version = Some(adapter.version.clone());
    }

    fn pivot(&mut self, pivot: &PivotRequest, include_values: bool) {
        self.record.requested_model = Some(pivot.model.clone());
        self.record.stream = pivot.stream;
        self.record.client_software = pivot.client_software.clone();
        self.record.session_id = pivot.session_id.clone();
        self.record.warnings = pivot.warnings.clone();
        self.record.removed = pivot
            .removed
            .iter()
            .map(|r| RemovedRecord {
                location: r.location.clone(),
                value: include_values.then(|| r.value.clone()),
            })
            .collect();
    }

    fn attempt(&mut self, target: &Target, outcome: String) {
        self.record.upstream = Some(target.slot.name().to_owned());
        self.record.backend_model = Some(target.routed.backend_model.clone());
        self.record.attempts.push(Attempt {
            upstream: target.slot.name().to_owned(),
            model: target.routed.backend_model.clone(),
            outcome,
        });
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
    let mut exchange = Exchange {
        started: Some(started),
        route: UNMATCHED.to_owned(),
        record: AuditRecord {
            time: crate::audit::rfc3339(SystemTime::now()),
            request_id: request_id.clone(),
            user: crate::auth::ANONYMOUS.to_owned(),
            client_addr: request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.to_string()),
            method: method.clone(),
            path: path.clone(),
            ..AuditRecord::default()
        },
        ..Exchange::default()
    };
    let site = ErrorSite {
        request_id: request_id.clone(),
        path: path.clone(),
        query: query.as_deref().and_then(strip_key_param),
        client_model: None,
    };
    let result = serve(&state, request, &request_id, site, &mut exchange).await;
    let mut response = match result {
        Ok(response) => response,
        Err(failure) => {
            exchange.record.outcome = "error".to_owned();
            exchange.record.error_class = Some(failure.error.class().to_owned());
            render_failure(&state, failure).await
        }
    };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-cligate-request-id", value);
    }
    tracing::info!(
        request_id = %request_id,
        method = %method,
        path = %path,
        user = %exchange.record.user,
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    if !exchange.handed_over {
        exchange.record.status = response.status().as_u16();
        if exchange.record.outcome.is_empty() {
            exchange.record.outcome = "ok".to_owned();
        }
        exchange.record.bytes_out = response.body().size_hint().exact().unwrap_or(0);
        exchange.ttfb = Some(exchange.elapsed());
        state.finish(exchange);
    }
    response
}

async fn serve(
    state: &Arc<AppState>,
    request: Request<Body>,
    request_id: &str,
    mut site: ErrorSite,
    exchange: &mut Exchange,
) -> Result<Response, Failure> {
    let registry = state.registry.current();
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let lookup = registry
        .routes
        .lookup(parts.method.as_str(), parts.uri.path(), |name| {
            headers.contains_key(name)
        });
    let renderer = match &lookup {
        Lookup::Found(route) => Some(&route.adapter),
        Lookup::MethodNotAllowed(adapter) => Some(*adapter),
        Lookup::NotFound(adapter) => *adapter,
    };
    if let Lookup::Found(route) = &lookup {
        exchange.adapter(&route.adapter);
        exchange.route = format!("{} {}", route.method, route.path);
        exchange.record.route = Some(exchange.route.clone());
    }

    // The key first: without one, every answer (even a 404) is the same 401.
    let verdict = state.keys.check(
        parts.method.as_str(),
        parts.uri.path(),
        headers,
        parts.uri.query(),
    );
    let refusal = match &verdict {
        Verdict::Missing => Some((
            "missing",
            "a gateway key is required: send it as x-api-key, Authorization: Bearer, x-goog-api-key or ?key=",
        )),
        Verdict::Invalid => Some(("invalid", "the gateway key is not valid")),
        Verdict::Open | Verdict::User(_) => None,
    };
    if let Some((reason, message)) = refusal {
        state.metrics.auth_failure(reason);
        return Err(Failure {
            adapter: renderer.cloned(),
            site,
            error: GatewayError::Unauthenticated(message.to_owned()),
        });
    }
    exchange.record.user = verdict.user().to_owned();

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
    exchange.record.bytes_in = body.len() as u64;
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
            models: state.router.model_entries(),
        };
        return match session.answer_local(&client_request, &ctx).await {
            Ok(answer) => Ok(client_response(answer, &[])),
            Err(error) => Err(fail(&site, error)),
        };
    }

    let options = RequestOptions {
        request_id: request_id.to_owned(),
        redact_environment: state.config.redact_environment,
    };
    let pivot = match session.translate_request(&client_request, &options).await {
        Ok(pivot) => pivot,
        Err(error) => return Err(fail(&site, error)),
    };
    site.client_model = Some(pivot.model.clone());
    exchange.pivot(&pivot, state.audit.include_removed_values());
    tracing::debug!(
        request_id,
        client_model = %pivot.model,
        stream = pivot.stream,
        client = pivot.client_software.as_deref().unwrap_or("-"),
        removed = pivot.removed.len(),
        "translated"
    );

    let (target, upstream_response, warnings) =
        match call_upstream(state, &pivot, &adapter.dialect, request_id, exchange).await {
            Ok(answered) => answered,
            Err(error) => return Err(fail(&site, error)),
        };
    exchange.record.warnings = warnings.clone();
    if !warnings.is_empty() {
        // Info, not warn: Claude Code gets the same drops (cache hints) on every turn; the
        // warnings are counted by kind in /metrics and listed in the audit line.
        tracing::info!(request_id, adapter = %adapter.name, warnings = ?warnings, "translation warnings");
    }
    let upstream = target.slot.upstream.clone();
    let ctx = RequestContext {
        request_id: request_id.to_owned(),
        created_unix: unix_now(),
        client_model: pivot.model.clone(),
        backend_model: target.routed.backend_model.clone(),
        path: client_request.path.clone(),
        query: client_request.query.clone(),
        warnings: warnings.clone(),
        state: pivot.state.clone(),
    };

    if !pivot.stream {
        let body = match upstream
            .read_capped(
                upstream_response,
                state.config.limits.max_upstream_body_bytes,
            )
            .await
        {
            Ok(body) => body,
            Err(error) => return Err(fail(&site, error)),
        };
        exchange.record.tokens = usage_in_body(&body).unwrap_or_default();
        return match session.translate_response(&ctx, &body).await {
            Ok(answer) => Ok(client_response(answer, &warnings)),
            Err(GatewayError::AdapterInternal { message, .. }) => {
                Err(fail(&site, GatewayError::UpstreamGarbage(message)))
            }
            Err(error) => Err(fail(&site, error)),
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
        let body = match upstream
            .read_capped(
                upstream_response,
                state.config.limits.max_upstream_body_bytes,
            )
            .await
        {
            Ok(body) => body,
            Err(error) => return Err(fail(&site, error)),
        };
        let events = match crate::pivot::completion_as_stream(&body) {
            Ok(events) => events,
            Err(error) => return Err(fail(&site, error)),
        };
        exchange.record.tokens = usage_in_body(&body).unwrap_or_default();
        return match replay_whole(&mut session, &ctx, events).await {
            Ok(bytes) => {
                let mut response = Response::new(Body::from(bytes));
                apply_headers(response.headers_mut(), &pivot.stream_headers);
                add_warning_headers(response.headers_mut(), &warnings);
                Ok(response)
            }
            Err(error) => Err(fail(&site, error)),
        };
    }

    let stream = match session.open_stream(&ctx).await {
        Ok(stream) => stream,
        Err(error) => return Err(fail(&site, error)),
    };
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(32);
    let mut response = Response::new(Body::from_stream(tokio_stream_from_receiver(rx)));
    *response.status_mut() = StatusCode::OK;
    apply_headers(response.headers_mut(), &pivot.stream_headers);
    add_warning_headers(response.headers_mut(), &warnings);
    let mut record = std::mem::take(exchange);
    exchange.handed_over = true;
    exchange.record.user = record.record.user.clone();
    record.record.status = StatusCode::OK.as_u16();
    let pump = StreamPump {
        state: Arc::clone(state),
        session,
        stream,
        ctx,
        tx,
        upstream,
        exchange: record,
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

/// Send the pivot to the planned targets until one answers. Returns the target, its response
/// (headers received, status 2xx) and the warnings of the pivot adjusted for it.
async fn call_upstream(
    state: &Arc<AppState>,
    pivot: &PivotRequest,
    dialect: &str,
    request_id: &str,
    exchange: &mut Exchange,
) -> Result<(Target, reqwest::Response, Vec<String>), GatewayError> {
    let plan = state.router.plan(&pivot.model, dialect);
    let policy = state.router.policy();
    let last = plan.attempts.len().saturating_sub(1);
    let mut attempts = plan.attempts.into_iter().enumerate();
    loop {
        let Some((i, target)) = attempts.next() else {
            return Err(GatewayError::Internal(
                "no upstream attempt was made".to_owned(),
            ));
        };
        let mut warnings = pivot.warnings.clone();
        let body = adjust_pivot(&pivot.body, &target.routed, &mut warnings)?;
        let name = target.slot.name();
        let error = match target.slot.upstream.send(body, pivot.stream).await {
            Ok(response) => {
                if target.slot.record_success().recovered {
                    tracing::info!(upstream = name, "upstream recovered");
                }
                state.metrics.upstream(name, "ok");
                exchange.attempt(&target, "ok".to_owned());
                return Ok((target, response, warnings));
            }
            Err(error) => error,
        };
        let verdict = error.upstream_verdict();
        let change = target
            .slot
            .record_failure(verdict, error.retry_after(), policy);
        let outcome = attempt_outcome(&error);
        state.metrics.upstream(name, outcome);
        exchange.attempt(&target, outcome.to_owned());
        if change.ejected {
            state.metrics.ejection(name);
            tracing::warn!(upstream = name, eject_ms = policy.eject_ms, error = %error, "upstream ejected");
        }
        let retry = matches!(
            verdict,
            UpstreamVerdict::Failover | UpstreamVerdict::RateLimited
        );
        if !retry || i == last {
            return Err(error);
        }
        state.metrics.failover(name, outcome);
        tracing::warn!(request_id, upstream = name, error = %error, "failing over to the next target");
    }
}

/// The metrics label of a failed attempt.
fn attempt_outcome(error: &GatewayError) -> &'static str {
    match error {
        GatewayError::UpstreamUnreachable(_) => "connect_error",
        GatewayError::UpstreamTimeout(_) => "timeout",
        GatewayError::UpstreamStatus { status: 429, .. } => "status_429",
        GatewayError::UpstreamStatus { status, .. } if *status >= 500 => "status_5xx",
        GatewayError::UpstreamStatus { .. } => "status_4xx",
        _ => "error",
    }
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
    upstream: Upstream,
    exchange: Exchange,
}

enum Ended {
    /// The upstream finished (with or without `[DONE]`).
    Upstream,
    /// The client went away: stop, drop the upstream connection.
    ClientGone,
    /// Something failed mid-stream.
    Failed(GatewayError),
    /// The shutdown grace period is over.
    Shutdown,
}

/// Bytes sent to the client so far, and when the first went.
#[derive(Default)]
struct Sent {
    bytes: usize,
    first_at: Option<Instant>,
}

impl StreamPump {
    async fn run(mut self, upstream: reqwest::Response) {
        let started = Instant::now();
        let limits = self.upstream.limits().clone();
        let idle = limits.idle_timeout();
        let tick = limits.keepalive().min(idle);
        let mut framer = cligate_sse::SseFramer::new(self.state.config.limits.max_event_bytes);
        let mut body = upstream.bytes_stream().boxed();
        let mut last_event = Instant::now();
        let mut sent = Sent::default();
        let mut usage = Usage::default();
        let mut upstream_error: Option<String> = None;
        let shutdown = self.state.shutdown.clone();
        let ended = loop {
            let piece = tokio::select! {
                biased;
                _ = self.tx.closed() => break Ended::ClientGone,
                _ = shutdown.cancelled() => break Ended::Shutdown,
                piece = next_piece(&mut body, tick) => piece,
            };
            match piece {
                Err(GatewayError::UpstreamTimeout(_)) => {
                    if last_event.elapsed() >= idle {
                        break Ended::Failed(GatewayError::UpstreamTimeout(idle));
                    }
                    match self.session.keepalive(self.stream).await {
                        Ok(bytes) => {
                            if !send(&self.tx, bytes, &mut sent).await {
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
                    match self
                        .push_all(events, &mut sent, &mut usage, &mut upstream_error)
                        .await
                    {
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
        let mut error_class = None;
        let outcome = match ended {
            Ended::ClientGone => "client_gone",
            Ended::Shutdown => {
                error_class = Some("shutdown");
                self.fail(GatewayError::Overloaded, &mut sent).await;
                "shutdown"
            }
            Ended::Upstream => {
                let tail: Vec<_> = framer.finish().into_iter().collect();
                match self
                    .push_all(tail, &mut sent, &mut usage, &mut upstream_error)
                    .await
                {
                    Err(error) => {
                        error_class = Some(error.class());
                        self.fail(error, &mut sent).await
                    }
                    Ok(false) => "client_gone",
                    Ok(true) => match self.session.finish(self.stream).await {
                        Ok(bytes) => {
                            send(&self.tx, bytes, &mut sent).await;
                            if let Some(message) = &upstream_error {
                                tracing::warn!(
                                    request_id = %self.ctx.request_id,
                                    adapter = %self.session.adapter().name,
                                    error = %message,
                                    "stream failed: the upstream sent an error event"
                                );
                                error_class = Some("upstream_error_event");
                                "failed"
                            } else {
                                "completed"
                            }
                        }
                        Err(error) => {
                            error_class = Some(error.class());
                            self.fail(error, &mut sent).await
                        }
                    },
                }
            }
            Ended::Failed(error) => {
                error_class = Some(error.class());
                self.fail(error, &mut sent).await
            }
        };
        tracing::info!(
            request_id = %self.ctx.request_id,
            adapter = %self.session.adapter().name,
            version = %self.session.adapter().version,
            backend_model = %self.ctx.backend_model,
            outcome,
            bytes = sent.bytes,
            ms = started.elapsed().as_millis() as u64,
            "stream ended"
        );
        let mut exchange = std::mem::take(&mut self.exchange);
        exchange.record.outcome = outcome.to_owned();
        exchange.record.error_class = error_class.map(str::to_owned);
        exchange.record.tokens = usage;
        exchange.record.bytes_out = sent.bytes as u64;
        exchange.ttfb = sent
            .first_at
            .zip(exchange.started)
            .map(|(first, start)| first.saturating_duration_since(start));
        self.state.finish(exchange);
    }

    /// Push whole events; `Ok(false)` when the client is gone.
    async fn push_all(
        &mut self,
        events: Vec<cligate_sse::Event>,
        sent: &mut Sent,
        usage: &mut Usage,
        upstream_error: &mut Option<String>,
    ) -> Result<bool, GatewayError> {
        for event in events {
            if event.is_done_sentinel() {
                continue;
            }
            if let Some(found) = usage_in_event(&event.data) {
                *usage = found;
            }
            // The adapter turns an upstream error chunk into its dialect's error event; the
            // host notes it so the stream is logged, audited and counted as failed.
            let is_error = if let Some(message) = upstream_error_in_event(&event.data) {
                *upstream_error = Some(message);
                true
            } else {
                false
            };
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
            if is_error {
                pause_before_error_bytes(sent).await;
            }
            if !send(&self.tx, bytes, sent).await {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// End the client stream with the dialect's error event. If this session's instance is
    /// dead (trap, deadline), a fresh instance renders it from a new stream state.
    async fn fail(&mut self, error: GatewayError, sent: &mut Sent) -> &'static str {
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
                pause_before_error_bytes(sent).await;
                send(&self.tx, bytes, sent).await;
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

/// How long to wait before writing a stream's error bytes after other bytes went out.
///
/// `@google/genai` (the SDK inside Gemini CLI) recognises a mid-stream error only when one
/// network read holds exactly the error object; written right behind the last text frame, both
/// arrive in one read and the SDK reports "Incomplete JSON segment" instead of the backend's
/// message. A short pause lets the earlier frames leave first. Errors are rare; the cost is
/// paid only then.
const ERROR_FRAME_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

async fn pause_before_error_bytes(sent: &Sent) {
    if sent.bytes > 0 {
        tokio::time::sleep(ERROR_FRAME_PAUSE).await;
    }
}

/// The message of a pivot error event (`{"error":…}` or vLLM's `{"object":"error",…}`),
/// looked at only when the data mentions an error at all.
fn upstream_error_in_event(data: &str) -> Option<String> {
    if !data.contains("\"error") {
        return None;
    }
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(default)]
        error: Option<serde_json::Value>,
        #[serde(default)]
        object: Option<String>,
        #[serde(default)]
        message: Option<String>,
    }
    let probe: Probe = serde_json::from_str(data).ok()?;
    match probe.error {
        Some(serde_json::Value::Null) | None => (probe.object.as_deref() == Some("error"))
            .then(|| probe.message.unwrap_or_else(|| "upstream error".to_owned())),
        Some(error) => Some(
            error
                .get("message")
                .and_then(|m| m.as_str())
                .map(str::to_owned)
                .or_else(|| error.as_str().map(str::to_owned))
                .unwrap_or_else(|| error.to_string()),
        ),
    }
}

/// Send client bytes; `false` when the client is gone. (A free function: holding `&StreamPump`
/// across an await would make the task non-`Send`, the wasmtime store not being `Sync`.)
async fn send(
    tx: &mpsc::Sender<Result<Bytes, std::io::Error>>,
    bytes: Vec<u8>,
    sent: &mut Sent,
) -> bool {
    if bytes.is_empty() {
        return true;
    }
    sent.bytes += bytes.len();
    sent.first_at.get_or_insert_with(Instant::now);
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
/// Always a fresh instance: the request's own may have trapped, and one instantiation
/// (~8 µs) keeps that case the same as every other.
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
    fn upstream_error_events_are_recognised() {
        assert_eq!(
            upstream_error_in_event(r#"{"error":{"message":"boom","type":"x"}}"#).as_deref(),
            Some("boom")
        );
        assert_eq!(
            upstream_error_in_event(r#"{"object":"error","message":"old vllm"}"#).as_deref(),
            Some("old vllm")
        );
        assert_eq!(
            upstream_error_in_event(r#"{"choices":[{"delta":{"content":"an \"error\" word"}}]}"#),
            None
        );
        assert_eq!(
            upstream_error_in_event(r#"{"choices":[],"error":null}"#),
            None
        );
    }

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
