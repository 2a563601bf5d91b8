//! The one SSE framer for every upstream stream.
//!
//! Bytes arrive in arbitrary pieces; [`SseFramer::feed`] returns whole events only, so
//! adapters never see a partial event. It accepts LF, CRLF and lone CR line endings (also
//! split across pieces), joins multi-line `data:`, skips comment lines and unknown fields,
//! and refuses an event larger than its byte cap instead of buffering without bound.
//! [`SseFramer::finish`] flushes an event the upstream left unterminated at the end.
//!
//! It lives in its own crate so adapter tests can replay streams through the very framer
//! the host uses.

/// One whole event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    /// The `event:` field, if any.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

impl Event {
    /// Whether this is the Chat Completions end sentinel `data: [DONE]`.
    pub fn is_done_sentinel(&self) -> bool {
        self.data.trim() == "[DONE]"
    }
}

/// An event grew past the cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTooLarge {
    /// The cap in bytes.
    pub cap: usize,
}

impl std::fmt::Display for EventTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "an upstream event exceeded {} bytes", self.cap)
    }
}

impl std::error::Error for EventTooLarge {}

/// Incremental SSE parser with a byte cap per event.
#[derive(Debug)]
pub struct SseFramer {
    cap: usize,
    /// Bytes of the current, not yet terminated line.
    line: Vec<u8>,
    /// The previous piece ended in CR: a leading LF in the next piece belongs to it.
    after_cr: bool,
    /// Fields of the event being assembled.
    event: Option<String>,
    data: Option<String>,
    /// Bytes held for the current event (line plus fields), checked against `cap`.
    held: usize,
    at_stream_start: bool,
}

impl SseFramer {
    /// A framer that refuses events larger than `cap` bytes.
    pub fn new(cap: usize) -> Self {
        SseFramer {
            cap,
            line: Vec::new(),
            after_cr: false,
            event: None,
            data: None,
            held: 0,
            at_stream_start: true,
        }
    }

    /// Feed the next piece of the byte stream; returns the events it completed.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<Vec<Event>, EventTooLarge> {
        let mut out = Vec::new();
        if self.after_cr {
            if let Some(rest) = bytes.strip_prefix(b"\n") {
                bytes = rest;
            }
            if !bytes.is_empty() {
                self.after_cr = false;
            }
        }
        while let Some(pos) = bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.grow(pos)?;
            self.line.extend_from_slice(&bytes[..pos]);
            let ended_with_cr = bytes[pos] == b'\r';
            bytes = &bytes[pos + 1..];
            if ended_with_cr {
                match bytes.first() {
                    Some(b'\n') => bytes = &bytes[1..],
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
            let line = std::mem::take(&mut self.line);
            if let Some(event) = self.end_line(&line) {
                out.push(event);
            }
        }
        self.grow(bytes.len())?;
        self.line.extend_from_slice(bytes);
        Ok(out)
    }

    /// The stream ended: an event left without its blank line is still delivered.
    pub fn finish(&mut self) -> Option<Event> {
        let line = std::mem::take(&mut self.line);
        if !line.is_empty() {
            let _ = self.end_line(&line);
        }
        self.dispatch()
    }

    fn grow(&mut self, by: usize) -> Result<(), EventTooLarge> {
        self.held += by;
        if self.held > self.cap {
            Err(EventTooLarge { cap: self.cap })
        } else {
            Ok(())
        }
    }

    fn end_line(&mut self, line: &[u8]) -> Option<Event> {
        let mut line = String::from_utf8_lossy(line);
        if self.at_stream_start {
            self.at_stream_start = false;
            if let Some(rest) = line.strip_prefix('\u{feff}') {
                line = rest.to_owned().into();
            }
        }
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        match field {
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            "event" => self.event = Some(value.to_owned()),
            _ => {} // id, retry and unknown fields mean nothing to a pivot stream.
        }
        None
    }

    fn dispatch(&mut self) -> Option<Event> {
        self.held = self.line.len();
        let event = self.event.take();
        // An event with no data is not dispatched (SSE spec).
        let data = self.data.take()?;
        Some(Event { event, data })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn all(input: &[u8], split: usize) -> Vec<Event> {
        let mut framer = SseFramer::new(1 << 20);
        let mut out = Vec::new();
        for piece in input.chunks(split) {
            out.extend(framer.feed(piece).unwrap());
        }
        out.extend(framer.finish());
        out
    }

    #[test]
    fn same_events_whatever_the_split_and_line_ending() {
        let lf =
            b": comment\nevent: a\ndata: 1\ndata: 2\n\ndata: {\"x\":3}\nid: 7\n\ndata: [DONE]\n\n";
        let crlf = String::from_utf8_lossy(lf).replace('\n', "\r\n");
        let cr = String::from_utf8_lossy(lf).replace('\n', "\r");
        let expected = vec![
            Event {
                event: Some("a".into()),
                data: "1\n2".into(),
            },
            Event {
                event: None,
                data: "{\"x\":3}".into(),
            },
            Event {
                event: None,
                data: "[DONE]".into(),
            },
        ];
        for split in [1, 2, 3, 7, 4096] {
            assert_eq!(all(lf, split), expected, "lf split {split}");
            assert_eq!(all(crlf.as_bytes(), split), expected, "crlf split {split}");
            assert_eq!(all(cr.as_bytes(), split), expected, "cr split {split}");
        }
        assert!(expected[2].is_done_sentinel());
    }

    #[test]
    fn unterminated_tail_is_flushed_and_bom_skipped() {
        assert_eq!(
            all("\u{feff}data: tail".as_bytes(), 3),
            vec![Event {
                event: None,
                data: "tail".into()
            }]
        );
        assert_eq!(all(b"event: only-name\n\n", 5), vec![]);
    }

    #[test]
    fn cap_refuses_a_runaway_event_but_not_many_small_ones() {
        let mut framer = SseFramer::new(64);
        for _ in 0..100 {
            assert_eq!(framer.feed(b"data: 0123456789\n\n").unwrap().len(), 1);
        }
        let mut framer = SseFramer::new(64);
        let mut result = Ok(Vec::new());
        for _ in 0..100 {
            result = framer.feed(b"data: 0123456789\n");
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(EventTooLarge { cap: 64 }));
    }
}
