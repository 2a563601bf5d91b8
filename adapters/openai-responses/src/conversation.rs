//! Builds the Chat `messages` from Responses input items, keeping Chat's ordering rules.
//!
//! Chat requires an assistant message with `tool_calls` to be followed directly by one `tool`
//! message per call. Responses history is a flat list of items, so the builder:
//! - merges consecutive assistant-side items (text, calls, reasoning) into one assistant message;
//! - holds back other messages that arrive while results are still due, and releases them
//!   once every call is answered;
//! - synthesises a result for a call that never got one (instead of a backend 400);
//! - turns a result for an unknown call into a user message;
//! - moves images out of tool results (tool messages carry text only) into a user message
//!   right after the results;
//! - attaches reasoning to the next assistant message as `reasoning_content`;
//! - merges consecutive system/developer messages into one system message (many chat
//!   templates accept only one system message).

use std::collections::HashSet;

use cligate_adapter_sdk::pivot::{Content, ImageUrl, Message, Part, Role, ToolCall};

use crate::Notes;

/// Text pieces are joined with a newline unless the previous piece already ends with one.
pub fn push_joined(buf: &mut String, piece: &str) {
    if !buf.is_empty() && !piece.is_empty() && !buf.ends_with('\n') {
        buf.push('\n');
    }
    buf.push_str(piece);
}

/// One ordered piece of message content.
#[derive(Debug)]
pub enum Segment {
    /// Text.
    Text(String),
    /// An image URL (data URL or http) with an optional detail level.
    Image(String, Option<String>),
}

/// Content for a user message: plain text unless images are present.
pub fn user_content(segments: Vec<Segment>) -> Option<Content> {
    if segments.iter().all(|s| matches!(s, Segment::Text(_))) {
        let mut text = String::new();
        for segment in segments {
            if let Segment::Text(piece) = segment {
                push_joined(&mut text, &piece);
            }
        }
        return (!text.is_empty()).then_some(Content::Text(text));
    }
    let parts = segments
        .into_iter()
        .map(|segment| match segment {
            Segment::Text(text) => Part::Text { text },
            Segment::Image(url, detail) => Part::ImageUrl {
                image_url: ImageUrl { url, detail },
            },
        })
        .collect();
    Some(Content::Parts(parts))
}

/// The message list under construction.
#[derive(Default)]
pub struct Conversation {
    messages: Vec<Message>,
    /// The last message is an assistant message that later assistant items join.
    assistant_open: bool,
    /// Calls of the last assistant message still waiting for their result.
    pending_calls: Vec<String>,
    /// Calls already answered (a second result for the same call is dropped).
    answered: HashSet<String>,
    /// Messages that arrived while results were due.
    held: Vec<Message>,
    /// Images from tool results, sent as one user message after the results.
    tool_images: Vec<Segment>,
    /// Reasoning waiting for the next assistant message.
    reasoning: Option<String>,
}

impl Conversation {
    /// A system (or developer) message.
    pub fn system(&mut self, text: String) {
        if text.trim().is_empty() {
            return;
        }
        if !self.pending_calls.is_empty() {
            self.held.push(Message::text(Role::System, text));
            self.assistant_open = false;
            return;
        }
        self.close_assistant();
        if let Some(Message {
            role: Role::System,
            content: Some(Content::Text(previous)),
            ..
        }) = self.messages.last_mut()
        {
            previous.push_str("\n\n");
            previous.push_str(&text);
            return;
        }
        self.messages.push(Message::text(Role::System, text));
    }

    /// A user message.
    pub fn user(&mut self, content: Content, notes: &mut Notes) {
        let message = Message {
            role: Role::User,
            content: Some(content),
            tool_calls: Vec::new(),
            tool_call_id: None,
            reasoning_content: None,
        };
        if !self.pending_calls.is_empty() {
            self.held.push(message);
            self.assistant_open = false;
            return;
        }
        self.close_assistant();
        self.drop_orphan_reasoning(notes);
        self.messages.push(message);
    }

    /// Reasoning of the assistant turn that follows.
    pub fn reasoning(&mut self, text: String) {
        if text.is_empty() {
            return;
        }
        match &mut self.reasoning {
            Some(previous) => {
                previous.push_str("\n\n");
                previous.push_str(&text);
            }
            None => self.reasoning = Some(text),
        }
    }

    /// Assistant text.
    pub fn assistant_text(&mut self, text: &str, notes: &mut Notes) {
        if text.is_empty() {
            return;
        }
        let Some(message) = self.assistant(notes) else {
            return;
        };
        match &mut message.content {
            Some(Content::Text(previous)) => push_joined(previous, text),
            _ => message.content = Some(Content::Text(text.to_owned())),
        }
    }

    /// An assistant tool call.
    pub fn tool_call(&mut self, id: String, name: String, arguments: String, notes: &mut Notes) {
        let Some(message) = self.assistant(notes) else {
            return;
        };
        message
            .tool_calls
            .push(ToolCall::function(id.clone(), name, arguments));
        self.pending_calls.push(id);
    }

    /// The result of a tool call: text, plus images that cannot go into a tool message.
    pub fn tool_result(
        &mut self,
        call_id: &str,
        text: String,
        images: Vec<Segment>,
        notes: &mut Notes,
    ) {
        if let Some(position) = self.pending_calls.iter().position(|id| id == call_id) {
            self.pending_calls.remove(position);
            self.answered.insert(call_id.to_owned());
            self.assistant_open = false;
            self.messages
                .push(Message::tool_result(call_id, Content::Text(text)));
            if !images.is_empty() {
                notes.warn("moved tool-result images to a user message");
                self.tool_images.extend(images);
            }
            if self.pending_calls.is_empty() {
                self.release();
            }
        } else if self.answered.contains(call_id) {
            notes.warn("dropped duplicate tool result");
        } else {
            // A result whose call is not in the history (or not right before it): the backend
            // would reject a tool message here, so the model reads it as user text.
            notes.warn("tool result without its call sent as user text");
            let mut content = format!("[result of tool call {call_id}]\n");
            content.push_str(&text);
            let mut segments = vec![Segment::Text(content)];
            segments.extend(images);
            if let Some(content) = user_content(segments) {
                self.user(content, notes);
            }
        }
    }

    /// Finish: answer what is still open and return the messages.
    pub fn finish(mut self, notes: &mut Notes) -> Vec<Message> {
        self.close_assistant();
        self.synthesise_missing_results(notes);
        self.release();
        self.drop_orphan_reasoning(notes);
        self.messages
    }

    fn assistant(&mut self, notes: &mut Notes) -> Option<&mut Message> {
        let last_is_assistant =
            matches!(self.messages.last(), Some(m) if m.role == Role::Assistant);
        if !self.assistant_open || !last_is_assistant {
            self.synthesise_missing_results(notes);
            self.release();
            self.messages.push(Message {
                role: Role::Assistant,
                content: None,
                tool_calls: Vec::new(),
                tool_call_id: None,
                reasoning_content: None,
            });
            self.assistant_open = true;
        }
        let reasoning = self.reasoning.take();
        let message = self.messages.last_mut()?;
        if let Some(reasoning) = reasoning {
            match &mut message.reasoning_content {
                Some(previous) => {
                    previous.push_str("\n\n");
                    previous.push_str(&reasoning);
                }
                None => message.reasoning_content = Some(reasoning),
            }
        }
        Some(message)
    }

    fn close_assistant(&mut self) {
        self.assistant_open = false;
    }

    fn synthesise_missing_results(&mut self, notes: &mut Notes) {
        if self.pending_calls.is_empty() {
            return;
        }
        notes.warn("synthesised a result for a tool call that had none");
        for call_id in std::mem::take(&mut self.pending_calls) {
            self.messages.push(Message::tool_result(
                call_id.clone(),
                Content::Text("[no result: this tool call did not complete]".to_owned()),
            ));
            self.answered.insert(call_id);
        }
        self.assistant_open = false;
    }

    /// Everything that waited for the tool results: their images, then held messages.
    fn release(&mut self) {
        if !self.tool_images.is_empty() {
            let mut segments = vec![Segment::Text(
                "Images returned by the tool calls above:".to_owned(),
            )];
            segments.append(&mut self.tool_images);
            if let Some(content) = user_content(segments) {
                self.messages.push(Message {
                    role: Role::User,
                    content: Some(content),
                    tool_calls: Vec::new(),
                    tool_call_id: None,
                    reasoning_content: None,
                });
            }
            self.assistant_open = false;
        }
        for message in std::mem::take(&mut self.held) {
            self.assistant_open = false;
            match (&message.role, &message.content) {
                (Role::System, Some(Content::Text(text))) => {
                    let text = text.clone();
                    self.system(text);
                }
                _ => self.messages.push(message),
            }
        }
    }

    fn drop_orphan_reasoning(&mut self, notes: &mut Notes) {
        if self.reasoning.take().is_some() {
            notes.warn("dropped reasoning that no assistant turn followed");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn json(messages: &[Message]) -> serde_json::Value {
        serde_json::to_value(messages).unwrap()
    }

    #[test]
    fn merges_parallel_calls_and_holds_messages_until_results_arrive() {
        let mut notes = Notes::default();
        let mut c = Conversation::default();
        c.system("a".into());
        c.system("b".into());
        c.user(Content::Text("hi".into()), &mut notes);
        c.reasoning("think".into());
        c.assistant_text("I'll look.", &mut notes);
        c.tool_call("c1".into(), "f".into(), "{}".into(), &mut notes);
        c.reasoning("more".into());
        c.tool_call("c2".into(), "g".into(), "{}".into(), &mut notes);
        c.system("approval note".into());
        c.tool_result("c2", "two".into(), vec![], &mut notes);
        c.tool_result(
            "c1",
            "one".into(),
            vec![Segment::Image("data:image/png;base64,AA".into(), None)],
            &mut notes,
        );
        c.assistant_text("done", &mut notes);
        let out = json(&c.finish(&mut notes));
        assert_eq!(
            out[0],
            serde_json::json!({"role":"system","content":"a\n\nb"})
        );
        assert_eq!(out[2]["reasoning_content"], "think\n\nmore");
        assert_eq!(out[2]["content"], "I'll look.");
        assert_eq!(out[2]["tool_calls"].as_array().unwrap().len(), 2);
        assert_eq!(out[3]["tool_call_id"], "c2");
        assert_eq!(out[4]["tool_call_id"], "c1");
        assert_eq!(out[5]["role"], "user");
        assert_eq!(out[5]["content"][1]["type"], "image_url");
        assert_eq!(
            out[6],
            serde_json::json!({"role":"system","content":"approval note"})
        );
        assert_eq!(
            out[7],
            serde_json::json!({"role":"assistant","content":"done"})
        );
        assert_eq!(
            notes.warnings,
            ["moved tool-result images to a user message"]
        );
    }

    #[test]
    fn missing_orphan_and_duplicate_results() {
        let mut notes = Notes::default();
        let mut c = Conversation::default();
        c.tool_call("c1".into(), "f".into(), "{}".into(), &mut notes);
        c.user(Content::Text("interrupting".into()), &mut notes);
        c.assistant_text("next turn", &mut notes);
        c.tool_result("zz", "stray".into(), vec![], &mut notes);
        c.tool_result("c1", "late".into(), vec![], &mut notes);
        c.reasoning("dangling".into());
        let out = json(&c.finish(&mut notes));
        assert_eq!(out[0]["tool_calls"][0]["id"], "c1");
        assert_eq!(out[1]["role"], "tool");
        assert_eq!(
            out[1]["content"],
            "[no result: this tool call did not complete]"
        );
        assert_eq!(out[2]["content"], "interrupting");
        assert_eq!(out[3]["content"], "next turn");
        assert_eq!(out[4]["role"], "user");
        assert_eq!(out[4]["content"], "[result of tool call zz]\nstray");
        assert_eq!(out.as_array().unwrap().len(), 5);
        assert_eq!(
            notes.warnings,
            [
                "synthesised a result for a tool call that had none",
                "tool result without its call sent as user text",
                "dropped duplicate tool result",
                "dropped reasoning that no assistant turn followed"
            ]
        );
    }

    #[test]
    fn joins_text_pieces_on_line_boundaries() {
        let mut s = String::new();
        push_joined(&mut s, "a\n");
        push_joined(&mut s, "b");
        push_joined(&mut s, "c");
        assert_eq!(s, "a\nb\nc");
    }
}
