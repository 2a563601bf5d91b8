//! Schemas: Gemini's OpenAPI-subset `Schema` → JSON Schema, and upper-case type names in
//! "JSON Schema" fields made lower-case.
//!
//! Gemini accepts two schema dialects. `parameters` / `responseSchema` use the OpenAPI-subset
//! `Schema` message: upper-case `type` enums (`OBJECT`, `STRING`, …), `nullable`,
//! `propertyOrdering`, int64 limits written as strings (`"maxItems": "5"`). Chat backends want
//! JSON Schema, so those are converted key by key, keeping what JSON Schema understands and
//! dropping the rest.
//!
//! `parametersJsonSchema` / `responseJsonSchema` are JSON Schema and pass through untouched,
//! with one exception seen in real traffic: Gemini CLI's routing classifier sends
//! `responseJsonSchema` with `"type": "OBJECT"`, which Google accepts and grammar-constrained
//! backends (vLLM, Ollama) reject. Those type names are lower-cased; the (large) tool schemas
//! are only parsed when such a name appears in them at all.

use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The upper-case spellings of Gemini's `Type` enum.
const UPPER_TYPES: [&str; 7] = [
    "\"OBJECT\"",
    "\"STRING\"",
    "\"INTEGER\"",
    "\"NUMBER\"",
    "\"BOOLEAN\"",
    "\"ARRAY\"",
    "\"NULL\"",
];

/// A JSON Schema from a `*JsonSchema` field, with any upper-case `type` names lower-cased.
/// Returns the input unchanged (no parse) when no such name occurs in it.
pub fn json_schema(raw: &RawValue) -> Result<Box<RawValue>, String> {
    let text = raw.get();
    if !UPPER_TYPES.iter().any(|t| text.contains(t)) {
        return Ok(raw.to_owned());
    }
    let mut value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    lower_types(&mut value);
    to_raw(&value)
}

/// Convert an OpenAPI-subset `Schema` to JSON Schema.
pub fn openapi_schema(raw: &RawValue) -> Result<Box<RawValue>, String> {
    let value: Value = serde_json::from_str(raw.get()).map_err(|e| e.to_string())?;
    to_raw(&convert(&value))
}

fn to_raw(value: &Value) -> Result<Box<RawValue>, String> {
    serde_json::value::to_raw_value(value).map_err(|e| e.to_string())
}

/// Lower-case `type` names wherever a schema can sit in a JSON Schema document.
fn lower_types(schema: &mut Value) {
    let Value::Object(map) = schema else {
        if let Value::Array(items) = schema {
            // `items` as a tuple (draft 4–2019) is an array of schemas.
            items.iter_mut().for_each(lower_types);
        }
        return;
    };
    match map.get_mut("type") {
        Some(Value::String(t)) => *t = lower_type_name(t),
        Some(Value::Array(ts)) => {
            for t in ts.iter_mut() {
                if let Value::String(s) = t {
                    *s = lower_type_name(s);
                }
            }
        }
        _ => {}
    }
    for key in [
        "items",
        "additionalProperties",
        "not",
        "contains",
        "if",
        "then",
        "else",
        "propertyNames",
        "additionalItems",
        "unevaluatedItems",
        "unevaluatedProperties",
    ] {
        if let Some(sub) = map.get_mut(key) {
            lower_types(sub);
        }
    }
    for key in ["anyOf", "oneOf", "allOf", "prefixItems"] {
        if let Some(Value::Array(subs)) = map.get_mut(key) {
            subs.iter_mut().for_each(lower_types);
        }
    }
    for key in [
        "properties",
        "patternProperties",
        "$defs",
        "definitions",
        "dependentSchemas",
    ] {
        if let Some(Value::Object(subs)) = map.get_mut(key) {
            subs.values_mut().for_each(lower_types);
        }
    }
}

fn lower_type_name(name: &str) -> String {
    match name {
        "OBJECT" | "STRING" | "INTEGER" | "NUMBER" | "BOOLEAN" | "ARRAY" | "NULL" => {
            name.to_ascii_lowercase()
        }
        other => other.to_owned(),
    }
}

/// OpenAPI-subset `Schema` → JSON Schema. Keys JSON Schema does not know
/// (`propertyOrdering`, `nullable` once applied, unknown additions) are dropped.
fn convert(schema: &Value) -> Value {
    let Value::Object(src) = schema else {
        // A schema must be an object; anything else means "no constraint".
        return Value::Object(Map::new());
    };
    let mut out = Map::new();
    let nullable = src.get("nullable").and_then(Value::as_bool) == Some(true);
    let json_type = src.get("type").and_then(Value::as_str).and_then(|t| {
        match t.to_ascii_uppercase().as_str() {
            "OBJECT" => Some("object"),
            "STRING" => Some("string"),
            "INTEGER" => Some("integer"),
            "NUMBER" => Some("number"),
            "BOOLEAN" => Some("boolean"),
            "ARRAY" => Some("array"),
            "NULL" => Some("null"),
            // TYPE_UNSPECIFIED and unknown names: no type constraint.
            _ => None,
        }
    });
    if let Some(t) = json_type {
        out.insert("type".into(), Value::String(t.into()));
    }
    for (key, value) in src {
        match key.as_str() {
            "format" | "title" | "description" | "pattern" | "default" => {
                out.insert(key.clone(), value.clone());
            }
            "enum" => {
                out.insert(key.clone(), value.clone());
            }
            "minimum" | "maximum" => {
                if let Some(n) = number(value) {
                    out.insert(key.clone(), n);
                }
            }
            "minItems" | "maxItems" | "minLength" | "maxLength" | "minProperties"
            | "maxProperties" => {
                if let Some(n) = number(value) {
                    out.insert(key.clone(), n);
                }
            }
            "required" if value.is_array() => {
                out.insert(key.clone(), value.clone());
            }
            "example" => {
                out.insert("examples".into(), Value::Array(vec![value.clone()]));
            }
            "items" => {
                out.insert(key.clone(), convert(value));
            }
            "properties" => {
                if let Value::Object(props) = value {
                    let converted = props
                        .iter()
                        .map(|(name, sub)| (name.clone(), convert(sub)))
                        .collect();
                    out.insert(key.clone(), Value::Object(converted));
                }
            }
            "anyOf" => {
                if let Value::Array(subs) = value {
                    out.insert(
                        key.clone(),
                        Value::Array(subs.iter().map(convert).collect()),
                    );
                }
            }
            // `type` and `nullable` are handled around the loop; `propertyOrdering` and
            // anything newer has no JSON Schema meaning a backend would act on.
            _ => {}
        }
    }
    if nullable {
        make_nullable(&mut out);
    }
    Value::Object(out)
}

/// `nullable: true`: widen `type` to `[t, "null"]` (and admit `null` in an `enum`), or,
/// without a type, offer `{"type":"null"}` as another alternative.
fn make_nullable(out: &mut Map<String, Value>) {
    match out.get("type").and_then(Value::as_str).map(str::to_owned) {
        Some(t) if t != "null" => {
            out.insert(
                "type".into(),
                Value::Array(vec![Value::String(t), Value::String("null".into())]),
            );
            if let Some(Value::Array(values)) = out.get_mut("enum")
                && !values.contains(&Value::Null)
            {
                values.push(Value::Null);
            }
        }
        Some(_) => {}
        None => {
            let null_schema = serde_json::json!({"type": "null"});
            match out.get_mut("anyOf") {
                Some(Value::Array(subs)) => subs.push(null_schema),
                _ => {
                    let rest = std::mem::take(out);
                    if !rest.is_empty() {
                        out.insert(
                            "anyOf".into(),
                            Value::Array(vec![Value::Object(rest), null_schema]),
                        );
                    }
                    // An empty schema already admits null.
                }
            }
        }
    }
}

/// A number, also from the string form proto JSON uses for int64 (`"maxItems": "5"`).
fn number(value: &Value) -> Option<Value> {
    match value {
        Value::Number(_) => Some(value.clone()),
        Value::String(s) => {
            if let Ok(i) = s.trim().parse::<i64>() {
                Some(Value::from(i))
            } else {
                s.trim()
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn raw(v: &Value) -> Box<RawValue> {
        serde_json::value::to_raw_value(v).unwrap()
    }

    fn open(raw: Box<RawValue>) -> Value {
        #![allow(clippy::boxed_local)]
        serde_json::from_str(raw.get()).unwrap()
    }

    #[test]
    fn openapi_subset_becomes_json_schema() {
        let src = json!({
            "type": "OBJECT",
            "description": "args",
            "propertyOrdering": ["path", "mode"],
            "properties": {
                "path": {"type": "STRING", "description": "file", "example": "a.txt"},
                "mode": {"type": "STRING", "enum": ["r", "w"], "nullable": true, "format": "enum"},
                "lines": {"type": "ARRAY", "items": {"type": "INTEGER", "minimum": 1}, "maxItems": "5", "minItems": 1},
                "opts": {"type": "OBJECT", "nullable": true, "properties": {"deep": {"type": "BOOLEAN"}}},
                "either": {"anyOf": [{"type": "STRING"}, {"type": "NUMBER"}], "nullable": true},
                "loose": {"nullable": true, "description": "anything"},
                "unspecified": {"type": "TYPE_UNSPECIFIED", "title": "t"}
            },
            "required": ["path"],
            "unknownKey": 1
        });
        let out = open(openapi_schema(&raw(&src)).unwrap());
        assert_eq!(
            out,
            json!({
                "type": "object",
                "description": "args",
                "properties": {
                    "path": {"type": "string", "description": "file", "examples": ["a.txt"]},
                    "mode": {"type": ["string", "null"], "enum": ["r", "w", null], "format": "enum"},
                    "lines": {"type": "array", "items": {"type": "integer", "minimum": 1}, "maxItems": 5, "minItems": 1},
                    "opts": {"type": ["object", "null"], "properties": {"deep": {"type": "boolean"}}},
                    "either": {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "null"}]},
                    "loose": {"anyOf": [{"description": "anything"}, {"type": "null"}]},
                    "unspecified": {"title": "t"}
                },
                "required": ["path"]
            })
        );
    }

    #[test]
    fn lower_case_types_in_json_schema_only_where_schemas_sit() {
        let src = json!({
            "type": "OBJECT",
            "properties": {
                "type": {"type": "STRING", "enum": ["OBJECT", "STRING"]},
                "n": {"type": ["INTEGER", "NULL"]},
                "list": {"type": "ARRAY", "items": {"type": "NUMBER"}},
                "choice": {"anyOf": [{"type": "BOOLEAN"}]}
            },
            "$defs": {"x": {"type": "STRING", "const": "STRING"}}
        });
        let out = open(json_schema(&raw(&src)).unwrap());
        assert_eq!(
            out,
            json!({
                "type": "object",
                "properties": {
                    "type": {"type": "string", "enum": ["OBJECT", "STRING"]},
                    "n": {"type": ["integer", "null"]},
                    "list": {"type": "array", "items": {"type": "number"}},
                    "choice": {"anyOf": [{"type": "boolean"}]}
                },
                "$defs": {"x": {"type": "string", "const": "STRING"}}
            })
        );
    }

    #[test]
    fn lower_case_json_schema_is_passed_through_byte_for_byte() {
        let text = r#"{ "type" : "object",
            "properties": {"a": {"type": "string"}} }"#;
        let raw: Box<RawValue> = serde_json::from_str(text).unwrap();
        assert_eq!(json_schema(&raw).unwrap().get(), text);
    }
}
