//! JSON text reformatting that keeps object key order (`serde_json::Value` sorts keys), so a
//! recorded fixture reads in the order the adapter wrote it and a request body reaches the
//! adapter in the order the client sent it.

/// One value, as written: scalars keep their exact text.
enum Node {
    Scalar(String),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

/// Containers whose one-line form is at most this long stay on one line when pretty-printed.
const INLINE_WIDTH: usize = 72;

/// `text` without insignificant whitespace, key order kept. `None` if it is not JSON.
pub fn minify(text: &str) -> Option<String> {
    let node = parse_valid(text)?;
    let mut out = String::with_capacity(text.len());
    write_compact(&node, &mut out, false);
    Some(out)
}

/// `text` indented by two spaces, short containers on one line, key order kept, with a
/// final newline. `None` if it is not JSON.
pub fn pretty(text: &str) -> Option<String> {
    let node = parse_valid(text)?;
    let mut out = String::with_capacity(text.len() * 2);
    write_pretty(&node, 0, &mut out);
    out.push('\n');
    Some(out)
}

fn parse_valid(text: &str) -> Option<Node> {
    // serde_json decides validity (and bounds the depth); the small parser below only has to
    // split valid JSON into nodes.
    serde_json::from_str::<serde::de::IgnoredAny>(text).ok()?;
    let mut parser = Parser {
        bytes: text.as_bytes(),
        text,
        pos: 0,
    };
    parser.value()
}

struct Parser<'a> {
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self
            .bytes
            .get(self.pos)
            .is_some_and(|b| b.is_ascii_whitespace())
        {
            self.pos += 1;
        }
    }

    fn value(&mut self) -> Option<Node> {
        self.skip_ws();
        match self.bytes.get(self.pos)? {
            b'{' => {
                self.pos += 1;
                let mut members = Vec::new();
                loop {
                    self.skip_ws();
                    match self.bytes.get(self.pos)? {
                        b'}' => {
                            self.pos += 1;
                            return Some(Node::Object(members));
                        }
                        b',' => self.pos += 1,
                        _ => {
                            let key = self.string()?;
                            self.skip_ws();
                            if self.bytes.get(self.pos)? != &b':' {
                                return None;
                            }
                            self.pos += 1;
                            let value = self.value()?;
                            members.push((key, value));
                        }
                    }
                }
            }
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_ws();
                    match self.bytes.get(self.pos)? {
                        b']' => {
                            self.pos += 1;
                            return Some(Node::Array(items));
                        }
                        b',' => self.pos += 1,
                        _ => items.push(self.value()?),
                    }
                }
            }
            b'"' => self.string().map(Node::Scalar),
            _ => {
                let start = self.pos;
                while self
                    .bytes
                    .get(self.pos)
                    .is_some_and(|b| !b.is_ascii_whitespace() && !matches!(b, b',' | b']' | b'}'))
                {
                    self.pos += 1;
                }
                self.text
                    .get(start..self.pos)
                    .map(str::to_owned)
                    .map(Node::Scalar)
            }
        }
    }

    /// A string token, quotes and escapes included, exactly as written.
    fn string(&mut self) -> Option<String> {
        let start = self.pos;
        if self.bytes.get(self.pos)? != &b'"' {
            return None;
        }
        self.pos += 1;
        loop {
            match self.bytes.get(self.pos)? {
                b'\\' => self.pos += 2,
                b'"' => {
                    self.pos += 1;
                    return self.text.get(start..self.pos).map(str::to_owned);
                }
                _ => self.pos += 1,
            }
        }
    }
}

/// One line; `spaced` puts a space after `,` and `:` (for inline containers in pretty output).
fn write_compact(node: &Node, out: &mut String, spaced: bool) {
    let (comma, colon) = if spaced { (", ", ": ") } else { (",", ":") };
    match node {
        Node::Scalar(text) => out.push_str(text),
        Node::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(comma);
                }
                write_compact(item, out, spaced);
            }
            out.push(']');
        }
        Node::Object(members) => {
            out.push('{');
            for (i, (key, value)) in members.iter().enumerate() {
                if i > 0 {
                    out.push_str(comma);
                }
                out.push_str(key);
                out.push_str(colon);
                write_compact(value, out, spaced);
            }
            out.push('}');
        }
    }
}

fn write_pretty(node: &Node, indent: usize, out: &mut String) {
    let mut inline = String::new();
    write_compact(node, &mut inline, true);
    if inline.len() <= INLINE_WIDTH || matches!(node, Node::Scalar(_)) {
        out.push_str(&inline);
        return;
    }
    let pad = |out: &mut String, level: usize| {
        out.push('\n');
        for _ in 0..level {
            out.push_str("  ");
        }
    };
    match node {
        Node::Scalar(text) => out.push_str(text),
        Node::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                pad(out, indent + 1);
                write_pretty(item, indent + 1, out);
            }
            pad(out, indent);
            out.push(']');
        }
        Node::Object(members) => {
            out.push('{');
            for (i, (key, value)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                pad(out, indent + 1);
                out.push_str(key);
                out.push_str(": ");
                write_pretty(value, indent + 1, out);
            }
            pad(out, indent);
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_order_and_scalars_survive() {
        let text = r#" { "z" : 1.50, "a" : [ true , null , "x\"y" ], "m": {} , "e": [] } "#;
        assert_eq!(
            minify(text).as_deref(),
            Some(r#"{"z":1.50,"a":[true,null,"x\"y"],"m":{},"e":[]}"#)
        );
        assert_eq!(
            pretty(text).as_deref(),
            Some("{\"z\": 1.50, \"a\": [true, null, \"x\\\"y\"], \"m\": {}, \"e\": []}\n")
        );
        assert!(minify("{").is_none());
        assert!(minify("").is_none());
    }

    #[test]
    fn long_containers_break_lines() {
        let long = format!(
            r#"{{"model":"m","messages":[{{"role":"user","content":"{}"}}]}}"#,
            "x".repeat(80)
        );
        let out = pretty(&long).unwrap_or_default();
        assert!(
            out.starts_with(
                "{\n  \"model\": \"m\",\n  \"messages\": [\n    {\n      \"role\": \"user\",\n"
            ),
            "{out}"
        );
        assert_eq!(minify(&out).as_deref(), Some(long.as_str()));
    }
}
