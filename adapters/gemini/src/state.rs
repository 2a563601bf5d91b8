//! What `translate_request` remembers for the answer (`PivotRequest.state`).

use serde::{Deserialize, Serialize};

/// Per-request facts the answer's translation needs. Serialised as a few bytes of JSON.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// `thinkingConfig.includeThoughts`: emit reasoning as `thought: true` parts.
    #[serde(default, rename = "t", skip_serializing_if = "is_false")]
    pub include_thoughts: bool,
    /// Code Assist: wrap every answer as `{"response": …}`.
    #[serde(default, rename = "w", skip_serializing_if = "is_false")]
    pub code_assist: bool,
    /// A `countTokens` call sent to the backend to count: answer `{"totalTokens": …}`.
    #[serde(default, rename = "c", skip_serializing_if = "is_false")]
    pub count_tokens: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl State {
    /// Bytes for `PivotRequest.state`.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Read back `RequestContext.state`. Empty or unreadable state (an older adapter
    /// version's, a test's) falls back to what the path says.
    pub fn decode(bytes: &[u8], path: &str) -> State {
        serde_json::from_slice(bytes).unwrap_or_else(|_| State {
            code_assist: path.contains("v1internal:"),
            ..State::default()
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn small_and_round_trips() {
        let s = State {
            include_thoughts: true,
            code_assist: false,
            count_tokens: false,
        };
        assert_eq!(s.encode(), br#"{"t":true}"#);
        assert_eq!(State::decode(&s.encode(), "/x"), s);
        assert!(State::decode(b"", "/v1internal:generateContent").code_assist);
    }
}
