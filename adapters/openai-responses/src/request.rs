//! Responses request → pivot (Chat Completions) request.

use std::borrow::Cow;

use cligate_adapter_sdk::pivot::{ChatRequest, StreamOptions};
use cligate_adapter_sdk::{
    AdapterError, ClientRequest, PivotRequest, RemovedField, RequestOptions, sse,
};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::Notes;
use crate::conversation::{Conversation, Segment, push_joined, user_content};
use crate::reasoning;
use crate::state::{State, flat_name};
use crate::tools::{LOCAL_SHELL, ToolSet};
use crate::wire::{self, Item, Part, Str, TextOr};

/// The `include` value that asks for reasoning `encrypted_content`.
const INCLUDE_ENCRYPTED_REASONING: &str = "reasoning.encrypted_content";

/// Translate a `POST …/responses` body.
pub fn translate(
    req: &ClientRequest,
    options: &RequestOptions,
) -> Result<PivotRequest, AdapterError> {
    let mut wire: wire::Request<'_> = serde_json::from_slice(&req.body)
        .map_err(|err| AdapterError::InvalidRequest(format!("request body is not valid: {err}")))?;
    let model = wire
        .model
        .as_deref()
        .filter(|model| !model.is_empty())
        .ok_or_else(|| AdapterError::InvalidRequest("`model` is required".to_owned()))?
        .to_owned();
    reject_server_state(&wire)?;

    let mut notes = Notes::default();
    record_identifying_fields(&wire, &mut notes);

    let (instructions_text, mut instruction_items) = split(wire.instructions.take());
    let (input_text, mut input_items) = split(wire.input.take());

    // Tools come from `tools` and from `additional_tools` input items; a
    // `configuration_update` item changes the reasoning effort mid-conversation.
    // Items are consumed by value so long strings move into the pivot instead of being copied.
    let mut tools = ToolSet::default();
    for tool in wire.tools.take().into_iter().flatten() {
        tools.add(tool, None, &mut notes)?;
    }
    let mut effort = wire.reasoning.as_mut().and_then(|r| r.effort.take());
    for item in instruction_items.iter_mut().chain(input_items.iter_mut()) {
        match item.kind() {
            "additional_tools" => {
                for tool in item.tools.take().into_iter().flatten() {
                    tools.add(tool, None, &mut notes)?;
                }
            }
            "configuration_update" => {
                if let Some(update) = item.reasoning.as_mut().and_then(|r| r.effort.take()) {
                    effort = Some(update);
                }
            }
            _ => {}
        }
    }

    let redact = Redactor {
        enabled: options.redact_environment,
    };
    let mut conversation = Conversation::default();
    if let Some(text) = instructions_text {
        let text = redact.text(text.into_owned(), "instructions", &mut notes);
        conversation.system(text);
    }
    for (index, item) in instruction_items.into_iter().chain(input_items).enumerate() {
        add_item(item, index, &mut conversation, &redact, &mut notes)?;
    }
    if let Some(text) = input_text {
        let text = redact.text(text.into_owned(), "input", &mut notes);
        if !text.is_empty() {
            conversation.user(cligate_adapter_sdk::pivot::Content::Text(text), &mut notes);
        }
    }
    let messages = conversation.finish(&mut notes);

    let stream = wire.stream.unwrap_or(false);
    let has_tools = !tools.tools.is_empty();
    let tool_choice = match wire.tool_choice {
        Some(choice) if has_tools => map_tool_choice(choice, &tools, &mut notes),
        _ => None,
    };
    if wire
        .text
        .as_ref()
        .and_then(|text| text.verbosity.as_ref())
        .is_some()
    {
        // Chat has `verbosity` only on OpenAI's own models; internal backends reject or ignore it.
        notes.warn("dropped text.verbosity");
    }
    let response_format = match wire.text.as_ref().and_then(|text| text.format.as_ref()) {
        Some(format) => response_format(format, &mut notes)?,
        None => None,
    };
    let include_encrypted = wire
        .include
        .iter()
        .flatten()
        .any(|value| value == INCLUDE_ENCRYPTED_REASONING);

    let state = State {
        include_encrypted_reasoning: include_encrypted,
        parallel_tool_calls: wire.parallel_tool_calls.unwrap_or(true),
        tools: std::mem::take(&mut tools.entries),
    };
    let chat = ChatRequest {
        model: model.clone(),
        messages,
        tools: tools.tools,
        tool_choice,
        parallel_tool_calls: wire.parallel_tool_calls.filter(|_| has_tools),
        stream,
        stream_options: if stream {
            StreamOptions::with_usage()
        } else {
            None
        },
        max_tokens: wire.max_output_tokens,
        temperature: wire.temperature,
        top_p: wire.top_p,
        reasoning_effort: effort.and_then(|effort| map_effort(&effort, &mut notes)),
        response_format,
        ..Default::default()
    };
    let body = serde_json::to_vec(&chat).map_err(|err| {
        AdapterError::Internal(format!("cannot serialise the pivot request: {err}"))
    })?;

    Ok(PivotRequest {
        model,
        stream,
        body,
        warnings: notes.warnings,
        removed: notes.removed,
        client_software: client_software(req),
        session_id: session_id(req, &wire),
        stream_headers: if stream { sse::headers() } else { Vec::new() },
        state: state.to_bytes(),
    })
}

fn split<'a>(field: Option<TextOr<'a, Item<'a>>>) -> (Option<Str<'a>>, Vec<Item<'a>>) {
    match field {
        Some(TextOr::Text(text)) => (Some(text), Vec::new()),
        Some(TextOr::List(items)) => (None, items),
        None => (None, Vec::new()),
    }
}

/// Server-side conversation state cannot be honoured by a stateless gateway: refuse it
/// rather than answer without the context the client thinks it sent.
fn reject_server_state(wire: &wire::Request<'_>) -> Result<(), AdapterError> {
    let unsupported = |what: &str| {
        Err(AdapterError::Unsupported(format!(
            "{what} is not supported by this gateway: it stores no responses; send the whole input"
        )))
    };
    if wire
        .previous_response_id
        .as_deref()
        .is_some_and(|id| !id.is_empty())
    {
        return unsupported("previous_response_id");
    }
    if wire.conversation.is_some_and(|c| c.get() != "null") {
        return unsupported("conversation");
    }
    if wire.prompt.is_some_and(|p| p.get() != "null") {
        return unsupported("a stored prompt template (`prompt`)");
    }
    if wire.background == Some(true) {
        return unsupported("background mode");
    }
    Ok(())
}

fn record_identifying_fields(wire: &wire::Request<'_>, notes: &mut Notes) {
    let mut remove = |location: &str, value: Option<&str>| {
        if let Some(value) = value.filter(|v| !v.is_empty() && *v != "null") {
            notes.removed.push(RemovedField {
                location: location.to_owned(),
                value: value.to_owned(),
            });
        }
    };
    remove("prompt_cache_key", wire.prompt_cache_key.as_deref());
    remove("client_metadata", wire.client_metadata.map(RawValue::get));
    remove("metadata", wire.metadata.map(RawValue::get));
    remove("user", wire.user.as_deref());
    remove("safety_identifier", wire.safety_identifier.as_deref());
}

fn add_item(
    item: Item<'_>,
    index: usize,
    conversation: &mut Conversation,
    redact: &Redactor,
    notes: &mut Notes,
) -> Result<(), AdapterError> {
    match item.kind() {
        "message" => add_message(item, index, conversation, redact, notes),
        "reasoning" => {
            if let Some(text) = reasoning_text(item, notes) {
                conversation.reasoning(text);
            }
        }
        "function_call" => {
            let Some(name) = item.name.as_deref() else {
                notes.warn("dropped function_call without a name");
                return Ok(());
            };
            let flat = flat_name(item.namespace.as_deref(), name);
            let arguments = wire::raw_arguments(item.arguments);
            conversation.tool_call(call_id(&item, index), flat, arguments, notes);
        }
        "custom_tool_call" => {
            let Some(name) = item.name.as_deref() else {
                notes.warn("dropped custom_tool_call without a name");
                return Ok(());
            };
            let flat = flat_name(item.namespace.as_deref(), name);
            let arguments = serde_json::to_string(&InputArgument {
                input: item.input.as_deref().unwrap_or_default(),
            })
            .map_err(|err| AdapterError::Internal(err.to_string()))?;
            conversation.tool_call(call_id(&item, index), flat, arguments, notes);
        }
        "local_shell_call" => {
            let arguments = local_shell_arguments(item.action);
            conversation.tool_call(
                call_id(&item, index),
                LOCAL_SHELL.to_owned(),
                arguments,
                notes,
            );
        }
        "function_call_output" | "custom_tool_call_output" | "local_shell_call_output" => {
            let call_id = call_id(&item, index);
            let (text, images) = tool_output(item.output, notes);
            conversation.tool_result(&call_id, text, images, notes);
        }
        "additional_tools" | "configuration_update" => {}
        "" => {
            return Err(AdapterError::InvalidRequest(format!(
                "input[{index}] has no type"
            )));
        }
        other => notes.warn(format!("dropped input item {other}")),
    }
    Ok(())
}

fn call_id(item: &Item<'_>, index: usize) -> String {
    item.call_id
        .as_deref()
        .or(item.id.as_deref())
        .filter(|id| !id.is_empty())
        .map_or_else(|| format!("call_input_{index}"), str::to_owned)
}

fn add_message(
    item: Item<'_>,
    index: usize,
    conversation: &mut Conversation,
    redact: &Redactor,
    notes: &mut Notes,
) {
    let role = item.role.as_deref().unwrap_or("user");
    let segments = segments(item.content, notes);
    let location = || format!("input[{index}]");
    match role {
        "assistant" => {
            let text = join_texts(segments, |_| {
                notes.warn("dropped image in an assistant message")
            });
            conversation.assistant_text(&text, notes);
        }
        "system" | "developer" => {
            let text = join_texts(segments, |_| {
                notes.warn("dropped image in a system message")
            });
            let text = redact.text(text, &location(), notes);
            conversation.system(text);
        }
        other => {
            if other != "user" {
                notes.warn(format!("message role {other} sent as user"));
            }
            let segments = segments
                .into_iter()
                .filter_map(|segment| match segment {
                    Segment::Text(text) => {
                        let text = redact.text(text, &location(), notes);
                        (!text.trim().is_empty()).then_some(Segment::Text(text))
                    }
                    image => Some(image),
                })
                .collect();
            if let Some(content) = user_content(segments) {
                conversation.user(content, notes);
            }
        }
    }
}

/// The texts of a message joined; the first piece is moved, not copied.
fn join_texts(segments: Vec<Segment>, mut on_image: impl FnMut(Segment)) -> String {
    let mut text = String::new();
    for segment in segments {
        match segment {
            Segment::Text(piece) if text.is_empty() => text = piece,
            Segment::Text(piece) => push_joined(&mut text, &piece),
            image => on_image(image),
        }
    }
    text
}

/// Message content or tool output as ordered text and image segments.
fn segments(content: Option<TextOr<'_, Part<'_>>>, notes: &mut Notes) -> Vec<Segment> {
    match content {
        None => Vec::new(),
        Some(TextOr::Text(text)) => vec![Segment::Text(text.into_owned())],
        Some(TextOr::List(parts)) => parts
            .into_iter()
            .filter_map(|part| segment(part, notes))
            .collect(),
    }
}

fn segment(part: Part<'_>, notes: &mut Notes) -> Option<Segment> {
    let kind = part.kind.as_deref().unwrap_or("input_text");
    match kind {
        "input_text" | "output_text" | "text" | "summary_text" | "reasoning_text" => {
            part.text.map(|text| Segment::Text(text.into_owned()))
        }
        "refusal" => part
            .refusal
            .or(part.text)
            .map(|text| Segment::Text(text.into_owned())),
        "input_image" => match part.image_url.filter(|url| !url.0.is_empty()) {
            Some(url) => Some(Segment::Image(
                url.0.into_owned(),
                part.detail.map(Cow::into_owned),
            )),
            None => {
                notes.warn("dropped input_image without an image_url");
                None
            }
        },
        other => {
            notes.warn(format!("dropped content part {other}"));
            None
        }
    }
}

fn tool_output(output: Option<TextOr<'_, Part<'_>>>, notes: &mut Notes) -> (String, Vec<Segment>) {
    // Tool messages carry text only: images are handed back separately.
    let mut images = Vec::new();
    let text = join_texts(segments(output, notes), |image| images.push(image));
    (text, images)
}

/// The reasoning text of a replayed reasoning item: the gateway's own encoding when present
/// (it is the exact text), else the raw `content`, else the summary.
fn reasoning_text(item: Item<'_>, notes: &mut Notes) -> Option<String> {
    if let Some(encrypted) = item.encrypted_content.as_deref().filter(|e| !e.is_empty()) {
        match reasoning::decode(encrypted) {
            Some(text) => return Some(text).filter(|t| !t.is_empty()),
            // Another server's opaque blob: meaningless to the backend, never forwarded.
            None => notes.warn("dropped foreign reasoning encrypted_content"),
        }
    }
    let mut text = join_texts(segments(item.content, notes), |_| {});
    if text.is_empty() {
        for part in item.summary.into_iter().flatten() {
            if let Some(piece) = part.text.filter(|t| !t.is_empty()) {
                if !text.is_empty() {
                    text.push_str("\n\n");
                }
                text.push_str(&piece);
            }
        }
    }
    (!text.is_empty()).then_some(text)
}

#[derive(Serialize)]
struct InputArgument<'a> {
    input: &'a str,
}

#[derive(Deserialize)]
struct LocalShellAction {
    #[serde(default)]
    command: Option<Command>,
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default)]
    working_directory: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Command {
    Argv(Vec<String>),
    Line(String),
}

#[derive(Serialize)]
struct LocalShellArguments {
    command: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    workdir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout_ms: Option<u64>,
}

/// A `local_shell_call` action as the arguments of the `local_shell` function we declare.
fn local_shell_arguments(action: Option<&RawValue>) -> String {
    let Some(action) = action else {
        return "{}".to_owned();
    };
    match serde_json::from_str::<LocalShellAction>(action.get()) {
        Ok(action) => {
            let command = match action.command {
                Some(Command::Argv(argv)) => argv,
                Some(Command::Line(line)) => vec!["bash".to_owned(), "-lc".to_owned(), line],
                None => Vec::new(),
            };
            serde_json::to_string(&LocalShellArguments {
                command,
                workdir: action.working_directory,
                timeout_ms: action.timeout_ms,
            })
            .unwrap_or_else(|_| "{}".to_owned())
        }
        Err(_) => action.get().to_owned(),
    }
}

#[derive(Deserialize)]
struct ChoiceObject<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    namespace: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    mode: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    function: Option<ChoiceFunction<'a>>,
}

#[derive(Deserialize)]
struct ChoiceFunction<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
}

fn map_tool_choice(
    raw: &RawValue,
    tools: &ToolSet,
    notes: &mut Notes,
) -> Option<serde_json::Value> {
    use serde_json::{Value, json};
    let text = raw.get();
    if text == "null" {
        return None;
    }
    if text.starts_with('"') {
        let choice: String = serde_json::from_str(text).unwrap_or_default();
        return match choice.as_str() {
            "auto" | "none" | "required" => Some(Value::String(choice)),
            other => {
                notes.warn(format!("tool_choice {other} sent as auto"));
                Some(Value::String("auto".to_owned()))
            }
        };
    }
    let Ok(choice) = serde_json::from_str::<ChoiceObject<'_>>(text) else {
        notes.warn("unreadable tool_choice sent as auto");
        return Some(Value::String("auto".to_owned()));
    };
    let kind = choice.kind.as_deref().unwrap_or_default();
    match kind {
        "function" | "custom" | "local_shell" => {
            let name = choice
                .name
                .as_deref()
                .or(choice.function.as_ref().and_then(|f| f.name.as_deref()))
                .unwrap_or(if kind == "local_shell" {
                    LOCAL_SHELL
                } else {
                    ""
                });
            let flat = flat_name(choice.namespace.as_deref(), name);
            if tools.has(&flat) {
                Some(json!({"type": "function", "function": {"name": flat}}))
            } else {
                notes.warn(format!(
                    "tool_choice names an unknown tool {flat}; sent as auto"
                ));
                Some(Value::String("auto".to_owned()))
            }
        }
        "allowed_tools" => {
            notes.warn("tool_choice allowed_tools sent as its mode");
            let mode = if choice.mode.as_deref() == Some("required") {
                "required"
            } else {
                "auto"
            };
            Some(Value::String(mode.to_owned()))
        }
        other => {
            notes.warn(format!("tool_choice {other} sent as auto"));
            Some(Value::String("auto".to_owned()))
        }
    }
}

/// Responses effort levels → the set Chat backends accept (`low`/`medium`/`high`; Ollama and
/// vLLM answer 400 to anything else). `none` is not forwarded: vLLM rejects it, so the
/// backend's default applies.
fn map_effort(effort: &str, notes: &mut Notes) -> Option<String> {
    let mapped = match effort {
        "low" | "medium" | "high" => effort,
        "minimal" => "low",
        "xhigh" | "max" => "high",
        other => {
            notes.warn(format!("reasoning effort {other} not forwarded"));
            return None;
        }
    };
    if mapped != effort {
        notes.warn(format!("reasoning effort {effort} sent as {mapped}"));
    }
    Some(mapped.to_owned())
}

#[derive(Serialize)]
struct JsonSchemaFormat<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    json_schema: JsonSchemaSpec<'a>,
}

#[derive(Serialize)]
struct JsonSchemaSpec<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    schema: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict: Option<bool>,
}

fn response_format(
    format: &wire::TextFormat<'_>,
    notes: &mut Notes,
) -> Result<Option<Box<RawValue>>, AdapterError> {
    match format.kind.as_deref().unwrap_or("text") {
        "text" => Ok(None),
        "json_schema" => {
            let spec = JsonSchemaFormat {
                kind: "json_schema",
                json_schema: JsonSchemaSpec {
                    name: format.name.as_deref().unwrap_or("output"),
                    description: format.description.as_deref(),
                    schema: format.schema,
                    strict: format.strict,
                },
            };
            serde_json::value::to_raw_value(&spec)
                .map(Some)
                .map_err(|err| AdapterError::Internal(err.to_string()))
        }
        "json_object" => RawValue::from_string(r#"{"type":"json_object"}"#.to_owned())
            .map(Some)
            .map_err(|err| AdapterError::Internal(err.to_string())),
        other => {
            notes.warn(format!("dropped text.format {other}"));
            Ok(None)
        }
    }
}

/// Removes `<environment_context>` blocks (cwd, shell, date, workspace roots) when the host
/// asks for environment redaction.
struct Redactor {
    enabled: bool,
}

impl Redactor {
    const OPEN: &'static str = "<environment_context>";
    const CLOSE: &'static str = "</environment_context>";

    fn text(&self, text: String, location: &str, notes: &mut Notes) -> String {
        if !self.enabled || !text.contains(Self::OPEN) {
            return text;
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(start) = rest.find(Self::OPEN) {
            let Some(len) = rest[start..].find(Self::CLOSE) else {
                break;
            };
            let end = start + len + Self::CLOSE.len();
            out.push_str(&rest[..start]);
            notes.removed.push(RemovedField {
                location: format!("{location} environment_context"),
                value: rest[start..end].to_owned(),
            });
            notes.warn("redacted environment_context");
            rest = &rest[end..];
        }
        out.push_str(rest);
        out.trim().to_owned()
    }
}

/// `codex_exec/0.169.0` from `codex_exec/0.169.0 (Debian 12.0.0; x86_64) xterm (…)`.
fn client_software(req: &ClientRequest) -> Option<String> {
    req.header("user-agent")
        .and_then(|ua| ua.split_whitespace().next())
        .or_else(|| req.header("originator"))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

#[derive(Deserialize)]
struct ClientMetadata {
    #[serde(default)]
    session_id: Option<String>,
}

fn session_id(req: &ClientRequest, wire: &wire::Request<'_>) -> Option<String> {
    ["session-id", "session_id", "conversation_id"]
        .iter()
        .find_map(|name| req.header(name))
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .or_else(|| {
            wire.client_metadata
                .and_then(|raw| serde_json::from_str::<ClientMetadata>(raw.get()).ok())
                .and_then(|metadata| metadata.session_id)
        })
        .or_else(|| wire.prompt_cache_key.as_deref().map(str::to_owned))
}
