//! Readable differences for replay tests: JSON compared semantically (key order and number
//! spelling do not matter) and reported by path; SSE output compared byte for byte and
//! reported event by event.

use serde_json::Value;

/// Most differences listed for one comparison; the rest are counted.
const MAX_LISTED: usize = 20;

/// Longest rendering of one value in a report.
const MAX_VALUE_CHARS: usize = 240;

/// One difference between an expected and an actual JSON document.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// Where, as a JSON path (`$.messages[1].content`).
    pub path: String,
    /// The expected value; `None` when the actual document has something unexpected.
    pub expected: Option<Value>,
    /// The actual value; `None` when it is missing.
    pub actual: Option<Value>,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.expected, &self.actual) {
            (Some(expected), Some(actual)) => write!(
                f,
                "{}: expected {}, got {}",
                self.path,
                short(expected),
                short(actual)
            ),
            (Some(expected), None) => {
                write!(f, "{}: missing (expected {})", self.path, short(expected))
            }
            (None, Some(actual)) => write!(f, "{}: unexpected (got {})", self.path, short(actual)),
            (None, None) => write!(f, "{}: differs", self.path),
        }
    }
}

/// Every difference between `expected` and `actual`, in document order.
pub fn json_diff(expected: &Value, actual: &Value) -> Vec<Difference> {
    let mut out = Vec::new();
    walk("$", expected, actual, &mut out);
    out
}

/// Whether two documents are the same JSON (object key order and `1` vs `1.0` aside).
pub fn json_eq(expected: &Value, actual: &Value) -> bool {
    json_diff(expected, actual).is_empty()
}

fn walk(path: &str, expected: &Value, actual: &Value, out: &mut Vec<Difference>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (key, e_value) in e {
                let child = format!("{path}{}", key_segment(key));
                match a.get(key) {
                    Some(a_value) => walk(&child, e_value, a_value, out),
                    None => out.push(Difference {
                        path: child,
                        expected: Some(e_value.clone()),
                        actual: None,
                    }),
                }
            }
            for (key, a_value) in a {
                if !e.contains_key(key) {
                    out.push(Difference {
                        path: format!("{path}{}", key_segment(key)),
                        expected: None,
                        actual: Some(a_value.clone()),
                    });
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            for i in 0..e.len().max(a.len()) {
                let child = format!("{path}[{i}]");
                match (e.get(i), a.get(i)) {
                    (Some(e_item), Some(a_item)) => walk(&child, e_item, a_item, out),
                    (e_item, a_item) => out.push(Difference {
                        path: child,
                        expected: e_item.cloned(),
                        actual: a_item.cloned(),
                    }),
                }
            }
        }
        (Value::Number(e), Value::Number(a)) => {
            let same = e == a || matches!((e.as_f64(), a.as_f64()), (Some(x), Some(y)) if x == y);
            if !same {
                out.push(Difference {
                    path: path.to_owned(),
                    expected: Some(expected.clone()),
                    actual: Some(actual.clone()),
                });
            }
        }
        _ if expected == actual => {}
        _ => out.push(Difference {
            path: path.to_owned(),
            expected: Some(expected.clone()),
            actual: Some(actual.clone()),
        }),
    }
}

/// `.name` for plain keys, `["odd key"]` otherwise.
fn key_segment(key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !key.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        format!(".{key}")
    } else {
        format!("[{}]", Value::String(key.to_owned()))
    }
}

/// A value in one line, shortened.
pub fn short(value: &Value) -> String {
    truncate(&value.to_string())
}

fn truncate(text: &str) -> String {
    if text.chars().count() <= MAX_VALUE_CHARS {
        return text.to_owned();
    }
    let head: String = text.chars().take(MAX_VALUE_CHARS).collect();
    format!("{head}… ({} chars)", text.chars().count())
}

/// Report lines for a JSON comparison (empty when equal), at most [`MAX_LISTED`] of them.
pub fn json_report(expected: &Value, actual: &Value) -> Vec<String> {
    listed(json_diff(expected, actual).iter().map(ToString::to_string))
}

fn listed(lines: impl Iterator<Item = String>) -> Vec<String> {
    let all: Vec<String> = lines.collect();
    let total = all.len();
    let mut out: Vec<String> = all.into_iter().take(MAX_LISTED).collect();
    if total > MAX_LISTED {
        out.push(format!("… and {} more differences", total - MAX_LISTED));
    }
    out
}

/// Report lines for two SSE byte streams (empty when byte-identical): the event count, then
/// the first differing event with a JSON diff of its data when both sides are JSON.
pub fn sse_report(expected: &[u8], actual: &[u8]) -> Vec<String> {
    if expected == actual {
        return Vec::new();
    }
    let e_events = raw_events(expected);
    let a_events = raw_events(actual);
    let mut out = Vec::new();
    if e_events.len() != a_events.len() {
        out.push(format!(
            "expected {} events, got {}",
            e_events.len(),
            a_events.len()
        ));
    }
    let first = e_events
        .iter()
        .zip(&a_events)
        .position(|(e, a)| e != a)
        .or_else(|| (e_events.len() != a_events.len()).then(|| e_events.len().min(a_events.len())));
    match first {
        Some(i) => {
            let e = e_events.get(i).copied();
            let a = a_events.get(i).copied();
            out.push(format!("first difference at event #{i}:"));
            match (e, a) {
                (Some(e), Some(a)) => {
                    let (e_name, e_data) = event_parts(e);
                    let (a_name, a_data) = event_parts(a);
                    let e_json = e_data.as_deref().and_then(parse_json);
                    let a_json = a_data.as_deref().and_then(parse_json);
                    match (e_json, a_json) {
                        (Some(e_json), Some(a_json))
                            if e_name == a_name && json_eq(&e_json, &a_json) =>
                        {
                            out.push(format!(
                                "  same event, different bytes: expected {}",
                                escape(e)
                            ));
                            out.push(format!(
                                "                              got      {}",
                                escape(a)
                            ));
                        }
                        (Some(e_json), Some(a_json)) => {
                            if e_name != a_name {
                                out.push(format!(
                                    "  event name: expected {:?}, got {:?}",
                                    e_name, a_name
                                ));
                            }
                            for line in json_report(&e_json, &a_json) {
                                out.push(format!("  data {line}"));
                            }
                        }
                        _ => {
                            out.push(format!("  expected {}", escape(e)));
                            out.push(format!("  got      {}", escape(a)));
                        }
                    }
                }
                (Some(e), None) => out.push(format!("  missing: {}", escape(e))),
                (None, Some(a)) => out.push(format!("  unexpected: {}", escape(a))),
                (None, None) => {}
            }
        }
        None => {
            let offset = expected
                .iter()
                .zip(actual)
                .position(|(e, a)| e != a)
                .unwrap_or(expected.len().min(actual.len()));
            out.push(format!(
                "the events match but the bytes differ at offset {offset}: expected {}, got {}",
                escape(&expected[offset.min(expected.len())..]),
                escape(&actual[offset.min(actual.len())..])
            ));
        }
    }
    out
}

/// Split SSE bytes into raw events: each ends with its blank line (the last may not).
fn raw_events(bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] == b'\n' && bytes[i + 1] == b'\n' {
            out.push(&bytes[start..i + 2]);
            start = i + 2;
            i += 2;
        } else {
            i += 1;
        }
    }
    if start < bytes.len() {
        out.push(&bytes[start..]);
    }
    out
}

/// The `event:` name and the joined `data:` lines of one raw event.
fn event_parts(raw: &[u8]) -> (Option<String>, Option<String>) {
    let text = String::from_utf8_lossy(raw);
    let mut name = None;
    let mut data: Option<String> = None;
    for line in text.lines() {
        if let Some(value) = line.strip_prefix("event:") {
            name = Some(value.trim_start().to_owned());
        } else if let Some(value) = line.strip_prefix("data:") {
            let value = value.strip_prefix(' ').unwrap_or(value);
            match &mut data {
                Some(existing) => {
                    existing.push('\n');
                    existing.push_str(value);
                }
                None => data = Some(value.to_owned()),
            }
        }
    }
    (name, data)
}

fn parse_json(text: &str) -> Option<Value> {
    serde_json::from_str(text).ok()
}

/// Bytes as one readable line: UTF-8 with `\n`, `\r` and control bytes escaped.
pub fn escape(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len() + 8);
    out.push('"');
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '"' => out.push_str("\\\""),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    truncate(&out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_differences_are_reported_by_path() {
        let expected = json!({"model": "m", "max_tokens": 50, "messages": [{"role": "user", "content": "a"}], "odd key": 1});
        let actual = json!({"messages": [{"content": "b", "role": "user"}, {"role": "assistant"}], "model": "m", "store": true, "odd key": 1.0});
        let report = json_report(&expected, &actual);
        assert_eq!(
            report,
            vec![
                "$.max_tokens: missing (expected 50)",
                "$.messages[0].content: expected \"a\", got \"b\"",
                "$.messages[1]: unexpected (got {\"role\":\"assistant\"})",
                "$.store: unexpected (got true)",
            ]
        );
        assert!(json_eq(
            &json!({"a": [1, {"b": 2.0}]}),
            &json!({"a": [1.0, {"b": 2}]})
        ));
        assert_eq!(key_segment("x y"), "[\"x y\"]");
    }

    #[test]
    fn sse_report_points_at_the_first_differing_event() {
        let expected = b"data: {\"a\":1}\n\ndata: {\"b\":\"x\"}\n\ndata: [DONE]\n\n";
        let actual = b"data: {\"a\":1}\n\ndata: {\"b\":\"y\"}\n\ndata: [DONE]\n\n";
        assert!(sse_report(expected, expected).is_empty());
        let report = sse_report(expected, actual);
        assert_eq!(
            report,
            vec![
                "first difference at event #1:",
                "  data $.b: expected \"x\", got \"y\"",
            ]
        );
        let short = b"data: {\"a\":1}\n\n";
        let report = sse_report(expected, short);
        assert_eq!(report[0], "expected 3 events, got 1");
        assert!(
            report[2].starts_with("  missing: \"data: {\\\"b\\\""),
            "{report:?}"
        );
        let named = sse_report(b"event: a\ndata: {}\n\n", b"event: b\ndata: {}\n\n");
        assert!(named.iter().any(|l| l.contains("event name")), "{named:?}");
        let spaced = sse_report(b"data: {\"a\":1}\n\n", b"data: {\"a\": 1}\n\n");
        assert!(
            spaced[1].contains("same event, different bytes"),
            "{spaced:?}"
        );
        let tail = sse_report(b"data: x\n\n", b"data: x\n\n\n");
        assert!(!tail.is_empty());
    }

    #[test]
    fn long_values_are_shortened() {
        let long = Value::String("x".repeat(1000));
        assert!(short(&long).ends_with("(1002 chars)"));
        assert_eq!(escape(b"a\r\nb\x01"), "\"a\\r\\nb\\u{1}\"");
    }
}
