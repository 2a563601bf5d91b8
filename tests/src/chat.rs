//! Client-side assembly of a Chat Completions answer (streamed or whole) into a summary the
//! tests compare with what was scripted. `tests/node/openai-chat-stream.mjs` prints the same
//! shape from the official SDK.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::sse::Event;

/// One assembled tool call.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ToolCallSummary {
    pub index: u64,
    pub id: Option<String>,
    pub name: Option<String>,
    pub arguments: String,
}

/// What a client made of an answer.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ChatSummary {
    pub id: Option<String>,
    pub model: Option<String>,
    /// `chat.completion` or `chat.completion.chunk` values seen.
    pub objects: Vec<String>,
    pub text: String,
    /// Reasoning text by the field it came in (`reasoning_content`, `reasoning`).
    pub reasoning: BTreeMap<String, String>,
    pub tool_calls: Vec<ToolCallSummary>,
    pub finish_reason: Option<String>,
    pub usage: Option<Value>,
    /// A `[DONE]` sentinel was seen (streams only).
    pub done: bool,
    /// Events after `[DONE]` (should be none).
    pub after_done: usize,
    /// `error` payloads seen in the stream.
    pub errors: Vec<Value>,
    /// `data:` payloads that were not JSON (other than `[DONE]`).
    pub non_json: Vec<String>,
    /// Number of chunks (JSON events).
    pub chunks: usize,
    /// Chunks whose `choices` was empty (usage-only).
    pub usage_only_chunks: usize,
    /// Finish chunks seen (a finish reason set).
    pub finish_chunks: usize,
}

impl ChatSummary {
    /// Assemble a streamed answer.
    pub fn from_events(events: &[Event]) -> Self {
        let mut s = ChatSummary::default();
        let mut calls: BTreeMap<u64, ToolCallSummary> = BTreeMap::new();
        for ev in events {
            if s.done {
                s.after_done += 1;
                continue;
            }
            if ev.is_done() {
                s.done = true;
                continue;
            }
            let Some(v) = ev.json() else {
                s.non_json.push(ev.data.clone());
                continue;
            };
            if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
                s.errors.push(err.clone());
                continue;
            }
            s.chunks += 1;
            s.note_envelope(&v);
            if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
                s.usage = Some(u.clone());
            }
            let choices = v["choices"].as_array().cloned().unwrap_or_default();
            if choices.is_empty() {
                s.usage_only_chunks += 1;
            }
            for c in choices {
                let d = &c["delta"];
                if let Some(t) = d["content"].as_str() {
                    s.text.push_str(t);
                }
                for field in ["reasoning_content", "reasoning"] {
                    if let Some(t) = d[field].as_str() {
                        s.reasoning.entry(field.to_owned()).or_default().push_str(t);
                    }
                }
                for tc in d["tool_calls"].as_array().cloned().unwrap_or_default() {
                    let index = tc["index"].as_u64().unwrap_or(u64::MAX);
                    let e = calls.entry(index).or_insert_with(|| ToolCallSummary {
                        index,
                        ..Default::default()
                    });
                    if let Some(id) = tc["id"].as_str() {
                        e.id = Some(id.to_owned());
                    }
                    if let Some(n) = tc["function"]["name"].as_str() {
                        e.name = Some(n.to_owned());
                    }
                    if let Some(a) = tc["function"]["arguments"].as_str() {
                        e.arguments.push_str(a);
                    }
                }
                if let Some(f) = c["finish_reason"].as_str() {
                    s.finish_reason = Some(f.to_owned());
                    s.finish_chunks += 1;
                }
            }
        }
        s.tool_calls = calls.into_values().collect();
        s
    }

    /// Summarise a whole `chat.completion` body.
    pub fn from_completion(v: &Value) -> Self {
        let mut s = ChatSummary::default();
        s.note_envelope(v);
        if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
            s.usage = Some(u.clone());
        }
        if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
            s.errors.push(err.clone());
        }
        let c = &v["choices"][0];
        let m = &c["message"];
        if let Some(t) = m["content"].as_str() {
            s.text.push_str(t);
        }
        for field in ["reasoning_content", "reasoning"] {
            if let Some(t) = m[field].as_str() {
                s.reasoning.insert(field.to_owned(), t.to_owned());
            }
        }
        for (i, tc) in m["tool_calls"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            s.tool_calls.push(ToolCallSummary {
                index: i as u64,
                id: tc["id"].as_str().map(str::to_owned),
                name: tc["function"]["name"].as_str().map(str::to_owned),
                arguments: tc["function"]["arguments"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            });
        }
        s.finish_reason = c["finish_reason"].as_str().map(str::to_owned);
        s
    }

    fn note_envelope(&mut self, v: &Value) {
        if let Some(id) = v["id"].as_str() {
            self.id.get_or_insert_with(|| id.to_owned());
        }
        if let Some(m) = v["model"].as_str() {
            self.model.get_or_insert_with(|| m.to_owned());
        }
        if let Some(o) = v["object"].as_str()
            && !self.objects.iter().any(|x| x == o)
        {
            self.objects.push(o.to_owned());
        }
    }
}
