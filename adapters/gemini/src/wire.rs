//! The Gemini request body as this adapter reads it.
//!
//! Typed and borrowed: text is a `Cow` that points into the request body unless it had
//! escapes, and opaque JSON (function arguments and results, schemas) stays a `&RawValue`,
//! so a 50 KB Gemini CLI request is never turned into a JSON DOM. Unknown fields are ignored.
//! Every multi-word field also accepts its proto `snake_case` spelling, which Google's own
//! REST examples use (`system_instruction`, `inline_data`, …).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

/// `generateContent` / `streamGenerateContent` body (also the `request` of Code Assist).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentRequest<'a> {
    #[serde(default, deserialize_with = "null_as_empty", borrow)]
    pub contents: Vec<Content<'a>>,
    #[serde(default, borrow, alias = "system_instruction")]
    pub system_instruction: Option<SystemInstruction<'a>>,
    /// Each entry is one `Tool` object keyed by its kind (`functionDeclarations`,
    /// `googleSearch`, …); read per key so unknown kinds can be reported.
    #[serde(default, deserialize_with = "null_as_empty", borrow)]
    pub tools: Vec<BTreeMap<String, &'a RawValue>>,
    #[serde(default, alias = "tool_config")]
    pub tool_config: Option<ToolConfig>,
    #[serde(default, borrow, alias = "generation_config")]
    pub generation_config: Option<GenerationConfig<'a>>,
    #[serde(default, alias = "safety_settings")]
    pub safety_settings: Option<IgnoredAny>,
    #[serde(default, alias = "cached_content")]
    pub cached_content: Option<IgnoredAny>,
    /// Code Assist only: the CLI's session id.
    #[serde(default, borrow, rename = "session_id", alias = "sessionId")]
    pub session_id: Option<Cow<'a, str>>,
}

/// `systemInstruction`: a `Content`, or (from hand-written clients) a bare string.
pub enum SystemInstruction<'a> {
    Text(Cow<'a, str>),
    Content(Content<'a>),
}

// By hand rather than `#[serde(untagged)]`: untagged buffers its input, which loses the
// borrowing and cannot hold a `RawValue`.
impl<'de: 'a, 'a> Deserialize<'de> for SystemInstruction<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = SystemInstruction<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a Content object or a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(SystemInstruction::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(SystemInstruction::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(SystemInstruction::Text(Cow::Owned(v)))
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                map: M,
            ) -> Result<Self::Value, M::Error> {
                Content::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(SystemInstruction::Content)
            }
        }
        deserializer.deserialize_any(Visit(std::marker::PhantomData))
    }
}

/// One turn.
#[derive(Deserialize)]
pub struct Content<'a> {
    #[serde(default, borrow)]
    pub role: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "null_as_empty", borrow)]
    pub parts: Vec<Part<'a>>,
}

/// One part; exactly one data field is set, plus the `thought` modifiers.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Part<'a> {
    #[serde(default, borrow)]
    pub text: Option<Cow<'a, str>>,
    #[serde(default)]
    pub thought: Option<bool>,
    #[serde(default, borrow, alias = "thought_signature")]
    pub thought_signature: Option<Cow<'a, str>>,
    #[serde(default, borrow, alias = "inline_data")]
    pub inline_data: Option<Blob<'a>>,
    #[serde(default, borrow, alias = "file_data")]
    pub file_data: Option<FileData<'a>>,
    #[serde(default, borrow, alias = "function_call")]
    pub function_call: Option<FunctionCall<'a>>,
    #[serde(default, borrow, alias = "function_response")]
    pub function_response: Option<FunctionResponse<'a>>,
    #[serde(default, alias = "executable_code")]
    pub executable_code: Option<IgnoredAny>,
    #[serde(default, alias = "code_execution_result")]
    pub code_execution_result: Option<IgnoredAny>,
}

/// `inlineData`: base64 bytes with their MIME type.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blob<'a> {
    #[serde(default, borrow, alias = "mime_type")]
    pub mime_type: Cow<'a, str>,
    #[serde(default, borrow)]
    pub data: Cow<'a, str>,
}

/// `fileData`: a URI the server is supposed to fetch.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileData<'a> {
    #[serde(default, borrow, alias = "mime_type")]
    pub mime_type: Cow<'a, str>,
    #[serde(default, borrow, alias = "file_uri")]
    pub file_uri: Cow<'a, str>,
}

/// `functionCall` in a model turn.
#[derive(Deserialize)]
pub struct FunctionCall<'a> {
    #[serde(default, borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub name: Cow<'a, str>,
    #[serde(default, borrow)]
    pub args: Option<&'a RawValue>,
}

/// `functionResponse` in a user turn.
#[derive(Deserialize)]
pub struct FunctionResponse<'a> {
    #[serde(default, borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub name: Cow<'a, str>,
    #[serde(default, borrow)]
    pub response: Option<&'a RawValue>,
    /// Multimodal function responses: media the tool returned.
    #[serde(default, deserialize_with = "null_as_empty", borrow)]
    pub parts: Vec<Part<'a>>,
}

/// One `functionDeclarations` entry.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionDeclaration<'a> {
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    #[serde(default, borrow)]
    pub description: Option<Cow<'a, str>>,
    /// OpenAPI-subset `Schema`.
    #[serde(default, borrow)]
    pub parameters: Option<&'a RawValue>,
    /// Plain JSON Schema.
    #[serde(default, borrow, alias = "parameters_json_schema")]
    pub parameters_json_schema: Option<&'a RawValue>,
}

/// `toolConfig`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ToolConfig {
    #[serde(default, alias = "function_calling_config")]
    pub function_calling_config: Option<FunctionCallingConfig>,
}

/// `toolConfig.functionCallingConfig`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct FunctionCallingConfig {
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        alias = "allowed_function_names"
    )]
    pub allowed_function_names: Vec<String>,
}

/// `generationConfig`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct GenerationConfig<'a> {
    #[serde(default, alias = "max_output_tokens")]
    pub max_output_tokens: Option<i64>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default, alias = "top_p")]
    pub top_p: Option<f64>,
    #[serde(default, alias = "top_k")]
    pub top_k: Option<f64>,
    #[serde(default, deserialize_with = "null_as_empty", alias = "stop_sequences")]
    pub stop_sequences: Vec<String>,
    #[serde(default, alias = "candidate_count")]
    pub candidate_count: Option<i64>,
    #[serde(default, borrow, alias = "response_mime_type")]
    pub response_mime_type: Option<Cow<'a, str>>,
    #[serde(
        default,
        borrow,
        alias = "response_json_schema",
        alias = "_responseJsonSchema"
    )]
    pub response_json_schema: Option<&'a RawValue>,
    #[serde(default, borrow, alias = "response_schema")]
    pub response_schema: Option<&'a RawValue>,
    #[serde(default, alias = "thinking_config")]
    pub thinking_config: Option<ThinkingConfig>,
    #[serde(default, alias = "presence_penalty")]
    pub presence_penalty: Option<IgnoredAny>,
    #[serde(default, alias = "frequency_penalty")]
    pub frequency_penalty: Option<IgnoredAny>,
    #[serde(default)]
    pub seed: Option<IgnoredAny>,
    #[serde(default, alias = "response_logprobs")]
    pub response_logprobs: Option<bool>,
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        alias = "response_modalities"
    )]
    pub response_modalities: Vec<String>,
}

/// `generationConfig.thinkingConfig`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ThinkingConfig {
    #[serde(default, alias = "include_thoughts")]
    pub include_thoughts: Option<bool>,
    #[serde(default, alias = "thinking_budget")]
    pub thinking_budget: Option<i64>,
    #[serde(default, alias = "thinking_level")]
    pub thinking_level: Option<String>,
}

/// The Code Assist envelope around a `GenerateContentRequest`.
#[derive(Deserialize)]
pub struct CodeAssistRequest<'a> {
    #[serde(default, borrow)]
    pub model: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub project: Option<Cow<'a, str>>,
    #[serde(default, borrow, alias = "userPromptId")]
    pub user_prompt_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub request: Option<GenerateContentRequest<'a>>,
}

/// A `countTokens` body in any of its shapes: Gemini API `{contents}` or
/// `{generateContentRequest}`, Code Assist `{request:{model, contents}}`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct CountTokensRequest<'a> {
    #[serde(default, deserialize_with = "null_as_empty", borrow)]
    pub contents: Vec<Content<'a>>,
    #[serde(default, borrow, alias = "generate_content_request")]
    pub generate_content_request: Option<GenerateContentRequest<'a>>,
    #[serde(default, borrow)]
    pub request: Option<GenerateContentRequest<'a>>,
}

/// Parse a request body into borrowing types (the SDK's `json::parse_request` wants owned
/// ones), with serde's position and reason in the `invalid-request` message.
pub fn parse<'a, T: Deserialize<'a>>(
    body: &'a [u8],
) -> Result<T, cligate_adapter_sdk::AdapterError> {
    serde_json::from_slice(body).map_err(|err| {
        cligate_adapter_sdk::AdapterError::InvalidRequest(format!(
            "request body is not valid: {err}"
        ))
    })
}

/// `null` where a list is expected reads as an empty list (hand-written clients send it).
fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<Vec<T>>::deserialize(deserializer).map(Option::unwrap_or_default)
}
