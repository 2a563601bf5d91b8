//! Chat Completions answer → Anthropic Message (non-streamed), and the pieces the stream
//! shares with it: ids, signatures, stop reasons and usage.

use cligate_adapter_sdk::pivot::{ChatAnswer, FinishReason, Usage};
use cligate_adapter_sdk::{AdapterError, ClientResponse, RequestContext, json};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::State;
use crate::tokens;

/// `usage` as Claude Code reads it. `input_tokens` excludes cached tokens (Anthropic counts
/// cache reads and writes separately), or Claude Code would count them twice.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UsageOut {
    pub input_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub output_tokens: u64,
}

impl UsageOut {
    /// Usage from the backend's report; without one, the request's input estimate and an
    /// output estimate from the bytes generated (a session's context accounting and
    /// auto-compaction stop working with zeros).
    pub(crate) fn new(usage: Option<Usage>, state: &State, output_bytes: usize) -> Self {
        match usage {
            Some(u) => UsageOut {
                input_tokens: u.uncached_prompt_tokens(),
                cache_creation_input_tokens: u.cache_write_tokens,
                cache_read_input_tokens: u.cached_tokens,
                output_tokens: u.completion_tokens,
            },
            None => UsageOut {
                input_tokens: state.input_estimate,
                cache_creation_input_tokens: 0,
                cache_read_input_tokens: 0,
                output_tokens: tokens::estimate_output_tokens(output_bytes),
            },
        }
    }
}

/// Anthropic `stop_reason` from the accumulated outcome (dialects.md §5.3). Several servers
/// report `stop` after tool calls, so accumulated calls decide `tool_use`; a `length` stop
/// wins, because calls cut off by the limit have unusable arguments. Chat does not say
/// which stop sequence matched, so `stop_sequence` is never claimed.
pub(crate) fn stop_reason(finish: Option<&FinishReason>, saw_tool_call: bool) -> &'static str {
    match finish {
        Some(FinishReason::Length) => "max_tokens",
        Some(FinishReason::ContentFilter) => "refusal",
        _ if saw_tool_call => "tool_use",
        _ => "end_turn",
    }
}

/// Keep only what an id may contain in Anthropic's API (`[A-Za-z0-9_-]`).
fn id_safe(raw: &str) -> String {
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `msg_…`, derived from the gateway's request id (adapters have no randomness).
pub(crate) fn message_id(request_id: &str) -> String {
    let id = id_safe(request_id);
    if id.is_empty() {
        "msg_gateway".to_owned()
    } else {
        format!("msg_{id}")
    }
}

/// A tool-call id the client can echo back: the backend's id, made id-safe.
pub(crate) fn tool_use_id(call_id: &str) -> String {
    id_safe(call_id)
}

/// The signature of a thinking block. Chat backends produce no signatures, and Claude Code
/// requires one on every thinking block it sends back, so the gateway makes one: an opaque,
/// deterministic string from the request id and block index. It means nothing to anyone
/// but this gateway (which ignores it on the way back) and would fail validation at a real
/// Anthropic endpoint.
pub(crate) fn signature(request_id: &str, index: usize) -> String {
    format!(
        "cligate-gateway-signature.v1.{}.{index}",
        id_safe(request_id)
    )
}

/// A tool call's arguments as the `input` object; anything that is not a JSON object
/// (a backend cut off mid-arguments) becomes `{}`.
fn input_object(arguments: &str) -> Box<RawValue> {
    match serde_json::from_str::<Box<RawValue>>(arguments) {
        Ok(raw) if raw.get().starts_with('{') => raw,
        _ => empty_object(),
    }
}

fn empty_object() -> Box<RawValue> {
    RawValue::from_string("{}".to_owned()).unwrap_or_else(|_| Box::default())
}

/// One content block of a whole Message.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BlockOut<'a> {
    // `thinking` and `text` are always present, even empty: Claude Code's non-streaming
    // fallback crashed on blocks without them.
    Thinking {
        thinking: &'a str,
        signature: String,
    },
    Text {
        text: &'a str,
    },
    ToolUse {
        id: String,
        name: &'a str,
        input: Box<RawValue>,
    },
}

#[derive(Serialize)]
struct MessageOut<'a> {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<BlockOut<'a>>,
    stop_reason: &'static str,
    stop_sequence: Option<&'a str>,
    usage: UsageOut,
}

/// Translate a whole Chat Completions body.
pub(crate) fn translate(ctx: &RequestContext, body: &[u8]) -> Result<ClientResponse, AdapterError> {
    let answer = ChatAnswer::parse(body, &ctx.request_id)?;
    let state = State::decode(&ctx.state);
    let mut content = Vec::new();
    let mut output_bytes = 0;
    if let Some(reasoning) = &answer.reasoning {
        output_bytes += reasoning.len();
        content.push(BlockOut::Thinking {
            thinking: if state.omit_thinking { "" } else { reasoning },
            signature: signature(&ctx.request_id, content.len()),
        });
    }
    if let Some(text) = &answer.text {
        output_bytes += text.len();
        content.push(BlockOut::Text { text });
    }
    for call in &answer.tool_calls {
        output_bytes += call.arguments.len();
        content.push(BlockOut::ToolUse {
            id: tool_use_id(&call.id),
            name: &call.name,
            input: input_object(&call.arguments),
        });
    }
    let message = MessageOut {
        id: message_id(&ctx.request_id),
        kind: "message",
        role: "assistant",
        model: &ctx.client_model,
        content,
        stop_reason: stop_reason(answer.finish_reason.as_ref(), !answer.tool_calls.is_empty()),
        stop_sequence: None,
        usage: UsageOut::new(answer.usage, &state, output_bytes),
    };
    Ok(json::response(200, &message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_id_safe_and_deterministic() {
        assert_eq!(message_id("req:1/2"), "msg_req_1_2");
        assert_eq!(message_id(""), "msg_gateway");
        assert_eq!(tool_use_id("call.9"), "call_9");
        assert_eq!(signature("r1", 3), signature("r1", 3));
        assert_ne!(signature("r1", 3), signature("r1", 4));
    }

    #[test]
    fn stop_reasons_follow_the_accumulated_state() {
        assert_eq!(stop_reason(Some(&FinishReason::Stop), true), "tool_use");
        assert_eq!(stop_reason(None, true), "tool_use");
        assert_eq!(stop_reason(None, false), "end_turn");
        assert_eq!(
            stop_reason(Some(&FinishReason::ToolCalls), false),
            "end_turn"
        );
        assert_eq!(stop_reason(Some(&FinishReason::Length), true), "max_tokens");
        assert_eq!(
            stop_reason(Some(&FinishReason::ContentFilter), false),
            "refusal"
        );
        assert_eq!(
            stop_reason(Some(&FinishReason::Other("eos_token".into())), false),
            "end_turn"
        );
    }

    #[test]
    fn arguments_become_objects() {
        assert_eq!(input_object(r#"{"a": 1}"#).get(), r#"{"a": 1}"#);
        assert_eq!(input_object(r#"{"a": "#).get(), "{}");
        assert_eq!(input_object("[1]").get(), "{}");
    }
}
