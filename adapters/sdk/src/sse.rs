//! Server-sent event framing for what adapters send to clients.
//!
//! The host frames what comes *from* the upstream; adapters frame what goes *to* the client,
//! because each dialect has its own rules (Anthropic needs `event:` names, Gemini's SDK stalls
//! on anything but `data:` lines).

use serde::Serialize;

/// Append one event to `out`: an optional `event:` line, one `data:` line per line of `data`,
/// and the blank line that ends the event.
pub fn push_frame(out: &mut Vec<u8>, event: Option<&str>, data: &str) {
    if let Some(name) = event {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(name.as_bytes());
        out.push(b'\n');
    }
    for line in data.split('\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line.strip_suffix('\r').unwrap_or(line).as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
}

/// One framed event as a new buffer.
pub fn frame(event: Option<&str>, data: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 32);
    push_frame(&mut out, event, data);
    out
}

/// Append one event whose data is `value` serialised as single-line JSON.
///
/// serde_json never writes a raw newline, so the payload is always one `data:` line.
pub fn push_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, event: Option<&str>, value: &T) {
    if let Some(name) = event {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(name.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"data: ");
    // Serialising our own plain structs into a Vec cannot fail; an error would mean a
    // map with non-string keys, which no caller builds. Fall back to `null` rather than panic.
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.extend_from_slice(b"null");
    }
    out.extend_from_slice(b"\n\n");
}

/// `Content-Type` headers of an SSE response.
pub fn headers() -> Vec<crate::Header> {
    vec![
        crate::Header::new("content-type", "text/event-stream"),
        crate::Header::new("cache-control", "no-cache"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_named_and_multiline_events() {
        assert_eq!(frame(Some("ping"), "{}"), b"event: ping\ndata: {}\n\n");
        assert_eq!(frame(None, "a\nb"), b"data: a\ndata: b\n\n");
        let mut out = Vec::new();
        push_json(&mut out, None, &serde_json::json!({"a": "x\ny"}));
        assert_eq!(out, b"data: {\"a\":\"x\\ny\"}\n\n");
    }
}
