//! Test helpers for adapters (feature `testing`): run an adapter the way the host does,
//! natively, so its logic is tested without Wasm.

use crate::{Adapter, AdapterError, RequestContext, SseEvent, StreamTranslator};

/// Feed `upstream` (raw pivot SSE bytes) to a new stream of `A` in pieces of `split` bytes,
/// through the host's own framer, skipping `[DONE]` as the host does, then `finish`.
/// Returns every byte the client would receive.
pub fn replay_stream<A: Adapter>(
    ctx: RequestContext,
    upstream: &[u8],
    split: usize,
) -> Result<Vec<u8>, AdapterError> {
    let mut framer = cligate_sse::SseFramer::new(16 << 20);
    let mut stream = A::open_stream(ctx);
    let mut out = Vec::new();
    let mut events = Vec::new();
    for piece in upstream.chunks(split.max(1)) {
        events.extend(
            framer
                .feed(piece)
                .map_err(|e| AdapterError::Internal(e.to_string()))?,
        );
        for event in events.drain(..) {
            if !event.is_done_sentinel() {
                out.extend(stream.push(SseEvent {
                    event: event.event,
                    data: event.data,
                })?);
            }
        }
    }
    if let Some(event) = framer.finish().filter(|e| !e.is_done_sentinel()) {
        out.extend(stream.push(SseEvent {
            event: event.event,
            data: event.data,
        })?);
    }
    out.extend(stream.finish()?);
    Ok(out)
}

/// Split client SSE output into `(event name, data)` pairs, for assertions.
pub fn parse_client_sse(bytes: &[u8]) -> Vec<(Option<String>, String)> {
    let mut framer = cligate_sse::SseFramer::new(usize::MAX);
    let mut events = framer.feed(bytes).unwrap_or_default();
    events.extend(framer.finish());
    events.into_iter().map(|e| (e.event, e.data)).collect()
}

/// A request context for tests.
pub fn context(client_model: &str, backend_model: &str) -> RequestContext {
    RequestContext {
        request_id: "req_test_0001".to_owned(),
        created_unix: 1_790_000_000,
        client_model: client_model.to_owned(),
        backend_model: backend_model.to_owned(),
        path: String::new(),
        query: None,
        warnings: Vec::new(),
        state: Vec::new(),
    }
}
