//! Anthropic Messages request → pivot (Chat Completions) request.
//!
//! The mapping follows dialects.md §1.4 and §5.4. The choices that are ours:
//! - consecutive messages of the same role form one turn (the Anthropic API merges them too),
//!   so parallel `tool_use` blocks always become one assistant message and every
//!   `tool_result` of the next turn becomes a `tool` message right after it;
//! - text blocks are joined into one string with a blank line between them (Ollama splits
//!   multi-part text into separate messages, and most chat templates want a string);
//! - what the pivot cannot carry is dropped with a short, stable warning.

use cligate_adapter_sdk::pivot::{
    ChatRequest, Content as PivotContent, ImageUrl, Message, Part, Role, StreamOptions, Tool,
    ToolCall,
};
use cligate_adapter_sdk::{
    AdapterError, ClientRequest, PivotRequest, RemovedField, RequestOptions, json, sse,
};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::State;
use crate::tokens;
use crate::wire::{
    Block, Content, InputMessage, InputRole, MessagesRequest, OutputFormat, Source, Thinking,
    ToolChoice, ToolDef,
};

/// First line of the attribution block Claude Code puts in `system`. It changes with every
/// client build, so forwarding it would identify the client and break backend prefix caching.
const BILLING_HEADER_PREFIX: &str = "x-anthropic-billing-header:";

/// Prefix of a tool result the client marked `is_error` (Chat has no field for it).
const TOOL_ERROR_PREFIX: &str = "[tool error] ";

/// Translate a `POST /v1/messages` request.
pub(crate) fn translate(
    req: &ClientRequest,
    options: &RequestOptions,
) -> Result<PivotRequest, AdapterError> {
    let parsed: MessagesRequest = json::parse_request(&req.body)?;
    if parsed.messages.is_empty() {
        return Err(AdapterError::InvalidRequest(
            "messages: at least one message is required".to_owned(),
        ));
    }
    let input_estimate = tokens::estimate_input_tokens(&parsed);
    let header_session = req
        .header("x-claude-code-session-id")
        .filter(|s| !s.is_empty());
    let client_software = req
        .header("user-agent")
        .and_then(|ua| ua.split_whitespace().next())
        .map(str::to_owned);

    let mut b = Builder::default();
    let MessagesRequest {
        model,
        messages,
        system,
        tools,
        tool_choice,
        thinking,
        output_config,
        output_format,
        metadata,
        stream,
        max_tokens,
        temperature,
        top_p,
        top_k,
        stop_sequences,
        cache_control,
        context_management,
        mcp_servers,
    } = parsed;

    if cache_control.is_some() {
        b.saw_cache_control = true;
    }
    if context_management.is_some() {
        b.warn("dropped context_management");
    }
    if mcp_servers.is_some() {
        b.warn("dropped mcp_servers");
    }

    if let Some(system) = system {
        b.top_system(system, options.redact_environment);
    }
    b.conversation(messages)?;

    let tools = b.tools(tools)?;
    let (tool_choice, parallel_tool_calls) = b.tool_choice(tool_choice, &tools);

    let effort = output_config.as_ref().and_then(|c| c.effort.as_deref());
    let reasoning_effort = b.reasoning_effort(thinking.as_ref(), effort);
    let omit_thinking = thinking
        .as_ref()
        .and_then(|t| t.display.as_deref())
        .is_some_and(|d| d == "omitted");

    let format = output_config.and_then(|c| c.format).or(output_format);
    let response_format = match format {
        Some(format) => b.response_format(format)?,
        None => None,
    };

    let mut session_id = None;
    if let Some(user_id) = metadata.and_then(|m| m.user_id) {
        session_id = session_from_user_id(&user_id);
        b.removed.push(RemovedField {
            location: "metadata.user_id".to_owned(),
            value: user_id,
        });
    }
    let session_id = session_id.or_else(|| header_session.map(str::to_owned));

    if b.saw_cache_control {
        b.warn("dropped cache_control");
    }

    let stream = stream.unwrap_or(false);
    let chat = ChatRequest {
        model: model.clone(),
        messages: b.messages,
        tools,
        tool_choice,
        parallel_tool_calls,
        stream,
        stream_options: if stream {
            StreamOptions::with_usage()
        } else {
            None
        },
        max_tokens,
        temperature,
        top_p,
        top_k,
        stop: stop_sequences,
        reasoning_effort,
        response_format,
    };
    let body = json::to_vec(&chat)?;
    let state = State {
        input_estimate,
        omit_thinking,
    };
    Ok(PivotRequest {
        model,
        stream,
        body,
        warnings: b.warnings,
        removed: b.removed,
        client_software,
        session_id,
        stream_headers: if stream { sse::headers() } else { Vec::new() },
        state: state.encode(),
    })
}

/// The session id inside Claude Code's `metadata.user_id`: a JSON string
/// `{"device_id":…,"account_uuid":…,"session_id":…}` (2.x) or
/// `user_<hash>_account_<uuid>_session_<uuid>` (1.x).
fn session_from_user_id(user_id: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct UserId {
        #[serde(default)]
        session_id: Option<String>,
    }
    let session = if user_id.trim_start().starts_with('{') {
        serde_json::from_str::<UserId>(user_id).ok()?.session_id
    } else {
        user_id
            .split_once("_session_")
            .map(|(_, session)| session.to_owned())
    };
    session.filter(|s| !s.is_empty())
}

/// Append `text` to `buf` as a new paragraph: at least one blank line between the two,
/// counting the newlines they already have (Claude Code's blocks often end or start with some).
fn push_paragraph(buf: &mut String, text: String) {
    if buf.is_empty() {
        *buf = text;
        return;
    }
    if text.is_empty() {
        return;
    }
    let trailing = buf
        .bytes()
        .rev()
        .take(2)
        .take_while(|&c| c == b'\n')
        .count();
    let leading = text.bytes().take(2).take_while(|&c| c == b'\n').count();
    for _ in (trailing + leading)..2 {
        buf.push('\n');
    }
    buf.push_str(&text);
}

/// Joins consecutive text parts of a user message, so a text-only message stays a string.
#[derive(Default)]
struct Parts {
    parts: Vec<Part>,
}

impl Parts {
    fn text(&mut self, text: String) {
        if let Some(Part::Text { text: last }) = self.parts.last_mut() {
            push_paragraph(last, text);
        } else {
            self.parts.push(Part::Text { text });
        }
    }

    fn image(&mut self, url: String) {
        self.parts.push(Part::ImageUrl {
            image_url: ImageUrl { url, detail: None },
        });
    }

    fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    fn into_content(mut self) -> PivotContent {
        match self.parts.as_slice() {
            [Part::Text { .. }] => match self.parts.pop() {
                Some(Part::Text { text }) => PivotContent::Text(text),
                _ => PivotContent::Parts(self.parts),
            },
            _ => PivotContent::Parts(self.parts),
        }
    }
}

/// Accumulates the pivot request while the Anthropic one is consumed.
#[derive(Default)]
struct Builder {
    messages: Vec<Message>,
    warnings: Vec<String>,
    removed: Vec<RemovedField>,
    saw_cache_control: bool,
    /// Calls of the last assistant turn whose results are still due.
    pending_calls: Vec<String>,
    /// Mid-conversation system messages that arrived while tool results were due: Chat wants
    /// the `tool` messages right after the assistant's calls, so these wait until after them.
    deferred_system: Vec<Message>,
}

impl Builder {
    /// Record a warning once per request.
    fn warn(&mut self, warning: impl Into<String>) {
        let warning = warning.into();
        if !self.warnings.contains(&warning) {
            self.warnings.push(warning);
        }
    }

    fn note_cache_control(&mut self, block: &Block) {
        if block.cache_control.is_some() {
            self.saw_cache_control = true;
        }
    }

    /// The top-level `system`: one leading system message, without the billing header.
    fn top_system(&mut self, system: Content, redact_environment: bool) {
        let mut text = String::new();
        match system {
            Content::Text(t) => {
                let t = match t.strip_prefix(BILLING_HEADER_PREFIX) {
                    Some(_) => {
                        let (header, rest) = t.split_once('\n').unwrap_or((t.as_str(), ""));
                        self.removed.push(RemovedField {
                            location: "system billing header".to_owned(),
                            value: header.to_owned(),
                        });
                        rest.to_owned()
                    }
                    None => t,
                };
                push_paragraph(&mut text, t);
            }
            Content::Blocks(blocks) => {
                for (i, block) in blocks.into_iter().enumerate() {
                    self.note_cache_control(&block);
                    if block.kind != "text" {
                        self.warn(format!("dropped {} block in system", block.kind));
                        continue;
                    }
                    let t = block.text.unwrap_or_default();
                    if t.trim_start().starts_with(BILLING_HEADER_PREFIX) {
                        self.removed.push(RemovedField {
                            location: format!("system[{i}] billing header"),
                            value: t,
                        });
                        continue;
                    }
                    push_paragraph(&mut text, t);
                }
            }
        }
        if redact_environment {
            for section in take_environment_sections(&mut text) {
                self.removed.push(RemovedField {
                    location: "system environment section".to_owned(),
                    value: section,
                });
            }
        }
        if !text.is_empty() {
            self.messages.push(Message::text(Role::System, text));
        }
    }

    /// `messages`, grouped into turns of one role.
    fn conversation(&mut self, messages: Vec<InputMessage>) -> Result<(), AdapterError> {
        let mut iter = messages.into_iter().peekable();
        while let Some(first) = iter.next() {
            let role = first.role;
            if role == InputRole::System {
                self.mid_conversation_system(first.content);
                continue;
            }
            let mut turn = vec![first.content];
            while let Some(next) = iter.next_if(|m| m.role == role) {
                turn.push(next.content);
            }
            match role {
                InputRole::User => self.user_turn(turn),
                InputRole::Assistant => self.assistant_turn(turn)?,
                InputRole::System => {}
            }
        }
        let deferred = std::mem::take(&mut self.deferred_system);
        self.messages.extend(deferred);
        Ok(())
    }

    /// A `role:"system"` message inside `messages` stays a system message at its place.
    fn mid_conversation_system(&mut self, content: Content) {
        let text = self.plain_text(content, "system message");
        let message = Message::text(Role::System, text);
        if self.pending_calls.is_empty() {
            self.messages.push(message);
        } else {
            self.deferred_system.push(message);
        }
    }

    /// Text of a content that should only hold text; other blocks are dropped with a warning.
    fn plain_text(&mut self, content: Content, place: &str) -> String {
        match content {
            Content::Text(t) => t,
            Content::Blocks(blocks) => {
                let mut text = String::new();
                for block in blocks {
                    self.note_cache_control(&block);
                    if block.kind == "text" {
                        push_paragraph(&mut text, block.text.unwrap_or_default());
                    } else {
                        self.warn(format!("dropped {} block in {place}", block.kind));
                    }
                }
                text
            }
        }
    }

    fn user_turn(&mut self, turn: Vec<Content>) {
        let pending = std::mem::take(&mut self.pending_calls);
        let mut answered = vec![false; pending.len()];
        let mut tool_messages = Vec::new();
        // Chat `tool` messages carry text only, so images a tool returned travel in the user
        // message that follows the tool messages, each labelled with the call it came from.
        let mut tool_images = Parts::default();
        let mut rest = Parts::default();

        for content in turn {
            let blocks = match content {
                Content::Text(t) => {
                    rest.text(t);
                    continue;
                }
                Content::Blocks(blocks) => blocks,
            };
            for block in blocks {
                self.note_cache_control(&block);
                if block.kind != "tool_result" {
                    self.user_block(block, &mut rest);
                    continue;
                }
                let id = block.tool_use_id.unwrap_or_default();
                let mut images = Parts::default();
                let mut text = self.tool_result_content(block.content, &mut images);
                if block.is_error == Some(true) {
                    text.insert_str(0, TOOL_ERROR_PREFIX);
                }
                match pending.iter().position(|p| *p == id) {
                    Some(pos) if !answered[pos] => {
                        answered[pos] = true;
                        if text.is_empty() && !images.is_empty() {
                            text = "(the tool returned an image; it follows in the next message)"
                                .to_owned();
                        }
                        if !images.is_empty() {
                            tool_images.text(format!("Image returned by tool call {id}:"));
                            tool_images.parts.extend(images.parts);
                        }
                        tool_messages.push(Message::tool_result(id, PivotContent::Text(text)));
                    }
                    _ => {
                        // Chat rejects a tool message that answers no call of the previous
                        // assistant message; keep the content as user text instead.
                        self.warn("converted tool_result without matching tool_use to text");
                        rest.text(format!("Result of tool call {id}:\n{text}"));
                        rest.parts.extend(images.parts);
                    }
                }
            }
        }
        for (id, done) in pending.into_iter().zip(answered) {
            if !done {
                // Chat rejects an assistant message whose calls are not all answered.
                self.warn("added placeholder for missing tool_result");
                tool_messages.push(Message::tool_result(
                    id,
                    PivotContent::Text("(no result was sent for this tool call)".to_owned()),
                ));
            }
        }
        self.messages.extend(tool_messages);
        let deferred = std::mem::take(&mut self.deferred_system);
        self.messages.extend(deferred);

        let mut parts = tool_images;
        for part in rest.parts {
            match part {
                Part::Text { text } => parts.text(text),
                image => parts.parts.push(image),
            }
        }
        if !parts.is_empty() {
            self.messages.push(Message {
                role: Role::User,
                content: Some(parts.into_content()),
                tool_calls: Vec::new(),
                tool_call_id: None,
                reasoning_content: None,
            });
        }
    }

    /// One non-tool-result block of a user turn.
    fn user_block(&mut self, block: Block, parts: &mut Parts) {
        match block.kind.as_str() {
            "text" => parts.text(block.text.unwrap_or_default()),
            "image" => self.image(block.source, parts),
            "document" => self.document(block, parts),
            "search_result" => self.search_result(block, parts),
            other => {
                let warning = format!("dropped {other} block");
                self.warn(warning);
            }
        }
    }

    /// `tool_result.content`: the text for the tool message; images go to `images`.
    fn tool_result_content(&mut self, content: Option<Content>, images: &mut Parts) -> String {
        let mut text = String::new();
        let blocks = match content {
            None => return text,
            Some(Content::Text(t)) => return t,
            Some(Content::Blocks(blocks)) => blocks,
        };
        for block in blocks {
            self.note_cache_control(&block);
            match block.kind.as_str() {
                "text" => push_paragraph(&mut text, block.text.unwrap_or_default()),
                "image" => self.image(block.source, images),
                "document" | "search_result" => {
                    let mut inner = Parts::default();
                    if block.kind == "document" {
                        self.document(block, &mut inner);
                    } else {
                        self.search_result(block, &mut inner);
                    }
                    for part in inner.parts {
                        match part {
                            Part::Text { text: t } => push_paragraph(&mut text, t),
                            image => images.parts.push(image),
                        }
                    }
                }
                other => {
                    let warning = format!("dropped {other} block in tool_result");
                    self.warn(warning);
                }
            }
        }
        text
    }

    fn image(&mut self, source: Option<Source>, parts: &mut Parts) {
        match image_url(source) {
            Ok(url) => parts.image(url),
            Err(kind) => self.warn(format!("dropped image with {kind} source")),
        }
    }

    /// Text documents are inlined as text; PDFs and URL documents cannot be expressed.
    fn document(&mut self, block: Block, parts: &mut Parts) {
        let Some(source) = block.source else {
            self.warn("dropped document without source");
            return;
        };
        let mut text = String::new();
        if let Some(title) = block.title.filter(|t| !t.is_empty()) {
            text = format!("Document: {title}");
        }
        if let Some(context) = block.context.filter(|c| !c.is_empty()) {
            push_paragraph(&mut text, context);
        }
        match source.kind.as_str() {
            "text" => push_paragraph(&mut text, source.data.unwrap_or_default()),
            "content" => match source.content {
                Some(Content::Text(t)) => push_paragraph(&mut text, t),
                Some(Content::Blocks(blocks)) => {
                    for inner in blocks {
                        match inner.kind.as_str() {
                            "text" => push_paragraph(&mut text, inner.text.unwrap_or_default()),
                            "image" => self.image(inner.source, parts),
                            other => {
                                let warning = format!("dropped {other} block in document");
                                self.warn(warning);
                            }
                        }
                    }
                }
                None => {}
            },
            "base64" if source.media_type.as_deref() == Some("application/pdf") => {
                self.warn("dropped PDF document");
                return;
            }
            other => {
                self.warn(format!("dropped document with {other} source"));
                return;
            }
        }
        parts.text(text);
    }

    /// A search result (RAG citation source) is plain text for a Chat model.
    fn search_result(&mut self, block: Block, parts: &mut Parts) {
        let mut text = String::new();
        if let Some(title) = block.title.filter(|t| !t.is_empty()) {
            text = format!("Search result: {title}");
        }
        if let Some(content) = block.content {
            let body = self.plain_text(content, "search_result");
            push_paragraph(&mut text, body);
        }
        parts.text(text);
    }

    fn assistant_turn(&mut self, turn: Vec<Content>) -> Result<(), AdapterError> {
        // An assistant turn that follows an unanswered one (no user turn between) cannot
        // carry results; the placeholders keep the Chat ordering rule.
        if !self.pending_calls.is_empty() {
            self.user_turn(Vec::new());
        }
        let mut text = String::new();
        let mut reasoning = String::new();
        let mut calls = Vec::new();
        for content in turn {
            let blocks = match content {
                Content::Text(t) => {
                    push_paragraph(&mut text, t);
                    continue;
                }
                Content::Blocks(blocks) => blocks,
            };
            for block in blocks {
                self.note_cache_control(&block);
                match block.kind.as_str() {
                    "text" => push_paragraph(&mut text, block.text.unwrap_or_default()),
                    "tool_use" => {
                        let id = block.id.filter(|id| !id.is_empty()).ok_or_else(|| {
                            AdapterError::InvalidRequest(
                                "messages: tool_use block without id".to_owned(),
                            )
                        })?;
                        let arguments = match block.input {
                            Some(input) => String::from(Box::<str>::from(input)),
                            None => "{}".to_owned(),
                        };
                        calls.push(ToolCall::function(
                            id,
                            block.name.unwrap_or_default(),
                            arguments,
                        ));
                    }
                    // The signature is the issuer's; a Chat backend only takes the text.
                    "thinking" => {
                        push_paragraph(&mut reasoning, block.thinking.unwrap_or_default())
                    }
                    "redacted_thinking" => self.warn("dropped redacted_thinking"),
                    other => {
                        let warning = format!("dropped {other} block");
                        self.warn(warning);
                    }
                }
            }
        }
        if text.is_empty() && calls.is_empty() && reasoning.is_empty() {
            return Ok(());
        }
        self.pending_calls = calls.iter().map(|c| c.id.clone()).collect();
        self.messages.push(Message {
            role: Role::Assistant,
            // An assistant message with calls and no text has `content: null` in Chat.
            content: if text.is_empty() && !calls.is_empty() {
                None
            } else {
                Some(PivotContent::Text(text))
            },
            tool_calls: calls,
            tool_call_id: None,
            reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
        });
        Ok(())
    }

    /// Client tools become functions; server and Anthropic-defined tools are dropped.
    fn tools(&mut self, tools: Vec<ToolDef>) -> Result<Vec<Tool>, AdapterError> {
        let mut out = Vec::with_capacity(tools.len());
        for tool in tools {
            if tool.cache_control.is_some() {
                self.saw_cache_control = true;
            }
            match tool.kind.as_deref() {
                None | Some("custom") => {
                    let name = tool.name.filter(|n| !n.is_empty()).ok_or_else(|| {
                        AdapterError::InvalidRequest("tools: a tool has no name".to_owned())
                    })?;
                    out.push(Tool::function(name, tool.description, tool.input_schema));
                }
                Some(kind) => {
                    let name = tool.name.as_deref().unwrap_or(kind);
                    self.warn(format!("dropped server tool {name}"));
                }
            }
        }
        Ok(out)
    }

    fn tool_choice(
        &mut self,
        choice: Option<ToolChoice>,
        tools: &[Tool],
    ) -> (Option<serde_json::Value>, Option<bool>) {
        let Some(choice) = choice else {
            return (None, None);
        };
        // Chat rejects `tool_choice` and `parallel_tool_calls` without tools.
        if tools.is_empty() {
            return (None, None);
        }
        let parallel = (choice.disable_parallel_tool_use == Some(true)).then_some(false);
        let value = match choice.kind.as_str() {
            "auto" => Some(serde_json::Value::from("auto")),
            "any" => Some(serde_json::Value::from("required")),
            "none" => Some(serde_json::Value::from("none")),
            "tool" => match choice.name {
                Some(name) if tools.iter().any(|t| t.function.name == name) => {
                    Some(serde_json::json!({"type": "function", "function": {"name": name}}))
                }
                _ => {
                    self.warn("dropped tool_choice naming an unknown tool");
                    None
                }
            },
            other => {
                self.warn(format!("dropped tool_choice {other}"));
                None
            }
        };
        (value, parallel)
    }

    /// `thinking` + `output_config.effort` → `reasoning_effort`.
    ///
    /// `disabled` (or no `thinking`) sends no `reasoning_effort`: Chat has no portable "off"
    /// value (`none` is a 400 on several servers), so the backend keeps its default.
    fn reasoning_effort(
        &mut self,
        thinking: Option<&Thinking>,
        effort: Option<&str>,
    ) -> Option<String> {
        let thinking = thinking?;
        let from_effort = match effort {
            Some("low") => Some("low"),
            Some("medium") => Some("medium"),
            // Chat's common scale stops at `high`.
            Some("high" | "xhigh" | "max") => Some("high"),
            Some(other) => {
                self.warn(format!("ignored unknown effort {other}"));
                None
            }
            None => None,
        };
        let level = match thinking.kind.as_str() {
            "enabled" => from_effort.or(thinking.budget_tokens.map(bucket_budget)),
            // Anthropic's default effort is `high`.
            "adaptive" => from_effort.or(Some("high")),
            "disabled" => None,
            other => {
                self.warn(format!("ignored thinking type {other}"));
                None
            }
        };
        level.map(str::to_owned)
    }

    /// `output_config.format` `json_schema` → `response_format`.
    fn response_format(
        &mut self,
        format: OutputFormat,
    ) -> Result<Option<Box<RawValue>>, AdapterError> {
        match (format.kind.as_str(), format.schema) {
            ("json_schema", Some(schema)) => {
                let raw = format!(
                    r#"{{"type":"json_schema","json_schema":{{"name":"response","schema":{}}}}}"#,
                    schema.get()
                );
                RawValue::from_string(raw).map(Some).map_err(|err| {
                    AdapterError::InvalidRequest(format!("output_config.format.schema: {err}"))
                })
            }
            (kind, _) => {
                self.warn(format!("dropped output format {kind}"));
                Ok(None)
            }
        }
    }
}

/// Budget tokens → effort. Claude Code's keywords land in distinct buckets:
/// "think" 4,000 → low, "think hard" 10,000 → medium, "ultrathink" 31,999 → high.
fn bucket_budget(budget: u64) -> &'static str {
    match budget {
        0..4_096 => "low",
        4_096..16_384 => "medium",
        _ => "high",
    }
}

/// An image source as a URL; `Err` names the source kind that cannot be expressed.
fn image_url(source: Option<Source>) -> Result<String, String> {
    let Some(source) = source else {
        return Err("missing".to_owned());
    };
    match (source.kind.as_str(), source.data, source.url) {
        ("base64", Some(data), _) => Ok(format!(
            "data:{};base64,{data}",
            source.media_type.as_deref().unwrap_or("image/png")
        )),
        ("url", _, Some(url)) => Ok(url),
        (kind, _, _) => Err(kind.to_owned()),
    }
}

/// Remove Claude Code's environment description (working directory, OS, shell, paths) from
/// a system prompt: the `# Environment` section (2.x) up to the next heading, and an
/// `<env>…</env>` block (1.x). Returns what was removed.
fn take_environment_sections(text: &mut String) -> Vec<String> {
    let mut removed = Vec::new();
    let start = if text.starts_with("# Environment\n") {
        Some(0)
    } else {
        text.find("\n# Environment\n").map(|i| i + 1)
    };
    if let Some(start) = start {
        let body = start + "# Environment\n".len();
        let end = text[body..]
            .find("\n# ")
            .map(|i| body + i + 1)
            .unwrap_or(text.len());
        removed.push(
            text.drain(start..end)
                .collect::<String>()
                .trim_end()
                .to_owned(),
        );
    }
    if let (Some(start), Some(end)) = (text.find("<env>"), text.find("</env>"))
        && start < end
    {
        let end = end + "</env>".len();
        removed.push(text.drain(start..end).collect());
    }
    removed
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn paragraphs_get_exactly_one_blank_line() {
        let mut s = String::new();
        push_paragraph(&mut s, "a".into());
        push_paragraph(&mut s, "b".into());
        push_paragraph(&mut s, "c\n".into());
        push_paragraph(&mut s, "d\n\n".into());
        push_paragraph(&mut s, "\ne".into());
        push_paragraph(&mut s, "".into());
        assert_eq!(s, "a\n\nb\n\nc\n\nd\n\n\ne");
    }

    #[test]
    fn session_id_from_both_user_id_formats() {
        assert_eq!(
            session_from_user_id(r#"{"device_id":"d","account_uuid":"","session_id":"s-1"}"#)
                .as_deref(),
            Some("s-1")
        );
        assert_eq!(
            session_from_user_id("user_abc_account_x_session_s-2").as_deref(),
            Some("s-2")
        );
        assert_eq!(session_from_user_id("plain"), None);
    }

    #[test]
    fn environment_section_is_cut_up_to_the_next_heading() {
        let mut s = "intro\n\n# Environment\n - cwd: /home/x\n\n# Next\nkeep".to_owned();
        let removed = take_environment_sections(&mut s);
        assert_eq!(s, "intro\n\n# Next\nkeep");
        assert_eq!(removed, vec!["# Environment\n - cwd: /home/x".to_owned()]);
        let mut s = "a <env>\nWorking directory: /x\n</env> b".to_owned();
        take_environment_sections(&mut s);
        assert_eq!(s, "a  b");
    }

    #[test]
    fn budgets_bucket_to_efforts() {
        assert_eq!(bucket_budget(1024), "low");
        assert_eq!(bucket_budget(4000), "low");
        assert_eq!(bucket_budget(10_000), "medium");
        assert_eq!(bucket_budget(31_999), "high");
    }
}
