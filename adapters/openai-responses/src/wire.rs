//! The Responses request as it arrives, read with borrowed strings and raw JSON.
//!
//! Codex's requests are 50–70 KB, most of it prompt text and tool schemas. Strings borrow
//! from the body when they hold no escapes, schemas stay [`RawValue`]s, and unknown fields
//! and item types are ignored (Codex adds some with nearly every release).

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// A borrowed-when-possible string.
pub type Str<'a> = Cow<'a, str>;

/// `POST /v1/responses` body (only what the adapter reads).
#[derive(Deserialize)]
pub struct Request<'a> {
    #[serde(borrow, default)]
    pub model: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub instructions: Option<TextOr<'a, Item<'a>>>,
    #[serde(borrow, default)]
    pub input: Option<TextOr<'a, Item<'a>>>,
    #[serde(borrow, default)]
    pub tools: Option<Vec<Tool<'a>>>,
    #[serde(borrow, default)]
    pub tool_choice: Option<&'a RawValue>,
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(borrow, default)]
    pub reasoning: Option<Reasoning<'a>>,
    #[serde(borrow, default)]
    pub text: Option<TextConfig<'a>>,
    #[serde(default)]
    pub max_output_tokens: Option<u64>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(borrow, default)]
    pub include: Option<Vec<Str<'a>>>,
    #[serde(borrow, default)]
    pub prompt_cache_key: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub client_metadata: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub metadata: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub user: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub safety_identifier: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub previous_response_id: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub conversation: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub prompt: Option<&'a RawValue>,
    #[serde(default)]
    pub background: Option<bool>,
}

/// `reasoning` (also the payload of a `configuration_update` item).
#[derive(Deserialize, Default)]
pub struct Reasoning<'a> {
    #[serde(borrow, default)]
    pub effort: Option<Str<'a>>,
}

/// `text`.
#[derive(Deserialize)]
pub struct TextConfig<'a> {
    #[serde(borrow, default)]
    pub verbosity: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub format: Option<TextFormat<'a>>,
}

/// `text.format`.
#[derive(Deserialize)]
pub struct TextFormat<'a> {
    #[serde(rename = "type", borrow, default)]
    pub kind: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub name: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub description: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub schema: Option<&'a RawValue>,
    #[serde(default)]
    pub strict: Option<bool>,
}

/// One entry of `tools` (also inside a `namespace` and an `additional_tools` item).
#[derive(Deserialize)]
pub struct Tool<'a> {
    #[serde(rename = "type", borrow, default)]
    pub kind: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub name: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub description: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub parameters: Option<&'a RawValue>,
    #[serde(default)]
    pub strict: Option<bool>,
    #[serde(borrow, default)]
    pub format: Option<CustomFormat<'a>>,
    #[serde(borrow, default)]
    pub tools: Option<Vec<Tool<'a>>>,
}

/// A custom tool's `format`: `{"type":"text"}` or `{"type":"grammar","syntax","definition"}`.
#[derive(Deserialize)]
pub struct CustomFormat<'a> {
    #[serde(rename = "type", borrow, default)]
    pub kind: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub syntax: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub definition: Option<Str<'a>>,
}

/// One `input` item. The item types share one struct: each reads the fields it has.
/// An easy-input message (`{"role","content"}`) has no `type`.
#[derive(Deserialize)]
pub struct Item<'a> {
    #[serde(rename = "type", borrow, default)]
    pub kind: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub role: Option<Str<'a>>,
    /// Message content, or a reasoning item's `reasoning_text` parts.
    #[serde(borrow, default)]
    pub content: Option<TextOr<'a, Part<'a>>>,
    #[serde(borrow, default)]
    pub summary: Option<Vec<Part<'a>>>,
    #[serde(borrow, default)]
    pub encrypted_content: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub name: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub namespace: Option<Str<'a>>,
    /// A JSON string by the spec; tolerated as an object.
    #[serde(borrow, default)]
    pub arguments: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub call_id: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub id: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub output: Option<TextOr<'a, Part<'a>>>,
    /// A custom tool call's raw input.
    #[serde(borrow, default)]
    pub input: Option<Str<'a>>,
    /// A local shell call's action.
    #[serde(borrow, default)]
    pub action: Option<&'a RawValue>,
    /// An `additional_tools` item's tools.
    #[serde(borrow, default)]
    pub tools: Option<Vec<Tool<'a>>>,
    /// A `configuration_update` item's reasoning settings.
    #[serde(borrow, default)]
    pub reasoning: Option<Reasoning<'a>>,
}

impl Item<'_> {
    /// The item type; an untyped item with a role is a message.
    pub fn kind(&self) -> &str {
        match self.kind.as_deref() {
            Some(kind) => kind,
            None if self.role.is_some() => "message",
            None => "",
        }
    }
}

/// One content part (message content, tool output, reasoning summary or content).
#[derive(Deserialize)]
pub struct Part<'a> {
    #[serde(rename = "type", borrow, default)]
    pub kind: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub text: Option<Str<'a>>,
    /// `input_image.image_url` (a string; `{"url"}` tolerated).
    #[serde(borrow, default)]
    pub image_url: Option<Url<'a>>,
    #[serde(borrow, default)]
    pub detail: Option<Str<'a>>,
    /// `refusal` parts of an assistant message.
    #[serde(borrow, default)]
    pub refusal: Option<Str<'a>>,
}

/// A field that is either a string or a list of `T` (`input`, message `content`, tool
/// `output`). An object is read as a string when it has `content`/`text`/`output` text.
pub enum TextOr<'a, T> {
    /// A plain string.
    Text(Str<'a>),
    /// A list.
    List(Vec<T>),
}

impl<'de: 'a, 'a, T: Deserialize<'de>> Deserialize<'de> for TextOr<'a, T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TextOrVisitor(PhantomData))
    }
}

struct TextOrVisitor<'a, T>(PhantomData<(&'a (), T)>);

impl<'de: 'a, 'a, T: Deserialize<'de>> Visitor<'de> for TextOrVisitor<'a, T> {
    type Value = TextOr<'a, T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or a list")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(TextOr::Text(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(TextOr::Text(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(TextOr::Text(Cow::Owned(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(TextOr::List(Vec::new()))
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(TextOr::List(Vec::new()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(TextOr::List(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        // `{"content": "...", "success": false}` and similar wrappers around a text.
        let mut text: Option<Str<'a>> = None;
        while let Some(key) = map.next_key::<Str<'de>>()? {
            if text.is_none() && matches!(key.as_ref(), "content" | "text" | "output") {
                text = map.next_value::<Option<Str<'a>>>()?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(TextOr::Text(text.unwrap_or_default()))
    }
}

/// An image reference: a string (Responses) or `{"url": …}` (Chat style).
pub struct Url<'a>(pub Str<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for Url<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UrlVisitor(PhantomData))
    }
}

struct UrlVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for UrlVisitor<'a> {
    type Value = Url<'a>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an image URL")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Url(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Url(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Url(Cow::Owned(v)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut url: Option<Str<'a>> = None;
        while let Some(key) = map.next_key::<Str<'de>>()? {
            if url.is_none() && key == "url" {
                url = Some(map.next_value::<Str<'a>>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Url(url.unwrap_or_default()))
    }
}

/// Arguments as a string: the JSON string's content, or the raw JSON of an object.
pub fn raw_arguments(raw: Option<&RawValue>) -> String {
    let Some(raw) = raw else {
        return String::new();
    };
    let text = raw.get();
    if text.starts_with('"') {
        serde_json::from_str::<String>(text).unwrap_or_default()
    } else if text == "null" {
        String::new()
    } else {
        text.to_owned()
    }
}
