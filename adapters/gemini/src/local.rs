//! Answers without the backend: the model list, one model, and token counts.

use cligate_adapter_sdk::{
    AdapterError, ClientRequest, ClientResponse, LocalContext, ModelEntry, json,
};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::target::{percent_decode, strip_models_prefix};
use crate::wire::{Content, CountTokensRequest, GenerateContentRequest, SystemInstruction};

/// Dispatch a local route.
pub fn answer(req: &ClientRequest, ctx: &LocalContext) -> Result<ClientResponse, AdapterError> {
    let path = req.path.trim_end_matches('/');
    if req.method == "POST" && path.ends_with(":countTokens") {
        return count_tokens_response(req);
    }
    if req.method == "GET" || req.method == "HEAD" {
        let mut segments = path.trim_start_matches('/').splitn(3, '/');
        if let (Some(_version), Some("models")) = (segments.next(), segments.next()) {
            return Ok(match segments.next() {
                None | Some("") => list_models(req, &ctx.models),
                Some(name) => get_model(&percent_decode(name), &ctx.models),
            });
        }
    }
    Err(AdapterError::Unsupported(format!(
        "{} {} is not a local route of the Gemini adapter",
        req.method, req.path
    )))
}

/// `Model` as `models.list` / `models.get` return it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Model {
    name: String,
    base_model_id: String,
    version: &'static str,
    display_name: String,
    description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_token_limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_token_limit: Option<u32>,
    supported_generation_methods: [&'static str; 3],
}

fn model(id: &str, entry: Option<&ModelEntry>) -> Model {
    Model {
        name: format!("models/{id}"),
        base_model_id: id.to_owned(),
        version: "001",
        display_name: id.to_owned(),
        description: match entry {
            Some(e) => format!("{id}, served by the cligate gateway ({})", e.owned_by),
            None => format!("{id}, served by the cligate gateway"),
        },
        input_token_limit: entry.and_then(|e| e.context_window),
        output_token_limit: entry.and_then(|e| e.max_output_tokens),
        supported_generation_methods: ["generateContent", "streamGenerateContent", "countTokens"],
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ModelList {
    models: Vec<Model>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
}

/// `GET /v1beta/models?pageSize=&pageToken=`. Page tokens are plain offsets.
fn list_models(req: &ClientRequest, models: &[ModelEntry]) -> ClientResponse {
    let page_size = req
        .query_param("pageSize")
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(50)
        .min(1000);
    let start = req
        .query_param("pageToken")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(0)
        .min(models.len());
    let end = start.saturating_add(page_size).min(models.len());
    let page = models[start..end]
        .iter()
        .map(|m| model(&m.id, Some(m)))
        .collect();
    json::response(
        200,
        &ModelList {
            models: page,
            next_page_token: (end < models.len()).then(|| end.to_string()),
        },
    )
}

/// `GET /v1beta/models/{name}`. A name the list does not hold is still described: the
/// gateway routes model names by rules this adapter cannot see, so "unknown here" does not
/// mean "will not work", and a client that checks first would be turned away for nothing.
fn get_model(name: &str, models: &[ModelEntry]) -> ClientResponse {
    let name = strip_models_prefix(name);
    let entry = models.iter().find(|m| m.id == name);
    json::response(200, &model(name, entry))
}

/// `countTokens` answered locally: `{"totalTokens": N}`.
///
/// N is an estimate, not a tokenizer count: one token per 4 bytes (rounded up) of the text
/// the model would read — text parts, function-call arguments and results, the system
/// instruction and tool declarations when the request carries them — plus 258 tokens per
/// image or file, Gemini's fixed cost for one image. Gemini CLI only asks when a request
/// holds media, and uses the answer to decide when to compress its history, so a close
/// estimate serves it; it never gets a 404.
pub fn count_tokens_response(req: &ClientRequest) -> Result<ClientResponse, AdapterError> {
    let total = count_tokens(&req.body)?;
    Ok(json::response(
        200,
        &serde_json::json!({"totalTokens": total}),
    ))
}

/// The estimate described on [`count_tokens_response`], for any `countTokens` body shape.
pub fn count_tokens(body: &[u8]) -> Result<u64, AdapterError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(0);
    }
    let request: CountTokensRequest = crate::wire::parse(body)?;
    let mut tally = Tally::default();
    tally.contents(&request.contents);
    for inner in [&request.generate_content_request, &request.request]
        .into_iter()
        .flatten()
    {
        tally.request(inner);
    }
    Ok(tally.bytes.div_ceil(4) + tally.media * 258)
}

#[derive(Default)]
struct Tally {
    bytes: u64,
    media: u64,
}

impl Tally {
    fn add(&mut self, text: &str) {
        self.bytes += text.len() as u64;
    }

    fn request(&mut self, request: &GenerateContentRequest<'_>) {
        match &request.system_instruction {
            Some(SystemInstruction::Text(text)) => self.add(text),
            Some(SystemInstruction::Content(content)) => {
                self.contents(std::slice::from_ref(content))
            }
            None => {}
        }
        self.contents(&request.contents);
        for tool in &request.tools {
            tool.values().map(|raw| raw.get()).for_each(|t| self.add(t));
        }
    }

    fn contents(&mut self, contents: &[Content<'_>]) {
        for content in contents {
            for part in &content.parts {
                if let Some(text) = &part.text {
                    self.add(text);
                }
                if part.inline_data.is_some() || part.file_data.is_some() {
                    self.media += 1;
                }
                if let Some(call) = &part.function_call {
                    self.add(&call.name);
                    self.add(call.args.map_or("", RawValue::get));
                }
                if let Some(response) = &part.function_response {
                    self.add(&response.name);
                    self.add(response.response.map_or("", RawValue::get));
                    self.media += response
                        .parts
                        .iter()
                        .filter(|p| p.inline_data.is_some() || p.file_data.is_some())
                        .count() as u64;
                }
            }
        }
    }
}
