//! The Anthropic Messages request as Claude Code sends it, read with typed structs.
//!
//! Opaque parts (tool `input_schema`, `tool_use.input`, the JSON-schema output format) stay
//! [`RawValue`] so a 76 KB request is never turned into a JSON DOM. Content blocks are one
//! flat struct rather than an internally tagged enum: serde buffers a tagged enum into its
//! own DOM before dispatching, and `RawValue` cannot live in that buffer. Unknown fields
//! are ignored, because Claude Code adds new ones often.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::SeqAccessDeserializer;
use serde::de::{IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// `POST /v1/messages` and `POST /v1/messages/count_tokens` bodies.
#[derive(Deserialize)]
pub(crate) struct MessagesRequest {
    pub model: String,
    #[serde(default, deserialize_with = "nullable")]
    pub messages: Vec<InputMessage>,
    #[serde(default)]
    pub system: Option<Content>,
    #[serde(default, deserialize_with = "nullable")]
    pub tools: Vec<ToolDef>,
    #[serde(default)]
    pub tool_choice: Option<ToolChoice>,
    #[serde(default)]
    pub thinking: Option<Thinking>,
    #[serde(default)]
    pub output_config: Option<OutputConfig>,
    /// The older structured-outputs beta spelling of `output_config.format`.
    #[serde(default)]
    pub output_format: Option<OutputFormat>,
    #[serde(default)]
    pub metadata: Option<Metadata>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub max_tokens: Option<u64>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub top_k: Option<u64>,
    #[serde(default, deserialize_with = "nullable")]
    pub stop_sequences: Vec<String>,
    /// Top-level automatic caching hint.
    #[serde(default)]
    pub cache_control: Option<IgnoredAny>,
    /// Server-side context editing (beta): a Chat backend cannot do it.
    #[serde(default)]
    pub context_management: Option<IgnoredAny>,
    /// Remote MCP servers run by Anthropic: no Chat equivalent.
    #[serde(default)]
    pub mcp_servers: Option<IgnoredAny>,
}

/// One entry of `messages`.
#[derive(Deserialize)]
pub(crate) struct InputMessage {
    pub role: InputRole,
    pub content: Content,
}

/// Roles Claude Code sends; `system` comes with the `mid-conversation-system` beta.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
pub(crate) enum InputRole {
    User,
    Assistant,
    System,
}

/// A string, or a list of content blocks.
pub(crate) enum Content {
    Text(String),
    Blocks(Vec<Block>),
}

/// Every content block kind in one flat struct; `kind` says which fields matter.
#[derive(Deserialize)]
pub(crate) struct Block {
    #[serde(rename = "type")]
    pub kind: String,
    /// `text`
    #[serde(default)]
    pub text: Option<String>,
    /// `image`, `document`
    #[serde(default)]
    pub source: Option<Source>,
    /// `document`
    #[serde(default)]
    pub title: Option<String>,
    /// `document`
    #[serde(default)]
    pub context: Option<String>,
    /// `tool_use`
    #[serde(default)]
    pub id: Option<String>,
    /// `tool_use`
    #[serde(default)]
    pub name: Option<String>,
    /// `tool_use`: a JSON object, forwarded as the call's arguments string untouched.
    #[serde(default)]
    pub input: Option<Box<RawValue>>,
    /// `tool_result`
    #[serde(default)]
    pub tool_use_id: Option<String>,
    /// `tool_result`: string or blocks.
    #[serde(default)]
    pub content: Option<Content>,
    /// `tool_result`
    #[serde(default)]
    pub is_error: Option<bool>,
    /// `thinking`
    #[serde(default)]
    pub thinking: Option<String>,
    #[serde(default)]
    pub cache_control: Option<IgnoredAny>,
}

/// Image and document sources.
#[derive(Deserialize)]
pub(crate) struct Source {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub media_type: Option<String>,
    /// base64 data (`base64`) or plain text (`text` documents).
    #[serde(default)]
    pub data: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    /// `content` documents: string or blocks.
    #[serde(default)]
    pub content: Option<Content>,
}

/// One entry of `tools`.
#[derive(Deserialize)]
pub(crate) struct ToolDef {
    /// Absent or `custom` for client tools; anything else is a server or Anthropic-defined tool.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub input_schema: Option<Box<RawValue>>,
    #[serde(default)]
    pub cache_control: Option<IgnoredAny>,
}

#[derive(Deserialize)]
pub(crate) struct ToolChoice {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub disable_parallel_tool_use: Option<bool>,
}

#[derive(Deserialize)]
pub(crate) struct Thinking {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub budget_tokens: Option<u64>,
    #[serde(default)]
    pub display: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct OutputConfig {
    #[serde(default)]
    pub effort: Option<String>,
    #[serde(default)]
    pub format: Option<OutputFormat>,
}

#[derive(Deserialize)]
pub(crate) struct OutputFormat {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub schema: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
pub(crate) struct Metadata {
    #[serde(default)]
    pub user_id: Option<String>,
}

/// `null` reads as the default (an empty list), as Anthropic's API accepts it.
fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

impl<'de> Deserialize<'de> for Content {
    /// A hand-written visitor instead of `#[serde(untagged)]`: untagged enums buffer the
    /// whole value first, which costs a DOM and breaks the `RawValue` fields inside blocks.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ContentVisitor(PhantomData))
    }
}

struct ContentVisitor(PhantomData<Block>);

impl<'de> Visitor<'de> for ContentVisitor {
    type Value = Content;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or an array of content blocks")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Content, E> {
        Ok(Content::Text(v.to_owned()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Content, E> {
        Ok(Content::Text(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Content, A::Error> {
        Vec::<Block>::deserialize(SeqAccessDeserializer::new(seq)).map(Content::Blocks)
    }
}
