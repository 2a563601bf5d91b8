//! The audit log: one JSON line per request, written by a background thread, hash-chained.
//!
//! Requests hand their record to a bounded queue and never wait: when the queue is full the
//! record is dropped, counted (`cligate_audit_dropped_total`) and logged once. The writer
//! thread appends, flushes whenever the queue runs dry, rotates by size
//! (`<path>` → `<path>.000001`, `<path>.000002`, …; the oldest beyond `max_files` are deleted)
//! and, at shutdown, writes everything queued before it exits.
//!
//! Tamper evidence: every line ends with `"prev":"<hash of the previous line>","hash":"<h>"`
//! where `h` is the SHA-256 (hex) of the line's content — the line up to and including its
//! `prev` field, closed with `}`. The chain continues across rotation and restarts; the first
//! line ever has `prev` = 64 zeros. `cligate audit verify FILE...` (oldest file first; the
//! rotated names sort that way) recomputes every hash and link and names the first bad line.
//!
//! Prompts and completions are never logged. The values adapters removed from requests (ids,
//! billing headers, environment sections) are logged only with `audit.include_removed_values`;
//! their locations always are.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::config::Audit;
use crate::pivot::Usage;

/// `prev` of the first line of a new chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// How much of a file's end is read to find its last line at start.
const TAIL_BYTES: u64 = 1 << 20;

/// One request, as the audit log records it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuditRecord {
    /// When the request arrived, RFC 3339 UTC.
    pub time: String,
    /// The request id (also the `x-cligate-request-id` response header).
    pub request_id: String,
    /// The gateway key's user, or `anonymous`.
    pub user: String,
    /// The client's address (the TCP peer).
    pub client_addr: Option<String>,
    /// HTTP method.
    pub method: String,
    /// Path (no query: a `?key=` must not be logged).
    pub path: String,
    /// The client software and version, as the adapter recognised it.
    pub client_software: Option<String>,
    /// The client's session id, if it sent one.
    pub session_id: Option<String>,
    /// The adapter's dialect.
    pub dialect: Option<String>,
    /// The adapter's name.
    pub adapter: Option<String>,
    /// The adapter's version.
    pub adapter_version: Option<String>,
    /// The route pattern that matched (`POST /v1/messages`).
    pub route: Option<String>,
    /// The model the client asked for.
    pub requested_model: Option<String>,
    /// The upstream that answered (the last one tried).
    pub upstream: Option<String>,
    /// The backend model sent there.
    pub backend_model: Option<String>,
    /// Every upstream attempt, in order (more than one after a failover).
    pub attempts: Vec<Attempt>,
    /// Whether the client asked for a stream.
    pub stream: bool,
    /// The HTTP status the client got.
    pub status: u16,
    /// `ok`, `error`, or for streams `completed`, `client_gone`, `failed`, `shutdown`.
    pub outcome: String,
    /// The error class (`upstream_status`, `unauthenticated`, …) when something failed.
    pub error_class: Option<String>,
    /// Token counts, when the backend reported them.
    pub tokens: Usage,
    /// Milliseconds until the first response body byte was handed to the client.
    pub ttfb_ms: Option<u64>,
    /// Milliseconds until the response ended.
    pub duration_ms: u64,
    /// Request body bytes (decompressed).
    pub bytes_in: u64,
    /// Response body bytes.
    pub bytes_out: u64,
    /// Translation and routing warnings.
    pub warnings: Vec<String>,
    /// What the adapter removed from the request (values only if configured).
    pub removed: Vec<RemovedRecord>,
}

/// One upstream attempt.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Attempt {
    /// Upstream name.
    pub upstream: String,
    /// Backend model.
    pub model: String,
    /// `ok`, or the error class and status (`upstream_status 503`).
    pub outcome: String,
}

/// One removed field.
#[derive(Debug, Clone, Serialize)]
pub struct RemovedRecord {
    /// Where it was, as the adapter says.
    pub location: String,
    /// The value, with `audit.include_removed_values` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

enum Message {
    Record(Box<AuditRecord>),
    Close,
}

/// The handle requests write through.
#[derive(Debug)]
pub struct AuditLog {
    tx: Option<mpsc::Sender<Message>>,
    include_removed_values: bool,
    /// Records dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Records written.
    pub written: Arc<AtomicU64>,
    /// Write errors (disk full, …).
    pub write_errors: Arc<AtomicU64>,
    warned: AtomicBool,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Message::Record(_) => "Record",
            Message::Close => "Close",
        })
    }
}

impl AuditLog {
    /// No audit log.
    pub fn disabled() -> AuditLog {
        AuditLog {
            tx: None,
            include_removed_values: false,
            dropped: AtomicU64::new(0),
            written: Arc::new(AtomicU64::new(0)),
            write_errors: Arc::new(AtomicU64::new(0)),
            warned: AtomicBool::new(false),
            writer: Mutex::new(None),
        }
    }

    /// The log of `config` (disabled without `path`): opens the file, finds the end of the
    /// chain, starts the writer thread.
    pub fn open(config: &Audit) -> anyhow::Result<AuditLog> {
        let Some(path) = &config.path else {
            return Ok(AuditLog::disabled());
        };
        let writer = Writer::open(path, config.max_file_bytes, config.max_files)?;
        let (tx, rx) = mpsc::channel(config.queue);
        let written = Arc::new(AtomicU64::new(0));
        let write_errors = Arc::new(AtomicU64::new(0));
        let counters = (Arc::clone(&written), Arc::clone(&write_errors));
        let handle = std::thread::Builder::new()
            .name("cligate-audit".into())
            .spawn(move || writer.run(rx, counters.0, counters.1))?;
        tracing::info!(path = %path.display(), "audit log open");
        Ok(AuditLog {
            tx: Some(tx),
            include_removed_values: config.include_removed_values,
            dropped: AtomicU64::new(0),
            written,
            write_errors,
            warned: AtomicBool::new(false),
            writer: Mutex::new(Some(handle)),
        })
    }

    /// Whether records are written at all.
    pub fn enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// Whether removed values are logged.
    pub fn include_removed_values(&self) -> bool {
        self.include_removed_values
    }

    /// Queue a record; never waits.
    pub fn submit(&self, record: AuditRecord) {
        let Some(tx) = &self.tx else {
            return;
        };
        if tx.try_send(Message::Record(Box::new(record))).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            if !self.warned.swap(true, Ordering::Relaxed) {
                tracing::error!(
                    "the audit log cannot keep up: its queue is full and records are being dropped \
                     (counted in cligate_audit_dropped_total; logged once)"
                );
            }
        }
    }

    /// Write everything queued so far, then stop the writer (waits at most `timeout`).
    pub async fn close(&self, timeout: Duration) {
        let Some(tx) = &self.tx else {
            return;
        };
        if tokio::time::timeout(timeout, tx.send(Message::Close))
            .await
            .is_err()
        {
            tracing::error!("the audit log did not take the close request in time");
            return;
        }
        let handle = self.writer.lock().ok().and_then(|mut h| h.take());
        if let Some(handle) = handle {
            let joined = tokio::time::timeout(
                timeout,
                tokio::task::spawn_blocking(move || handle.join().is_ok()),
            )
            .await;
            match joined {
                Ok(Ok(true)) => tracing::info!(
                    written = self.written.load(Ordering::Relaxed),
                    dropped = self.dropped.load(Ordering::Relaxed),
                    "audit log closed"
                ),
                _ => tracing::error!("the audit log writer did not finish in time"),
            }
        }
    }
}

/// The writer thread's state.
struct Writer {
    path: PathBuf,
    file: BufWriter<File>,
    size: u64,
    prev: String,
    max_file_bytes: u64,
    max_files: u32,
}

impl Writer {
    fn open(path: &Path, max_file_bytes: u64, max_files: u32) -> anyhow::Result<Writer> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)
            .map_err(|e| anyhow::anyhow!("opening the audit log {}: {e}", path.display()))?;
        let size = file.metadata()?.len();
        let mut prev = None;
        if size > 0 {
            let (last, ends_with_newline) = last_line(&mut file, size)?;
            if !ends_with_newline {
                // A line cut short (a crash mid-write): end it so the next record starts on
                // its own line. Verification will point at the damaged line.
                file.write_all(b"\n")?;
                tracing::warn!(path = %path.display(), "the audit log ended with an incomplete line");
            }
            prev = last.as_deref().and_then(line_hash).map(str::to_owned);
        }
        if prev.is_none()
            && let Some(rotated) = rotated_files(path)?.last()
        {
            let mut rotated_file = File::open(rotated)?;
            let len = rotated_file.metadata()?.len();
            let (last, _) = last_line(&mut rotated_file, len)?;
            prev = last.as_deref().and_then(line_hash).map(str::to_owned);
        }
        let size = file.metadata()?.len();
        Ok(Writer {
            path: path.to_path_buf(),
            file: BufWriter::new(file),
            size,
            prev: prev.unwrap_or_else(|| GENESIS.to_owned()),
            max_file_bytes,
            max_files,
        })
    }

    fn run(
        mut self,
        mut rx: mpsc::Receiver<Message>,
        written: Arc<AtomicU64>,
        errors: Arc<AtomicU64>,
    ) {
        let mut failing = false;
        let report = |result: std::io::Result<()>, failing: &mut bool| match result {
            Ok(()) => *failing = false,
            Err(err) => {
                errors.fetch_add(1, Ordering::Relaxed);
                if !*failing {
                    tracing::error!(error = %err, "cannot write the audit log");
                }
                *failing = true;
            }
        };
        'outer: while let Some(message) = rx.blocking_recv() {
            let mut next = Some(message);
            while let Some(message) = next.take() {
                match message {
                    Message::Close => break 'outer,
                    Message::Record(record) => {
                        let result = self.append(&record);
                        if result.is_ok() {
                            written.fetch_add(1, Ordering::Relaxed);
                        }
                        report(result, &mut failing);
                    }
                }
                next = rx.try_recv().ok();
            }
            report(self.file.flush(), &mut failing);
        }
        report(self.file.flush(), &mut failing);
        let _ = self.file.get_ref().sync_all();
    }

    fn append(&mut self, record: &AuditRecord) -> std::io::Result<()> {
        let (line, hash) = chain_line(record, &self.prev)?;
        if self.size > 0 && self.size + line.len() as u64 > self.max_file_bytes {
            self.rotate()?;
        }
        self.file.write_all(&line)?;
        self.size += line.len() as u64;
        self.prev = hash;
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        self.file.flush()?;
        let rotated = rotated_files(&self.path)?;
        let next = rotated
            .last()
            .and_then(|p| rotation_number(&self.path, p))
            .unwrap_or(0)
            + 1;
        let target = PathBuf::from(format!("{}.{next:06}", self.path.display()));
        std::fs::rename(&self.path, &target)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.file = BufWriter::new(file);
        self.size = 0;
        let mut all = rotated;
        all.push(target);
        let excess = all.len().saturating_sub(self.max_files as usize);
        for old in all.iter().take(excess) {
            if let Err(err) = std::fs::remove_file(old) {
                tracing::warn!(file = %old.display(), error = %err, "cannot delete an old audit file");
            }
        }
        Ok(())
    }
}

/// The line for `record` chained to `prev`, and its hash.
fn chain_line(record: &AuditRecord, prev: &str) -> std::io::Result<(Vec<u8>, String)> {
    let mut content = serde_json::to_vec(record)?;
    // `{…}` → `{…,"prev":"…"}`: `prev` is the last field of the hashed content.
    content.pop();
    content.extend_from_slice(b",\"prev\":\"");
    content.extend_from_slice(prev.as_bytes());
    content.extend_from_slice(b"\"}");
    let hash = hex::encode(Sha256::digest(&content));
    content.pop();
    content.extend_from_slice(b",\"hash\":\"");
    content.extend_from_slice(hash.as_bytes());
    content.extend_from_slice(b"\"}\n");
    Ok((content, hash))
}

/// The `hash` field of a line, if the line has the chained shape.
fn line_hash(line: &str) -> Option<&str> {
    split_line(line).ok().map(|parts| parts.hash)
}

struct LineParts<'a> {
    /// The hashed content (`…,"prev":"…"}`).
    content: String,
    prev: &'a str,
    hash: &'a str,
}

fn split_line(line: &str) -> Result<LineParts<'_>, String> {
    const HASH_FIELD: &str = ",\"hash\":\"";
    const PREV_FIELD: &str = ",\"prev\":\"";
    let body = line
        .strip_suffix("\"}")
        .ok_or("the line does not end with its hash field")?;
    let at = body
        .len()
        .checked_sub(64)
        .ok_or("the line is too short to carry a hash")?;
    let hash = body.get(at..).ok_or("the hash field is malformed")?;
    let before = body
        .get(..at)
        .and_then(|b| b.strip_suffix(HASH_FIELD))
        .ok_or("the line does not end with a 64-character hash field")?;
    if !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("the hash is not hex".to_owned());
    }
    let prev_at = before
        .len()
        .checked_sub(65)
        .ok_or("the line is too short to carry prev")?;
    let prev = before
        .get(prev_at..)
        .and_then(|p| p.strip_suffix('"'))
        .ok_or("the prev field is malformed")?;
    if before
        .get(..prev_at)
        .and_then(|b| b.strip_suffix(PREV_FIELD))
        .is_none()
        || !prev.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err("the prev field is missing or not right before the hash".to_owned());
    }
    Ok(LineParts {
        content: format!("{before}}}"),
        prev,
        hash,
    })
}

/// The last complete line of `file` (of length `len`) and whether the file ends with `\n`.
fn last_line(file: &mut File, len: u64) -> std::io::Result<(Option<String>, bool)> {
    let start = len.saturating_sub(TAIL_BYTES);
    file.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::new();
    file.take(TAIL_BYTES).read_to_end(&mut tail)?;
    file.seek(SeekFrom::End(0))?;
    let ends_with_newline = tail.last() == Some(&b'\n');
    let text = String::from_utf8_lossy(&tail);
    let complete = if ends_with_newline {
        text.as_ref()
    } else {
        text.rsplit_once('\n').map(|(done, _)| done).unwrap_or("")
    };
    let last = complete
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(str::to_owned);
    Ok((last, ends_with_newline))
}

/// Rotated files of `path`, oldest first.
fn rotated_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut found: Vec<(u64, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let candidate = entry?.path();
        if let Some(n) = rotation_number(path, &candidate) {
            found.push((n, candidate));
        }
    }
    found.sort();
    Ok(found.into_iter().map(|(_, p)| p).collect())
}

fn rotation_number(path: &Path, candidate: &Path) -> Option<u64> {
    let base = path.file_name()?.to_str()?;
    let name = candidate.file_name()?.to_str()?;
    let suffix = name.strip_prefix(base)?.strip_prefix('.')?;
    if suffix.len() >= 6 && suffix.bytes().all(|b| b.is_ascii_digit()) {
        suffix.parse().ok()
    } else {
        None
    }
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Lines checked.
    pub lines: u64,
    /// Files checked.
    pub files: usize,
    /// `prev` of the first line (`GENESIS` when the chain starts at the very beginning).
    pub first_prev: String,
    /// `hash` of the last line.
    pub last_hash: String,
}

/// The first bad line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {reason}", file.display())]
pub struct Broken {
    /// The file.
    pub file: PathBuf,
    /// 1-based line number.
    pub line: u64,
    /// What is wrong.
    pub reason: String,
}

/// Check the chain of `files`, given oldest first.
pub fn verify(files: &[PathBuf]) -> Result<Verified, Broken> {
    let mut expected: Option<String> = None;
    let mut first_prev = None;
    let mut lines = 0u64;
    for file in files {
        let broken = |line: u64, reason: String| Broken {
            file: file.clone(),
            line,
            reason,
        };
        let reader = File::open(file).map_err(|e| broken(0, format!("cannot open: {e}")))?;
        for (index, line) in BufReader::new(reader).lines().enumerate() {
            let number = index as u64 + 1;
            let line = line.map_err(|e| broken(number, format!("cannot read: {e}")))?;
            let parts = split_line(&line).map_err(|e| broken(number, e))?;
            if serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&parts.content)
                .is_err()
            {
                return Err(broken(
                    number,
                    "the content is not a JSON object".to_owned(),
                ));
            }
            let actual = hex::encode(Sha256::digest(parts.content.as_bytes()));
            if actual != parts.hash {
                return Err(broken(
                    number,
                    format!(
                        "the content does not match its hash (computed {actual}): the line was changed"
                    ),
                ));
            }
            match &expected {
                Some(expected) if expected != parts.prev => {
                    return Err(broken(
                        number,
                        format!(
                            "prev {} is not the hash of the line before ({expected}): a line was removed, inserted or the files are out of order",
                            parts.prev
                        ),
                    ));
                }
                _ => {}
            }
            first_prev.get_or_insert_with(|| parts.prev.to_owned());
            expected = Some(parts.hash.to_owned());
            lines += 1;
        }
    }
    Ok(Verified {
        lines,
        files: files.len(),
        first_prev: first_prev.unwrap_or_else(|| GENESIS.to_owned()),
        last_hash: expected.unwrap_or_else(|| GENESIS.to_owned()),
    })
}

/// RFC 3339 UTC with milliseconds (`2026-11-26T10:00:00.123Z`).
pub fn rfc3339(time: SystemTime) -> String {
    let since = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let secs = since.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn record(id: &str) -> AuditRecord {
        AuditRecord {
            request_id: id.to_owned(),
            user: "alice".to_owned(),
            status: 200,
            ..AuditRecord::default()
        }
    }

    fn config(path: &Path, max_file_bytes: u64) -> Audit {
        Audit {
            path: Some(path.to_path_buf()),
            include_removed_values: false,
            max_file_bytes,
            max_files: 100,
            queue: 1024,
        }
    }

    async fn write(config: &Audit, ids: std::ops::Range<u32>) {
        let log = AuditLog::open(config).unwrap();
        for i in ids {
            log.submit(record(&format!("req_{i}")));
        }
        log.close(Duration::from_secs(5)).await;
    }

    fn files(path: &Path) -> Vec<PathBuf> {
        let mut files = rotated_files(path).unwrap();
        files.push(path.to_path_buf());
        files
    }

    #[tokio::test]
    async fn chain_spans_rotation_and_restarts_and_detects_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let config = config(&path, 4096);
        write(&config, 0..30).await;
        write(&config, 30..60).await;
        let all = files(&path);
        assert!(all.len() > 2, "rotated: {all:?}");
        let verified = verify(&all).unwrap();
        assert_eq!(verified.lines, 60);
        assert_eq!(verified.first_prev, GENESIS);

        // Out of order.
        let mut reversed = all.clone();
        reversed.reverse();
        assert!(
            verify(&reversed)
                .unwrap_err()
                .reason
                .contains("out of order")
        );

        // A changed field.
        let text = std::fs::read_to_string(&all[1]).unwrap();
        std::fs::write(&all[1], text.replacen("\"alice\"", "\"mallory\"", 1)).unwrap();
        let broken = verify(&all).unwrap_err();
        assert_eq!((broken.file.clone(), broken.line), (all[1].clone(), 1));
        assert!(
            broken.reason.contains("does not match its hash"),
            "{broken}"
        );

        // A removed line.
        std::fs::write(&all[1], &text).unwrap();
        let kept: Vec<&str> = text
            .lines()
            .enumerate()
            .filter(|(i, _)| *i != 2)
            .map(|(_, l)| l)
            .collect();
        std::fs::write(&all[1], kept.join("\n") + "\n").unwrap();
        let broken = verify(&all).unwrap_err();
        assert_eq!(broken.line, 3);
        assert!(broken.reason.contains("removed"), "{broken}");
    }

    #[tokio::test]
    async fn old_rotations_are_deleted_and_a_cut_line_is_isolated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let mut config = config(&path, 4096);
        config.max_files = 2;
        write(&config, 0..80).await;
        assert_eq!(rotated_files(&path).unwrap().len(), 2);
        // The remaining files still chain (the first prev is not genesis any more).
        let verified = verify(&files(&path)).unwrap();
        assert_ne!(verified.first_prev, GENESIS);

        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"cut\":").unwrap();
        drop(file);
        write(&config, 80..81).await;
        let broken = verify(&files(&path)).unwrap_err();
        assert!(broken.reason.contains("hash field"), "{broken}");
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let (tx, _rx) = mpsc::channel(1);
        let log = AuditLog {
            tx: Some(tx),
            ..AuditLog::disabled()
        };
        log.submit(record("a"));
        log.submit(record("b"));
        log.submit(record("c"));
        assert_eq!(log.dropped.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn times_are_rfc3339_utc() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_676_407_151);
        assert_eq!(rfc3339(t), "2026-11-26T07:00:07.151Z");
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
    }
}
