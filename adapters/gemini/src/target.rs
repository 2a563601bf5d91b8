//! What a request path asks for: which model and which method, on which API surface.
//!
//! The contract's path patterns only capture whole segments, so the adapter declares
//! catch-alls (`/v1beta/models/{*rest}`) and splits `{model}:{method}` here.

use cligate_adapter_sdk::AdapterError;

/// The API surface a path belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// `/{version}/models/{model}:{method}`: the Gemini API as `@google/genai` calls it.
    GeminiApi,
    /// `/{version}:{method}` with a `{model, project, request}` body: Code Assist.
    CodeAssist,
}

/// The generation methods this adapter knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    GenerateContent,
    StreamGenerateContent,
    CountTokens,
}

/// A parsed request target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub surface: Surface,
    pub method: Method,
    /// The model named in the path (Gemini API only), without any `models/` prefix.
    pub model: Option<String>,
}

impl Target {
    /// Parse a POST path.
    pub fn parse(path: &str) -> Result<Target, AdapterError> {
        let trimmed = path.trim_start_matches('/');
        // Code Assist: one segment, `v1internal:generateContent`.
        if !trimmed.contains('/') {
            let (_, method) = trimmed.rsplit_once(':').ok_or_else(|| unknown(path))?;
            return Ok(Target {
                surface: Surface::CodeAssist,
                method: parse_method(method).ok_or_else(|| unsupported_method(method))?,
                model: None,
            });
        }
        let (_version, rest) = trimmed.split_once('/').ok_or_else(|| unknown(path))?;
        let rest = rest.strip_prefix("models/").ok_or_else(|| unknown(path))?;
        let rest = percent_decode(rest);
        // The method follows the *last* colon: model names may hold one (`qwen3:8b`).
        let (model, method) = rest.rsplit_once(':').ok_or_else(|| unknown(path))?;
        if model.is_empty() {
            return Err(AdapterError::InvalidRequest(format!(
                "no model in the path {path}"
            )));
        }
        Ok(Target {
            surface: Surface::GeminiApi,
            method: parse_method(method).ok_or_else(|| unsupported_method(method))?,
            model: Some(strip_models_prefix(model).to_owned()),
        })
    }

    /// Whether the client asked for a streamed answer.
    pub fn streams(&self) -> bool {
        self.method == Method::StreamGenerateContent
    }
}

/// `models/gemini-2.5-pro` → `gemini-2.5-pro`.
pub fn strip_models_prefix(model: &str) -> &str {
    model.strip_prefix("models/").unwrap_or(model)
}

fn parse_method(method: &str) -> Option<Method> {
    match method {
        "generateContent" => Some(Method::GenerateContent),
        "streamGenerateContent" => Some(Method::StreamGenerateContent),
        "countTokens" => Some(Method::CountTokens),
        _ => None,
    }
}

fn unknown(path: &str) -> AdapterError {
    AdapterError::InvalidRequest(format!(
        "the path {path} does not name a model method (models/{{model}}:generateContent)"
    ))
}

fn unsupported_method(method: &str) -> AdapterError {
    AdapterError::Unsupported(format!(
        "method {method} is not served by this gateway (generateContent, \
         streamGenerateContent and countTokens are)"
    ))
}

/// Decode `%XX` escapes (a client may encode the `:` or a `/` in a model name).
/// Invalid escapes are kept as they are.
pub fn percent_decode(text: &str) -> String {
    if !text.contains('%') {
        return text.to_owned();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|b| hex(*b)),
                bytes.get(i + 2).and_then(|b| hex(*b)),
            )
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_gemini_and_code_assist_paths() {
        let t = Target::parse("/v1beta/models/gemini-3.5-flash-lite:generateContent").unwrap();
        assert_eq!(
            t,
            Target {
                surface: Surface::GeminiApi,
                method: Method::GenerateContent,
                model: Some("gemini-3.5-flash-lite".into())
            }
        );
        let t = Target::parse("/v1/models/qwen3:8b:streamGenerateContent").unwrap();
        assert_eq!(t.model.as_deref(), Some("qwen3:8b"));
        assert!(t.streams());
        let t = Target::parse("/v1beta/models/org%2Fcoder%3AcountTokens").unwrap();
        assert_eq!(t.model.as_deref(), Some("org/coder"));
        assert_eq!(t.method, Method::CountTokens);
        let t = Target::parse("/v1internal:streamGenerateContent").unwrap();
        assert_eq!(t.surface, Surface::CodeAssist);
        assert_eq!(t.method, Method::StreamGenerateContent);
        assert!(matches!(
            Target::parse("/v1beta/models/m:embedContent"),
            Err(AdapterError::Unsupported(_))
        ));
        assert!(matches!(
            Target::parse("/v1beta/models/:generateContent"),
            Err(AdapterError::InvalidRequest(_))
        ));
        assert!(matches!(
            Target::parse("/v1beta/models/nomethod"),
            Err(AdapterError::InvalidRequest(_))
        ));
        assert_eq!(strip_models_prefix("models/x"), "x");
        assert_eq!(percent_decode("a%zz%41"), "a%zzA");
    }
}
