//! The Responses output model: items, the Response object, usage, ids.

use cligate_adapter_sdk::RequestContext;
use cligate_adapter_sdk::pivot::Usage;
use serde::Serialize;
use serde::ser::{SerializeSeq, Serializer};

use crate::state::State;

/// Per-request facts every event needs.
#[derive(Debug, Clone)]
pub struct Meta {
    /// `resp_…`, derived from the request id.
    pub response_id: String,
    /// The request id reduced to id-safe characters; item ids are built from it.
    pub seed: String,
    /// What the client asked for: the model the client is shown.
    pub model: String,
    /// `created_at`.
    pub created_at: u64,
    /// The request side's state.
    pub state: State,
}

impl Meta {
    /// Everything derived from the request context (no clock, no randomness).
    pub fn new(ctx: &RequestContext) -> Self {
        let mut seed: String = ctx
            .request_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if seed.is_empty() {
            seed.push('0');
        }
        Meta {
            response_id: format!("resp_{seed}"),
            seed,
            model: ctx.client_model.clone(),
            created_at: ctx.created_unix,
            state: State::from_bytes(&ctx.state),
        }
    }

    /// A stable, unique item id: `<prefix>_<request>_<output index>`.
    pub fn item_id(&self, prefix: &str, output_index: usize) -> String {
        format!("{prefix}_{}_{output_index}", self.seed)
    }
}

/// `[]`, for the always-empty arrays (`annotations`, `logprobs`, `tools`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Empty;

impl Serialize for Empty {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_seq(Some(0))?.end()
    }
}

/// A summary part of a reasoning item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryText {
    /// Always `summary_text`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The text.
    pub text: String,
}

/// An `output_text` content part.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputText {
    /// Always `output_text`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The text.
    pub text: String,
    /// Always empty.
    pub annotations: Empty,
}

impl OutputText {
    /// An `output_text` part.
    pub fn new(text: String) -> Self {
        OutputText {
            kind: "output_text",
            text,
            annotations: Empty,
        }
    }
}

/// A local shell action (`exec` is the only kind).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShellAction {
    /// Always `exec`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// argv.
    pub command: Vec<String>,
    /// Time limit.
    pub timeout_ms: Option<u64>,
    /// Working directory.
    pub working_directory: Option<String>,
    /// Environment (never set by the gateway; `null`).
    pub env: Option<()>,
    /// User (never set by the gateway; `null`).
    pub user: Option<()>,
}

impl ShellAction {
    /// An `exec` action.
    pub fn exec(
        command: Vec<String>,
        timeout_ms: Option<u64>,
        working_directory: Option<String>,
    ) -> Self {
        ShellAction {
            kind: "exec",
            command,
            timeout_ms,
            working_directory,
            env: None,
            user: None,
        }
    }
}

/// One output item.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputItem {
    /// Reasoning, shown as its summary.
    Reasoning {
        /// Item id.
        id: String,
        /// The reasoning text as one summary part.
        summary: Vec<SummaryText>,
        /// The gateway-made encoding, when the client asked for it.
        #[serde(skip_serializing_if = "Option::is_none")]
        encrypted_content: Option<String>,
    },
    /// Assistant text.
    Message {
        /// Item id.
        id: String,
        /// `in_progress` or `completed`.
        status: &'static str,
        /// Always `assistant`.
        role: &'static str,
        /// The text parts.
        content: Vec<OutputText>,
    },
    /// A function call.
    FunctionCall {
        /// Item id.
        id: String,
        /// `in_progress` or `completed`.
        status: &'static str,
        /// The id the result refers to.
        call_id: String,
        /// The tool's own name.
        name: String,
        /// The namespace it was declared in.
        #[serde(skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
        /// JSON-string arguments.
        arguments: String,
    },
    /// A freeform tool call.
    CustomToolCall {
        /// Item id.
        id: String,
        /// `in_progress` or `completed`.
        status: &'static str,
        /// The id the result refers to.
        call_id: String,
        /// The tool's own name.
        name: String,
        /// The namespace it was declared in.
        #[serde(skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
        /// The raw input.
        input: String,
    },
    /// A built-in local shell call.
    LocalShellCall {
        /// Item id.
        id: String,
        /// `in_progress` or `completed`.
        status: &'static str,
        /// The id the result refers to.
        call_id: String,
        /// What to run.
        action: ShellAction,
    },
}

/// `usage` of a Response.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ResponseUsage {
    /// All prompt tokens, cached included.
    pub input_tokens: u64,
    /// Cache details.
    pub input_tokens_details: InputDetails,
    /// All output tokens, reasoning included.
    pub output_tokens: u64,
    /// Reasoning details.
    pub output_tokens_details: OutputDetails,
    /// Total.
    pub total_tokens: u64,
}

/// `input_tokens_details`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct InputDetails {
    /// Prompt tokens read from a cache.
    pub cached_tokens: u64,
}

/// `output_tokens_details`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OutputDetails {
    /// Output tokens spent reasoning.
    pub reasoning_tokens: u64,
}

impl From<Usage> for ResponseUsage {
    fn from(usage: Usage) -> Self {
        ResponseUsage {
            input_tokens: usage.prompt_tokens,
            input_tokens_details: InputDetails {
                cached_tokens: usage.cached_tokens,
            },
            output_tokens: usage.completion_tokens,
            output_tokens_details: OutputDetails {
                reasoning_tokens: usage.reasoning_tokens,
            },
            total_tokens: usage.total_tokens,
        }
    }
}

/// `error` of a failed Response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResponseError {
    /// A code Codex understands (`rate_limit_exceeded`, `context_length_exceeded`, …).
    pub code: &'static str,
    /// Readable message.
    pub message: String,
}

/// `incomplete_details`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Incomplete {
    /// `max_output_tokens` or `content_filter`.
    pub reason: &'static str,
}

/// The Response object (streamed in `response.*` lifecycle events, or the whole answer).
#[derive(Debug, Serialize)]
pub struct ResponseObject<'a> {
    /// `resp_…`.
    pub id: &'a str,
    /// Always `response`.
    pub object: &'static str,
    /// Request start, seconds.
    pub created_at: u64,
    /// `in_progress`, `completed`, `incomplete` or `failed`.
    pub status: &'static str,
    /// The client's model name.
    pub model: &'a str,
    /// Items so far.
    pub output: &'a [OutputItem],
    /// As requested.
    pub parallel_tool_calls: bool,
    /// The gateway does not echo the request's choice.
    pub tool_choice: &'static str,
    /// The gateway does not echo the request's tools.
    pub tools: Empty,
    /// Set when failed.
    pub error: Option<&'a ResponseError>,
    /// Set when incomplete.
    pub incomplete_details: Option<Incomplete>,
    /// Known at the end.
    pub usage: Option<ResponseUsage>,
}

impl<'a> ResponseObject<'a> {
    /// A Response object in the given status.
    pub fn new(meta: &'a Meta, status: &'static str, output: &'a [OutputItem]) -> Self {
        ResponseObject {
            id: &meta.response_id,
            object: "response",
            created_at: meta.created_at,
            status,
            model: &meta.model,
            output,
            parallel_tool_calls: meta.state.parallel_tool_calls,
            tool_choice: "auto",
            tools: Empty,
            error: None,
            incomplete_details: None,
            usage: None,
        }
    }
}
