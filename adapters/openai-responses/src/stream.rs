//! Pivot events → Responses stream events, and the whole (non-streamed) Response.
//!
//! One state machine serves both: the streamed translator feeds it decoded chunks and sends
//! what it writes; the non-streamed path feeds it the whole answer as events and keeps only
//! the final Response object. The assembled stream and the whole answer are therefore the
//! same by construction.
//!
//! Items are emitted strictly one after another (`output_item.added` … `output_item.done`),
//! because Codex and the OpenAI SDK track one active item and index the output by
//! `output_index`. A backend that interleaves fragments of parallel tool calls is handled by
//! holding events for other items back until the open call's JSON arguments are complete.

use std::collections::VecDeque;

use cligate_adapter_sdk::pivot::{ChatAnswer, ChunkDecoder, FinishReason, PivotEvent, Usage};
use cligate_adapter_sdk::{
    AdapterError, ClientResponse, GatewayError, RequestContext, SseEvent, StreamTranslator, json,
    sse,
};
use serde::{Deserialize, Serialize};

use crate::errors;
use crate::reasoning;
use crate::response::{
    Empty, Incomplete, Meta, OutputItem, OutputText, ResponseError, ResponseObject, ShellAction,
    SummaryText,
};
use crate::state::{State, ToolKind};

/// Translate a whole Chat Completions answer into a Response object.
pub fn translate_whole(ctx: &RequestContext, body: &[u8]) -> Result<ClientResponse, AdapterError> {
    let answer = ChatAnswer::parse(body, &ctx.request_id)?;
    let mut machine = Machine::new(Meta::new(ctx));
    let mut scratch = Vec::new();
    if let Some(reasoning) = answer.reasoning {
        machine.accept(PivotEvent::Reasoning(reasoning), &mut scratch);
    }
    if let Some(text) = answer.text {
        machine.accept(PivotEvent::Text(text), &mut scratch);
    }
    for (slot, call) in answer.tool_calls.into_iter().enumerate() {
        machine.accept(
            PivotEvent::ToolCallStart {
                slot,
                id: call.id,
                name: call.name,
            },
            &mut scratch,
        );
        machine.accept(
            PivotEvent::ToolCallArguments {
                slot,
                fragment: call.arguments,
            },
            &mut scratch,
        );
    }
    if let Some(reason) = answer.finish_reason {
        machine.accept(PivotEvent::Finish(reason), &mut scratch);
    }
    if let Some(usage) = answer.usage {
        machine.accept(PivotEvent::Usage(usage), &mut scratch);
    }
    machine.end(&mut scratch);
    Ok(json::response(200, &machine.final_object()))
}

/// The streamed translator.
pub struct ResponsesStream {
    machine: Machine,
    decoder: ChunkDecoder,
}

impl ResponsesStream {
    /// A translator for one streamed response.
    pub fn new(ctx: &RequestContext) -> Self {
        ResponsesStream {
            machine: Machine::new(Meta::new(ctx)),
            decoder: ChunkDecoder::new(&ctx.request_id),
        }
    }
}

impl StreamTranslator for ResponsesStream {
    fn push(&mut self, event: SseEvent) -> Result<Vec<u8>, AdapterError> {
        let mut out = Vec::new();
        if self.machine.is_terminated() {
            return Ok(out);
        }
        let events = self.decoder.push(&event)?;
        self.machine.start(&mut out);
        for event in events {
            self.machine.accept(event, &mut out);
        }
        Ok(out)
    }

    /// Codex resets its idle timer on every event it reads, and the OpenAI SDK ignores a
    /// repeated `response.in_progress`: that is the keep-alive (comments may not reset the timer).
    fn keepalive(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.machine.keepalive(&mut out);
        out
    }

    fn finish(&mut self) -> Result<Vec<u8>, AdapterError> {
        let mut out = Vec::new();
        if self.machine.is_terminated() {
            return Ok(out);
        }
        for event in self.decoder.finish() {
            self.machine.accept(event, &mut out);
        }
        self.machine.end(&mut out);
        Ok(out)
    }

    fn fail(&mut self, error: GatewayError) -> Vec<u8> {
        let mut out = Vec::new();
        let (code, message) = errors::stream_failure(&error);
        self.machine.fail(code, message, &mut out);
        out
    }
}

/// Tracks whether streamed JSON arguments form a complete object yet, in O(1) per byte.
#[derive(Debug, Default, Clone, Copy)]
struct JsonScan {
    depth: u32,
    in_string: bool,
    escaped: bool,
    complete: bool,
}

impl JsonScan {
    fn feed(&mut self, text: &str) {
        for byte in text.bytes() {
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
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        self.complete = true;
                    }
                }
                b'"' => self.in_string = true,
                _ => {}
            }
        }
    }
}

/// What a backend function call becomes for the client.
#[derive(Debug, Clone)]
enum Target {
    Function {
        name: String,
        namespace: Option<String>,
    },
    Custom {
        name: String,
        namespace: Option<String>,
    },
    LocalShell,
}

impl Target {
    fn resolve(state: &State, flat: &str) -> Self {
        match state.lookup(flat) {
            Some(entry) => match entry.kind {
                ToolKind::Function => Target::Function {
                    name: entry.name.clone(),
                    namespace: entry.namespace.clone(),
                },
                ToolKind::Custom => Target::Custom {
                    name: entry.name.clone(),
                    namespace: entry.namespace.clone(),
                },
                ToolKind::LocalShell => Target::LocalShell,
            },
            None => Target::Function {
                name: flat.to_owned(),
                namespace: None,
            },
        }
    }
}

#[derive(Debug)]
struct Call {
    slot: usize,
    call_id: String,
    target: Target,
    output_index: usize,
    item_id: String,
    arguments: String,
    scan: JsonScan,
    closed: bool,
}

#[derive(Debug)]
enum Open {
    Reasoning {
        output_index: usize,
        id: String,
        text: String,
    },
    Message {
        output_index: usize,
        id: String,
        text: String,
    },
    /// Position in `Machine::calls`.
    Call(usize),
}

#[derive(Debug)]
struct Terminal {
    status: &'static str,
    incomplete: Option<Incomplete>,
    error: Option<ResponseError>,
}

/// The translation state of one response.
pub struct Machine {
    meta: Meta,
    sequence: u64,
    started: bool,
    terminal: Option<Terminal>,
    /// Closed items, in `output_index` order.
    output: Vec<OutputItem>,
    open: Option<Open>,
    calls: Vec<Call>,
    /// Events held back while a call with incomplete arguments is open.
    queue: VecDeque<PivotEvent>,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
}

fn next(sequence: &mut u64) -> u64 {
    let current = *sequence;
    *sequence += 1;
    current
}

impl Machine {
    /// A fresh machine.
    pub fn new(meta: Meta) -> Self {
        Machine {
            meta,
            sequence: 0,
            started: false,
            terminal: None,
            output: Vec::new(),
            open: None,
            calls: Vec::new(),
            queue: VecDeque::new(),
            finish: None,
            usage: None,
        }
    }

    /// Whether the terminal event has been written.
    pub fn is_terminated(&self) -> bool {
        self.terminal.is_some()
    }

    /// `response.created` then `response.in_progress`, once.
    pub fn start(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        for kind in ["response.created", "response.in_progress"] {
            self.lifecycle(kind, "in_progress", out);
        }
    }

    fn lifecycle(&mut self, kind: &'static str, status: &'static str, out: &mut Vec<u8>) {
        let sequence_number = next(&mut self.sequence);
        let mut response = ResponseObject::new(&self.meta, status, &self.output);
        response.usage = self.usage.map(Into::into);
        sse::push_json(
            out,
            Some(kind),
            &Lifecycle {
                kind,
                sequence_number,
                response,
            },
        );
    }

    /// Repeat `response.in_progress` to keep a silent connection alive.
    pub fn keepalive(&mut self, out: &mut Vec<u8>) {
        if self.terminal.is_some() {
            return;
        }
        if !self.started {
            self.start(out);
            return;
        }
        self.lifecycle("response.in_progress", "in_progress", out);
    }

    /// Take one pivot event.
    pub fn accept(&mut self, event: PivotEvent, out: &mut Vec<u8>) {
        if self.terminal.is_some() {
            return;
        }
        self.start(out);
        match event {
            PivotEvent::Finish(reason) => self.finish = Some(reason),
            PivotEvent::Usage(usage) => self.usage = Some(usage),
            PivotEvent::Error(message) => {
                let code = errors::failure_code_for_message(&message);
                self.fail(code, message, out);
            }
            event => {
                self.queue.push_back(event);
                self.drain(false, out);
            }
        }
    }

    /// The upstream ended: flush held events, close the open item, send the terminal event.
    pub fn end(&mut self, out: &mut Vec<u8>) {
        if self.terminal.is_some() {
            return;
        }
        self.start(out);
        self.drain(true, out);
        self.close_open(out);
        let (kind, status, incomplete) = match self.finish {
            Some(FinishReason::Length) => (
                "response.incomplete",
                "incomplete",
                Some(Incomplete {
                    reason: "max_output_tokens",
                }),
            ),
            Some(FinishReason::ContentFilter) => (
                "response.incomplete",
                "incomplete",
                Some(Incomplete {
                    reason: "content_filter",
                }),
            ),
            _ => ("response.completed", "completed", None),
        };
        self.terminal = Some(Terminal {
            status,
            incomplete,
            error: None,
        });
        self.write_terminal(kind, out);
    }

    /// End with `response.failed`.
    pub fn fail(&mut self, code: &'static str, message: String, out: &mut Vec<u8>) {
        if self.terminal.is_some() {
            return;
        }
        self.start(out);
        self.terminal = Some(Terminal {
            status: "failed",
            incomplete: None,
            error: Some(ResponseError { code, message }),
        });
        self.write_terminal("response.failed", out);
    }

    fn write_terminal(&mut self, kind: &'static str, out: &mut Vec<u8>) {
        let sequence_number = next(&mut self.sequence);
        sse::push_json(
            out,
            Some(kind),
            &Lifecycle {
                kind,
                sequence_number,
                response: self.final_object(),
            },
        );
    }

    /// The Response object as it stands (final once terminated).
    pub fn final_object(&self) -> ResponseObject<'_> {
        let status = self.terminal.as_ref().map_or("in_progress", |t| t.status);
        let mut response = ResponseObject::new(&self.meta, status, &self.output);
        if let Some(terminal) = &self.terminal {
            response.incomplete_details = terminal.incomplete;
            response.error = terminal.error.as_ref();
        }
        response.usage = self.usage.map(Into::into);
        response
    }

    /// Process queued events; while a call with incomplete arguments is open, only its own
    /// fragments go through (unless `force`: the stream is over, nothing more will come).
    fn drain(&mut self, force: bool, out: &mut Vec<u8>) {
        loop {
            if let Some(Open::Call(position)) = self.open
                && !force
                && !self
                    .calls
                    .get(position)
                    .is_some_and(|call| call.scan.complete)
            {
                let slot = self.calls.get(position).map(|call| call.slot);
                let own = self.queue.iter().position(|event| {
                    matches!(event, PivotEvent::ToolCallArguments { slot: s, .. } if Some(*s) == slot)
                });
                match own.and_then(|index| self.queue.remove(index)) {
                    Some(event) => {
                        self.process(event, out);
                        continue;
                    }
                    None => break,
                }
            }
            match self.queue.pop_front() {
                Some(event) => self.process(event, out),
                None => break,
            }
        }
    }

    fn process(&mut self, event: PivotEvent, out: &mut Vec<u8>) {
        match event {
            PivotEvent::Reasoning(text) => {
                if !matches!(self.open, Some(Open::Reasoning { .. })) {
                    self.close_open(out);
                    self.open_reasoning(out);
                }
                self.reasoning_delta(&text, out);
            }
            PivotEvent::Text(text) => {
                if !matches!(self.open, Some(Open::Message { .. })) {
                    self.close_open(out);
                    self.open_message(out);
                }
                self.text_delta(&text, out);
            }
            PivotEvent::ToolCallStart { slot, id, name } => {
                if self.calls.iter().any(|call| call.slot == slot) {
                    return;
                }
                self.close_open(out);
                self.open_call(slot, id, &name, out);
            }
            PivotEvent::ToolCallArguments { slot, fragment } => {
                let open = match self.open {
                    Some(Open::Call(position)) => Some(position),
                    _ => None,
                };
                if let Some(position) = open
                    && self
                        .calls
                        .get(position)
                        .is_some_and(|call| call.slot == slot)
                {
                    self.call_arguments(position, &fragment, out);
                }
                // Otherwise a fragment for a call already closed (whitespace after a complete
                // object): nothing the client could still use.
            }
            PivotEvent::Finish(_) | PivotEvent::Usage(_) | PivotEvent::Error(_) => {}
        }
    }

    fn open_reasoning(&mut self, out: &mut Vec<u8>) {
        let output_index = self.output.len();
        let id = self.meta.item_id("rs", output_index);
        let item = OutputItem::Reasoning {
            id: id.clone(),
            summary: Vec::new(),
            encrypted_content: None,
        };
        self.item_event("response.output_item.added", output_index, &item, out);
        let sequence_number = next(&mut self.sequence);
        sse::push_json(
            out,
            Some("response.reasoning_summary_part.added"),
            &SummaryPartEvent {
                kind: "response.reasoning_summary_part.added",
                sequence_number,
                item_id: &id,
                output_index,
                summary_index: 0,
                part: SummaryRef {
                    kind: "summary_text",
                    text: "",
                },
            },
        );
        self.open = Some(Open::Reasoning {
            output_index,
            id,
            text: String::new(),
        });
    }

    fn reasoning_delta(&mut self, delta: &str, out: &mut Vec<u8>) {
        let Some(Open::Reasoning {
            output_index,
            id,
            text,
        }) = &mut self.open
        else {
            return;
        };
        text.push_str(delta);
        let sequence_number = next(&mut self.sequence);
        sse::push_json(
            out,
            Some("response.reasoning_summary_text.delta"),
            &SummaryDelta {
                kind: "response.reasoning_summary_text.delta",
                sequence_number,
                item_id: id,
                output_index: *output_index,
                summary_index: 0,
                delta,
            },
        );
    }

    fn open_message(&mut self, out: &mut Vec<u8>) {
        let output_index = self.output.len();
        let id = self.meta.item_id("msg", output_index);
        let item = OutputItem::Message {
            id: id.clone(),
            status: "in_progress",
            role: "assistant",
            content: Vec::new(),
        };
        self.item_event("response.output_item.added", output_index, &item, out);
        let sequence_number = next(&mut self.sequence);
        sse::push_json(
            out,
            Some("response.content_part.added"),
            &PartEvent {
                kind: "response.content_part.added",
                sequence_number,
                item_id: &id,
                output_index,
                content_index: 0,
                part: PartRef {
                    kind: "output_text",
                    text: "",
                    annotations: Empty,
                },
            },
        );
        self.open = Some(Open::Message {
            output_index,
            id,
            text: String::new(),
        });
    }

    fn text_delta(&mut self, delta: &str, out: &mut Vec<u8>) {
        let Some(Open::Message {
            output_index,
            id,
            text,
        }) = &mut self.open
        else {
            return;
        };
        text.push_str(delta);
        let sequence_number = next(&mut self.sequence);
        sse::push_json(
            out,
            Some("response.output_text.delta"),
            &TextDelta {
                kind: "response.output_text.delta",
                sequence_number,
                item_id: id,
                output_index: *output_index,
                content_index: 0,
                delta,
                logprobs: Empty,
            },
        );
    }

    fn open_call(&mut self, slot: usize, call_id: String, flat: &str, out: &mut Vec<u8>) {
        let output_index = self.output.len();
        let target = Target::resolve(&self.meta.state, flat);
        let (item_id, item) = match &target {
            Target::Function { name, namespace } => {
                let id = self.meta.item_id("fc", output_index);
                let item = OutputItem::FunctionCall {
                    id: id.clone(),
                    status: "in_progress",
                    call_id: call_id.clone(),
                    name: name.clone(),
                    namespace: namespace.clone(),
                    arguments: String::new(),
                };
                (id, item)
            }
            Target::Custom { name, namespace } => {
                let id = self.meta.item_id("ctc", output_index);
                let item = OutputItem::CustomToolCall {
                    id: id.clone(),
                    status: "in_progress",
                    call_id: call_id.clone(),
                    name: name.clone(),
                    namespace: namespace.clone(),
                    input: String::new(),
                };
                (id, item)
            }
            Target::LocalShell => {
                let id = self.meta.item_id("lsc", output_index);
                let item = OutputItem::LocalShellCall {
                    id: id.clone(),
                    status: "in_progress",
                    call_id: call_id.clone(),
                    action: ShellAction::exec(Vec::new(), None, None),
                };
                (id, item)
            }
        };
        self.item_event("response.output_item.added", output_index, &item, out);
        self.calls.push(Call {
            slot,
            call_id,
            target,
            output_index,
            item_id,
            arguments: String::new(),
            scan: JsonScan::default(),
            closed: false,
        });
        self.open = Some(Open::Call(self.calls.len() - 1));
    }

    fn call_arguments(&mut self, position: usize, fragment: &str, out: &mut Vec<u8>) {
        let Some(call) = self.calls.get_mut(position) else {
            return;
        };
        call.arguments.push_str(fragment);
        call.scan.feed(fragment);
        // Freeform and shell calls are sent whole when they close: their text is extracted
        // from the JSON arguments, which needs the complete arguments.
        if matches!(call.target, Target::Function { .. }) && !fragment.is_empty() {
            let sequence_number = next(&mut self.sequence);
            sse::push_json(
                out,
                Some("response.function_call_arguments.delta"),
                &Delta {
                    kind: "response.function_call_arguments.delta",
                    sequence_number,
                    item_id: &call.item_id,
                    output_index: call.output_index,
                    delta: fragment,
                },
            );
        }
    }

    fn close_open(&mut self, out: &mut Vec<u8>) {
        match self.open.take() {
            None => {}
            Some(Open::Reasoning {
                output_index,
                id,
                text,
            }) => {
                let sequence_number = next(&mut self.sequence);
                sse::push_json(
                    out,
                    Some("response.reasoning_summary_text.done"),
                    &SummaryDone {
                        kind: "response.reasoning_summary_text.done",
                        sequence_number,
                        item_id: &id,
                        output_index,
                        summary_index: 0,
                        text: &text,
                    },
                );
                let sequence_number = next(&mut self.sequence);
                sse::push_json(
                    out,
                    Some("response.reasoning_summary_part.done"),
                    &SummaryPartEvent {
                        kind: "response.reasoning_summary_part.done",
                        sequence_number,
                        item_id: &id,
                        output_index,
                        summary_index: 0,
                        part: SummaryRef {
                            kind: "summary_text",
                            text: &text,
                        },
                    },
                );
                let encrypted_content = self
                    .meta
                    .state
                    .include_encrypted_reasoning
                    .then(|| reasoning::encode(&text));
                let item = OutputItem::Reasoning {
                    id,
                    summary: vec![SummaryText {
                        kind: "summary_text",
                        text,
                    }],
                    encrypted_content,
                };
                self.item_done(output_index, item, out);
            }
            Some(Open::Message {
                output_index,
                id,
                text,
            }) => {
                let sequence_number = next(&mut self.sequence);
                sse::push_json(
                    out,
                    Some("response.output_text.done"),
                    &TextDone {
                        kind: "response.output_text.done",
                        sequence_number,
                        item_id: &id,
                        output_index,
                        content_index: 0,
                        text: &text,
                        logprobs: Empty,
                    },
                );
                let sequence_number = next(&mut self.sequence);
                sse::push_json(
                    out,
                    Some("response.content_part.done"),
                    &PartEvent {
                        kind: "response.content_part.done",
                        sequence_number,
                        item_id: &id,
                        output_index,
                        content_index: 0,
                        part: PartRef {
                            kind: "output_text",
                            text: &text,
                            annotations: Empty,
                        },
                    },
                );
                let item = OutputItem::Message {
                    id,
                    status: "completed",
                    role: "assistant",
                    content: vec![OutputText::new(text)],
                };
                self.item_done(output_index, item, out);
            }
            Some(Open::Call(position)) => self.close_call(position, out),
        }
    }

    fn close_call(&mut self, position: usize, out: &mut Vec<u8>) {
        let Some(call) = self.calls.get_mut(position) else {
            return;
        };
        call.closed = true;
        let output_index = call.output_index;
        let item_id = call.item_id.clone();
        let call_id = call.call_id.clone();
        let target = call.target.clone();
        let mut arguments = std::mem::take(&mut call.arguments);
        let item = match target {
            Target::Function { name, namespace } => {
                if arguments.trim().is_empty() {
                    // Chat allows an empty string; Responses clients parse it as JSON.
                    arguments = "{}".to_owned();
                    let sequence_number = next(&mut self.sequence);
                    sse::push_json(
                        out,
                        Some("response.function_call_arguments.delta"),
                        &Delta {
                            kind: "response.function_call_arguments.delta",
                            sequence_number,
                            item_id: &item_id,
                            output_index,
                            delta: &arguments,
                        },
                    );
                }
                let sequence_number = next(&mut self.sequence);
                sse::push_json(
                    out,
                    Some("response.function_call_arguments.done"),
                    &ArgumentsDone {
                        kind: "response.function_call_arguments.done",
                        sequence_number,
                        item_id: &item_id,
                        output_index,
                        name: &name,
                        arguments: &arguments,
                    },
                );
                OutputItem::FunctionCall {
                    id: item_id,
                    status: "completed",
                    call_id,
                    name,
                    namespace,
                    arguments,
                }
            }
            Target::Custom { name, namespace } => {
                let input = custom_input(&arguments);
                if !input.is_empty() {
                    let sequence_number = next(&mut self.sequence);
                    sse::push_json(
                        out,
                        Some("response.custom_tool_call_input.delta"),
                        &Delta {
                            kind: "response.custom_tool_call_input.delta",
                            sequence_number,
                            item_id: &item_id,
                            output_index,
                            delta: &input,
                        },
                    );
                }
                let sequence_number = next(&mut self.sequence);
                sse::push_json(
                    out,
                    Some("response.custom_tool_call_input.done"),
                    &InputDone {
                        kind: "response.custom_tool_call_input.done",
                        sequence_number,
                        item_id: &item_id,
                        output_index,
                        input: &input,
                    },
                );
                OutputItem::CustomToolCall {
                    id: item_id,
                    status: "completed",
                    call_id,
                    name,
                    namespace,
                    input,
                }
            }
            Target::LocalShell => OutputItem::LocalShellCall {
                id: item_id,
                status: "completed",
                call_id,
                action: shell_action(&arguments),
            },
        };
        self.item_done(output_index, item, out);
    }

    fn item_event(
        &mut self,
        kind: &'static str,
        output_index: usize,
        item: &OutputItem,
        out: &mut Vec<u8>,
    ) {
        let sequence_number = next(&mut self.sequence);
        sse::push_json(
            out,
            Some(kind),
            &ItemEvent {
                kind,
                sequence_number,
                output_index,
                item,
            },
        );
    }

    fn item_done(&mut self, output_index: usize, item: OutputItem, out: &mut Vec<u8>) {
        self.item_event("response.output_item.done", output_index, &item, out);
        self.output.push(item);
    }
}

/// The raw input of a freeform call from the function arguments the backend produced:
/// `{"input": "…"}` as declared; tolerated: a JSON string, an object with one string field,
/// or plain text (a model that ignored the JSON wrapper).
pub fn custom_input(arguments: &str) -> String {
    #[derive(Deserialize)]
    struct Wrapped {
        input: String,
    }
    if let Ok(wrapped) = serde_json::from_str::<Wrapped>(arguments) {
        return wrapped.input;
    }
    if let Ok(text) = serde_json::from_str::<String>(arguments) {
        return text;
    }
    if let Ok(map) = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(arguments) {
        let mut strings = map.into_iter().filter_map(|(_, value)| match value {
            serde_json::Value::String(text) => Some(text),
            _ => None,
        });
        if let (Some(only), None) = (strings.next(), strings.next()) {
            return only;
        }
    }
    arguments.to_owned()
}

#[derive(Deserialize)]
#[serde(untagged)]
enum CommandArgument {
    Argv(Vec<String>),
    Line(String),
}

#[derive(Deserialize)]
struct ShellArguments {
    #[serde(default)]
    command: Option<CommandArgument>,
    #[serde(default)]
    workdir: Option<String>,
    #[serde(default)]
    working_directory: Option<String>,
    #[serde(default)]
    timeout_ms: Option<u64>,
}

/// `local_shell` function arguments → the `exec` action Codex runs.
fn shell_action(arguments: &str) -> ShellAction {
    match serde_json::from_str::<ShellArguments>(arguments) {
        Ok(args) => {
            let command = match args.command {
                Some(CommandArgument::Argv(argv)) => argv,
                Some(CommandArgument::Line(line)) => {
                    vec!["bash".to_owned(), "-lc".to_owned(), line]
                }
                None => Vec::new(),
            };
            ShellAction::exec(
                command,
                args.timeout_ms,
                args.workdir.or(args.working_directory),
            )
        }
        Err(_) => ShellAction::exec(Vec::new(), None, None),
    }
}

#[derive(Serialize)]
struct Lifecycle<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u64,
    response: ResponseObject<'a>,
}

#[derive(Serialize)]
struct ItemEvent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u64,
    output_index: usize,
    item: &'a OutputItem,
}

#[derive(Serialize)]
struct PartRef<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
    annotations: Empty,
}

#[derive(Serialize)]
struct PartEvent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u64,
    item_id: &'a str,
    output_index: usize,
    content_index: u32,
    part: PartRef<'a>,
}

#[derive(Serialize)]
struct TextDelta<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u64,
    item_id: &'a str,
    output_index: usize,
    content_index: u32,
    delta: &'a str,
    logprobs: Empty,
}

#[derive(Serialize)]
struct TextDone<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u64,
    item_id: &'a str,
    output_index: usize,
    content_index: u32,
    text: &'a str,
    logprobs: Empty,
}

#[derive(Serialize)]
struct SummaryRef<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

#[derive(Serialize)]
struct SummaryPartEvent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u64,
    item_id: &'a str,
    output_index: usize,
    summary_index: u32,
    part: SummaryRef<'a>,
}

#[derive(Serialize)]
struct SummaryDelta<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u64,
    item_id: &'a str,
    output_index: usize,
    summary_index: u32,
    delta: &'a str,
}

#[derive(Serialize)]
struct SummaryDone<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u64,
    item_id: &'a str,
    output_index: usize,
    summary_index: u32,
    text: &'a str,
}

/// `function_call_arguments.delta` and `custom_tool_call_input.delta`.
#[derive(Serialize)]
struct Delta<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u64,
    item_id: &'a str,
    output_index: usize,
    delta: &'a str,
}

#[derive(Serialize)]
struct ArgumentsDone<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u64,
    item_id: &'a str,
    output_index: usize,
    name: &'a str,
    arguments: &'a str,
}

#[derive(Serialize)]
struct InputDone<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u64,
    item_id: &'a str,
    output_index: usize,
    input: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_scan_sees_complete_objects_only() {
        let mut scan = JsonScan::default();
        scan.feed(r#"{"a":"}\"{","b":[1,{"#);
        assert!(!scan.complete);
        scan.feed("}]");
        assert!(!scan.complete);
        scan.feed("}");
        assert!(scan.complete);
    }

    #[test]
    fn custom_input_extraction_is_lenient() {
        assert_eq!(custom_input(r#"{"input":"a\nb"}"#), "a\nb");
        assert_eq!(custom_input(r#""just text""#), "just text");
        assert_eq!(custom_input(r#"{"patch":"x","n":1}"#), "x");
        assert_eq!(custom_input("*** Begin Patch"), "*** Begin Patch");
    }

    #[test]
    fn shell_action_accepts_argv_or_a_line() {
        let action = shell_action(r#"{"command":["ls","-l"],"workdir":"/w","timeout_ms":5}"#);
        assert_eq!(action.command, ["ls", "-l"]);
        assert_eq!(action.working_directory.as_deref(), Some("/w"));
        assert_eq!(action.timeout_ms, Some(5));
        assert_eq!(
            shell_action(r#"{"command":"ls"}"#).command,
            ["bash", "-lc", "ls"]
        );
        assert!(shell_action("nope").command.is_empty());
    }
}
