//! Pivot answers → Gemini `GenerateContentResponse`s (dialects.md §3.5, §5.6).
//!
//! Shared by the whole answer and the stream: both build the final candidate with
//! [`Outcome`], so a streamed answer assembled part by part equals the unary one.

use cligate_adapter_sdk::pivot::{AnswerToolCall, ChatAnswer, FinishReason, Usage};
use cligate_adapter_sdk::{AdapterError, ClientResponse, RequestContext, json};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::signature;
use crate::state::State;

/// One `GenerateContentResponse` (a whole answer, or one stream chunk).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentResponse<'a> {
    pub candidates: [Candidate<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_metadata: Option<UsageMetadata>,
    pub model_version: &'a str,
    pub response_id: &'a str,
}

/// The single candidate.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate<'a> {
    pub content: OutContent<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<&'static str>,
    pub index: u32,
}

/// `candidates[0].content`.
#[derive(Serialize)]
pub struct OutContent<'a> {
    pub role: &'static str,
    pub parts: Vec<OutPart<'a>>,
}

/// One output part: text (maybe a thought) or a whole function call.
#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct OutPart<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thought: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_call: Option<OutFunctionCall<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thought_signature: Option<String>,
}

impl<'a> OutPart<'a> {
    /// Answer text.
    pub fn text(text: &'a str) -> Self {
        OutPart {
            text: Some(text),
            ..OutPart::default()
        }
    }
    /// A thought summary (`thought: true`).
    pub fn thought(text: &'a str) -> Self {
        OutPart {
            text: Some(text),
            thought: Some(true),
            ..OutPart::default()
        }
    }
}

/// `functionCall`: `args` is a JSON object, never a string.
#[derive(Serialize)]
pub struct OutFunctionCall<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub args: Box<RawValue>,
}

/// `usageMetadata`.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UsageMetadata {
    pub prompt_token_count: u64,
    pub candidates_token_count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thoughts_token_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached_content_token_count: Option<u64>,
    pub total_token_count: u64,
}

impl From<Usage> for UsageMetadata {
    /// Chat counts reasoning inside `completion_tokens`; Gemini counts it apart, so
    /// `candidatesTokenCount` is the answer alone (dialects.md §5.2).
    fn from(u: Usage) -> Self {
        UsageMetadata {
            prompt_token_count: u.prompt_tokens,
            candidates_token_count: u.completion_tokens.saturating_sub(u.reasoning_tokens),
            thoughts_token_count: (u.reasoning_tokens > 0).then_some(u.reasoning_tokens),
            cached_content_token_count: (u.cached_tokens > 0).then_some(u.cached_tokens),
            total_token_count: u.total_tokens,
        }
    }
}

/// A tool call as accumulated from the answer or the stream.
#[derive(Debug, Clone, Default)]
pub struct CallBuffer {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

impl From<AnswerToolCall> for CallBuffer {
    fn from(call: AnswerToolCall) -> Self {
        CallBuffer {
            id: call.id,
            name: call.name,
            arguments: call.arguments,
        }
    }
}

/// How the answer ends, from the accumulated state (never from `finish_reason` alone).
pub struct Outcome {
    /// Function calls with their arguments as compact JSON objects; empty when malformed.
    pub calls: Vec<(CallBuffer, Box<RawValue>)>,
    pub finish_reason: &'static str,
}

impl Outcome {
    /// Decide the ending. Arguments that are not a JSON object mean the backend produced a
    /// broken (often truncated) call: `MALFORMED_FUNCTION_CALL` and no calls at all, so
    /// Gemini CLI retries the turn instead of running half of it.
    pub fn decide(calls: Vec<CallBuffer>, finish: Option<&FinishReason>) -> Outcome {
        let mut parsed = Vec::with_capacity(calls.len());
        for call in calls {
            match object_args(&call.arguments) {
                Some(args) if !call.name.is_empty() => parsed.push((call, args)),
                _ => {
                    return Outcome {
                        calls: Vec::new(),
                        finish_reason: "MALFORMED_FUNCTION_CALL",
                    };
                }
            }
        }
        let finish_reason = if !parsed.is_empty() {
            // Gemini has no "tool calls" reason: the client sees the calls in the parts.
            "STOP"
        } else {
            match finish {
                None | Some(FinishReason::Stop) | Some(FinishReason::ToolCalls) => "STOP",
                Some(FinishReason::Length) => "MAX_TOKENS",
                Some(FinishReason::ContentFilter) => "SAFETY",
                Some(FinishReason::Other(_)) => "OTHER",
            }
        };
        Outcome {
            calls: parsed,
            finish_reason,
        }
    }

    /// The function-call parts, the first one carrying the gateway signature when there
    /// was reasoning (see [`crate::signature`]).
    pub fn call_parts<'a>(&'a self, reasoning: &str) -> Vec<OutPart<'a>> {
        self.calls
            .iter()
            .enumerate()
            .map(|(i, (call, args))| OutPart {
                function_call: Some(OutFunctionCall {
                    id: &call.id,
                    name: &call.name,
                    args: args.clone(),
                }),
                thought_signature: (i == 0 && !reasoning.is_empty())
                    .then(|| signature::encode(reasoning)),
                ..OutPart::default()
            })
            .collect()
    }
}

/// Arguments as a compact JSON object (`{}` for none). Compacted rather than embedded as
/// sent: a pretty-printed argument string would put raw newlines into an SSE `data:` line.
fn object_args(arguments: &str) -> Option<Box<RawValue>> {
    let trimmed = arguments.trim();
    if trimmed.is_empty() {
        return RawValue::from_string("{}".to_owned()).ok();
    }
    if !trimmed.starts_with('{') {
        return None;
    }
    serde_json::from_str::<&RawValue>(trimmed).ok()?;
    RawValue::from_string(compact_json(trimmed)).ok()
}

/// Remove the whitespace between JSON tokens, leaving strings and numbers exactly as they were.
fn compact_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_ascii_whitespace() {
            out.push(c);
        }
    }
    out
}

/// What the response should look like on the way out.
pub struct Shape<'a> {
    pub state: State,
    pub model_version: &'a str,
    pub response_id: &'a str,
}

impl<'a> Shape<'a> {
    /// From the request context.
    pub fn new(ctx: &'a RequestContext) -> Self {
        Shape {
            state: State::decode(&ctx.state, &ctx.path),
            model_version: &ctx.client_model,
            response_id: &ctx.request_id,
        }
    }

    /// One response object with the given parts.
    pub fn response<'p>(
        &'p self,
        parts: Vec<OutPart<'p>>,
        finish_reason: Option<&'static str>,
        usage: Option<Usage>,
    ) -> GenerateContentResponse<'p> {
        GenerateContentResponse {
            candidates: [Candidate {
                content: OutContent {
                    role: "model",
                    parts,
                },
                finish_reason,
                index: 0,
            }],
            usage_metadata: usage.map(UsageMetadata::from),
            model_version: self.model_version,
            response_id: self.response_id,
        }
    }

    /// Serialise `value`, wrapped as `{"response": …, "traceId": …}` on Code Assist.
    pub fn to_json<T: Serialize>(&self, value: &T) -> Result<Vec<u8>, AdapterError> {
        if self.state.code_assist {
            json::to_vec(&CodeAssistResponse {
                response: value,
                trace_id: self.response_id,
            })
        } else {
            json::to_vec(value)
        }
    }
}

/// Code Assist's envelope; the CLI copies `traceId` into `responseId`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CodeAssistResponse<'a, T> {
    response: &'a T,
    trace_id: &'a str,
}

/// A whole Chat answer → one `GenerateContentResponse` (or `{"totalTokens"}` for a
/// backend-counted `countTokens`).
pub fn translate(ctx: &RequestContext, body: &[u8]) -> Result<ClientResponse, AdapterError> {
    let answer = ChatAnswer::parse(body, &ctx.request_id)?;
    let shape = Shape::new(ctx);
    if shape.state.count_tokens {
        let total = answer.usage.map_or(0, |u| u.prompt_tokens);
        return Ok(json::response(
            200,
            &serde_json::json!({"totalTokens": total}),
        ));
    }
    let reasoning = answer.reasoning.unwrap_or_default();
    let text = answer.text.unwrap_or_default();
    let outcome = Outcome::decide(
        answer
            .tool_calls
            .into_iter()
            .map(CallBuffer::from)
            .collect(),
        answer.finish_reason.as_ref(),
    );
    let mut parts = Vec::new();
    if shape.state.include_thoughts && !reasoning.is_empty() {
        parts.push(OutPart::thought(&reasoning));
    }
    if !text.is_empty() {
        parts.push(OutPart::text(&text));
    }
    parts.extend(outcome.call_parts(&reasoning));
    if parts.iter().all(|p| p.thought == Some(true)) {
        // Never an answer without a visible part: Gemini CLI retries on one.
        parts.push(OutPart::text(""));
    }
    let response = shape.response(parts, Some(outcome.finish_reason), answer.usage);
    Ok(ClientResponse {
        status: 200,
        headers: vec![cligate_adapter_sdk::Header::new(
            "content-type",
            "application/json",
        )],
        body: shape.to_json(&response)?,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn arguments_compacted_or_rejected() {
        assert_eq!(
            object_args("{\n  \"a\": \"x y\\\"\\n\",\n  \"b\": [1, 2.50]\n}")
                .unwrap()
                .get(),
            r#"{"a":"x y\"\n","b":[1,2.50]}"#
        );
        assert_eq!(object_args("  ").unwrap().get(), "{}");
        assert!(object_args("[1]").is_none());
        assert!(object_args("{\"a\":").is_none());
        assert!(object_args("{} x").is_none());
    }

    #[test]
    fn outcome_matrix() {
        let call = |args: &str| CallBuffer {
            id: "c".into(),
            name: "f".into(),
            arguments: args.into(),
        };
        assert_eq!(Outcome::decide(vec![], None).finish_reason, "STOP");
        assert_eq!(
            Outcome::decide(vec![], Some(&FinishReason::Length)).finish_reason,
            "MAX_TOKENS"
        );
        assert_eq!(
            Outcome::decide(vec![], Some(&FinishReason::ContentFilter)).finish_reason,
            "SAFETY"
        );
        assert_eq!(
            Outcome::decide(vec![], Some(&FinishReason::Other("abort".into()))).finish_reason,
            "OTHER"
        );
        let ok = Outcome::decide(vec![call("{}")], Some(&FinishReason::Length));
        assert_eq!((ok.finish_reason, ok.calls.len()), ("STOP", 1));
        let bad = Outcome::decide(
            vec![call("{}"), call("{\"a\"")],
            Some(&FinishReason::ToolCalls),
        );
        assert_eq!(
            (bad.finish_reason, bad.calls.len()),
            ("MALFORMED_FUNCTION_CALL", 0)
        );
    }

    #[test]
    fn usage_splits_reasoning_out_of_candidates() {
        let u = UsageMetadata::from(Usage {
            prompt_tokens: 100,
            completion_tokens: 30,
            total_tokens: 130,
            cached_tokens: 64,
            cache_write_tokens: 0,
            reasoning_tokens: 20,
        });
        assert_eq!(
            serde_json::to_string(&u).unwrap(),
            r#"{"promptTokenCount":100,"candidatesTokenCount":10,"thoughtsTokenCount":20,"cachedContentTokenCount":64,"totalTokenCount":130}"#
        );
    }
}
