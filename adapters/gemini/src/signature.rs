//! The gateway's own `thoughtSignature`: backend reasoning carried through Gemini CLI's history.
//!
//! Why: Gemini CLI keeps no `thought` parts in its history, only the `thoughtSignature` on
//! function-call parts. Some Chat backends (DeepSeek's thinking mode) reject a follow-up
//! whose tool-calling assistant turn lost its `reasoning_content`. So when an answer has both
//! reasoning and function calls, the first `functionCall` part carries
//! `base64("cligate:reasoning:v1\n" + reasoning)`, and the next request turns it back into
//! `reasoning_content` on that assistant message (the host drops it for backends that do not
//! want reasoning back).
//!
//! It is never a forged Google signature: it is plain base64 of labelled text, recognised by
//! its fixed prefix, and it is the only signature this adapter reads. Google's signatures and
//! Gemini CLI's `skip_thought_signature_validator` sentinel are ignored and never forwarded.
//! (A history carrying gateway signatures must not be replayed to the real Gemini API; it
//! would reject them, as it rejects any signature it did not issue.)

use crate::base64;

/// 21 bytes, a multiple of 3: every signature starts with the same 28 base64 characters,
/// so recognising one needs no decoding.
const MAGIC: &[u8] = b"cligate:reasoning:v1\n";

/// The signature that carries `reasoning`.
pub fn encode(reasoning: &str) -> String {
    let mut bytes = Vec::with_capacity(MAGIC.len() + reasoning.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(reasoning.as_bytes());
    base64::encode(&bytes)
}

/// The reasoning inside a gateway signature; `None` for any other signature.
pub fn decode(signature: &str) -> Option<String> {
    if !signature.starts_with(&base64::encode(MAGIC)) {
        return None;
    }
    let bytes = base64::decode(signature)?;
    let text = bytes.strip_prefix(MAGIC)?;
    String::from_utf8(text.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trips_and_ignores_foreign_signatures() {
        let sig = encode("Let me read the file first. ✓");
        assert!(sig.starts_with("Y2xpZ2F0ZTpyZWFzb25pbmc6djEK"));
        assert_eq!(decode(&sig).unwrap(), "Let me read the file first. ✓");
        assert_eq!(decode(&encode("")).unwrap(), "");
        assert_eq!(decode("skip_thought_signature_validator"), None);
        assert_eq!(decode("CiQBjz1rX2FiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6"), None);
    }
}
