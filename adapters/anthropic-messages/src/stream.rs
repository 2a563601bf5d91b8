//! Chat Completions stream → Anthropic Messages stream (dialects.md §1.6, §5.4).
//!
//! The event grammar Claude Code's SDK enforces: `message_start` first; blocks opened at
//! index 0, 1, 2, … each with `content_block_start` (empty `text` / `thinking` / `input`),
//! deltas of the block's own type, and `content_block_stop`; one block open at a time;
//! then `message_delta` (stop reason and final usage) and `message_stop`. `ping` may
//! appear anywhere. A failure is one `event: error` and nothing after it.
//!
//! Blocks stay sequential even when a backend interleaves the fragments of parallel tool
//! calls: while an open `tool_use` block's arguments are not yet a complete JSON document,
//! content for other blocks waits in a queue; it is released as soon as the arguments
//! complete, or at the end of the stream.

use std::collections::VecDeque;

use cligate_adapter_sdk::pivot::{ChunkDecoder, PivotEvent};
use cligate_adapter_sdk::{
    AdapterError, GatewayError, RequestContext, SseEvent, StreamTranslator, sse,
};
use serde::Serialize;

use crate::State;
use crate::error::{ErrorBody, error_type};
use crate::response::{UsageOut, message_id, signature, stop_reason, tool_use_id};

/// One client event. Serialised with its `type`, which is also the SSE event name.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event<'a> {
    MessageStart {
        message: StartMessage<'a>,
    },
    ContentBlockStart {
        index: usize,
        content_block: StartBlock<'a>,
    },
    ContentBlockDelta {
        index: usize,
        delta: Delta<'a>,
    },
    ContentBlockStop {
        index: usize,
    },
    MessageDelta {
        delta: MessageDeltaBody,
        usage: UsageOut,
    },
    MessageStop,
    Ping,
}

impl Event<'_> {
    fn name(&self) -> &'static str {
        match self {
            Event::MessageStart { .. } => "message_start",
            Event::ContentBlockStart { .. } => "content_block_start",
            Event::ContentBlockDelta { .. } => "content_block_delta",
            Event::ContentBlockStop { .. } => "content_block_stop",
            Event::MessageDelta { .. } => "message_delta",
            Event::MessageStop => "message_stop",
            Event::Ping => "ping",
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        sse::push_json(out, Some(self.name()), self);
    }
}

#[derive(Serialize)]
struct StartMessage<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: [(); 0],
    stop_reason: Option<&'static str>,
    stop_sequence: Option<&'static str>,
    usage: UsageOut,
}

/// Serialises as `{}`.
#[derive(Serialize)]
struct EmptyObject {}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum StartBlock<'a> {
    Thinking {
        thinking: &'static str,
        signature: &'static str,
    },
    Text {
        text: &'static str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: EmptyObject,
    },
}

/// A `content_block_delta` payload; the wire type is the variant name + `_delta`.
#[derive(Serialize)]
#[serde(tag = "type")]
enum Delta<'a> {
    #[serde(rename = "text_delta")]
    Text { text: &'a str },
    #[serde(rename = "thinking_delta")]
    Thinking { thinking: &'a str },
    #[serde(rename = "signature_delta")]
    Signature { signature: &'a str },
    #[serde(rename = "input_json_delta")]
    InputJson { partial_json: &'a str },
}

#[derive(Serialize)]
struct MessageDeltaBody {
    stop_reason: &'static str,
    stop_sequence: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing sent yet.
    Idle,
    /// `message_start` sent.
    Started,
    /// `message_stop` or `error` sent: nothing more may follow.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpenBlock {
    Thinking(usize),
    Text(usize),
    Tool { index: usize, slot: usize },
}

/// What is known of one tool call (by the decoder's slot).
#[derive(Debug, Default)]
struct ToolBlock {
    /// Client block index, once opened.
    index: Option<usize>,
    closed: bool,
    arguments: JsonEnd,
}

/// Tells, fragment by fragment, when a JSON object or array is complete, without parsing
/// it: tracks string, escape and nesting state (O(1) per byte).
#[derive(Debug, Default)]
struct JsonEnd {
    depth: u32,
    in_string: bool,
    escaped: bool,
    started: bool,
    complete: bool,
}

impl JsonEnd {
    fn feed(&mut self, fragment: &str) {
        for byte in fragment.bytes() {
            if self.complete {
                return;
            }
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if byte == b'\\' {
                    self.escaped = true;
                } else if byte == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match byte {
                b'"' => self.in_string = true,
                b'{' | b'[' => {
                    self.depth += 1;
                    self.started = true;
                }
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    self.complete = self.started && self.depth == 0;
                }
                _ => {}
            }
        }
    }
}

/// The state of one streamed answer.
pub struct MessagesStream {
    request_id: String,
    message_id: String,
    model: String,
    state: State,
    decoder: ChunkDecoder,
    phase: Phase,
    next_index: usize,
    open: Option<OpenBlock>,
    tools: Vec<ToolBlock>,
    /// Content held back while an incomplete tool block is open.
    queue: VecDeque<PivotEvent>,
    /// Bytes of text, reasoning and arguments, for an output estimate without usage.
    output_bytes: usize,
}

impl MessagesStream {
    /// A translator for one response.
    pub fn new(ctx: RequestContext) -> Self {
        MessagesStream {
            message_id: message_id(&ctx.request_id),
            decoder: ChunkDecoder::new(&ctx.request_id),
            state: State::decode(&ctx.state),
            request_id: ctx.request_id,
            model: ctx.client_model,
            phase: Phase::Idle,
            next_index: 0,
            open: None,
            tools: Vec::new(),
            queue: VecDeque::new(),
            output_bytes: 0,
        }
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if self.phase != Phase::Idle {
            return;
        }
        self.phase = Phase::Started;
        Event::MessageStart {
            message: StartMessage {
                id: &self.message_id,
                kind: "message",
                role: "assistant",
                model: &self.model,
                content: [],
                stop_reason: None,
                stop_sequence: None,
                // Input tokens are unknown until the backend's usage arrives (message_delta
                // overwrites them); the request's estimate is the best number until then.
                usage: UsageOut {
                    input_tokens: self.state.input_estimate,
                    cache_creation_input_tokens: 0,
                    cache_read_input_tokens: 0,
                    output_tokens: 0,
                },
            },
        }
        .write(out);
    }

    fn error(&mut self, error_type: &str, message: &str, out: &mut Vec<u8>) {
        self.phase = Phase::Done;
        sse::push_json(
            out,
            Some("error"),
            &ErrorBody::new(error_type, message, None),
        );
    }

    /// Whether `event` must wait: an open tool block with incomplete arguments holds back
    /// content for any other block.
    fn held_back(&self, event: &PivotEvent, finishing: bool) -> bool {
        let Some(OpenBlock::Tool { slot, .. }) = self.open else {
            return false;
        };
        if finishing || self.tools.get(slot).is_some_and(|t| t.arguments.complete) {
            return false;
        }
        !matches!(event, PivotEvent::ToolCallArguments { slot: s, .. } if *s == slot)
    }

    /// What decides whether events are held back: the open block and, for a tool block,
    /// whether its arguments are complete.
    fn gate(&self) -> (Option<OpenBlock>, bool) {
        let complete = match self.open {
            Some(OpenBlock::Tool { slot, .. }) => {
                self.tools.get(slot).is_some_and(|t| t.arguments.complete)
            }
            _ => true,
        };
        (self.open, complete)
    }

    /// Take one content event: applied now, or queued behind an incomplete tool block.
    /// The queue only ever holds events that are held back by the current gate, so a new
    /// held-back event is appended without looking at the others.
    fn take(&mut self, event: PivotEvent, out: &mut Vec<u8>) {
        if self.held_back(&event, false) {
            self.queue.push_back(event);
            return;
        }
        let before = self.gate();
        self.apply(event, out);
        if !self.queue.is_empty() && self.gate() != before {
            self.pump(false, out);
        }
    }

    /// Apply every queued event that may go now, in order; events for the open tool block
    /// overtake the ones held back. Rescans only when the gate changed (a block closed or
    /// a call's arguments completed), so a long queue costs O(n) per block, not per event.
    fn pump(&mut self, finishing: bool, out: &mut Vec<u8>) {
        let mut i = 0;
        while i < self.queue.len() {
            if self.held_back(&self.queue[i], finishing) {
                i += 1;
                continue;
            }
            let before = self.gate();
            if let Some(event) = self.queue.remove(i) {
                self.apply(event, out);
            }
            if self.gate() != before {
                i = 0;
            }
        }
    }

    fn apply(&mut self, event: PivotEvent, out: &mut Vec<u8>) {
        match event {
            PivotEvent::Reasoning(text) => {
                self.output_bytes += text.len();
                let index = self.ensure_thinking(out);
                // `display: "omitted"`: the block is kept (with its signature), the text not.
                if !self.state.omit_thinking {
                    delta(out, index, Delta::Thinking { thinking: &text });
                }
            }
            PivotEvent::Text(text) => {
                self.output_bytes += text.len();
                let index = self.ensure_text(out);
                delta(out, index, Delta::Text { text: &text });
            }
            PivotEvent::ToolCallStart { slot, id, name } => {
                self.close_open(out);
                let index = self.take_index();
                Event::ContentBlockStart {
                    index,
                    content_block: StartBlock::ToolUse {
                        id: &tool_use_id(&id),
                        name: &name,
                        input: EmptyObject {},
                    },
                }
                .write(out);
                if self.tools.len() <= slot {
                    self.tools.resize_with(slot + 1, ToolBlock::default);
                }
                self.tools[slot].index = Some(index);
                self.open = Some(OpenBlock::Tool { index, slot });
            }
            PivotEvent::ToolCallArguments { slot, fragment } => {
                let Some(tool) = self.tools.get_mut(slot) else {
                    return;
                };
                // Arguments after a call's JSON was complete and its block closed cannot
                // be delivered: a closed block takes no more deltas.
                if tool.closed {
                    return;
                }
                let Some(index) = tool.index else {
                    return;
                };
                tool.arguments.feed(&fragment);
                self.output_bytes += fragment.len();
                delta(
                    out,
                    index,
                    Delta::InputJson {
                        partial_json: &fragment,
                    },
                );
            }
            PivotEvent::Finish(_) | PivotEvent::Usage(_) => {}
            PivotEvent::Error(message) => self.error("api_error", &message, out),
        }
    }

    fn take_index(&mut self) -> usize {
        let index = self.next_index;
        self.next_index += 1;
        index
    }

    fn ensure_thinking(&mut self, out: &mut Vec<u8>) -> usize {
        if let Some(OpenBlock::Thinking(index)) = self.open {
            return index;
        }
        self.close_open(out);
        let index = self.take_index();
        Event::ContentBlockStart {
            index,
            content_block: StartBlock::Thinking {
                thinking: "",
                signature: "",
            },
        }
        .write(out);
        self.open = Some(OpenBlock::Thinking(index));
        index
    }

    fn ensure_text(&mut self, out: &mut Vec<u8>) -> usize {
        if let Some(OpenBlock::Text(index)) = self.open {
            return index;
        }
        self.close_open(out);
        let index = self.take_index();
        Event::ContentBlockStart {
            index,
            content_block: StartBlock::Text { text: "" },
        }
        .write(out);
        self.open = Some(OpenBlock::Text(index));
        index
    }

    fn close_open(&mut self, out: &mut Vec<u8>) {
        let index = match self.open.take() {
            None => return,
            Some(OpenBlock::Thinking(index)) => {
                // The SDK replaces (not appends) the signature: one delta, before the stop.
                let signature = signature(&self.request_id, index);
                delta(
                    out,
                    index,
                    Delta::Signature {
                        signature: &signature,
                    },
                );
                index
            }
            Some(OpenBlock::Text(index)) => index,
            Some(OpenBlock::Tool { index, slot }) => {
                if let Some(tool) = self.tools.get_mut(slot) {
                    tool.closed = true;
                }
                index
            }
        };
        Event::ContentBlockStop { index }.write(out);
    }
}

fn delta(out: &mut Vec<u8>, index: usize, delta: Delta<'_>) {
    Event::ContentBlockDelta { index, delta }.write(out);
}

impl StreamTranslator for MessagesStream {
    fn push(&mut self, event: SseEvent) -> Result<Vec<u8>, AdapterError> {
        let mut out = Vec::new();
        if self.phase == Phase::Done {
            return Ok(out);
        }
        let events = self.decoder.push(&event)?;
        if !matches!(events.first(), Some(PivotEvent::Error(_))) {
            self.start(&mut out);
        }
        for event in events {
            match event {
                PivotEvent::Error(message) => {
                    self.error("api_error", &message, &mut out);
                    return Ok(out);
                }
                PivotEvent::Finish(_) | PivotEvent::Usage(_) => {}
                content => self.take(content, &mut out),
            }
        }
        Ok(out)
    }

    fn keepalive(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.phase != Phase::Done {
            Event::Ping.write(&mut out);
        }
        out
    }

    fn finish(&mut self) -> Result<Vec<u8>, AdapterError> {
        let mut out = Vec::new();
        if self.phase == Phase::Done {
            return Ok(out);
        }
        self.start(&mut out);
        self.queue.extend(self.decoder.finish());
        self.pump(true, &mut out);
        self.close_open(&mut out);
        Event::MessageDelta {
            delta: MessageDeltaBody {
                stop_reason: stop_reason(
                    self.decoder.finish_reason(),
                    self.decoder.saw_tool_call(),
                ),
                stop_sequence: None,
            },
            usage: UsageOut::new(self.decoder.usage(), &self.state, self.output_bytes),
        }
        .write(&mut out);
        Event::MessageStop.write(&mut out);
        self.phase = Phase::Done;
        Ok(out)
    }

    fn fail(&mut self, error: GatewayError) -> Vec<u8> {
        let mut out = Vec::new();
        if self.phase != Phase::Done {
            self.error(error_type(error.kind), &error.message, &mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_end_tracks_strings_escapes_and_nesting() {
        let mut j = JsonEnd::default();
        for piece in [r#"{"a":"}\"{"#, r#"","b":[1,{"#, r#"}]"#] {
            j.feed(piece);
            assert!(!j.complete);
        }
        j.feed("}");
        assert!(j.complete);
        let mut empty = JsonEnd::default();
        empty.feed("  ");
        assert!(!empty.complete);
    }
}
