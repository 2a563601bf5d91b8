//! Responses tool declarations → Chat function tools.
//!
//! Chat backends know only JSON function tools with flat names. Codex declares functions,
//! freeform `custom` tools with a grammar, `namespace` groups (top level and inside
//! `additional_tools` input items), the built-in `local_shell`, and hosted tools the backend
//! cannot run (`web_search`, …). Everything expressible becomes a function; the reverse map
//! goes into the [`State`] so calls come back as what Codex declared.

use std::borrow::Cow;
use std::collections::HashSet;

use cligate_adapter_sdk::AdapterError;
use cligate_adapter_sdk::pivot::Tool;
use serde_json::value::RawValue;

use crate::Notes;
use crate::state::{ToolEntry, ToolKind, flat_name};
use crate::wire;

/// The single string argument a freeform tool is exposed with.
const CUSTOM_PARAMETERS: &str = r#"{"type":"object","properties":{"input":{"type":"string","description":"The complete raw input text for the tool, exactly as the tool expects it (not JSON-encoded)."}},"required":["input"],"additionalProperties":false}"#;

/// `local_shell` as a function; calls map back to a `local_shell_call` with an `exec` action.
const LOCAL_SHELL_PARAMETERS: &str = r#"{"type":"object","properties":{"command":{"type":"array","items":{"type":"string"},"description":"The command and its arguments, for example [\"bash\",\"-lc\",\"ls -la\"]."},"workdir":{"type":"string","description":"Working directory for the command."},"timeout_ms":{"type":"number","description":"Time limit in milliseconds."}},"required":["command"],"additionalProperties":false}"#;

/// The backend name of the built-in local shell tool.
pub const LOCAL_SHELL: &str = "local_shell";

const LOCAL_SHELL_DESCRIPTION: &str =
    "Runs a command on the user's machine and returns its output.";

/// The tools of one request, flattened.
#[derive(Default)]
pub struct ToolSet {
    /// Function tools for the pivot request.
    pub tools: Vec<Tool>,
    /// Reverse-mapping records for the state.
    pub entries: Vec<ToolEntry>,
    names: HashSet<String>,
}

impl ToolSet {
    /// Whether the backend will see a function of this flat name.
    pub fn has(&self, flat: &str) -> bool {
        self.names.contains(flat)
    }

    /// Add one declared tool (a namespace adds its members).
    pub fn add(
        &mut self,
        mut tool: wire::Tool<'_>,
        namespace: Option<&str>,
        notes: &mut Notes,
    ) -> Result<(), AdapterError> {
        let kind = tool.kind.take();
        let kind = kind.as_deref().unwrap_or("function");
        match kind {
            "function" => {
                let description = tool.description.take().map(Cow::into_owned);
                let name = declared_name(&tool, kind)?;
                let flat = flat_name(namespace, name);
                let parameters = tool.parameters.map(RawValue::to_owned);
                let mut function = Tool::function(flat.clone(), description, parameters);
                // `strict: false` is every backend's default; only a request for strictness matters.
                function.function.strict = tool.strict.filter(|strict| *strict);
                self.push(function, flat, name, namespace, ToolKind::Function, notes);
            }
            "custom" => {
                let name = declared_name(&tool, kind)?;
                let flat = flat_name(namespace, name);
                let description = custom_description(&tool);
                let function = Tool::function(
                    flat.clone(),
                    Some(description),
                    Some(raw(CUSTOM_PARAMETERS)?),
                );
                self.push(function, flat, name, namespace, ToolKind::Custom, notes);
            }
            "namespace" => {
                let Some(ns) = tool.name.as_deref().map(str::to_owned) else {
                    return Err(AdapterError::InvalidRequest(
                        "a namespace tool needs a name".to_owned(),
                    ));
                };
                // A namespace nested in a namespace keeps the whole path in its prefix.
                let path = match namespace {
                    Some(outer) if outer != crate::state::DEFAULT_NAMESPACE => {
                        flat_name(Some(outer), &ns)
                    }
                    _ => ns,
                };
                for member in tool.tools.into_iter().flatten() {
                    self.add(member, Some(&path), notes)?;
                }
            }
            "local_shell" => {
                let function = Tool::function(
                    LOCAL_SHELL,
                    Some(LOCAL_SHELL_DESCRIPTION.to_owned()),
                    Some(raw(LOCAL_SHELL_PARAMETERS)?),
                );
                self.push(
                    function,
                    LOCAL_SHELL.to_owned(),
                    LOCAL_SHELL,
                    None,
                    ToolKind::LocalShell,
                    notes,
                );
            }
            hosted => notes.warn(format!("dropped hosted tool {hosted}")),
        }
        Ok(())
    }

    fn push(
        &mut self,
        function: Tool,
        flat: String,
        name: &str,
        namespace: Option<&str>,
        kind: ToolKind,
        notes: &mut Notes,
    ) {
        if !self.names.insert(flat.clone()) {
            notes.warn(format!("dropped duplicate tool {flat}"));
            return;
        }
        let namespace = namespace.filter(|ns| *ns != crate::state::DEFAULT_NAMESPACE);
        if kind != ToolKind::Function || namespace.is_some() {
            self.entries.push(ToolEntry {
                flat,
                name: name.to_owned(),
                namespace: namespace.map(str::to_owned),
                kind,
            });
        }
        self.tools.push(function);
    }
}

fn declared_name<'t>(tool: &'t wire::Tool<'_>, kind: &str) -> Result<&'t str, AdapterError> {
    tool.name
        .as_deref()
        .filter(|name| !name.is_empty())
        .ok_or_else(|| AdapterError::InvalidRequest(format!("a {kind} tool needs a name")))
}

fn raw(json: &str) -> Result<Box<RawValue>, AdapterError> {
    RawValue::from_string(json.to_owned())
        .map_err(|err| AdapterError::Internal(format!("built-in schema is not JSON: {err}")))
}

/// The description a freeform tool gets as a function: its own, plus how to pass the input
/// and the grammar the input must follow (the backend cannot enforce it, the model can read it).
fn custom_description(tool: &wire::Tool<'_>) -> String {
    let mut text = tool.description.as_deref().unwrap_or_default().to_owned();
    if !text.is_empty() {
        text.push_str("\n\n");
    }
    text.push_str(
        "This is a freeform tool: put the complete raw input text in the string argument `input` \
         (do not wrap it in JSON or Markdown fences).",
    );
    if let Some(format) = &tool.format
        && format.kind.as_deref() == Some("grammar")
        && let Some(definition) = format.definition.as_deref()
    {
        let syntax = format.syntax.as_deref().unwrap_or("formal");
        text.push_str("\nThe input must match this ");
        text.push_str(syntax);
        text.push_str(" grammar:\n");
        text.push_str(definition);
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn tools(json: &str) -> (ToolSet, Notes) {
        let declared: Vec<wire::Tool<'_>> = serde_json::from_str(json).unwrap();
        let mut set = ToolSet::default();
        let mut notes = Notes::default();
        for tool in declared {
            set.add(tool, None, &mut notes).unwrap();
        }
        (set, notes)
    }

    #[test]
    fn flattens_every_kind_and_drops_hosted_tools() {
        let (set, notes) = tools(
            r#"[{"type":"function","name":"shell","description":"d","strict":false,"parameters":{"type":"object"}},
                {"type":"custom","name":"apply_patch","description":"Patch files.","format":{"type":"grammar","syntax":"lark","definition":"start: x"}},
                {"type":"namespace","name":"clock","tools":[{"type":"function","name":"sleep","parameters":{}}]},
                {"type":"namespace","name":"functions","tools":[{"type":"custom","name":"exec"}]},
                {"type":"local_shell"},{"type":"web_search","external_web_access":false},
                {"type":"function","name":"shell"}]"#,
        );
        let json = serde_json::to_value(&set.tools).unwrap();
        let names: Vec<&str> = json
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["function"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "shell",
                "apply_patch",
                "clock__sleep",
                "exec",
                "local_shell"
            ]
        );
        assert!(json[0]["function"].get("strict").is_none());
        let patch = json[1]["function"]["description"].as_str().unwrap();
        assert!(patch.starts_with("Patch files.\n\n"));
        assert!(patch.ends_with("lark grammar:\nstart: x"));
        assert_eq!(json[1]["function"]["parameters"]["required"][0], "input");
        assert_eq!(
            notes.warnings,
            [
                "dropped hosted tool web_search",
                "dropped duplicate tool shell"
            ]
        );
        let kinds: Vec<(&str, &str, Option<&str>, ToolKind)> = set
            .entries
            .iter()
            .map(|e| {
                (
                    e.flat.as_str(),
                    e.name.as_str(),
                    e.namespace.as_deref(),
                    e.kind,
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("apply_patch", "apply_patch", None, ToolKind::Custom),
                ("clock__sleep", "sleep", Some("clock"), ToolKind::Function),
                ("exec", "exec", None, ToolKind::Custom),
                ("local_shell", "local_shell", None, ToolKind::LocalShell),
            ]
        );
    }

    #[test]
    fn nameless_function_is_invalid() {
        let declared: Vec<wire::Tool<'_>> =
            serde_json::from_str(r#"[{"type":"function"}]"#).unwrap();
        let err = ToolSet::default()
            .add(
                declared.into_iter().next().unwrap(),
                None,
                &mut Notes::default(),
            )
            .unwrap_err();
        assert!(matches!(err, AdapterError::InvalidRequest(_)));
    }
}
