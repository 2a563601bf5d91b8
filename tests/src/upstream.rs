//! `ScriptedUpstream`: an in-process OpenAI Chat Completions server that plays scripted
//! replies and records every request it receives.
//!
//! - `POST /v1/chat/completions` plays the next reply of a FIFO queue, or the default reply
//!   when the queue is empty (a plain text answer, streamed when the request asks for it);
//!   the record says whether the default was used.
//! - `GET /v1/models` answers a one-model list.
//! - Anything else is recorded and answered 404 in OpenAI's error shape.
//!
//! Header names are recorded lower-case: hyper normalises them and does not expose the
//! original case through a public API.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot, watch};

/// The model name the scripted replies report (the backend's own name).
pub const SCRIPTED_MODEL: &str = "scripted-backend-model";
/// The text of the default reply.
pub const DEFAULT_ANSWER: &str = "Hello from the scripted upstream.";
/// Fixed `created` timestamp of scripted replies.
pub const CREATED: u64 = 1_700_000_000;

/// One scripted reply to a `POST /v1/chat/completions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    /// A JSON body with this status.
    Json { status: u16, body: Value },
    /// A `text/event-stream` 200 response played step by step.
    Sse { events: Vec<Step> },
    /// Wait this long before sending anything (no headers), then play `then`.
    Stall { ms: u64, then: Box<Reply> },
    /// A raw status with headers and a body (`content-type: application/json` unless given).
    Status {
        code: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// A 200 that claims to be JSON and is not.
    Garbage,
    /// A plain text answer shaped by the request: streamed in `pieces` content chunks when
    /// the request has `"stream": true` (with a usage chunk when it asked for one), whole
    /// otherwise. This is the default reply.
    Answer { text: String, pieces: usize },
}

/// One step of a scripted SSE stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", content = "value", rename_all = "snake_case")]
pub enum Step {
    /// `data: <payload>\n\n`, sent as one piece.
    Data(String),
    /// These bytes exactly, sent as one piece (split events, odd line endings, comments).
    Raw(Vec<u8>),
    /// Wait this many milliseconds (the peer closing meanwhile is detected).
    Sleep(u64),
    /// `data: [DONE]\n\n`.
    Done,
    /// Abort the connection here: no terminating chunk, no `[DONE]`.
    Close,
}

/// What happened to the response of one recorded request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The handler is still working (stalling before headers, or not yet answered).
    Pending,
    /// A whole (non-stream) response was handed to the server.
    Responded,
    /// A stream is being played.
    Streaming,
    /// Every scripted step of the stream was handed to the server.
    StreamCompleted,
    /// The peer went away before the reply was complete (stream body dropped, or the
    /// handler dropped while stalling).
    ClosedByPeer,
    /// The script aborted the connection (`Step::Close`).
    ClosedByScript,
}

impl Outcome {
    /// Whether the reply has reached a final state.
    pub fn is_final(self) -> bool {
        !matches!(self, Outcome::Pending | Outcome::Streaming)
    }
}

/// One request as the upstream received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// Position in arrival order, from 0.
    pub index: usize,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Headers in the order hyper kept them, names lower-case.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// Whether this request was answered with the default reply (the queue was empty).
    pub used_default: bool,
    /// The reply played (for chat requests).
    pub reply: Option<Reply>,
    /// When it arrived.
    pub received_at: Instant,
}

impl RecordedRequest {
    /// The body parsed as JSON (`Value::Null` if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header name, lower-case.
    pub fn header_names(&self) -> Vec<String> {
        self.headers
            .iter()
            .map(|(n, _)| n.to_ascii_lowercase())
            .collect()
    }

    /// Whether this is the chat completions call.
    pub fn is_chat(&self) -> bool {
        self.method == "POST" && self.path == "/v1/chat/completions"
    }
}

/// How the upstream behaves beyond its queue.
#[derive(Debug, Clone)]
pub struct UpstreamOptions {
    /// Played when the queue is empty.
    pub default_reply: Reply,
    /// Keep every request (off for the benchmark server, which would grow without bound).
    pub record: bool,
    /// Address to bind (port 0 for an ephemeral port).
    pub listen: SocketAddr,
}

impl Default for UpstreamOptions {
    fn default() -> Self {
        UpstreamOptions {
            default_reply: Reply::answer(DEFAULT_ANSWER, 3),
            record: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    queue: VecDeque<Reply>,
    requests: Vec<RecordedRequest>,
    outcomes: Vec<Outcome>,
    /// Requests counted (also when not recorded).
    count: usize,
    defaults_used: usize,
}

#[derive(Debug)]
struct Shared {
    inner: Mutex<Inner>,
    options: UpstreamOptions,
    /// Number of requests received.
    count_tx: watch::Sender<usize>,
    /// Bumped on every change of an outcome.
    change_tx: watch::Sender<u64>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the data inconsistent in a way the
        // tests care about; keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_outcome(&self, index: usize, outcome: Outcome) {
        {
            let mut inner = self.lock();
            if let Some(slot) = inner.outcomes.get_mut(index) {
                *slot = outcome;
            }
        }
        self.change_tx.send_modify(|g| *g += 1);
    }

    fn outcome(&self, index: usize) -> Option<Outcome> {
        self.lock().outcomes.get(index).copied()
    }
}

/// The scripted upstream server. Stops when dropped.
#[derive(Debug)]
pub struct ScriptedUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl ScriptedUpstream {
    /// Start with the default options on 127.0.0.1, an ephemeral port.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(UpstreamOptions::default()).await
    }

    /// Start with the given options.
    pub async fn start_with(options: UpstreamOptions) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .with_context(|| format!("bind the scripted upstream on {}", options.listen))?;
        let addr = listener.local_addr()?;
        let (count_tx, _) = watch::channel(0usize);
        let (change_tx, _) = watch::channel(0u64);
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner::default()),
            options,
            count_tx,
            change_tx,
        });
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let (shutdown, shutdown_rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = shutdown_rx.await;
                })
                .await;
        });
        Ok(ScriptedUpstream {
            addr,
            shared,
            shutdown: Some(shutdown),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL clients use, ending in `/v1` (what `CLIGATE_UPSTREAM_URL` takes).
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Queue a reply for the next chat request.
    pub fn push(&self, reply: Reply) {
        self.shared.lock().queue.push_back(reply);
    }

    /// Queue several replies in order.
    pub fn push_all(&self, replies: impl IntoIterator<Item = Reply>) {
        self.shared.lock().queue.extend(replies);
    }

    /// Drop every queued reply (e.g. leftovers queued for a gateway that might retry).
    pub fn clear_queue(&self) {
        self.shared.lock().queue.clear();
    }

    /// Replies still queued.
    pub fn queued(&self) -> usize {
        self.shared.lock().queue.len()
    }

    /// Every recorded request, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// The chat completion requests only.
    pub fn chat_requests(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.is_chat())
            .collect()
    }

    /// One recorded request.
    pub fn request(&self, index: usize) -> Option<RecordedRequest> {
        self.shared.lock().requests.get(index).cloned()
    }

    /// Number of requests received (recorded or not).
    pub fn request_count(&self) -> usize {
        self.shared.lock().count
    }

    /// How many chat requests were answered with the default reply.
    pub fn defaults_used(&self) -> usize {
        self.shared.lock().defaults_used
    }

    /// What happened to the reply of request `index`.
    pub fn outcome(&self, index: usize) -> Option<Outcome> {
        self.shared.outcome(index)
    }

    /// Wait until at least `n` requests arrived; returns the recorded requests.
    pub async fn wait_for_requests(
        &self,
        n: usize,
        timeout: Duration,
    ) -> anyhow::Result<Vec<RecordedRequest>> {
        let mut rx = self.shared.count_tx.subscribe();
        let waited = tokio::time::timeout(timeout, rx.wait_for(|c| *c >= n)).await;
        match waited {
            Ok(Ok(_)) => Ok(self.requests()),
            _ => bail!(
                "the scripted upstream received {} request(s) within {:?}, expected at least {n}",
                self.request_count(),
                timeout
            ),
        }
    }

    /// Wait until the outcome of request `index` satisfies `pred`; returns it.
    pub async fn wait_for_outcome(
        &self,
        index: usize,
        timeout: Duration,
        pred: impl Fn(Outcome) -> bool,
    ) -> anyhow::Result<Outcome> {
        let mut rx = self.shared.change_tx.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            rx.borrow_and_update();
            if let Some(outcome) = self.outcome(index)
                && pred(outcome)
            {
                return Ok(outcome);
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                bail!(
                    "request {index} at the scripted upstream is {:?} after {:?}",
                    self.outcome(index),
                    timeout
                );
            }
        }
    }

    /// Stop serving (also done on drop).
    pub fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for ScriptedUpstream {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Marks a request `ClosedByPeer` if the handler is dropped before it answered
/// (hyper drops the handler future when the connection goes away).
struct PendingGuard {
    shared: Arc<Shared>,
    index: usize,
    armed: bool,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        if self.armed && self.shared.outcome(self.index) == Some(Outcome::Pending) {
            self.shared.set_outcome(self.index, Outcome::ClosedByPeer);
        }
    }
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 512 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let is_chat = method == "POST" && path == "/v1/chat/completions";

    let (index, reply) = {
        let mut inner = shared.lock();
        let index = inner.count;
        inner.count += 1;
        let (reply, used_default) = if is_chat {
            match inner.queue.pop_front() {
                Some(r) => (Some(r), false),
                None => {
                    inner.defaults_used += 1;
                    (Some(shared.options.default_reply.clone()), true)
                }
            }
        } else {
            (None, false)
        };
        if shared.options.record {
            inner.requests.push(RecordedRequest {
                index,
                method: method.clone(),
                path: path.clone(),
                query: parts.uri.query().map(str::to_owned),
                headers: parts
                    .headers
                    .iter()
                    .map(|(n, v)| {
                        (
                            n.as_str().to_owned(),
                            String::from_utf8_lossy(v.as_bytes()).into_owned(),
                        )
                    })
                    .collect(),
                body: body.clone(),
                used_default,
                reply: reply.clone(),
                received_at: Instant::now(),
            });
        }
        inner.outcomes.push(Outcome::Pending);
        (index, reply)
    };
    shared.count_tx.send_modify(|c| *c = index + 1);
    let mut guard = PendingGuard {
        shared: Arc::clone(&shared),
        index,
        armed: true,
    };

    let response = match reply {
        Some(reply) => play(&shared, index, reply, &body).await,
        None if method == "GET" && path == "/v1/models" => {
            shared.set_outcome(index, Outcome::Responded);
            json_response(
                200,
                &json!({"object": "list", "data": [{
                    "id": SCRIPTED_MODEL, "object": "model", "created": CREATED,
                    "owned_by": "scripted-upstream"
                }]}),
            )
        }
        None => {
            shared.set_outcome(index, Outcome::Responded);
            json_response(
                404,
                &json!({"error": {
                    "message": format!("scripted upstream: no route for {method} {path}"),
                    "type": "invalid_request_error", "param": null, "code": "unknown_url"
                }}),
            )
        }
    };
    guard.armed = false;
    response
}

fn json_response(status: u16, body: &Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// Play one reply. Boxed because `Stall` recurses.
fn play<'a>(
    shared: &'a Arc<Shared>,
    index: usize,
    reply: Reply,
    request_body: &'a [u8],
) -> futures::future::BoxFuture<'a, Response> {
    Box::pin(async move {
        match reply {
            Reply::Stall { ms, then } => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                play(shared, index, *then, request_body).await
            }
            Reply::Answer { text, pieces } => {
                let req: Value = serde_json::from_slice(request_body).unwrap_or(Value::Null);
                let shaped = if req["stream"].as_bool() == Some(true) {
                    let usage = req["stream_options"]["include_usage"].as_bool() == Some(true);
                    let mut s = ChatStream::new().role().content_pieces(&text, pieces);
                    s = s.finish("stop");
                    if usage {
                        s = s.usage(11, pieces.max(1) as u64);
                    }
                    s.done().build()
                } else {
                    Reply::text(&text)
                };
                play(shared, index, shaped, request_body).await
            }
            Reply::Json { status, body } => {
                shared.set_outcome(index, Outcome::Responded);
                json_response(status, &body)
            }
            Reply::Status {
                code,
                headers,
                body,
            } => {
                shared.set_outcome(index, Outcome::Responded);
                let mut b = Response::builder().status(code);
                let mut has_ct = false;
                for (n, v) in &headers {
                    has_ct |= n.eq_ignore_ascii_case("content-type");
                    b = b.header(n.as_str(), v.as_str());
                }
                if !has_ct {
                    b = b.header("content-type", "application/json");
                }
                b.body(Body::from(body))
                    .unwrap_or_else(|_| Response::new(Body::empty()))
            }
            Reply::Garbage => {
                shared.set_outcome(index, Outcome::Responded);
                Response::builder()
                    .status(200)
                    .header("content-type", "application/json")
                    .body(Body::from(GARBAGE))
                    .unwrap_or_else(|_| Response::new(Body::empty()))
            }
            Reply::Sse { events } => {
                shared.set_outcome(index, Outcome::Streaming);
                // Capacity 1: a step is produced only when the server took the previous one,
                // so a peer that went away is noticed at the next step.
                let (tx, mut rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(1);
                tokio::spawn(play_steps(Arc::clone(shared), index, events, tx));
                let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
                Response::builder()
                    .status(200)
                    .header("content-type", "text/event-stream")
                    .header("cache-control", "no-cache")
                    .body(Body::from_stream(stream))
                    .unwrap_or_else(|_| Response::new(Body::empty()))
            }
        }
    })
}

/// The body of [`Reply::Garbage`].
pub const GARBAGE: &str = "<html><body><h1>Welcome to the captive portal</h1></body></html>";

async fn play_steps(
    shared: Arc<Shared>,
    index: usize,
    steps: Vec<Step>,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    for step in steps {
        let piece: Bytes = match step {
            Step::Data(s) => Bytes::from(format!("data: {s}\n\n")),
            Step::Raw(b) => Bytes::from(b),
            Step::Done => Bytes::from_static(b"data: [DONE]\n\n"),
            Step::Sleep(ms) => {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(ms)) => continue,
                    _ = tx.closed() => {
                        shared.set_outcome(index, Outcome::ClosedByPeer);
                        return;
                    }
                }
            }
            Step::Close => {
                shared.set_outcome(index, Outcome::ClosedByScript);
                let _ = tx
                    .send(Err(std::io::Error::other("scripted connection abort")))
                    .await;
                return;
            }
        };
        if tx.send(Ok(piece)).await.is_err() {
            shared.set_outcome(index, Outcome::ClosedByPeer);
            return;
        }
    }
    // Every step was handed over; the body ends when `tx` drops. With capacity 1, a permit
    // is free only once the server took the last piece: wait for that (or for the peer to
    // leave), so a close right at the end is still seen.
    match tx.reserve().await {
        Ok(permit) => {
            drop(permit);
            shared.set_outcome(index, Outcome::StreamCompleted);
        }
        Err(_) => shared.set_outcome(index, Outcome::ClosedByPeer),
    }
}

// ---------------------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------------------

/// Which field a backend uses for reasoning text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReasoningField {
    /// DeepSeek, older vLLM.
    ReasoningContent,
    /// Ollama, vLLM ≥ 0.11.
    Reasoning,
}

impl ReasoningField {
    /// The JSON field name.
    pub fn name(self) -> &'static str {
        match self {
            ReasoningField::ReasoningContent => "reasoning_content",
            ReasoningField::Reasoning => "reasoning",
        }
    }
}

/// A tool call to script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The complete arguments JSON text.
    pub arguments: String,
}

impl ToolCall {
    pub fn new(id: &str, name: &str, arguments: &str) -> Self {
        ToolCall {
            id: id.to_owned(),
            name: name.to_owned(),
            arguments: arguments.to_owned(),
        }
    }
}

/// Split `text` into `n` pieces of about equal length on char boundaries (fewer if the
/// text is shorter). The pieces concatenate to `text`.
pub fn split_pieces(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let n = n.max(1).min(chars.len().max(1));
    let base = chars.len() / n;
    let extra = chars.len() % n;
    let mut out = Vec::with_capacity(n);
    let mut at = 0;
    for i in 0..n {
        let len = base + usize::from(i < extra);
        out.push(chars[at..at + len].iter().collect());
        at += len;
    }
    out
}

fn usage_json(prompt: u64, completion: u64) -> Value {
    json!({"prompt_tokens": prompt, "completion_tokens": completion,
           "total_tokens": prompt + completion})
}

/// Builds a Chat Completions SSE stream, chunk by chunk.
#[derive(Debug, Clone)]
pub struct ChatStream {
    id: String,
    model: String,
    steps: Vec<Step>,
}

impl Default for ChatStream {
    fn default() -> Self {
        Self::new()
    }
}

impl ChatStream {
    pub fn new() -> Self {
        ChatStream {
            id: "chatcmpl-scripted".to_owned(),
            model: SCRIPTED_MODEL.to_owned(),
            steps: Vec::new(),
        }
    }

    /// One chunk with this delta and finish reason.
    pub fn chunk(mut self, delta: Value, finish_reason: Option<&str>) -> Self {
        let c = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": CREATED,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": null,
                         "finish_reason": finish_reason}],
        });
        self.steps.push(Step::Data(c.to_string()));
        self
    }

    /// The usual first chunk: `{"role":"assistant","content":""}`.
    pub fn role(self) -> Self {
        self.chunk(json!({"role": "assistant", "content": ""}), None)
    }

    /// One content delta.
    pub fn content(self, piece: &str) -> Self {
        self.chunk(json!({"content": piece}), None)
    }

    /// `text` as `n` content deltas.
    pub fn content_pieces(mut self, text: &str, n: usize) -> Self {
        for p in split_pieces(text, n) {
            self = self.content(&p);
        }
        self
    }

    /// One reasoning delta in the given field.
    pub fn reasoning(self, field: ReasoningField, piece: &str) -> Self {
        self.chunk(json!({ field.name(): piece }), None)
    }

    /// `text` as `n` reasoning deltas.
    pub fn reasoning_pieces(mut self, field: ReasoningField, text: &str, n: usize) -> Self {
        for p in split_pieces(text, n) {
            self = self.reasoning(field, &p);
        }
        self
    }

    /// The first fragment of tool call `index`: id, type, name, empty arguments.
    pub fn tool_call_start(self, index: u32, id: &str, name: &str) -> Self {
        self.chunk(
            json!({"tool_calls": [{"index": index, "id": id, "type": "function",
                                   "function": {"name": name, "arguments": ""}}]}),
            None,
        )
    }

    /// A later fragment of tool call `index`: only a piece of the arguments.
    pub fn tool_call_args(self, index: u32, piece: &str) -> Self {
        self.chunk(
            json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}),
            None,
        )
    }

    /// A whole tool call in one fragment (Ollama style).
    pub fn tool_call_whole(self, index: u32, call: &ToolCall) -> Self {
        self.chunk(
            json!({"tool_calls": [{"index": index, "id": call.id, "type": "function",
                                   "function": {"name": call.name, "arguments": call.arguments}}]}),
            None,
        )
    }

    /// Tool calls fragmented by index: each call's start, then its arguments in `n`
    /// pieces, interleaving the calls piece by piece (as parallel calls may arrive).
    pub fn tool_calls_fragmented(mut self, calls: &[ToolCall], n: usize) -> Self {
        let pieces: Vec<Vec<String>> = calls
            .iter()
            .map(|c| split_pieces(&c.arguments, n))
            .collect();
        for (i, c) in calls.iter().enumerate() {
            self = self.tool_call_start(i as u32, &c.id, &c.name);
        }
        let longest = pieces.iter().map(Vec::len).max().unwrap_or(0);
        for k in 0..longest {
            for (i, p) in pieces.iter().enumerate() {
                if let Some(piece) = p.get(k) {
                    self = self.tool_call_args(i as u32, piece);
                }
            }
        }
        self
    }

    /// The finish chunk: empty delta, this finish reason.
    pub fn finish(self, reason: &str) -> Self {
        self.chunk(json!({}), Some(reason))
    }

    /// The usage-only chunk (`choices: []`) that follows the finish chunk.
    pub fn usage(mut self, prompt: u64, completion: u64) -> Self {
        let c = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": CREATED,
            "model": self.model, "choices": [], "usage": usage_json(prompt, completion),
        });
        self.steps.push(Step::Data(c.to_string()));
        self
    }

    /// A mid-stream error chunk, `data: {"error":{…}}`.
    pub fn error(mut self, message: &str) -> Self {
        let e = json!({"error": {"message": message, "type": "server_error",
                                  "param": null, "code": "internal_error"}});
        self.steps.push(Step::Data(e.to_string()));
        self
    }

    pub fn data(mut self, payload: &str) -> Self {
        self.steps.push(Step::Data(payload.to_owned()));
        self
    }

    pub fn raw(mut self, bytes: &[u8]) -> Self {
        self.steps.push(Step::Raw(bytes.to_vec()));
        self
    }

    pub fn sleep(mut self, ms: u64) -> Self {
        self.steps.push(Step::Sleep(ms));
        self
    }

    /// Insert `Sleep(ms)` between every two steps so far.
    pub fn paced(mut self, ms: u64) -> Self {
        let mut out = Vec::with_capacity(self.steps.len() * 2);
        for (i, s) in self.steps.into_iter().enumerate() {
            if i > 0 {
                out.push(Step::Sleep(ms));
            }
            out.push(s);
        }
        self.steps = out;
        self
    }

    pub fn done(mut self) -> Self {
        self.steps.push(Step::Done);
        self
    }

    pub fn close(mut self) -> Self {
        self.steps.push(Step::Close);
        self
    }

    /// The steps so far.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    pub fn build(self) -> Reply {
        Reply::Sse { events: self.steps }
    }
}

fn completion(message: Value, finish_reason: &str, usage: Value) -> Value {
    json!({
        "id": "chatcmpl-scripted", "object": "chat.completion", "created": CREATED,
        "model": SCRIPTED_MODEL,
        "choices": [{"index": 0, "message": message, "logprobs": null,
                     "finish_reason": finish_reason}],
        "usage": usage,
    })
}

impl Reply {
    /// The default reply kind: a text answer shaped by the request's `stream` flag.
    pub fn answer(text: &str, pieces: usize) -> Reply {
        Reply::Answer {
            text: text.to_owned(),
            pieces,
        }
    }

    /// A whole (non-stream) text answer, usage 11 prompt / 7 completion tokens.
    pub fn text(text: &str) -> Reply {
        Reply::Json {
            status: 200,
            body: completion(
                json!({"role": "assistant", "content": text}),
                "stop",
                usage_json(11, 7),
            ),
        }
    }

    /// A streamed text answer in `pieces` content chunks, then the finish chunk, a
    /// usage-only chunk (11 / 7) and `[DONE]`.
    pub fn text_stream(text: &str, pieces: usize) -> Reply {
        ChatStream::new()
            .role()
            .content_pieces(text, pieces)
            .finish("stop")
            .usage(11, 7)
            .done()
            .build()
    }

    /// Whole tool calls, finish reason `tool_calls`, usage 20 / 9.
    pub fn tool_calls(calls: &[ToolCall]) -> Reply {
        let tc: Vec<Value> = calls
            .iter()
            .map(|c| {
                json!({"id": c.id, "type": "function",
                            "function": {"name": c.name, "arguments": c.arguments}})
            })
            .collect();
        Reply::Json {
            status: 200,
            body: completion(
                json!({"role": "assistant", "content": null, "tool_calls": tc}),
                "tool_calls",
                usage_json(20, 9),
            ),
        }
    }

    /// Streamed tool calls, each call's arguments in `pieces` fragments keyed by index,
    /// then finish `tool_calls`, usage 20 / 9, `[DONE]`.
    pub fn tool_calls_stream(calls: &[ToolCall], pieces: usize) -> Reply {
        ChatStream::new()
            .role()
            .tool_calls_fragmented(calls, pieces)
            .finish("tool_calls")
            .usage(20, 9)
            .done()
            .build()
    }

    /// Streamed tool calls, each in one whole fragment (Ollama style).
    pub fn tool_calls_stream_whole(calls: &[ToolCall]) -> Reply {
        let mut s = ChatStream::new().role();
        for (i, c) in calls.iter().enumerate() {
            s = s.tool_call_whole(i as u32, c);
        }
        s.finish("tool_calls").usage(20, 9).done().build()
    }

    /// A whole answer with reasoning in `field`, usage 15 / 12.
    pub fn reasoning(field: ReasoningField, reasoning: &str, text: &str) -> Reply {
        Reply::Json {
            status: 200,
            body: completion(
                json!({"role": "assistant", "content": text, field.name(): reasoning}),
                "stop",
                usage_json(15, 12),
            ),
        }
    }

    /// A streamed answer: reasoning in `pieces` deltas of `field`, then text in `pieces`
    /// content deltas, finish `stop`, usage 15 / 12, `[DONE]`.
    pub fn reasoning_stream(
        field: ReasoningField,
        reasoning: &str,
        text: &str,
        pieces: usize,
    ) -> Reply {
        ChatStream::new()
            .role()
            .reasoning_pieces(field, reasoning, pieces)
            .content_pieces(text, pieces)
            .finish("stop")
            .usage(15, 12)
            .done()
            .build()
    }

    /// Some text, then a mid-stream `data: {"error":…}` chunk, and the stream ends without
    /// a finish chunk or `[DONE]`.
    pub fn error_mid_stream(text_before: &str, message: &str) -> Reply {
        ChatStream::new()
            .role()
            .content(text_before)
            .error(message)
            .build()
    }

    /// A plain status with an OpenAI-shaped error body.
    pub fn status(code: u16, message: &str) -> Reply {
        let kind = match code {
            429 => "rate_limit_exceeded",
            500..=599 => "server_error",
            _ => "invalid_request_error",
        };
        Reply::Status {
            code,
            headers: Vec::new(),
            body: json!({"error": {"message": message, "type": kind, "param": null,
                                   "code": null}})
            .to_string(),
        }
    }

    /// 429 with `Retry-After: <seconds>`.
    pub fn rate_limited(retry_after_seconds: u32) -> Reply {
        Reply::Status {
            code: 429,
            headers: vec![("Retry-After".to_owned(), retry_after_seconds.to_string())],
            body: json!({"error": {"message": "Rate limit reached, try again later",
                                   "type": "rate_limit_exceeded", "param": null,
                                   "code": "rate_limit_exceeded"}})
            .to_string(),
        }
    }

    /// 503 overloaded.
    pub fn overloaded() -> Reply {
        Reply::status(503, "The server is overloaded, try again later")
    }

    /// 500 internal error.
    pub fn server_error() -> Reply {
        Reply::status(500, "The server had an error while processing your request")
    }

    /// Send nothing for `ms`, then play `then`.
    pub fn stall(ms: u64, then: Reply) -> Reply {
        Reply::Stall {
            ms,
            then: Box::new(then),
        }
    }

    /// A 200 whose body is not JSON.
    pub fn garbage() -> Reply {
        Reply::Garbage
    }

    /// A stream of raw steps.
    pub fn sse(steps: Vec<Step>) -> Reply {
        Reply::Sse { events: steps }
    }
}
