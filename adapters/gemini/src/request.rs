//! Gemini request → pivot (Chat Completions) request.
//!
//! The mapping follows dialects.md §5.6. The parts that need care:
//! - function calls of one `model` turn become one assistant message with `tool_calls`, and
//!   the `functionResponse`s of the next `user` turn become `tool` messages right after it,
//!   matched by id, or by name in order when the client sent no ids (ids are then
//!   synthesised from the call's position, so the same history always gives the same ids);
//! - media a tool returned (`functionResponse.parts`, or Gemini CLI's sibling `inlineData`
//!   next to the `functionResponse`) cannot sit in a Chat `tool` message, so it follows the
//!   tool messages as a `user` message with image parts;
//! - `thoughtSignature`s are never forwarded; only the gateway's own (see [`crate::signature`])
//!   is read back, as `reasoning_content`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use cligate_adapter_sdk::pivot::{
    ChatRequest, Content as ChatContent, ImageUrl, Message, Part as ChatPart, Role, StreamOptions,
    Tool, ToolCall,
};
use cligate_adapter_sdk::{
    AdapterError, ClientRequest, Header, PivotRequest, RemovedField, RequestOptions, json, sse,
};
use serde_json::value::RawValue;

use crate::state::State;
use crate::target::{Method, Surface, Target, strip_models_prefix};
use crate::wire::{
    CodeAssistRequest, Content, CountTokensRequest, FunctionDeclaration, GenerateContentRequest,
    GenerationConfig, Part, SystemInstruction, ToolConfig,
};
use crate::{base64, schema, signature};

/// Translate a generation (or backend-counted `countTokens`) request.
pub fn translate(
    req: &ClientRequest,
    options: &RequestOptions,
) -> Result<PivotRequest, AdapterError> {
    let target = Target::parse(&req.path)?;
    let mut notes = Notes::default();
    let mut session_id = None;

    let (model, body) = match target.surface {
        Surface::CodeAssist => {
            if target.method == Method::CountTokens {
                return Err(AdapterError::Unsupported(
                    "Code Assist countTokens is answered locally (route it to answer-local)".into(),
                ));
            }
            let wrapper: CodeAssistRequest = crate::wire::parse(&req.body)?;
            if let Some(project) = wrapper.project.filter(|p| !p.is_empty()) {
                notes.removed("project", project.into_owned());
            }
            if let Some(id) = wrapper.user_prompt_id.filter(|p| !p.is_empty()) {
                notes.removed("user_prompt_id", id.into_owned());
            }
            let model = wrapper
                .model
                .as_deref()
                .map(strip_models_prefix)
                .filter(|m| !m.is_empty())
                .ok_or_else(|| {
                    AdapterError::InvalidRequest("the Code Assist body names no model".into())
                })?
                .to_owned();
            let mut inner = wrapper.request.ok_or_else(|| {
                AdapterError::InvalidRequest("the Code Assist body has no request".into())
            })?;
            session_id = inner.session_id.take().map(Cow::into_owned);
            (model, inner)
        }
        Surface::GeminiApi => {
            let model = target.model.clone().unwrap_or_default();
            let body = if target.method == Method::CountTokens {
                count_tokens_body(&req.body)?
            } else {
                crate::wire::parse(&req.body)?
            };
            (model, body)
        }
    };

    let counting = target.method == Method::CountTokens;
    let stream = target.streams();
    let mut state = State {
        code_assist: target.surface == Surface::CodeAssist,
        count_tokens: counting,
        ..State::default()
    };
    let mut chat = build_chat(body, model.clone(), options, &mut notes, &mut state)?;
    if counting {
        // Counting through the backend: the prompt's exact size comes back as
        // `usage.prompt_tokens` for the price of one output token.
        chat.max_tokens = Some(1);
        chat.response_format = None;
        chat.reasoning_effort = None;
    }
    chat.stream = stream;
    chat.stream_options = if stream {
        StreamOptions::with_usage()
    } else {
        None
    };

    Ok(PivotRequest {
        model,
        stream,
        body: json::to_vec(&chat)?,
        warnings: notes.warnings,
        removed: notes.removed,
        client_software: client_software(req),
        session_id,
        stream_headers: if stream {
            stream_headers(req.query_param("alt"))
        } else {
            Vec::new()
        },
        state: state.encode(),
    })
}

/// Headers of a streamed answer: SSE with `alt=sse` (what every Google SDK asks for), the
/// JSON-array form without it.
pub fn stream_headers(alt: Option<&str>) -> Vec<Header> {
    if alt == Some("sse") {
        sse::headers()
    } else {
        vec![Header::new("content-type", "application/json")]
    }
}

/// A `countTokens` body as a generation request: `{contents}` or `{generateContentRequest}`.
fn count_tokens_body(body: &[u8]) -> Result<GenerateContentRequest<'_>, AdapterError> {
    let count: CountTokensRequest = crate::wire::parse(body)?;
    Ok(match (count.generate_content_request, count.request) {
        (Some(inner), _) | (None, Some(inner)) => inner,
        (None, None) => GenerateContentRequest {
            contents: count.contents,
            ..GenerateContentRequest::default()
        },
    })
}

/// `GeminiCLI-tui/0.61.0/gemini-3.1-pro-preview (linux; x64; terminal)` → `GeminiCLI-tui/0.61.0`:
/// the product and version, without the model and platform. Falls back to the SDK's
/// `x-goog-api-client` (`google-genai-sdk/1.30.0`).
pub fn client_software(req: &ClientRequest) -> Option<String> {
    let product = |header: &str| {
        req.header(header)
            .and_then(|v| v.split_whitespace().next())
            .filter(|v| !v.is_empty())
            .map(|token| {
                let mut pieces = token.splitn(3, '/');
                match (pieces.next(), pieces.next()) {
                    (Some(name), Some(version)) => format!("{name}/{version}"),
                    _ => token.to_owned(),
                }
            })
    };
    product("user-agent")
        .filter(|p| !p.starts_with("node") && !p.starts_with("undici"))
        .or_else(|| product("x-goog-api-client"))
}

/// Warnings and removed values collected while translating.
#[derive(Default)]
pub struct Notes {
    pub warnings: Vec<String>,
    pub removed: Vec<RemovedField>,
}

impl Notes {
    /// Record a warning once.
    pub fn warn(&mut self, text: impl Into<String>) {
        let text = text.into();
        if !self.warnings.contains(&text) {
            self.warnings.push(text);
        }
    }

    fn removed(&mut self, location: impl Into<String>, value: String) {
        self.removed.push(RemovedField {
            location: location.into(),
            value,
        });
    }
}

/// Build the Chat request from a parsed Gemini request.
fn build_chat(
    body: GenerateContentRequest<'_>,
    model: String,
    options: &RequestOptions,
    notes: &mut Notes,
    state: &mut State,
) -> Result<ChatRequest, AdapterError> {
    let mut chat = ChatRequest {
        model,
        ..ChatRequest::default()
    };
    if body.safety_settings.is_some() {
        notes.warn("dropped safetySettings");
    }
    if body.cached_content.is_some() {
        notes.warn("dropped cachedContent");
    }

    let mut conversation = Conversation::new(options.redact_environment);
    if let Some(system) = body.system_instruction {
        conversation.system(system, notes);
    }
    for (index, content) in body.contents.into_iter().enumerate() {
        conversation.content(index, content, notes);
    }
    chat.messages = conversation.finish(notes);

    let (tools, choice) = tools(&body.tools, body.tool_config.as_ref(), notes)?;
    chat.tools = tools;
    chat.tool_choice = choice;

    if let Some(config) = body.generation_config {
        generation_config(config, &mut chat, notes, state)?;
    }
    Ok(chat)
}

// ---------------------------------------------------------------------------------------
// Conversation
// ---------------------------------------------------------------------------------------

/// A function call of the latest model turn, waiting for its response.
struct PendingCall {
    /// The id the client sent, if any.
    client_id: Option<String>,
    /// The id used in the pivot (the client's, or a synthesised one).
    id: String,
    name: String,
    answered: bool,
}

/// Builds the Chat message list turn by turn.
struct Conversation {
    messages: Vec<Message>,
    pending: Vec<PendingCall>,
    /// Parts of the user message being built; consecutive user turns are merged because
    /// several chat templates insist on alternating roles.
    user_parts: Vec<ChatPart>,
    redact_environment: bool,
}

impl Conversation {
    fn new(redact_environment: bool) -> Self {
        Conversation {
            messages: Vec::new(),
            pending: Vec::new(),
            user_parts: Vec::new(),
            redact_environment,
        }
    }

    fn system(&mut self, system: SystemInstruction<'_>, notes: &mut Notes) {
        let text = match system {
            SystemInstruction::Text(text) => text.into_owned(),
            SystemInstruction::Content(content) => {
                let mut texts = Vec::new();
                for part in content.parts {
                    match part.text {
                        Some(text) if !text.is_empty() => texts.push(text),
                        Some(_) => {}
                        None => notes.warn("dropped non-text systemInstruction part"),
                    }
                }
                texts.join("\n\n")
            }
        };
        if !text.is_empty() {
            self.messages.push(Message::text(Role::System, text));
        }
    }

    fn content(&mut self, index: usize, content: Content<'_>, notes: &mut Notes) {
        match content.role.as_deref() {
            Some("model") | Some("assistant") => self.model_turn(index, content.parts, notes),
            // `user`, a missing role, and the old API's `function` role.
            _ => self.user_turn(index, content.parts, notes),
        }
    }

    fn model_turn(&mut self, index: usize, parts: Vec<Part<'_>>, notes: &mut Notes) {
        self.flush_user();
        self.answer_unanswered(notes);
        let mut text = String::new();
        let mut thoughts = String::new();
        let mut carried_reasoning = None;
        let mut calls = Vec::new();
        for (part_index, part) in parts.into_iter().enumerate() {
            if let Some(sig) = part.thought_signature.as_deref()
                && carried_reasoning.is_none()
            {
                carried_reasoning = signature::decode(sig);
            }
            if let Some(call) = part.function_call {
                let client_id = call.id.map(Cow::into_owned).filter(|id| !id.is_empty());
                let id = match client_id.as_deref() {
                    Some(id) if !self.pending.iter().any(|p| p.id == id) => id.to_owned(),
                    // No id, or a repeated one in this turn: derive one from the position,
                    // so the same history always yields the same ids.
                    _ => format!("call_{index}_{part_index}"),
                };
                let arguments = match call.args.map(RawValue::get) {
                    Some(args) if args.trim() != "null" => args.to_owned(),
                    _ => "{}".to_owned(),
                };
                calls.push(ToolCall::function(
                    id.clone(),
                    call.name.as_ref(),
                    arguments,
                ));
                self.pending.push(PendingCall {
                    client_id,
                    id,
                    name: call.name.into_owned(),
                    answered: false,
                });
            } else if let Some(t) = part.text {
                if part.thought == Some(true) {
                    thoughts.push_str(&t);
                } else {
                    text.push_str(&t);
                }
            } else if part.inline_data.is_some() || part.file_data.is_some() {
                notes.warn("dropped media in a model turn");
            } else if part.executable_code.is_some() || part.code_execution_result.is_some() {
                notes.warn("dropped code execution part");
            }
        }
        if text.is_empty() && calls.is_empty() {
            return;
        }
        let reasoning = if thoughts.is_empty() {
            carried_reasoning.filter(|r| !r.is_empty())
        } else {
            Some(thoughts)
        };
        self.messages.push(Message {
            role: Role::Assistant,
            content: if text.is_empty() && !calls.is_empty() {
                None
            } else {
                Some(ChatContent::Text(text))
            },
            tool_calls: calls,
            tool_call_id: None,
            reasoning_content: reasoning,
        });
    }

    fn user_turn(&mut self, index: usize, parts: Vec<Part<'_>>, notes: &mut Notes) {
        let mut tool_messages = Vec::new();
        // Everything else, in order, including media a tool returned: Chat tool messages
        // hold text only, so it goes into the user message after them.
        let mut rest = Vec::new();
        for (part_index, part) in parts.into_iter().enumerate() {
            let Some(response) = part.function_response else {
                self.user_part(index, part_index, part, &mut rest, notes);
                continue;
            };
            let content = tool_output(response.response);
            match self.match_call(response.id.as_deref(), &response.name) {
                Some(id) => {
                    tool_messages.push(Message::tool_result(id, ChatContent::Text(content)));
                }
                None => {
                    notes.warn("function response without a matching call sent as text");
                    rest.push(ChatPart::Text {
                        text: format!("[Result of function {}]\n{content}", response.name),
                    });
                }
            }
            for media in response.parts {
                self.user_part(index, part_index, media, &mut rest, notes);
            }
        }
        if !self.pending.is_empty() {
            self.flush_user();
            self.messages.extend(tool_messages);
            // A turn of responses only may be followed by another with the rest of them;
            // anything else closes the calls.
            if !rest.is_empty() {
                self.answer_unanswered(notes);
            }
        }
        self.user_parts.extend(rest);
    }

    /// One non-function part of a user turn.
    fn user_part(
        &self,
        index: usize,
        part_index: usize,
        part: Part<'_>,
        out: &mut Vec<ChatPart>,
        notes: &mut Notes,
    ) {
        if let Some(text) = part.text {
            let text = if self.redact_environment {
                redact_session_context(text, index, part_index, notes)
            } else {
                text
            };
            if !text.is_empty() {
                out.push(ChatPart::Text {
                    text: text.into_owned(),
                });
            }
        } else if let Some(blob) = part.inline_data {
            let mime = blob.mime_type.as_ref();
            if mime.starts_with("image/") {
                out.push(image(format!("data:{mime};base64,{}", blob.data)));
            } else if is_textual(mime)
                && let Some(text) =
                    base64::decode(&blob.data).and_then(|b| String::from_utf8(b).ok())
            {
                out.push(ChatPart::Text { text });
            } else {
                notes.warn(format!("dropped inlineData {mime}"));
                out.push(ChatPart::Text {
                    text: format!("[a {mime} attachment was omitted: the model cannot read it]"),
                });
            }
        } else if let Some(file) = part.file_data {
            let uri = file.file_uri.as_ref();
            let fetchable = uri.starts_with("https://") || uri.starts_with("http://");
            if file.mime_type.starts_with("image/") && fetchable {
                out.push(image(uri.to_owned()));
            } else {
                notes.warn("fileData sent as a text reference");
                out.push(ChatPart::Text {
                    text: format!("[file {uri} ({})]", file.mime_type),
                });
            }
        } else if part.executable_code.is_some() || part.code_execution_result.is_some() {
            notes.warn("dropped code execution part");
        }
    }

    /// The pivot id of the pending call a response answers: by id, else the first
    /// unanswered call of that name.
    fn match_call(&mut self, client_id: Option<&str>, name: &str) -> Option<String> {
        let client_id = client_id.filter(|id| !id.is_empty());
        let position = client_id
            .and_then(|id| {
                self.pending
                    .iter()
                    .position(|p| !p.answered && p.client_id.as_deref() == Some(id))
            })
            .or_else(|| {
                self.pending
                    .iter()
                    .position(|p| !p.answered && p.name == name)
            })?;
        let call = &mut self.pending[position];
        call.answered = true;
        Some(call.id.clone())
    }

    /// Chat requires a tool message for every call: answer the ones the client left open.
    fn answer_unanswered(&mut self, notes: &mut Notes) {
        for call in self.pending.drain(..).filter(|c| !c.answered) {
            notes.warn("function call without a response");
            self.messages.push(Message::tool_result(
                call.id,
                ChatContent::Text("[no result was returned for this call]".into()),
            ));
        }
    }

    fn flush_user(&mut self) {
        if self.user_parts.is_empty() {
            return;
        }
        let parts = std::mem::take(&mut self.user_parts);
        let content = if parts.iter().all(|p| matches!(p, ChatPart::Text { .. })) {
            // Plain text is the form every backend takes.
            let texts: Vec<String> = parts
                .into_iter()
                .filter_map(|p| match p {
                    ChatPart::Text { text } => Some(text),
                    ChatPart::ImageUrl { .. } => None,
                })
                .collect();
            ChatContent::Text(texts.join("\n\n"))
        } else {
            ChatContent::Parts(parts)
        };
        self.messages.push(Message {
            role: Role::User,
            content: Some(content),
            tool_calls: Vec::new(),
            tool_call_id: None,
            reasoning_content: None,
        });
    }

    fn finish(mut self, notes: &mut Notes) -> Vec<Message> {
        self.flush_user();
        self.answer_unanswered(notes);
        self.messages
    }
}

fn image(url: String) -> ChatPart {
    ChatPart::ImageUrl {
        image_url: ImageUrl { url, detail: None },
    }
}

/// MIME types whose bytes are text the model can read as such.
fn is_textual(mime: &str) -> bool {
    mime.starts_with("text/")
        || matches!(
            mime,
            "application/json" | "application/xml" | "application/x-yaml" | "application/yaml"
        )
}

/// The text of a `functionResponse.response`: `output` when it is the only field (what
/// Gemini CLI sends on success), `Error: …` for a lone `error`, the JSON otherwise.
fn tool_output(response: Option<&RawValue>) -> String {
    let Some(raw) = response else {
        return String::new();
    };
    if let Ok(fields) = serde_json::from_str::<BTreeMap<Cow<'_, str>, &RawValue>>(raw.get())
        && fields.len() == 1
        && let Some((key, value)) = fields.into_iter().next()
    {
        let as_text = || match serde_json::from_str::<Cow<'_, str>>(value.get()) {
            Ok(text) => text.into_owned(),
            Err(_) => value.get().to_owned(),
        };
        match key.as_ref() {
            "output" | "result" | "content" => return as_text(),
            "error" => return format!("Error: {}", as_text()),
            _ => {}
        }
    }
    raw.get().to_owned()
}

/// With `redact_environment`: remove Gemini CLI's `<session_context>` block (date, OS, home
/// and workspace paths, directory listing) from a user text, keeping the rest.
fn redact_session_context<'a>(
    text: Cow<'a, str>,
    index: usize,
    part_index: usize,
    notes: &mut Notes,
) -> Cow<'a, str> {
    const OPEN: &str = "<session_context>";
    const CLOSE: &str = "</session_context>";
    let Some(start) = text.find(OPEN) else {
        return text;
    };
    let end = text[start..]
        .find(CLOSE)
        .map_or(text.len(), |e| start + e + CLOSE.len());
    notes.removed(
        format!("contents[{index}].parts[{part_index}] <session_context>"),
        text[start..end].to_owned(),
    );
    notes.warn("redacted environment section");
    let kept = format!("{}{}", &text[..start], &text[end..]);
    Cow::Owned(kept.trim().to_owned())
}

// ---------------------------------------------------------------------------------------
// Tools
// ---------------------------------------------------------------------------------------

type ToolsAndChoice = (Vec<Tool>, Option<serde_json::Value>);

fn tools(
    entries: &[BTreeMap<String, &RawValue>],
    config: Option<&ToolConfig>,
    notes: &mut Notes,
) -> Result<ToolsAndChoice, AdapterError> {
    let mut tools = Vec::new();
    for entry in entries {
        for (kind, raw) in entry {
            if kind == "functionDeclarations" || kind == "function_declarations" {
                let declarations: Vec<FunctionDeclaration> = serde_json::from_str(raw.get())
                    .map_err(|e| {
                        AdapterError::InvalidRequest(format!("functionDeclarations: {e}"))
                    })?;
                for declaration in declarations {
                    tools.push(function_tool(declaration)?);
                }
            } else {
                notes.warn(format!("dropped server tool {kind}"));
            }
        }
    }

    let calling = config.and_then(|c| c.function_calling_config.as_ref());
    let mode = calling
        .and_then(|c| c.mode.as_deref())
        .map(str::to_ascii_uppercase);
    let allowed = calling.map_or(&[][..], |c| c.allowed_function_names.as_slice());
    let choice = match mode.as_deref() {
        Some("AUTO") => Some(serde_json::Value::from("auto")),
        Some("NONE") => Some(serde_json::Value::from("none")),
        Some("ANY") if allowed.len() == 1 => Some(serde_json::json!({
            "type": "function", "function": {"name": allowed[0]}
        })),
        Some("ANY") => Some(serde_json::Value::from("required")),
        Some("VALIDATED") => Some(serde_json::Value::from("auto")),
        _ => None,
    };
    // Chat has no allow-list: a list of several names narrows the tools instead.
    if allowed.len() > 1 && matches!(mode.as_deref(), Some("ANY" | "VALIDATED")) {
        let before = tools.len();
        tools.retain(|t| allowed.contains(&t.function.name));
        if tools.len() != before {
            notes.warn("filtered tools by allowedFunctionNames");
        }
    }
    // `tool_choice` without tools is a 400 on OpenAI-compatible servers.
    let choice = if tools.is_empty() { None } else { choice };
    Ok((tools, choice))
}

fn function_tool(declaration: FunctionDeclaration<'_>) -> Result<Tool, AdapterError> {
    let name = declaration.name.into_owned();
    let invalid =
        |e: String| AdapterError::InvalidRequest(format!("schema of function {name}: {e}"));
    let parameters = match (declaration.parameters_json_schema, declaration.parameters) {
        (Some(raw), _) => schema::json_schema(raw).map_err(invalid)?,
        (None, Some(raw)) => schema::openapi_schema(raw).map_err(invalid)?,
        // Several backends insist on a parameters object.
        (None, None) => RawValue::from_string(r#"{"type":"object","properties":{}}"#.to_owned())
            .map_err(|e| AdapterError::Internal(e.to_string()))?,
    };
    Ok(Tool::function(
        name,
        declaration.description.map(Cow::into_owned),
        Some(parameters),
    ))
}

// ---------------------------------------------------------------------------------------
// generationConfig
// ---------------------------------------------------------------------------------------

fn generation_config(
    config: GenerationConfig<'_>,
    chat: &mut ChatRequest,
    notes: &mut Notes,
    state: &mut State,
) -> Result<(), AdapterError> {
    if let Some(count) = config.candidate_count
        && count > 1
    {
        return Err(AdapterError::Unsupported(format!(
            "candidateCount {count}: this gateway returns one candidate"
        )));
    }
    chat.max_tokens = config
        .max_output_tokens
        .filter(|n| *n > 0)
        .and_then(|n| u64::try_from(n).ok());
    chat.temperature = config.temperature;
    chat.top_p = config.top_p;
    chat.top_k = config
        .top_k
        .filter(|k| *k >= 1.0 && k.is_finite())
        .map(|k| k as u64);
    chat.stop = config.stop_sequences;
    if config.presence_penalty.is_some() {
        notes.warn("dropped presencePenalty");
    }
    if config.frequency_penalty.is_some() {
        notes.warn("dropped frequencyPenalty");
    }
    if config.seed.is_some() {
        notes.warn("dropped seed");
    }
    if config.response_logprobs == Some(true) {
        notes.warn("dropped responseLogprobs");
    }
    if config
        .response_modalities
        .iter()
        .any(|m| !m.eq_ignore_ascii_case("TEXT"))
    {
        notes.warn("dropped non-text responseModalities");
    }
    chat.response_format = response_format(
        config.response_mime_type.as_deref(),
        config.response_json_schema,
        config.response_schema,
        notes,
    )?;
    if let Some(thinking) = config.thinking_config {
        state.include_thoughts = thinking.include_thoughts == Some(true);
        chat.reasoning_effort =
            reasoning_effort(thinking.thinking_level.as_deref(), thinking.thinking_budget)
                .map(str::to_owned);
    }
    Ok(())
}

/// `responseMimeType` + schema → `response_format`.
fn response_format(
    mime: Option<&str>,
    json_schema: Option<&RawValue>,
    openapi_schema: Option<&RawValue>,
    notes: &mut Notes,
) -> Result<Option<Box<RawValue>>, AdapterError> {
    let invalid = |e: String| AdapterError::InvalidRequest(format!("response schema: {e}"));
    let schema = match (json_schema, openapi_schema) {
        (Some(raw), _) => Some(schema::json_schema(raw).map_err(invalid)?),
        (None, Some(raw)) => Some(schema::openapi_schema(raw).map_err(invalid)?),
        (None, None) => None,
    };
    let text = match (mime, schema) {
        (Some("text/x.enum"), _) => {
            notes.warn("dropped text/x.enum response schema");
            return Ok(None);
        }
        (_, Some(schema)) => format!(
            r#"{{"type":"json_schema","json_schema":{{"name":"response","schema":{}}}}}"#,
            schema.get()
        ),
        (Some("application/json"), None) => r#"{"type":"json_object"}"#.to_owned(),
        _ => return Ok(None),
    };
    RawValue::from_string(text)
        .map(Some)
        .map_err(|e| AdapterError::Internal(format!("response_format: {e}")))
}

/// `thinkingLevel` / `thinkingBudget` → `reasoning_effort`. A budget of 0 turns reasoning off,
/// -1 (dynamic) leaves the backend's default; other budgets fall in buckets at 1 K and 8 K
/// tokens (8 K is Gemini CLI's default for 2.5 models, so it lands on `medium`).
fn reasoning_effort(level: Option<&str>, budget: Option<i64>) -> Option<&'static str> {
    if let Some(level) = level {
        match level.to_ascii_uppercase().as_str() {
            "MINIMAL" | "LOW" => return Some("low"),
            "MEDIUM" => return Some("medium"),
            "HIGH" => return Some("high"),
            _ => {}
        }
    }
    match budget? {
        0 => Some("none"),
        b if b < 0 => None,
        b if b <= 1024 => Some("low"),
        b if b <= 8192 => Some("medium"),
        _ => Some("high"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effort_buckets() {
        assert_eq!(reasoning_effort(Some("HIGH"), None), Some("high"));
        assert_eq!(reasoning_effort(Some("minimal"), Some(0)), Some("low"));
        assert_eq!(reasoning_effort(None, Some(0)), Some("none"));
        assert_eq!(reasoning_effort(None, Some(-1)), None);
        assert_eq!(reasoning_effort(None, Some(512)), Some("low"));
        assert_eq!(reasoning_effort(None, Some(8192)), Some("medium"));
        assert_eq!(reasoning_effort(None, Some(24576)), Some("high"));
        assert_eq!(
            reasoning_effort(Some("THINKING_LEVEL_UNSPECIFIED"), None),
            None
        );
    }

    #[test]
    fn tool_output_shapes() {
        let raw =
            |s: &str| serde_json::from_str::<Box<RawValue>>(s).unwrap_or_else(|_| unreachable!());
        assert_eq!(tool_output(Some(&raw(r#"{"output":"hi\n"}"#))), "hi\n");
        assert_eq!(
            tool_output(Some(&raw(r#"{"error":"no such file"}"#))),
            "Error: no such file"
        );
        assert_eq!(
            tool_output(Some(&raw(r#"{"output":{"a":1}}"#))),
            r#"{"a":1}"#
        );
        assert_eq!(
            tool_output(Some(&raw(r#"{"a":1,"b":2}"#))),
            r#"{"a":1,"b":2}"#
        );
        assert_eq!(tool_output(None), "");
    }
}
