//! What the request side hands to the response side through `PivotRequest.state`.
//!
//! The backend only ever sees flat function names. To turn its calls back into what Codex
//! declared (a `custom` tool, a tool inside a `namespace`, the built-in `local_shell`), the
//! response side needs the reverse map. Plain top-level functions need no entry, so the
//! state stays small: a handful of short records, serialised as compact JSON.

use serde::{Deserialize, Serialize};

/// How a flat backend function name maps back to the tool Codex declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToolKind {
    /// A JSON function tool (only recorded when it sits in a namespace).
    #[serde(rename = "f")]
    Function,
    /// A freeform `custom` tool exposed as a function with one string argument `input`.
    #[serde(rename = "c")]
    Custom,
    /// The built-in `local_shell` tool exposed as a function.
    #[serde(rename = "l")]
    LocalShell,
}

/// One reverse-mapping record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolEntry {
    /// The name the backend sees and calls.
    #[serde(rename = "f")]
    pub flat: String,
    /// The tool's own name, as Codex declared it.
    #[serde(rename = "n")]
    pub name: String,
    /// The namespace the tool was declared in, if any (not the default `functions` one).
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// What kind of output item a call becomes.
    #[serde(rename = "k")]
    pub kind: ToolKind,
}

/// The adapter's per-request state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The client asked for `include: ["reasoning.encrypted_content"]`: reasoning items then
    /// carry the gateway-made encoding of their text (see [`crate::reasoning`]).
    #[serde(rename = "e", default, skip_serializing_if = "is_false")]
    pub include_encrypted_reasoning: bool,
    /// `parallel_tool_calls` as requested, echoed in the Response object.
    #[serde(rename = "p", default = "default_true")]
    pub parallel_tool_calls: bool,
    /// Reverse map for every tool whose flat name or kind differs from a plain function.
    #[serde(rename = "t", default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolEntry>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

fn default_true() -> bool {
    true
}

impl Default for State {
    fn default() -> Self {
        State {
            include_encrypted_reasoning: false,
            parallel_tool_calls: true,
            tools: Vec::new(),
        }
    }
}

impl State {
    /// Read the state back. Unreadable or empty state (an older adapter version, a host that
    /// lost it) degrades to "no mapping", never to an error: calls then pass through by name.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        if bytes.is_empty() {
            return State::default();
        }
        serde_json::from_slice(bytes).unwrap_or_default()
    }

    /// Serialise for `PivotRequest.state`.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The record for a flat backend name, if the name needs mapping back.
    pub fn lookup(&self, flat: &str) -> Option<&ToolEntry> {
        self.tools.iter().find(|entry| entry.flat == flat)
    }
}

/// The name a tool gets on the backend. Tools of the default `functions` namespace keep their
/// own name (Codex runs `exec` from the `functions` namespace when called plainly, as the
/// code-mode capture shows); any other namespace is prefixed: `<namespace>__<tool>`, or
/// `<namespace><tool>` when the namespace already ends in `__` (Codex's MCP namespaces look
/// like `mcp__server__`, which gives the familiar `mcp__server__tool`). The state, not this
/// spelling, maps names back.
pub fn flat_name(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) if !ns.is_empty() && ns != DEFAULT_NAMESPACE => {
            if ns.ends_with("__") {
                format!("{ns}{name}")
            } else {
                format!("{ns}__{name}")
            }
        }
        _ => name.to_owned(),
    }
}

/// The namespace whose tools are called without a prefix.
pub const DEFAULT_NAMESPACE: &str = "functions";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trips_compactly_and_tolerates_garbage() {
        let state = State {
            include_encrypted_reasoning: true,
            parallel_tool_calls: false,
            tools: vec![ToolEntry {
                flat: "clock__sleep".into(),
                name: "sleep".into(),
                namespace: Some("clock".into()),
                kind: ToolKind::Function,
            }],
        };
        let bytes = state.to_bytes();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"e":true,"p":false,"t":[{"f":"clock__sleep","n":"sleep","s":"clock","k":"f"}]}"#
        );
        assert_eq!(State::from_bytes(&bytes), state);
        assert_eq!(State::from_bytes(b"not json"), State::default());
        assert_eq!(State::from_bytes(b""), State::default());
        assert_eq!(flat_name(Some("functions"), "exec"), "exec");
        assert_eq!(flat_name(None, "exec"), "exec");
        assert_eq!(flat_name(Some("clock"), "sleep"), "clock__sleep");
        assert_eq!(flat_name(Some("mcp__rmcp__"), "echo"), "mcp__rmcp__echo");
    }
}
