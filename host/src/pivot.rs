//! Host-side policy on the pivot request: adjust it to what the routed backend model takes
//! (see `routing` for the choice of model), and read the token usage of its answer. This is pivot-format knowledge (Chat Completions), not dialect
//! knowledge, so it lives here and applies to every adapter alike.
//!
//! Only the top level of the body is parsed (values stay raw), so a 76 KB request is not turned
//! into a DOM; `messages` is parsed only when the model lacks vision or reasoning support.

use std::collections::BTreeMap;

use serde_json::value::RawValue;

use crate::error::GatewayError;

/// Where a request goes and what the backend model takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutedModel {
    /// The name the backend knows.
    pub backend_model: String,
    /// Output cap, if configured.
    pub max_output_tokens: Option<u64>,
    /// Accepts images.
    pub vision: bool,
    /// Accepts reasoning parameters and history.
    pub reasoning: bool,
}

type TopLevel = BTreeMap<String, Box<RawValue>>;

fn raw(json: String) -> Result<Box<RawValue>, GatewayError> {
    RawValue::from_string(json)
        .map_err(|e| GatewayError::Internal(format!("building pivot JSON: {e}")))
}

/// Rewrite the pivot body for `routed`: set `model`, clamp the output limit, and drop what the
/// model cannot take (each drop adds a warning).
pub fn adjust_pivot(
    body: &[u8],
    routed: &RoutedModel,
    warnings: &mut Vec<String>,
) -> Result<Vec<u8>, GatewayError> {
    let mut top: TopLevel =
        serde_json::from_slice(body).map_err(|e| GatewayError::AdapterInternal {
            adapter: "(pivot)".to_owned(),
            version: String::new(),
            message: format!("the adapter produced a pivot body that is not a JSON object: {e}"),
        })?;
    top.insert(
        "model".to_owned(),
        raw(serde_json::Value::String(routed.backend_model.clone()).to_string())?,
    );
    if let Some(cap) = routed.max_output_tokens {
        for key in ["max_tokens", "max_completion_tokens"] {
            let asked = top.get(key).and_then(|v| v.get().parse::<u64>().ok());
            if let Some(asked) = asked
                && asked > cap
            {
                top.insert(key.to_owned(), raw(cap.to_string())?);
                warnings.push(format!("{key} clamped from {asked} to {cap}"));
            }
        }
    }
    if !routed.reasoning && top.remove("reasoning_effort").is_some() {
        warnings.push("reasoning effort dropped: the model does not reason".to_owned());
    }
    if (!routed.vision || !routed.reasoning)
        && let Some(messages) = top.get("messages")
    {
        {
            let mut messages: Vec<BTreeMap<String, Box<RawValue>>> =
                serde_json::from_str(messages.get()).map_err(|e| {
                    GatewayError::AdapterInternal {
                        adapter: "(pivot)".to_owned(),
                        version: String::new(),
                        message: format!("pivot messages are malformed: {e}"),
                    }
                })?;
            let mut images = 0usize;
            let mut reasoning = 0usize;
            for message in &mut messages {
                if !routed.reasoning {
                    for key in ["reasoning_content", "reasoning"] {
                        if message.remove(key).is_some() {
                            reasoning += 1;
                        }
                    }
                }
                if !routed.vision
                    && let Some(content) = message.get("content")
                    && content.get().starts_with('[')
                {
                    let parts: Vec<Box<RawValue>> = serde_json::from_str(content.get())
                        .map_err(|e| GatewayError::Internal(format!("pivot content: {e}")))?;
                    let before = parts.len();
                    let kept: Vec<Box<RawValue>> = parts
                        .into_iter()
                        .filter(|part| !is_image_part(part))
                        .collect();
                    if kept.len() != before {
                        images += before - kept.len();
                        let content = if kept.is_empty() {
                            raw("\"[image omitted: the model does not accept images]\"".to_owned())?
                        } else {
                            raw(serde_json::to_string(&kept)
                                .map_err(|e| GatewayError::Internal(e.to_string()))?)?
                        };
                        message.insert("content".to_owned(), content);
                    }
                }
            }
            if images > 0 {
                warnings.push(format!(
                    "{images} image(s) dropped: the model does not accept images"
                ));
            }
            if reasoning > 0 {
                warnings.push(format!(
                    "reasoning history dropped from {reasoning} message(s): the model does not reason"
                ));
            }
            top.insert(
                "messages".to_owned(),
                raw(serde_json::to_string(&messages)
                    .map_err(|e| GatewayError::Internal(e.to_string()))?)?,
            );
        }
    }
    serde_json::to_vec(&top).map_err(|e| GatewayError::Internal(format!("serialising pivot: {e}")))
}

/// A whole Chat Completions answer as the stream events a backend would have sent: one chunk
/// with the message (content, reasoning, tool calls by index), one with the finish reason, one
/// with the usage. Fails when the body is not a completion at all.
pub fn completion_as_stream(body: &[u8]) -> Result<Vec<String>, GatewayError> {
    let garbage = |why: &str| {
        let start: String = String::from_utf8_lossy(body).chars().take(80).collect();
        GatewayError::UpstreamGarbage(format!("expected an event stream, got {why}: {start:?}"))
    };
    let answer: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| garbage("a body that is not JSON"))?;
    if let Some(error) = answer.get("error") {
        return Ok(vec![serde_json::json!({ "error": error }).to_string()]);
    }
    let choice = answer
        .get("choices")
        .and_then(|c| c.get(0))
        .ok_or_else(|| garbage("JSON without choices"))?;
    let message = choice.get("message").cloned().unwrap_or_default();
    let mut delta = serde_json::Map::new();
    for key in ["content", "reasoning_content", "reasoning", "refusal"] {
        if let Some(value) = message.get(key).filter(|v| !v.is_null()) {
            delta.insert(key.to_owned(), value.clone());
        }
    }
    if let Some(calls) = message.get("tool_calls").and_then(|c| c.as_array()) {
        let indexed: Vec<serde_json::Value> = calls
            .iter()
            .enumerate()
            .map(|(index, call)| {
                let mut call = call.clone();
                if let Some(object) = call.as_object_mut() {
                    object.insert("index".to_owned(), index.into());
                }
                call
            })
            .collect();
        delta.insert("tool_calls".to_owned(), indexed.into());
    }
    let mut events = vec![
        serde_json::json!({"choices": [{"index": 0, "delta": delta}]}).to_string(),
        serde_json::json!({"choices": [{"index": 0, "delta": {}, "finish_reason": choice.get("finish_reason")}]})
            .to_string(),
    ];
    if let Some(usage) = answer.get("usage").filter(|u| !u.is_null()) {
        events.push(serde_json::json!({"choices": [], "usage": usage}).to_string());
    }
    Ok(events)
}

/// Token counts of one answer, as far as the backend reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Usage {
    /// Prompt tokens.
    pub input: Option<u64>,
    /// Completion tokens (reasoning included, as backends count them).
    pub output: Option<u64>,
    /// Prompt tokens served from the backend's cache.
    pub cached: Option<u64>,
    /// Completion tokens spent on reasoning.
    pub reasoning: Option<u64>,
}

#[derive(serde::Deserialize)]
struct WithUsage {
    #[serde(default)]
    usage: Option<RawUsage>,
}

#[derive(serde::Deserialize)]
struct RawUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    prompt_tokens_details: Option<Details>,
    completion_tokens_details: Option<Details>,
}

#[derive(serde::Deserialize)]
struct Details {
    cached_tokens: Option<u64>,
    reasoning_tokens: Option<u64>,
}

impl From<RawUsage> for Usage {
    fn from(raw: RawUsage) -> Self {
        Usage {
            input: raw.prompt_tokens,
            output: raw.completion_tokens,
            cached: raw.prompt_tokens_details.and_then(|d| d.cached_tokens),
            reasoning: raw
                .completion_tokens_details
                .and_then(|d| d.reasoning_tokens),
        }
    }
}

/// The usage of a whole Chat Completions answer.
pub fn usage_in_body(body: &[u8]) -> Option<Usage> {
    serde_json::from_slice::<WithUsage>(body)
        .ok()?
        .usage
        .map(Usage::from)
}

/// The usage of a stream chunk. Only chunks whose data has a `"usage"` key followed by an
/// object are parsed at all (the one usage chunk at the end, usually), so the host does not
/// parse the stream it relays.
pub fn usage_in_event(data: &str) -> Option<Usage> {
    let at = data.find("\"usage\"")?;
    let rest = data[at + 7..].trim_start().strip_prefix(':')?.trim_start();
    if !rest.starts_with('{') {
        return None;
    }
    usage_in_body(data.as_bytes())
}

fn is_image_part(part: &RawValue) -> bool {
    #[derive(serde::Deserialize)]
    struct Kind<'a> {
        #[serde(rename = "type", borrow)]
        kind: Option<&'a str>,
    }
    serde_json::from_str::<Kind>(part.get())
        .map(|k| {
            matches!(
                k.kind,
                Some("image_url") | Some("input_image") | Some("image")
            )
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn routed(vision: bool, reasoning: bool, cap: Option<u64>) -> RoutedModel {
        RoutedModel {
            backend_model: "qwen3".into(),
            max_output_tokens: cap,
            vision,
            reasoning,
        }
    }

    #[test]
    fn sets_model_and_clamps() {
        let mut warnings = Vec::new();
        let out = adjust_pivot(
            br#"{"model":"claude-x","max_tokens":64000,"messages":[]}"#,
            &routed(true, true, Some(8192)),
            &mut warnings,
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["model"], "qwen3");
        assert_eq!(v["max_tokens"], 8192);
        assert_eq!(warnings, vec!["max_tokens clamped from 64000 to 8192"]);
    }

    #[test]
    fn drops_images_and_reasoning_when_unsupported() {
        let mut warnings = Vec::new();
        let body = br#"{"model":"m","reasoning_effort":"high","messages":[
            {"role":"user","content":[{"type":"text","text":"see"},{"type":"image_url","image_url":{"url":"data:x"}}]},
            {"role":"assistant","content":"ok","reasoning_content":"thought"},
            {"role":"user","content":[{"type":"image_url","image_url":{"url":"data:y"}}]}]}"#;
        let out = adjust_pivot(body, &routed(false, false, None), &mut warnings).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert!(v.get("reasoning_effort").is_none());
        assert_eq!(v["messages"][0]["content"].as_array().unwrap().len(), 1);
        assert!(v["messages"][1].get("reasoning_content").is_none());
        assert!(
            v["messages"][2]["content"]
                .as_str()
                .unwrap()
                .contains("omitted")
        );
        assert_eq!(warnings.len(), 3, "{warnings:?}");
    }

    #[test]
    fn usage_from_bodies_and_only_usage_chunks() {
        let usage = usage_in_event(
            r#"{"choices":[],"usage": {"prompt_tokens":10,"completion_tokens":5,
            "prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":2}}}"#,
        )
        .unwrap();
        assert_eq!(
            usage,
            Usage {
                input: Some(10),
                output: Some(5),
                cached: Some(4),
                reasoning: Some(2)
            }
        );
        assert_eq!(
            usage_in_event(r#"{"choices":[{"delta":{"content":"hi"}}]}"#),
            None
        );
        assert_eq!(usage_in_event(r#"{"choices":[],"usage":null}"#), None);
        assert_eq!(
            usage_in_body(br#"{"choices":[],"usage":{"prompt_tokens":1}}"#)
                .unwrap()
                .input,
            Some(1)
        );
    }

    #[test]
    fn whole_answer_replayed_as_stream_events_and_garbage_refused() {
        let events = completion_as_stream(
            br#"{"choices":[{"index":0,"message":{"role":"assistant","content":"hi",
            "tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},
            "finish_reason":"tool_calls"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#,
        )
        .unwrap();
        assert_eq!(events.len(), 3);
        let first: serde_json::Value = serde_json::from_str(&events[0]).unwrap();
        assert_eq!(first["choices"][0]["delta"]["content"], "hi");
        assert_eq!(first["choices"][0]["delta"]["tool_calls"][0]["index"], 0);
        assert!(matches!(
            completion_as_stream(b"<html>502</html>"),
            Err(GatewayError::UpstreamGarbage(_))
        ));
        assert!(completion_as_stream(br#"{"ok":1}"#).is_err());
    }
}
