//! The pivot format: OpenAI Chat Completions JSON, as the host sends it to backends.
//!
//! Requests are built with the `Serialize` types here; opaque parts (tool schemas, response
//! formats) are carried as [`RawValue`] so a 76 KB request is never turned into a JSON DOM.
//! Answers are read with the `Deserialize` types, and [`ChunkDecoder`] turns a stream of
//! chunks into [`PivotEvent`]s with the backend quirks already smoothed out:
//! `reasoning_content` vs `reasoning`, tool calls keyed by `index` (ids synthesised when a
//! backend omits or repeats them, arguments sent whole or in fragments), the usage-only
//! chunk after the finish chunk, and `{"error":…}` chunks.
//!
//! Conventions the host relies on (see docs/architecture.md):
//! - the output limit is `max_tokens` (the host clamps it and may rename it per backend);
//! - reasoning in the history is `reasoning_content` on assistant messages;
//! - a streamed request sets `stream: true` and `stream_options.include_usage: true`.

// A BTreeSet, not a HashSet: hashing seeds from `wasi:random`, and adapters stay deterministic.
use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::{AdapterError, SseEvent};

/// A Chat Completions request.
#[derive(Debug, Default, Serialize)]
pub struct ChatRequest {
    /// Set by the host after routing; adapters may leave the client's name here.
    pub model: String,
    /// The conversation.
    pub messages: Vec<Message>,
    /// Function tools.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    /// `"auto"`, `"none"`, `"required"` or `{"type":"function","function":{"name":…}}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<serde_json::Value>,
    /// Whether the model may call several tools in one turn.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// Streamed answer.
    pub stream: bool,
    /// `{"include_usage": true}` when streaming.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// Output limit (the host clamps it to the routed model's limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// Sampling temperature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Top-k sampling (vLLM, Ollama, SGLang extension).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u64>,
    /// Stop sequences.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// `low` / `medium` / `high` (backends that reason).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
    /// Structured output, e.g. `{"type":"json_schema","json_schema":{…}}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<Box<RawValue>>,
}

/// `stream_options`.
#[derive(Debug, Default, Serialize, Deserialize, Clone, Copy)]
pub struct StreamOptions {
    /// Ask for the usage-only chunk at the end of the stream.
    pub include_usage: bool,
}

impl StreamOptions {
    /// The options every streamed pivot request carries.
    pub fn with_usage() -> Option<Self> {
        Some(StreamOptions {
            include_usage: true,
        })
    }
}

/// Message roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// System prompt.
    System,
    /// Developer instructions (newer OpenAI name for system).
    Developer,
    /// The user.
    User,
    /// The model.
    Assistant,
    /// A tool result.
    Tool,
}

/// One message of the conversation.
#[derive(Debug, Serialize)]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// Text or parts; `None` serialises as `null` (an assistant turn with only tool calls).
    pub content: Option<Content>,
    /// Tool calls of an assistant message.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// The call a `tool` message answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// Reasoning of an earlier assistant turn, for backends that want it back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
}

impl Message {
    /// A message with plain text content.
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Message {
            role,
            content: Some(Content::Text(text.into())),
            tool_calls: Vec::new(),
            tool_call_id: None,
            reasoning_content: None,
        }
    }
    /// A `tool` message answering `call_id`.
    pub fn tool_result(call_id: impl Into<String>, content: Content) -> Self {
        Message {
            role: Role::Tool,
            content: Some(content),
            tool_calls: Vec::new(),
            tool_call_id: Some(call_id.into()),
            reasoning_content: None,
        }
    }
}

/// Message content: a string, or a list of parts.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Text and image parts.
    Parts(Vec<Part>),
}

/// One content part.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// An image by URL or `data:` URL.
    ImageUrl {
        /// The image.
        image_url: ImageUrl,
    },
}

/// An image reference.
#[derive(Debug, Serialize)]
pub struct ImageUrl {
    /// `https://…` or `data:image/png;base64,…`.
    pub url: String,
    /// `auto`, `low` or `high`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A tool the model may call.
#[derive(Debug, Serialize)]
pub struct Tool {
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The function.
    pub function: FunctionDef,
}

impl Tool {
    /// A function tool.
    pub fn function(
        name: impl Into<String>,
        description: Option<String>,
        parameters: Option<Box<RawValue>>,
    ) -> Self {
        Tool {
            kind: "function",
            function: FunctionDef {
                name: name.into(),
                description,
                parameters,
                strict: None,
            },
        }
    }
}

/// A function definition.
#[derive(Debug, Serialize)]
pub struct FunctionDef {
    /// Name the model calls.
    pub name: String,
    /// What it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments, passed through untouched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Box<RawValue>>,
    /// Strict schema adherence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// A tool call in an assistant message of the history.
#[derive(Debug, Serialize)]
pub struct ToolCall {
    /// Call id; the matching `tool` message names it.
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Name and arguments.
    pub function: FunctionCall,
}

impl ToolCall {
    /// A function call with JSON-string arguments.
    pub fn function(
        id: impl Into<String>,
        name: impl Into<String>,
        arguments: impl Into<String>,
    ) -> Self {
        ToolCall {
            id: id.into(),
            kind: "function",
            function: FunctionCall {
                name: name.into(),
                arguments: arguments.into(),
            },
        }
    }
}

/// Name and JSON-string arguments of a call.
#[derive(Debug, Serialize)]
pub struct FunctionCall {
    /// The function.
    pub name: String,
    /// Arguments as a JSON string.
    pub arguments: String,
}

// ---------------------------------------------------------------------------------------
// Reading answers
// ---------------------------------------------------------------------------------------

/// Why the backend stopped, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinishReason {
    /// Natural end (`stop`).
    Stop,
    /// Output limit (`length`).
    Length,
    /// Tool calls (`tool_calls`, legacy `function_call`).
    ToolCalls,
    /// Filtered (`content_filter`).
    ContentFilter,
    /// Anything else the backend said.
    Other(String),
}

impl FinishReason {
    fn parse(raw: &str) -> Self {
        match raw {
            "stop" | "end_turn" | "eos" => FinishReason::Stop,
            "length" | "max_tokens" => FinishReason::Length,
            "tool_calls" | "function_call" | "tool_use" => FinishReason::ToolCalls,
            "content_filter" => FinishReason::ContentFilter,
            other => FinishReason::Other(other.to_owned()),
        }
    }
}

/// Token usage, normalised. `prompt_tokens` includes cached tokens and
/// `completion_tokens` includes reasoning tokens, as in Chat Completions.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// All prompt tokens, cached ones included.
    pub prompt_tokens: u64,
    /// All output tokens, reasoning included.
    pub completion_tokens: u64,
    /// Reported total (or the sum).
    pub total_tokens: u64,
    /// Prompt tokens read from a cache.
    pub cached_tokens: u64,
    /// Prompt tokens written to a cache.
    pub cache_write_tokens: u64,
    /// Output tokens spent on reasoning.
    pub reasoning_tokens: u64,
}

impl Usage {
    /// Prompt tokens that were neither read from nor written to a cache
    /// (Anthropic's `input_tokens`).
    pub fn uncached_prompt_tokens(&self) -> u64 {
        self.prompt_tokens
            .saturating_sub(self.cached_tokens)
            .saturating_sub(self.cache_write_tokens)
    }
}

#[derive(Deserialize, Default)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    total_tokens: Option<u64>,
    #[serde(default)]
    prompt_tokens_details: Option<WirePromptDetails>,
    #[serde(default)]
    completion_tokens_details: Option<WireCompletionDetails>,
}

#[derive(Deserialize, Default)]
struct WirePromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
    #[serde(default)]
    cache_write_tokens: Option<u64>,
}

#[derive(Deserialize, Default)]
struct WireCompletionDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

impl From<WireUsage> for Usage {
    fn from(wire: WireUsage) -> Self {
        let prompt_tokens = wire.prompt_tokens.unwrap_or(0);
        let completion_tokens = wire.completion_tokens.unwrap_or(0);
        let prompt = wire.prompt_tokens_details.unwrap_or_default();
        Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: wire
                .total_tokens
                .unwrap_or(prompt_tokens + completion_tokens),
            cached_tokens: prompt.cached_tokens.unwrap_or(0),
            cache_write_tokens: prompt.cache_write_tokens.unwrap_or(0),
            reasoning_tokens: wire
                .completion_tokens_details
                .and_then(|d| d.reasoning_tokens)
                .unwrap_or(0),
        }
    }
}

/// Reasoning as backends spell it: a string, or `{"text":…}` / `{"content":…}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum WireReasoning {
    Text(String),
    Object {
        #[serde(default)]
        text: Option<String>,
        #[serde(default)]
        content: Option<String>,
    },
    Other(serde::de::IgnoredAny),
}

impl WireReasoning {
    fn into_text(self) -> Option<String> {
        match self {
            WireReasoning::Text(text) => Some(text),
            WireReasoning::Object { text, content } => text.or(content),
            WireReasoning::Other(_) => None,
        }
    }
}

/// Reasoning text from either spelling: `reasoning_content` first, then `reasoning`.
fn pick_reasoning(content: Option<String>, other: Option<WireReasoning>) -> Option<String> {
    content
        .filter(|t| !t.is_empty())
        .or_else(|| other.and_then(WireReasoning::into_text))
        .filter(|t| !t.is_empty())
}

#[derive(Deserialize)]
struct WireResponse {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    choices: Vec<WireChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct WireChoice {
    #[serde(default)]
    message: Option<WireMessage>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct WireMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    reasoning_content: Option<String>,
    #[serde(default)]
    reasoning: Option<WireReasoning>,
    #[serde(default)]
    tool_calls: Vec<WireToolCall>,
}

#[derive(Deserialize)]
struct WireToolCall {
    #[serde(default)]
    index: Option<u32>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<WireFunction>,
}

#[derive(Deserialize)]
struct WireFunction {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<WireArguments>,
}

/// Arguments are a JSON string by the spec; a few servers send an object.
#[derive(Deserialize)]
#[serde(untagged)]
enum WireArguments {
    Text(String),
    // Not `RawValue`: serde cannot buffer a raw value inside an untagged enum.
    Object(serde_json::Value),
}

impl WireArguments {
    fn into_string(self) -> String {
        match self {
            WireArguments::Text(text) => text,
            WireArguments::Object(value) => value.to_string(),
        }
    }
}

/// A whole (non-streamed) answer, normalised.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ChatAnswer {
    /// Backend's completion id, if any.
    pub id: Option<String>,
    /// Reasoning text, from whichever field the backend used.
    pub reasoning: Option<String>,
    /// Answer text (a refusal is reported here too).
    pub text: Option<String>,
    /// Tool calls with unique ids and whole JSON-string arguments.
    pub tool_calls: Vec<AnswerToolCall>,
    /// Finish reason as sent (`None` when the backend sent none).
    pub finish_reason: Option<FinishReason>,
    /// Usage, if reported.
    pub usage: Option<Usage>,
}

/// One tool call of a whole answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerToolCall {
    /// Unique call id.
    pub id: String,
    /// Function name.
    pub name: String,
    /// Arguments as a JSON string (`{}` when the backend sent none).
    pub arguments: String,
}

impl ChatAnswer {
    /// Parse a Chat Completions response body. `id_seed` makes synthesised call ids unique
    /// (pass the request id).
    pub fn parse(body: &[u8], id_seed: &str) -> Result<Self, AdapterError> {
        let wire: WireResponse = crate::json::parse_upstream(body)?;
        if let Some(error) = wire.error {
            return Err(AdapterError::Internal(format!(
                "upstream answered with an error: {}",
                error_message(&error)
            )));
        }
        let mut choice =
            wire.choices.into_iter().next().ok_or_else(|| {
                AdapterError::Internal("upstream answer has no choices".to_owned())
            })?;
        let message = choice.message.take().unwrap_or_default();
        let mut ids = CallIds::new(id_seed);
        let tool_calls = message
            .tool_calls
            .into_iter()
            .map(|call| {
                let function = call.function;
                let (name, arguments) = match function {
                    Some(f) => (
                        f.name.unwrap_or_default(),
                        f.arguments.map(WireArguments::into_string),
                    ),
                    None => (String::new(), None),
                };
                AnswerToolCall {
                    id: ids.unique(call.id),
                    name,
                    arguments: arguments
                        .filter(|a| !a.trim().is_empty())
                        .unwrap_or_else(|| "{}".to_owned()),
                }
            })
            .collect();
        Ok(ChatAnswer {
            id: wire.id,
            reasoning: pick_reasoning(message.reasoning_content, message.reasoning),
            text: message
                .content
                .filter(|t| !t.is_empty())
                .or(message.refusal.filter(|t| !t.is_empty())),
            tool_calls,
            finish_reason: choice.finish_reason.as_deref().map(FinishReason::parse),
            usage: wire.usage.map(Usage::from),
        })
    }
}

/// Hands out call ids: the backend's when it sent a fresh one, a synthesised one otherwise
/// (Ollama's ids are not unique; some servers send none).
#[derive(Debug)]
struct CallIds {
    seed: String,
    seen: BTreeSet<String>,
    synthesised: usize,
}

impl CallIds {
    fn new(seed: &str) -> Self {
        let seed: String = seed
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(24)
            .collect();
        CallIds {
            seed,
            seen: BTreeSet::new(),
            synthesised: 0,
        }
    }

    fn unique(&mut self, offered: Option<String>) -> String {
        if let Some(id) = offered.filter(|id| !id.is_empty())
            && self.seen.insert(id.clone())
        {
            return id;
        }
        loop {
            let id = format!("call_{}_{}", self.seed, self.synthesised);
            self.synthesised += 1;
            if self.seen.insert(id.clone()) {
                return id;
            }
        }
    }
}

fn error_message(error: &serde_json::Value) -> String {
    error
        .get("message")
        .and_then(|m| m.as_str())
        .map(str::to_owned)
        .or_else(|| error.as_str().map(str::to_owned))
        .unwrap_or_else(|| error.to_string())
}

#[derive(Deserialize)]
struct WireChunk {
    #[serde(default)]
    choices: Vec<WireChunkChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<serde_json::Value>,
    // vLLM's older error shape: {"object":"error","message":…}
    #[serde(default)]
    object: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
struct WireChunkChoice {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    delta: Option<WireDelta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct WireDelta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    reasoning_content: Option<String>,
    #[serde(default)]
    reasoning: Option<WireReasoning>,
    #[serde(default)]
    tool_calls: Vec<WireToolCall>,
}

/// One normalised piece of a streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum PivotEvent {
    /// Reasoning text.
    Reasoning(String),
    /// Answer text.
    Text(String),
    /// A tool call begins. `slot` counts calls from 0 in the order they started.
    ToolCallStart {
        /// Position of this call among the answer's calls.
        slot: usize,
        /// Unique call id.
        id: String,
        /// Function name.
        name: String,
    },
    /// A piece of a tool call's JSON-string arguments.
    ToolCallArguments {
        /// Which call.
        slot: usize,
        /// The next piece.
        fragment: String,
    },
    /// The backend said why it stopped (usage may still follow).
    Finish(FinishReason),
    /// Token usage (normally after `Finish`).
    Usage(Usage),
    /// The backend reported an error inside the stream.
    Error(String),
}

#[derive(Debug)]
struct ToolSlot {
    /// The backend's `index` for this call.
    wire_index: u32,
    slot: usize,
    started: bool,
    offered_id: Option<String>,
    name: Option<String>,
    pending_arguments: String,
}

/// Turns pivot stream events into [`PivotEvent`]s. One per stream; keeps the tool-call
/// table keyed by the backend's `index`, never by id.
#[derive(Debug)]
pub struct ChunkDecoder {
    ids: CallIds,
    tools: Vec<ToolSlot>,
    saw_tool_call: bool,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
}

impl ChunkDecoder {
    /// A decoder; `id_seed` makes synthesised call ids unique (pass the request id).
    pub fn new(id_seed: &str) -> Self {
        ChunkDecoder {
            ids: CallIds::new(id_seed),
            tools: Vec::new(),
            saw_tool_call: false,
            finish: None,
            usage: None,
        }
    }

    /// Whether any tool call has started: the outcome is "tool use" whatever the
    /// finish reason said (several servers get it wrong).
    pub fn saw_tool_call(&self) -> bool {
        self.saw_tool_call
    }

    /// The finish reason, once seen.
    pub fn finish_reason(&self) -> Option<&FinishReason> {
        self.finish.as_ref()
    }

    /// The usage, once seen.
    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }

    /// Decode one upstream event. Events that are not JSON chunks are an error of the
    /// upstream (reported as `internal`, which the host turns into a stream failure).
    pub fn push(&mut self, event: &SseEvent) -> Result<Vec<PivotEvent>, AdapterError> {
        let data = event.data.trim();
        if data.is_empty() {
            return Ok(Vec::new());
        }
        let chunk: WireChunk = crate::json::parse_upstream(data.as_bytes())?;
        let mut out = Vec::new();
        if let Some(error) = chunk.error {
            out.push(PivotEvent::Error(error_message(&error)));
            return Ok(out);
        }
        if chunk.object.as_deref() == Some("error") {
            out.push(PivotEvent::Error(
                chunk.message.unwrap_or_else(|| "upstream error".to_owned()),
            ));
            return Ok(out);
        }
        // Only choice 0 is translated: the adapters never ask for n > 1.
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            if let Some(delta) = choice.delta {
                self.push_delta(delta, &mut out);
            }
            if let Some(reason) = choice.finish_reason.as_deref() {
                self.flush_unnamed_calls(&mut out);
                let reason = FinishReason::parse(reason);
                self.finish = Some(reason.clone());
                out.push(PivotEvent::Finish(reason));
            }
        }
        if let Some(usage) = chunk.usage {
            let usage = Usage::from(usage);
            self.usage = Some(usage);
            out.push(PivotEvent::Usage(usage));
        }
        Ok(out)
    }

    /// Call when the upstream ended: starts any call whose name never arrived, so its
    /// arguments are not lost. Returns the events to translate.
    pub fn finish(&mut self) -> Vec<PivotEvent> {
        let mut out = Vec::new();
        self.flush_unnamed_calls(&mut out);
        out
    }

    fn push_delta(&mut self, delta: WireDelta, out: &mut Vec<PivotEvent>) {
        if let Some(reasoning) = pick_reasoning(delta.reasoning_content, delta.reasoning) {
            out.push(PivotEvent::Reasoning(reasoning));
        }
        if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
            out.push(PivotEvent::Text(text));
        }
        if let Some(text) = delta.refusal.filter(|t| !t.is_empty()) {
            out.push(PivotEvent::Text(text));
        }
        for (position, call) in delta.tool_calls.into_iter().enumerate() {
            // A missing index is a server bug; position in the array is the best guess.
            let wire_index = call
                .index
                .unwrap_or_else(|| u32::try_from(position).unwrap_or(u32::MAX));
            let slot_pos = match self.tools.iter().position(|t| t.wire_index == wire_index) {
                Some(pos) => pos,
                None => {
                    self.tools.push(ToolSlot {
                        wire_index,
                        slot: self.tools.len(),
                        started: false,
                        offered_id: None,
                        name: None,
                        pending_arguments: String::new(),
                    });
                    self.tools.len() - 1
                }
            };
            let (name, arguments) = match call.function {
                Some(f) => (f.name, f.arguments.map(WireArguments::into_string)),
                None => (None, None),
            };
            let tool = &mut self.tools[slot_pos];
            if tool.offered_id.is_none() {
                tool.offered_id = call.id.filter(|id| !id.is_empty());
            }
            if tool.name.is_none() {
                tool.name = name.filter(|n| !n.is_empty());
            }
            if let Some(arguments) = arguments {
                tool.pending_arguments.push_str(&arguments);
            }
            if !tool.started && tool.name.is_some() {
                Self::start(&mut self.ids, tool, out);
                self.saw_tool_call = true;
            }
            if tool.started && !tool.pending_arguments.is_empty() {
                out.push(PivotEvent::ToolCallArguments {
                    slot: tool.slot,
                    fragment: std::mem::take(&mut tool.pending_arguments),
                });
            }
        }
    }

    fn start(ids: &mut CallIds, tool: &mut ToolSlot, out: &mut Vec<PivotEvent>) {
        tool.started = true;
        out.push(PivotEvent::ToolCallStart {
            slot: tool.slot,
            id: ids.unique(tool.offered_id.take()),
            name: tool.name.clone().unwrap_or_default(),
        });
    }

    fn flush_unnamed_calls(&mut self, out: &mut Vec<PivotEvent>) {
        for tool in self.tools.iter_mut().filter(|t| !t.started) {
            Self::start(&mut self.ids, tool, out);
            self.saw_tool_call = true;
            if !tool.pending_arguments.is_empty() {
                out.push(PivotEvent::ToolCallArguments {
                    slot: tool.slot,
                    fragment: std::mem::take(&mut tool.pending_arguments),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ev(data: &str) -> SseEvent {
        SseEvent {
            event: None,
            data: data.to_owned(),
        }
    }

    #[test]
    fn reads_both_reasoning_spellings_and_usage_after_finish() {
        let mut d = ChunkDecoder::new("req1");
        let mut all = Vec::new();
        for data in [
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"reasoning_content":"hm"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"reasoning":"more"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"reasoning":{"text":"obj"}}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"Hi"}}],"usage":null}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":4}}}"#,
        ] {
            all.extend(d.push(&ev(data)).unwrap());
        }
        assert_eq!(
            all,
            vec![
                PivotEvent::Reasoning("hm".into()),
                PivotEvent::Reasoning("more".into()),
                PivotEvent::Reasoning("obj".into()),
                PivotEvent::Text("Hi".into()),
                PivotEvent::Finish(FinishReason::Stop),
                PivotEvent::Usage(Usage {
                    prompt_tokens: 10,
                    completion_tokens: 3,
                    total_tokens: 13,
                    cached_tokens: 4,
                    cache_write_tokens: 0,
                    reasoning_tokens: 0
                }),
            ]
        );
        assert_eq!(d.usage().unwrap().uncached_prompt_tokens(), 6);
    }

    #[test]
    fn tool_calls_keyed_by_index_with_synthesised_and_deduplicated_ids() {
        let mut d = ChunkDecoder::new("r-9");
        let mut all = Vec::new();
        for data in [
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"Read","arguments":""}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_a","function":{"name":"Glob","arguments":"{\"p\":1}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"f\":"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"2}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":2,"function":{"arguments":"{}"}}]},"finish_reason":"stop"}]}"#,
        ] {
            all.extend(d.push(&ev(data)).unwrap());
        }
        assert!(d.saw_tool_call());
        assert_eq!(
            all,
            vec![
                PivotEvent::ToolCallStart {
                    slot: 0,
                    id: "call_a".into(),
                    name: "Read".into()
                },
                PivotEvent::ToolCallStart {
                    slot: 1,
                    id: "call_r9_0".into(),
                    name: "Glob".into()
                },
                PivotEvent::ToolCallArguments {
                    slot: 1,
                    fragment: "{\"p\":1}".into()
                },
                PivotEvent::ToolCallArguments {
                    slot: 0,
                    fragment: "{\"f\":".into()
                },
                PivotEvent::ToolCallArguments {
                    slot: 0,
                    fragment: "2}".into()
                },
                PivotEvent::ToolCallStart {
                    slot: 2,
                    id: "call_r9_1".into(),
                    name: "".into()
                },
                PivotEvent::ToolCallArguments {
                    slot: 2,
                    fragment: "{}".into()
                },
                PivotEvent::Finish(FinishReason::Stop),
            ]
        );
    }

    #[test]
    fn error_chunks_in_both_shapes() {
        let mut d = ChunkDecoder::new("x");
        assert_eq!(
            d.push(&ev(r#"{"error":{"message":"boom","type":"api_error"}}"#))
                .unwrap(),
            vec![PivotEvent::Error("boom".into())]
        );
        assert_eq!(
            d.push(&ev(r#"{"object":"error","message":"old vllm","code":500}"#))
                .unwrap(),
            vec![PivotEvent::Error("old vllm".into())]
        );
        assert!(d.push(&ev("not json")).is_err());
    }

    #[test]
    fn whole_answer_with_object_arguments_and_reasoning_field() {
        let body = br#"{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":null,
            "reasoning":"think","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":{"a":1}}},
            {"id":"c1","type":"function","function":{"name":"g","arguments":""}}]},"finish_reason":"tool_calls"}],
            "usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}"#;
        let answer = ChatAnswer::parse(body, "seed").unwrap();
        assert_eq!(answer.reasoning.as_deref(), Some("think"));
        assert_eq!(answer.text, None);
        assert_eq!(answer.tool_calls[0].arguments, r#"{"a":1}"#);
        assert_eq!(answer.tool_calls[1].id, "call_seed_0");
        assert_eq!(answer.tool_calls[1].arguments, "{}");
        assert_eq!(answer.finish_reason, Some(FinishReason::ToolCalls));
    }

    #[test]
    fn request_serialises_compactly() {
        let req = ChatRequest {
            model: "m".into(),
            messages: vec![Message::text(Role::User, "hi")],
            stream: true,
            stream_options: StreamOptions::with_usage(),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&req).unwrap(),
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}"#
        );
    }
}
