//! The gateway's own `encrypted_content` for reasoning items.
//!
//! Chat backends return plain reasoning text; Codex keeps whatever `encrypted_content` a
//! reasoning item carried and replays the item verbatim on the next turn. The gateway uses
//! that slot to carry the reasoning text itself, so it can hand it back to the backend as
//! `reasoning_content` (DeepSeek's thinking mode requires it on tool-call turns).
//!
//! Encoding: `cligate:v1:` followed by the standard base64 (RFC 4648, with padding) of the
//! UTF-8 reasoning text. It is an encoding, not encryption: the text is the model's own
//! output that the client already saw as the summary. Anything else in `encrypted_content`
//! (OpenAI's opaque blobs) is not ours to read and is never forwarded.

/// Marks a gateway-made `encrypted_content`.
pub const PREFIX: &str = "cligate:v1:";

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Encode reasoning text as a gateway-made `encrypted_content`.
pub fn encode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(PREFIX.len() + bytes.len().div_ceil(3) * 4);
    out.push_str(PREFIX);
    for chunk in bytes.chunks(3) {
        let b0 = chunk[0];
        let b1 = chunk.get(1).copied().unwrap_or(0);
        let b2 = chunk.get(2).copied().unwrap_or(0);
        let n = (u32::from(b0) << 16) | (u32::from(b1) << 8) | u32::from(b2);
        out.push(sextet(n >> 18));
        out.push(sextet(n >> 12));
        out.push(if chunk.len() > 1 { sextet(n >> 6) } else { '=' });
        out.push(if chunk.len() > 2 { sextet(n) } else { '=' });
    }
    out
}

fn sextet(n: u32) -> char {
    char::from(ALPHABET[(n & 63) as usize])
}

/// Decode a gateway-made `encrypted_content`; `None` when it is foreign or damaged.
pub fn decode(value: &str) -> Option<String> {
    let body = value.strip_prefix(PREFIX)?.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &byte in body {
        acc = (acc << 6) | value_of(byte)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    String::from_utf8(out).ok()
}

fn value_of(byte: u8) -> Option<u32> {
    let v = match byte {
        b'A'..=b'Z' => byte - b'A',
        b'a'..=b'z' => byte - b'a' + 26,
        b'0'..=b'9' => byte - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_length_and_unicode() {
        for text in [
            "",
            "a",
            "ab",
            "abc",
            "abcd",
            "Plan: read the file → answer ✓\n",
        ] {
            let encoded = encode(text);
            assert!(encoded.starts_with(PREFIX));
            assert_eq!(decode(&encoded).as_deref(), Some(text), "{encoded}");
        }
        assert_eq!(encode("Man"), "cligate:v1:TWFu");
        assert_eq!(encode("Ma"), "cligate:v1:TWE=");
    }

    #[test]
    fn foreign_and_damaged_values_are_rejected() {
        assert_eq!(decode("gAAAAABo-opaque-openai-blob"), None);
        assert_eq!(decode("cligate:v1:***"), None);
        // Valid base64 of bytes that are not UTF-8.
        assert_eq!(decode("cligate:v1:/w=="), None);
    }
}
