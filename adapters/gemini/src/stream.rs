//! Streamed pivot answers → Gemini stream chunks.
//!
//! Two framings, chosen by the request's query (dialects.md §0, §3.6):
//! - `alt=sse` (every Google SDK, Gemini CLI, Code Assist): `data: <one-line JSON>\r\n\r\n`
//!   frames and nothing else. `@google/genai` 1.30 matches frames with
//!   `^\s*data: (.*)(?:\n\n|\r\r|\r\n\r\n)`; an `event:` or comment line stalls it, and since
//!   JavaScript's `.` stops at U+2028/U+2029 too, those are written as `\u2028`/`\u2029`.
//! - otherwise the JSON-array form: `[{…}\n,{…}\n]`.
//!
//! Text and thoughts go out as they come. Function calls are buffered until the stream
//! ends and go out whole, in the final chunk, which also carries `finishReason` and
//! `usageMetadata` (usage arrives after the finish chunk, so `finish` is the first moment
//! both are known). That chunk always has a part: the calls, or an empty text.
//!
//! A failure after bytes were sent ends the stream with a bare JSON error object
//! `{"error":{"code","message","status"}}`, not a `data:` frame: SDK 1.30 raises an
//! `ApiError` only for a network read that parses as such an object, and drops a `data:`
//! frame carrying an error without a word. (Code Assist reads lines itself and ignores
//! anything but `data:`, so there the error goes in a `data:` frame.)

use cligate_adapter_sdk::pivot::{ChunkDecoder, FinishReason, PivotEvent, Usage};
use cligate_adapter_sdk::{
    AdapterError, ErrorKind, GatewayError, RequestContext, SseEvent, StreamTranslator,
};
use serde::Serialize;

use crate::error;
use crate::response::{CallBuffer, OutPart, Outcome, Shape};
use crate::state::State;

/// How chunks are framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Sse,
    JsonArray,
}

/// One streamed answer.
pub struct GeminiStream {
    state: State,
    model_version: String,
    response_id: String,
    framing: Framing,
    decoder: ChunkDecoder,
    calls: Vec<CallBuffer>,
    /// All reasoning, for the gateway signature on the first call.
    reasoning: String,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
    /// JSON-array form: whether `[` has been sent.
    array_open: bool,
    /// A terminal chunk or error has been sent; nothing more may follow.
    ended: bool,
}

impl GeminiStream {
    /// A stream for the request described by `ctx`.
    pub fn new(ctx: RequestContext) -> Self {
        let sse = ctx
            .query
            .as_deref()
            .is_some_and(|q| q.split('&').any(|pair| pair == "alt=sse"));
        GeminiStream {
            state: State::decode(&ctx.state, &ctx.path),
            decoder: ChunkDecoder::new(&ctx.request_id),
            model_version: ctx.client_model,
            response_id: ctx.request_id,
            framing: if sse {
                Framing::Sse
            } else {
                Framing::JsonArray
            },
            calls: Vec::new(),
            reasoning: String::new(),
            finish: None,
            usage: None,
            array_open: false,
            ended: false,
        }
    }

    fn shape(&self) -> Shape<'_> {
        Shape {
            state: self.state,
            model_version: &self.model_version,
            response_id: &self.response_id,
        }
    }

    /// Apply decoded events; returns the client bytes.
    fn apply(&mut self, events: Vec<PivotEvent>) -> Result<Vec<u8>, AdapterError> {
        let mut out = Vec::new();
        // Consecutive text and thoughts of one upstream event form one chunk.
        let mut pieces: Vec<(bool, String)> = Vec::new();
        for event in events {
            match event {
                PivotEvent::Reasoning(text) => {
                    self.reasoning.push_str(&text);
                    if self.state.include_thoughts {
                        pieces.push((true, text));
                    }
                }
                PivotEvent::Text(text) => pieces.push((false, text)),
                PivotEvent::ToolCallStart { slot, id, name } => {
                    if self.calls.len() <= slot {
                        self.calls.resize_with(slot + 1, CallBuffer::default);
                    }
                    self.calls[slot].id = id;
                    self.calls[slot].name = name;
                }
                PivotEvent::ToolCallArguments { slot, fragment } => {
                    if let Some(call) = self.calls.get_mut(slot) {
                        call.arguments.push_str(&fragment);
                    }
                }
                PivotEvent::Finish(reason) => self.finish = Some(reason),
                PivotEvent::Usage(usage) => self.usage = Some(usage),
                PivotEvent::Error(message) => {
                    self.flush_pieces(&mut pieces, &mut out)?;
                    out.extend(self.error_bytes(&GatewayError {
                        kind: ErrorKind::Upstream,
                        status: 502,
                        message,
                        retry_after_seconds: None,
                    }));
                    return Ok(out);
                }
            }
        }
        self.flush_pieces(&mut pieces, &mut out)?;
        Ok(out)
    }

    fn flush_pieces(
        &mut self,
        pieces: &mut Vec<(bool, String)>,
        out: &mut Vec<u8>,
    ) -> Result<(), AdapterError> {
        if pieces.is_empty() {
            return Ok(());
        }
        let parts = pieces
            .iter()
            .map(|(thought, text)| {
                if *thought {
                    OutPart::thought(text)
                } else {
                    OutPart::text(text)
                }
            })
            .collect();
        let shape = self.shape();
        let chunk = shape.to_json(&shape.response(parts, None, None))?;
        pieces.clear();
        self.frame(out, &chunk);
        Ok(())
    }

    /// Frame one serialised chunk.
    fn frame(&mut self, out: &mut Vec<u8>, json: &[u8]) {
        match self.framing {
            Framing::Sse => {
                out.extend_from_slice(b"data: ");
                push_js_safe(out, json);
                out.extend_from_slice(b"\r\n\r\n");
            }
            Framing::JsonArray => {
                out.extend_from_slice(if self.array_open { b"\n," } else { b"[" });
                self.array_open = true;
                out.extend_from_slice(json);
            }
        }
    }

    /// The bytes that end the stream with `error`.
    fn error_bytes(&mut self, error: &GatewayError) -> Vec<u8> {
        self.ended = true;
        let body = error::body(error);
        let mut out = Vec::new();
        match self.framing {
            Framing::Sse if self.state.code_assist => {
                out.extend_from_slice(b"data: ");
                push_js_safe(&mut out, &to_vec(&body));
                out.extend_from_slice(b"\r\n\r\n");
            }
            Framing::Sse => {
                out.extend_from_slice(&to_vec(&body));
                out.push(b'\n');
            }
            Framing::JsonArray => {
                out.extend_from_slice(if self.array_open { b"\n," } else { b"[" });
                self.array_open = true;
                out.extend_from_slice(&to_vec(&body));
                out.extend_from_slice(b"\n]");
            }
        }
        out
    }
}

fn to_vec<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec())
}

/// Append JSON with U+2028 and U+2029 escaped: valid JSON either way, but JavaScript's
/// regex `.` does not match them, which would break the SDK's frame matcher.
fn push_js_safe(out: &mut Vec<u8>, json: &[u8]) {
    let mut rest = json;
    while let Some(pos) = rest
        .windows(3)
        .position(|w| w == [0xE2, 0x80, 0xA8] || w == [0xE2, 0x80, 0xA9])
    {
        out.extend_from_slice(&rest[..pos]);
        out.extend_from_slice(if rest[pos + 2] == 0xA8 {
            b"\\u2028"
        } else {
            b"\\u2029"
        });
        rest = &rest[pos + 3..];
    }
    out.extend_from_slice(rest);
}

impl StreamTranslator for GeminiStream {
    fn push(&mut self, event: SseEvent) -> Result<Vec<u8>, AdapterError> {
        if self.ended {
            return Ok(Vec::new());
        }
        let events = self.decoder.push(&event)?;
        self.apply(events)
    }

    /// SSE has no byte that keeps a `@google/genai` reader happy without changing its
    /// result (see the module docs); the JSON array takes whitespace.
    fn keepalive(&mut self) -> Vec<u8> {
        match self.framing {
            Framing::Sse => Vec::new(),
            Framing::JsonArray if self.ended => Vec::new(),
            Framing::JsonArray => b"\n".to_vec(),
        }
    }

    fn finish(&mut self) -> Result<Vec<u8>, AdapterError> {
        if self.ended {
            return Ok(Vec::new());
        }
        let tail = self.decoder.finish();
        let mut out = self.apply(tail)?;
        if self.ended {
            return Ok(out);
        }
        self.ended = true;
        let outcome = Outcome::decide(std::mem::take(&mut self.calls), self.finish.as_ref());
        let mut parts = outcome.call_parts(&self.reasoning);
        if parts.is_empty() {
            parts.push(OutPart::text(""));
        }
        let shape = self.shape();
        let chunk =
            shape.to_json(&shape.response(parts, Some(outcome.finish_reason), self.usage))?;
        self.frame(&mut out, &chunk);
        if self.framing == Framing::JsonArray {
            out.extend_from_slice(b"\n]");
        }
        Ok(out)
    }

    fn fail(&mut self, error: GatewayError) -> Vec<u8> {
        if self.ended {
            return Vec::new();
        }
        self.error_bytes(&error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_separators_are_escaped() {
        let mut out = Vec::new();
        push_js_safe(&mut out, "{\"t\":\"a\u{2028}b\u{2029}c\u{e9}\"}".as_bytes());
        assert_eq!(out, "{\"t\":\"a\\u2028b\\u2029c\u{e9}\"}".as_bytes());
    }
}
