//! Routes answered without the backend: `count_tokens`, the model list, and `HEAD /`.

use cligate_adapter_sdk::json;
use cligate_adapter_sdk::{AdapterError, ClientRequest, ClientResponse, LocalContext, ModelEntry};
use serde::Serialize;

use crate::error::ErrorBody;
use crate::tokens;
use crate::wire::MessagesRequest;

/// Dispatch a local route.
pub(crate) fn answer(
    req: &ClientRequest,
    ctx: &LocalContext,
) -> Result<ClientResponse, AdapterError> {
    match (req.method.as_str(), req.path.as_str()) {
        // Claude Code probes the base URL at start-up; any 2xx keeps its log clean.
        ("HEAD", "/") => Ok(ClientResponse {
            status: 200,
            headers: Vec::new(),
            body: Vec::new(),
        }),
        ("POST", "/v1/messages/count_tokens") => count_tokens(req),
        ("GET", "/v1/models") => Ok(list_models(req, ctx)),
        ("GET", path) => match path.strip_prefix("/v1/models/") {
            Some(id) => Ok(one_model(&percent_decode(id), ctx)),
            None => Ok(not_found(&ctx.request_id)),
        },
        _ => Ok(not_found(&ctx.request_id)),
    }
}

#[derive(Serialize)]
struct TokenCount {
    input_tokens: u64,
}

/// `POST /v1/messages/count_tokens` → `{"input_tokens":N}`, estimated as described in
/// `tokens.rs` (≈ 4 bytes of text per token, flat costs for images and documents).
fn count_tokens(req: &ClientRequest) -> Result<ClientResponse, AdapterError> {
    let parsed: MessagesRequest = json::parse_request(&req.body)?;
    Ok(json::response(
        200,
        &TokenCount {
            input_tokens: tokens::estimate_input_tokens(&parsed),
        },
    ))
}

/// Anthropic's model object.
#[derive(Serialize)]
struct ModelObject<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    display_name: &'a str,
    created_at: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_input_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
}

#[derive(Serialize)]
struct ModelList<'a> {
    data: Vec<ModelObject<'a>>,
    has_more: bool,
    first_id: Option<&'a str>,
    last_id: Option<&'a str>,
}

fn model_object<'a>(model: &'a ModelEntry, created_at: &'a str) -> ModelObject<'a> {
    ModelObject {
        kind: "model",
        id: &model.id,
        display_name: &model.id,
        created_at,
        max_input_tokens: model.context_window,
        max_tokens: model.max_output_tokens,
    }
}

/// `GET /v1/models` with Anthropic's cursor paging (`limit`, `after_id`, `before_id`).
/// Models have no creation date here; `created_at` is the request time.
fn list_models(req: &ClientRequest, ctx: &LocalContext) -> ClientResponse {
    let created_at = rfc3339(ctx.created_unix);
    let limit = req
        .query_param("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(20)
        .clamp(1, 1000);
    let position = |id: &str| ctx.models.iter().position(|m| m.id == percent_decode(id));
    let start = req
        .query_param("after_id")
        .and_then(position)
        .map_or(0, |p| p + 1);
    let before = req.query_param("before_id");
    let end = before.and_then(position).unwrap_or(ctx.models.len());
    let window = ctx.models.get(start..end.max(start)).unwrap_or_default();
    let (page, has_more) = if window.len() <= limit {
        (window, false)
    } else if before.is_some() {
        (&window[window.len() - limit..], true)
    } else {
        (&window[..limit], true)
    };
    let data: Vec<ModelObject<'_>> = page.iter().map(|m| model_object(m, &created_at)).collect();
    json::response(
        200,
        &ModelList {
            first_id: page.first().map(|m| m.id.as_str()),
            last_id: page.last().map(|m| m.id.as_str()),
            data,
            has_more,
        },
    )
}

/// `GET /v1/models/{id}`.
fn one_model(id: &str, ctx: &LocalContext) -> ClientResponse {
    match ctx.models.iter().find(|m| m.id == id) {
        Some(model) => {
            let created_at = rfc3339(ctx.created_unix);
            json::response(200, &model_object(model, &created_at))
        }
        None => not_found(&ctx.request_id),
    }
}

fn not_found(request_id: &str) -> ClientResponse {
    json::response(
        404,
        &ErrorBody::new(
            "not_found_error",
            "not found",
            Some(request_id).filter(|id| !id.is_empty()),
        ),
    )
}

/// Decode `%XX` escapes (model ids with `/` or `:` may arrive encoded); anything malformed
/// is kept as it is.
fn percent_decode(text: &str) -> String {
    if !text.contains('%') {
        return text.to_owned();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).and_then(|&b| hex(b)),
                bytes.get(i + 2).and_then(|&b| hex(b)),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_owned())
}

/// Seconds since the epoch as RFC 3339 UTC (adapters have no date library or clock).
fn rfc3339(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3_600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_escapes() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_790_000_000), "2026-09-21T14:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(percent_decode("Qwen%2FQwen3%3A8b"), "Qwen/Qwen3:8b");
        assert_eq!(percent_decode("bad%zz"), "bad%zz");
    }
}
