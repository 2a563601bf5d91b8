//! A small client-side SSE reader, independent of the gateway's own framer (testing the
//! gateway with its own parser would prove little).

use std::collections::VecDeque;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

/// One event as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    pub event: Option<String>,
    /// `data:` lines joined with `\n`.
    pub data: String,
    pub id: Option<String>,
}

impl Event {
    /// The data parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.data).ok()
    }

    /// Whether this is `data: [DONE]`.
    pub fn is_done(&self) -> bool {
        self.data == "[DONE]"
    }
}

/// Incremental parser: feed bytes, get whole events. Handles LF, CRLF and CR endings.
#[derive(Debug, Default)]
pub struct Parser {
    buf: Vec<u8>,
    current: Event,
    has_data: bool,
    has_fields: bool,
    /// Comment lines (`: …`) seen.
    pub comments: Vec<String>,
    /// Lines that are not `field: value` of a known field (a strict client might choke).
    pub unknown_lines: Vec<String>,
}

impl Parser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed bytes; returns the events completed by them.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Event> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(pos) = self.buf.iter().position(|b| *b == b'\n' || *b == b'\r') {
            // A CR at the very end may be the first half of CRLF: wait for more.
            if self.buf[pos] == b'\r' && pos + 1 == self.buf.len() {
                break;
            }
            let mut end = pos + 1;
            if self.buf[pos] == b'\r' && self.buf.get(pos + 1) == Some(&b'\n') {
                end += 1;
            }
            let line: Vec<u8> = self.buf.drain(..end).take(pos).collect();
            let line = String::from_utf8_lossy(&line).into_owned();
            if let Some(ev) = self.line(&line) {
                out.push(ev);
            }
        }
        out
    }

    /// End of input: a pending unterminated event (the stream closed mid-event) is returned.
    pub fn finish(&mut self) -> Option<Event> {
        if !self.buf.is_empty() {
            let rest = String::from_utf8_lossy(&std::mem::take(&mut self.buf)).into_owned();
            let rest = rest.trim_end_matches('\r').to_owned();
            self.line(&rest);
        }
        self.dispatch()
    }

    fn dispatch(&mut self) -> Option<Event> {
        let had = self.has_data || self.has_fields;
        self.has_data = false;
        self.has_fields = false;
        let ev = std::mem::take(&mut self.current);
        had.then_some(ev)
    }

    fn line(&mut self, line: &str) -> Option<Event> {
        if line.is_empty() {
            return self.dispatch();
        }
        if let Some(c) = line.strip_prefix(':') {
            self.comments.push(c.trim_start().to_owned());
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.current.data.push('\n');
                }
                self.current.data.push_str(value);
                self.has_data = true;
            }
            "event" => {
                self.current.event = Some(value.to_owned());
                self.has_fields = true;
            }
            "id" => {
                self.current.id = Some(value.to_owned());
                self.has_fields = true;
            }
            "retry" => {}
            _ => self.unknown_lines.push(line.to_owned()),
        }
        None
    }
}

/// Parse a whole body.
pub fn parse_all(bytes: &[u8]) -> Vec<Event> {
    let mut p = Parser::new();
    let mut out = p.feed(bytes);
    out.extend(p.finish());
    out
}

/// Reads events from a streaming `reqwest::Response`.
#[derive(Debug)]
pub struct EventStream {
    resp: reqwest::Response,
    parser: Parser,
    pending: VecDeque<Event>,
    ended: bool,
    /// Every byte received so far.
    pub raw: Vec<u8>,
    /// Body chunks as they arrived (the client's view of chunk boundaries).
    pub chunks: Vec<Vec<u8>>,
}

impl EventStream {
    pub fn new(resp: reqwest::Response) -> Self {
        EventStream {
            resp,
            parser: Parser::new(),
            pending: VecDeque::new(),
            ended: false,
            raw: Vec::new(),
            chunks: Vec::new(),
        }
    }

    /// The response's status.
    pub fn status(&self) -> reqwest::StatusCode {
        self.resp.status()
    }

    /// A response header.
    pub fn header(&self, name: &str) -> Option<String> {
        self.resp
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// The parser (comments and unknown lines seen so far).
    pub fn parser(&self) -> &Parser {
        &self.parser
    }

    /// The next event, `Ok(None)` at a clean end of the body, `Err` if the body failed
    /// (connection reset, truncated chunked encoding).
    pub async fn next(&mut self) -> anyhow::Result<Option<Event>> {
        loop {
            if let Some(ev) = self.pending.pop_front() {
                return Ok(Some(ev));
            }
            if self.ended {
                return Ok(None);
            }
            match self.resp.chunk().await.context("reading the SSE body")? {
                Some(bytes) => {
                    self.raw.extend_from_slice(&bytes);
                    self.chunks.push(bytes.to_vec());
                    let evs = self.parser.feed(&bytes);
                    self.pending.extend(evs);
                }
                None => {
                    self.ended = true;
                    if let Some(ev) = self.parser.finish() {
                        self.pending.push_back(ev);
                    }
                }
            }
        }
    }

    /// `next` with a timeout.
    pub async fn next_within(&mut self, timeout: Duration) -> anyhow::Result<Option<Event>> {
        match tokio::time::timeout(timeout, self.next()).await {
            Ok(r) => r,
            Err(_) => bail!("no SSE event within {timeout:?}"),
        }
    }

    /// Read to the end; returns the events and, if the body failed, the error.
    pub async fn collect(mut self, timeout: Duration) -> (Vec<Event>, Option<anyhow::Error>) {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.next()).await {
                Ok(Ok(Some(ev))) => out.push(ev),
                Ok(Ok(None)) => return (out, None),
                Ok(Err(e)) => return (out, Some(e)),
                Err(_) => {
                    return (
                        out,
                        Some(anyhow::anyhow!(
                            "the SSE body did not end within {timeout:?}"
                        )),
                    );
                }
            }
        }
    }
}
