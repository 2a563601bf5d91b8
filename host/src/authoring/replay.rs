//! `cligate adapter test`: replay recorded exchanges through a component, in-process, the way
//! the request path calls it (`host/src/proxy.rs`), and compare with what was recorded.
//!
//! A fixtures directory holds one sub-directory per case (or is itself one case). The files of
//! a case, all optional except the first input (the format is documented in
//! `docs/adapters.md`):
//!
//! | file | role |
//! |---|---|
//! | `request.json` | input: the client request (`translate-request`, or `answer-local` with `local.json`) |
//! | `context.json` | input: request id, time, backend model, host warnings |
//! | `pivot.json` | expected pivot request |
//! | `rejection.json` | expected `adapter-error` of `translate-request` |
//! | `upstream.sse` | input: the backend's pivot stream |
//! | `stream-error.json` | input: end the stream with `fail(error)` instead of `finish` |
//! | `client.sse` | expected client stream bytes (also with the upstream split at 1, 7, 4096 bytes) |
//! | `upstream.json` | input: the backend's whole answer |
//! | `local.json` | input: the local context (models); makes the case a local route |
//! | `error.json` | input: a gateway error to render (`translate-error`), without a request |
//! | `response.json` | expected client response: whole answer, local answer or rendered error |

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::diff::{json_diff, json_report, sse_report};
use super::json_text;
use crate::adapter_host::wit::latest::types::{
    ClientRequest, ClientResponse, ErrorKind, ErrorSite, GatewayError as WitError, Header,
    LocalContext, ModelEntry, PivotRequest, RequestContext, RequestOptions, SseEvent,
};
use crate::adapter_host::{AdapterEngine, LoadedAdapter, Session};
use crate::config::Limits;
use crate::error::GatewayError;

/// Split sizes every stream is replayed at, after the whole stream in one piece.
pub const SPLITS: &[usize] = &[1, 7, 4096];

/// Request id given to the adapter unless `context.json` says otherwise.
pub const DEFAULT_REQUEST_ID: &str = "req_fixture_0001";
/// Request time (`created-unix`) unless `context.json` says otherwise.
pub const DEFAULT_CREATED_UNIX: u64 = 1_790_000_000;
/// Backend model unless `context.json` says otherwise.
pub const DEFAULT_BACKEND_MODEL: &str = "backend-model";

/// Request headers the gateway removes before an adapter sees the request (the list of
/// `host/src/proxy.rs`); a recorded capture may still carry them.
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "cookie",
];

/// How to run.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Write the expected files from the current output instead of comparing.
    pub update: bool,
    /// Only cases whose name contains this.
    pub filter: Option<String>,
}

/// Outcome of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Cases without a difference.
    pub passed: usize,
    /// Cases with a difference or an unusable fixture.
    pub failed: usize,
    /// Expected files written (update mode).
    pub updated: usize,
}

/// Replay every case of `fixtures` through the component `wasm`; print a line per case and
/// the differences.
pub async fn run(
    wasm: &Path,
    fixtures: &Path,
    options: &Options,
    out: &mut impl Write,
) -> anyhow::Result<Summary> {
    let cases: Vec<PathBuf> = list_cases(fixtures)?
        .into_iter()
        .filter(|dir| match &options.filter {
            Some(filter) => dir
                .file_name()
                .is_some_and(|n| n.to_string_lossy().contains(filter.as_str())),
            None => true,
        })
        .collect();
    if cases.is_empty() {
        bail!(
            "no case in {} matches the filter {:?}",
            fixtures.display(),
            options.filter.as_deref().unwrap_or("")
        );
    }
    let (engine, adapter) = super::load_component(wasm).await?;
    writeln!(
        out,
        "{} {} (dialect {}, contract {}), {} case(s) from {}",
        adapter.name,
        adapter.version,
        adapter.dialect,
        adapter.contract,
        cases.len(),
        fixtures.display()
    )?;
    let mut summary = Summary::default();
    for dir in cases {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string());
        let mut case = Case {
            engine: &engine,
            adapter: &adapter,
            dir: dir.clone(),
            update: options.update,
            checks: Vec::new(),
            failures: Vec::new(),
            notes: Vec::new(),
            updated: Vec::new(),
        };
        if let Err(err) = case.run().await {
            case.failures.push(format!("{err:#}"));
        }
        summary.updated += case.updated.len();
        if case.failures.is_empty() {
            summary.passed += 1;
            writeln!(out, "ok    {name}: {}", case.checks.join(", "))?;
        } else {
            summary.failed += 1;
            writeln!(out, "FAIL  {name}")?;
            for failure in &case.failures {
                for line in failure.lines() {
                    writeln!(out, "      {line}")?;
                }
            }
        }
        for note in &case.notes {
            writeln!(out, "      note: {note}")?;
        }
        if !case.updated.is_empty() {
            writeln!(out, "      recorded: {}", case.updated.join(", "))?;
        }
    }
    writeln!(
        out,
        "{} case(s): {} passed, {} failed{}",
        summary.passed + summary.failed,
        summary.passed,
        summary.failed,
        if options.update {
            format!(", {} file(s) recorded", summary.updated)
        } else {
            String::new()
        }
    )?;
    Ok(summary)
}

/// The case directories: every sub-directory with an input file, sorted; or the directory
/// itself when it is one case.
pub fn list_cases(fixtures: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if is_case(fixtures) {
        return Ok(vec![fixtures.to_path_buf()]);
    }
    let entries = std::fs::read_dir(fixtures)
        .with_context(|| format!("reading the fixtures directory {}", fixtures.display()))?;
    let mut cases = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() && is_case(&path) {
            cases.push(path);
        }
    }
    cases.sort();
    if cases.is_empty() {
        bail!(
            "no fixture case in {}: a case is a directory with request.json or error.json \
             (see docs/adapters.md)",
            fixtures.display()
        );
    }
    Ok(cases)
}

fn is_case(dir: &Path) -> bool {
    dir.join("request.json").is_file() || dir.join("error.json").is_file()
}

/// `request.json`. The capture format of `tests/fixtures/captures` is accepted as is.
#[derive(Deserialize)]
struct RequestFile {
    method: String,
    path: String,
    /// `"a=1&b=2"`, `[["a","1"],["b","2"]]` or absent.
    #[serde(default)]
    query: Option<Value>,
    /// The request target as sent (`/v1/messages?beta=true`); its query wins when present.
    #[serde(default)]
    raw_target: Option<String>,
    /// `[["name","value"], …]` (order kept) or `{"name": "value"}`.
    #[serde(default)]
    headers: Option<Value>,
    /// A JSON body, sent compact with its key order kept.
    #[serde(default)]
    body: Option<Box<RawValue>>,
    /// A body sent byte for byte (malformed JSON, other formats).
    #[serde(default)]
    body_text: Option<String>,
}

/// `context.json`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ContextFile {
    #[serde(default)]
    request_id: Option<String>,
    #[serde(default)]
    created_unix: Option<u64>,
    #[serde(default)]
    backend_model: Option<String>,
    /// Warnings the host adds (routing, clamping), after the adapter's own.
    #[serde(default)]
    warnings: Vec<String>,
    #[serde(default)]
    redact_environment: bool,
}

/// `local.json`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LocalFile {
    #[serde(default)]
    models: Option<Vec<ModelFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelFile {
    id: String,
    #[serde(default = "cligate")]
    owned_by: String,
    #[serde(default)]
    context_window: Option<u32>,
    #[serde(default)]
    max_output_tokens: Option<u32>,
}

fn cligate() -> String {
    "cligate".to_owned()
}

/// `error.json`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ErrorFile {
    #[serde(default)]
    site: SiteFile,
    error: ErrorValue,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteFile {
    #[serde(default)]
    request_id: Option<String>,
    #[serde(default = "root_path")]
    path: String,
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    client_model: Option<String>,
}

impl Default for SiteFile {
    fn default() -> Self {
        SiteFile {
            request_id: None,
            path: root_path(),
            query: None,
            client_model: None,
        }
    }
}

fn root_path() -> String {
    "/".to_owned()
}

/// A gateway error as fixtures write it (`error.json` → `error`, `stream-error.json`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ErrorValue {
    /// `invalid-request`, `rate-limited`, … (the WIT `error-kind` names).
    kind: String,
    /// Defaults to the status the gateway suggests for the kind.
    #[serde(default)]
    status: Option<u16>,
    message: String,
    #[serde(default)]
    retry_after_seconds: Option<u32>,
}

impl ErrorValue {
    fn to_wit(&self) -> anyhow::Result<WitError> {
        let kind = parse_kind(&self.kind)?;
        Ok(WitError {
            kind,
            status: self.status.unwrap_or_else(|| kind_status(kind)),
            message: self.message.clone(),
            retry_after_seconds: self.retry_after_seconds,
        })
    }
}

/// The WIT `error-kind` names.
const KINDS: &[(&str, ErrorKind)] = &[
    ("invalid-request", ErrorKind::InvalidRequest),
    ("authentication", ErrorKind::Authentication),
    ("permission", ErrorKind::Permission),
    ("not-found", ErrorKind::NotFound),
    ("method-not-allowed", ErrorKind::MethodNotAllowed),
    ("request-too-large", ErrorKind::RequestTooLarge),
    ("rate-limited", ErrorKind::RateLimited),
    ("upstream", ErrorKind::Upstream),
    ("overloaded", ErrorKind::Overloaded),
    ("timeout", ErrorKind::Timeout),
    ("adapter-broken", ErrorKind::AdapterBroken),
    ("internal", ErrorKind::Internal),
];

fn parse_kind(name: &str) -> anyhow::Result<ErrorKind> {
    KINDS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, kind)| *kind)
        .ok_or_else(|| {
            anyhow!(
                "unknown error kind {name:?}; one of {}",
                KINDS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            )
        })
}

/// The status the gateway suggests for a kind (`GatewayError::status`).
fn kind_status(kind: ErrorKind) -> u16 {
    match kind {
        ErrorKind::InvalidRequest => 400,
        ErrorKind::Authentication => 401,
        ErrorKind::Permission => 403,
        ErrorKind::NotFound => 404,
        ErrorKind::MethodNotAllowed => 405,
        ErrorKind::RequestTooLarge => 413,
        ErrorKind::RateLimited => 429,
        ErrorKind::Upstream | ErrorKind::AdapterBroken => 502,
        ErrorKind::Overloaded => 503,
        ErrorKind::Timeout => 504,
        ErrorKind::Internal => 500,
    }
}

/// One case being replayed.
struct Case<'a> {
    engine: &'a Arc<AdapterEngine>,
    adapter: &'a Arc<LoadedAdapter>,
    dir: PathBuf,
    update: bool,
    /// What was checked (for the `ok` line).
    checks: Vec<String>,
    failures: Vec<String>,
    notes: Vec<String>,
    updated: Vec<String>,
}

impl Case<'_> {
    async fn run(&mut self) -> anyhow::Result<()> {
        let has_request = self.has("request.json");
        let has_error = self.has("error.json");
        if has_request && has_error {
            bail!("a case has request.json or error.json, not both");
        }
        if has_error {
            return self.render_error_case().await;
        }
        let file: RequestFile = self.read_json("request.json")?;
        let context: ContextFile = if self.has("context.json") {
            self.read_json("context.json")?
        } else {
            ContextFile::default()
        };
        let request = client_request(file)?;
        if self.has("local.json") {
            return self.local_case(&request, &context).await;
        }
        self.translate_case(&request, &context).await
    }

    fn has(&self, name: &str) -> bool {
        self.dir.join(name).is_file()
    }

    fn read(&self, name: &str) -> anyhow::Result<Vec<u8>> {
        let path = self.dir.join(name);
        std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
    }

    fn read_json<T: serde::de::DeserializeOwned>(&self, name: &str) -> anyhow::Result<T> {
        let bytes = self.read(name)?;
        serde_json::from_slice(&bytes).with_context(|| format!("{name} is not valid"))
    }

    async fn session(&self) -> anyhow::Result<Session> {
        Session::start(Arc::clone(self.adapter), self.engine)
            .await
            .map_err(|e| anyhow!("cannot instantiate the adapter: {e}"))
    }

    fn fail(&mut self, failure: String) {
        self.failures.push(failure);
    }

    async fn translate_case(
        &mut self,
        request: &ClientRequest,
        context: &ContextFile,
    ) -> anyhow::Result<()> {
        let options = RequestOptions {
            request_id: request_id(context),
            redact_environment: context.redact_environment,
        };
        let site = ErrorSite {
            request_id: request_id(context),
            path: request.path.clone(),
            query: request.query.clone(),
            client_model: None,
        };
        let mut session = self.session().await?;
        let pivot = match session.translate_request(request, &options).await {
            Ok(pivot) => pivot,
            Err(error) => {
                drop(session);
                let Some((kind, message)) = rejection(&error) else {
                    self.fail(format!("translate-request failed: {error}"));
                    return Ok(());
                };
                self.expect_rejection(kind, &message)?;
                let response = self.render(&site, &error).await?;
                self.expect_response(&response)?;
                return Ok(());
            }
        };
        self.expect_pivot(&pivot)?;

        let mut warnings = pivot.warnings.clone();
        warnings.extend(context.warnings.iter().cloned());
        let ctx = RequestContext {
            request_id: request_id(context),
            created_unix: context.created_unix.unwrap_or(DEFAULT_CREATED_UNIX),
            client_model: pivot.model.clone(),
            backend_model: context
                .backend_model
                .clone()
                .unwrap_or_else(|| DEFAULT_BACKEND_MODEL.to_owned()),
            path: request.path.clone(),
            query: request.query.clone(),
            warnings,
            state: pivot.state.clone(),
        };
        let site = ErrorSite {
            client_model: Some(pivot.model.clone()),
            ..site
        };
        let mut session = Some(session);
        if self.has("upstream.sse") {
            self.stream_phase(session.take(), &ctx).await?;
        }
        if self.has("upstream.json") {
            let session = match session.take() {
                Some(session) => session,
                None => self.session().await?,
            };
            self.whole_phase(session, &ctx, &site).await?;
        }
        Ok(())
    }

    /// Replay `upstream.sse` whole and at every split size; compare each with `client.sse`.
    async fn stream_phase(
        &mut self,
        first: Option<Session>,
        ctx: &RequestContext,
    ) -> anyhow::Result<()> {
        let upstream = self.read("upstream.sse")?;
        let ending = if self.has("stream-error.json") {
            let error: ErrorValue = self.read_json("stream-error.json")?;
            Some(error.to_wit()?)
        } else {
            None
        };
        let session = match first {
            Some(session) => session,
            None => self.session().await?,
        };
        let whole = match self.replay(session, ctx, &upstream, None, &ending).await? {
            Ok(bytes) => bytes,
            Err(broken) => {
                self.fail(format!("stream (whole): {broken}"));
                return Ok(());
            }
        };
        let expected = if self.update {
            self.record("client.sse", &whole)?;
            whole.clone()
        } else if self.has("client.sse") {
            let expected = self.read("client.sse")?;
            let report = sse_report(&expected, &whole);
            if !report.is_empty() {
                self.fail(format!(
                    "client.sse differs (upstream in one piece):\n{}",
                    indent(&report)
                ));
                return Ok(());
            }
            expected
        } else {
            self.fail("client.sse is missing (record it with --update)".to_owned());
            return Ok(());
        };
        for split in SPLITS {
            let session = self.session().await?;
            match self
                .replay(session, ctx, &upstream, Some(*split), &ending)
                .await?
            {
                Ok(bytes) => {
                    let report = sse_report(&expected, &bytes);
                    if !report.is_empty() {
                        self.fail(format!(
                            "client.sse differs with the upstream split every {split} bytes \
                             (the adapter depends on how the stream was cut):\n{}",
                            indent(&report)
                        ));
                        return Ok(());
                    }
                }
                Err(broken) => {
                    self.fail(format!("stream (split {split}): {broken}"));
                    return Ok(());
                }
            }
        }
        self.checks.push(format!(
            "client stream (whole, split {})",
            SPLITS
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("/")
        ));
        Ok(())
    }

    /// One stream the way the stream pump runs it: frame, skip `[DONE]`, push each event,
    /// flush the tail, `finish` (or `fail` on an error, or with `stream-error.json`).
    /// `Ok(Err(reason))` when the adapter trapped.
    async fn replay(
        &mut self,
        mut session: Session,
        ctx: &RequestContext,
        upstream: &[u8],
        split: Option<usize>,
        ending: &Option<WitError>,
    ) -> anyhow::Result<Result<Vec<u8>, String>> {
        let stream = match session.open_stream(ctx).await {
            Ok(stream) => stream,
            Err(error) => return Ok(Err(error.to_string())),
        };
        let mut framer = cligate_sse::SseFramer::new(Limits::default().max_event_bytes);
        let pieces: Vec<&[u8]> = match split {
            Some(size) => upstream.chunks(size.max(1)).collect(),
            None => vec![upstream],
        };
        let mut out = Vec::new();
        let mut failure: Option<GatewayError> = None;
        'pieces: for piece in pieces {
            let events = match framer.feed(piece) {
                Ok(events) => events,
                Err(too_large) => {
                    failure = Some(GatewayError::UpstreamGarbage(too_large.to_string()));
                    break;
                }
            };
            for event in events {
                if let Err(error) = push(&mut session, stream, event, &mut out).await {
                    failure = Some(error);
                    break 'pieces;
                }
            }
        }
        if failure.is_none()
            && let Some(tail) = framer.finish()
            && let Err(error) = push(&mut session, stream, tail, &mut out).await
        {
            failure = Some(error);
        }
        let ending = match (failure, ending) {
            (Some(error), _) => {
                if let GatewayError::AdapterBroken { reason, .. } = &error {
                    return Ok(Err(reason.clone()));
                }
                if split.is_none() {
                    self.notes.push(format!(
                        "the stream failed ({}: {error}); the adapter's fail() ended it",
                        error.class()
                    ));
                }
                Some(error.to_wit())
            }
            (None, Some(error)) => Some(error.clone()),
            (None, None) => match session.finish(stream).await {
                Ok(bytes) => {
                    out.extend(bytes);
                    None
                }
                Err(GatewayError::AdapterBroken { reason, .. }) => return Ok(Err(reason)),
                Err(error) => {
                    if split.is_none() {
                        self.notes.push(format!(
                            "finish failed ({}: {error}); the adapter's fail() ended the stream",
                            error.class()
                        ));
                    }
                    Some(error.to_wit())
                }
            },
        };
        if let Some(error) = ending {
            match session.fail(stream, &error).await {
                Ok(bytes) => out.extend(bytes),
                Err(error) => return Ok(Err(error.to_string())),
            }
        }
        Ok(Ok(out))
    }

    async fn whole_phase(
        &mut self,
        mut session: Session,
        ctx: &RequestContext,
        site: &ErrorSite,
    ) -> anyhow::Result<()> {
        let body = self.read("upstream.json")?;
        let response = match session.translate_response(ctx, &body).await {
            Ok(response) => response,
            Err(GatewayError::AdapterBroken { reason, .. }) => {
                self.fail(format!("translate-response trapped: {reason}"));
                return Ok(());
            }
            Err(error) => {
                drop(session);
                // As the request path does: the adapter's `internal` here means it could not
                // read the backend's answer.
                let error = match error {
                    GatewayError::AdapterInternal { message, .. } => {
                        GatewayError::UpstreamGarbage(message)
                    }
                    other => other,
                };
                self.notes.push(format!(
                    "translate-response failed ({}: {error}); response.json is the rendered error",
                    error.class()
                ));
                self.render(site, &error).await?
            }
        };
        self.expect_response(&response)
    }

    async fn local_case(
        &mut self,
        request: &ClientRequest,
        context: &ContextFile,
    ) -> anyhow::Result<()> {
        let local: LocalFile = self.read_json("local.json")?;
        let models = match local.models {
            Some(models) => models
                .into_iter()
                .map(|m| ModelEntry {
                    id: m.id,
                    owned_by: m.owned_by,
                    context_window: m.context_window,
                    max_output_tokens: m.max_output_tokens,
                })
                .collect(),
            None => vec![ModelEntry {
                id: DEFAULT_BACKEND_MODEL.to_owned(),
                owned_by: cligate(),
                context_window: None,
                max_output_tokens: None,
            }],
        };
        let ctx = LocalContext {
            request_id: request_id(context),
            created_unix: context.created_unix.unwrap_or(DEFAULT_CREATED_UNIX),
            models,
        };
        let mut session = self.session().await?;
        let response = match session.answer_local(request, &ctx).await {
            Ok(response) => response,
            Err(GatewayError::AdapterBroken { reason, .. }) => {
                self.fail(format!("answer-local trapped: {reason}"));
                return Ok(());
            }
            Err(error) => {
                drop(session);
                self.notes.push(format!(
                    "answer-local failed ({}: {error}); response.json is the rendered error",
                    error.class()
                ));
                let site = ErrorSite {
                    request_id: request_id(context),
                    path: request.path.clone(),
                    query: request.query.clone(),
                    client_model: None,
                };
                self.render(&site, &error).await?
            }
        };
        self.expect_response(&response)
    }

    async fn render_error_case(&mut self) -> anyhow::Result<()> {
        let file: ErrorFile = self.read_json("error.json")?;
        let site = ErrorSite {
            request_id: file
                .site
                .request_id
                .unwrap_or_else(|| DEFAULT_REQUEST_ID.to_owned()),
            path: file.site.path,
            query: file.site.query,
            client_model: file.site.client_model,
        };
        let error = file.error.to_wit()?;
        let mut session = self.session().await?;
        match session.translate_error(&site, &error).await {
            Ok(response) => self.expect_response(&response),
            Err(error) => {
                self.fail(format!("translate-error failed: {error}"));
                Ok(())
            }
        }
    }

    /// A failure rendered by a fresh instance (`translate-error`), as the request path does.
    async fn render(
        &mut self,
        site: &ErrorSite,
        error: &GatewayError,
    ) -> anyhow::Result<ClientResponse> {
        let mut session = self.session().await?;
        session
            .translate_error(site, &error.to_wit())
            .await
            .map_err(|e| anyhow!("translate-error failed: {e}"))
    }

    fn expect_pivot(&mut self, pivot: &PivotRequest) -> anyhow::Result<()> {
        let text = pivot_text(pivot);
        if self.has("rejection.json") {
            if self.update {
                self.remove("rejection.json")?;
            } else {
                self.fail(format!(
                    "rejection.json expects translate-request to fail, but it translated (model {:?})",
                    pivot.model
                ));
                return Ok(());
            }
        }
        self.expect_document("pivot.json", &text, "pivot")
    }

    fn expect_rejection(&mut self, kind: &str, message: &str) -> anyhow::Result<()> {
        let text = format!(
            "{{\"kind\":{},\"message\":{}}}",
            Value::String(kind.to_owned()),
            Value::String(message.to_owned())
        );
        if self.has("pivot.json") {
            if self.update {
                self.remove("pivot.json")?;
            } else {
                self.fail(format!(
                    "pivot.json expects a translation, but translate-request answered {kind}: {message}"
                ));
                return Ok(());
            }
        }
        self.expect_document("rejection.json", &text, "rejection")
    }

    fn expect_response(&mut self, response: &ClientResponse) -> anyhow::Result<()> {
        let text = response_text(response);
        self.expect_document("response.json", &text, "response")
    }

    /// Compare the JSON document `actual` (compact text) with the expected file, keys of the
    /// expected file only; or record it.
    fn expect_document(&mut self, file: &str, actual: &str, check: &str) -> anyhow::Result<()> {
        let actual_value: Value = serde_json::from_str(actual)
            .map_err(|e| anyhow!("internal: {file} text is not JSON: {e}"))?;
        if self.update {
            let unchanged = self.has(file)
                && self
                    .read_json::<Value>(file)
                    .is_ok_and(|old| json_diff(&old, &actual_value).is_empty());
            if !unchanged {
                let pretty = json_text::pretty(actual).unwrap_or_else(|| format!("{actual}\n"));
                self.record(file, pretty.as_bytes())?;
            }
            self.checks.push(check.to_owned());
            return Ok(());
        }
        if !self.has(file) {
            self.fail(format!("{file} is missing (record it with --update)"));
            return Ok(());
        }
        let expected: Value = self.read_json(file)?;
        let Value::Object(expected_fields) = &expected else {
            bail!("{file} must be a JSON object");
        };
        // Only what the fixture states is compared: a hand-written fixture may leave out
        // fields it does not care about.
        let mut compared = serde_json::Map::new();
        if let Value::Object(actual_fields) = &actual_value {
            for key in expected_fields.keys() {
                if let Some(value) = actual_fields.get(key) {
                    compared.insert(key.clone(), value.clone());
                }
            }
        }
        let report = json_report(&expected, &Value::Object(compared));
        if report.is_empty() {
            self.checks.push(check.to_owned());
        } else {
            self.fail(format!("{file} differs:\n{}", indent(&report)));
        }
        Ok(())
    }

    fn record(&mut self, file: &str, bytes: &[u8]) -> anyhow::Result<()> {
        let path = self.dir.join(file);
        if std::fs::read(&path).is_ok_and(|old| old == bytes) {
            return Ok(());
        }
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        self.updated.push(file.to_owned());
        Ok(())
    }

    fn remove(&mut self, file: &str) -> anyhow::Result<()> {
        let path = self.dir.join(file);
        std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        self.updated.push(format!("-{file}"));
        Ok(())
    }
}

/// Push one framed upstream event (skipping `[DONE]`), collecting the client bytes.
async fn push(
    session: &mut Session,
    stream: wasmtime::component::ResourceAny,
    event: cligate_sse::Event,
    out: &mut Vec<u8>,
) -> Result<(), GatewayError> {
    if event.is_done_sentinel() {
        return Ok(());
    }
    let bytes = session
        .push(
            stream,
            &SseEvent {
                event: event.event,
                data: event.data,
            },
        )
        .await?;
    out.extend(bytes);
    Ok(())
}

fn request_id(context: &ContextFile) -> String {
    context
        .request_id
        .clone()
        .unwrap_or_else(|| DEFAULT_REQUEST_ID.to_owned())
}

/// The adapter error behind a failed translation: its WIT variant name and message.
fn rejection(error: &GatewayError) -> Option<(&'static str, String)> {
    match error {
        GatewayError::InvalidRequest(message) => Some(("invalid-request", message.clone())),
        GatewayError::Unsupported(message) => Some(("unsupported", message.clone())),
        GatewayError::AdapterInternal { message, .. } => Some(("internal", message.clone())),
        _ => None,
    }
}

/// The client request of `request.json`, as the gateway hands it over: lower-case header
/// names, credentials removed, the `key` query parameter removed.
fn client_request(file: RequestFile) -> anyhow::Result<ClientRequest> {
    let (path, path_query) = match file.path.split_once('?') {
        Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
        None => (file.path.clone(), None),
    };
    let raw_query = file
        .raw_target
        .as_deref()
        .and_then(|t| t.split_once('?'))
        .map(|(_, q)| q.to_owned());
    let query = match (raw_query, path_query, &file.query) {
        (Some(raw), _, _) => Some(raw),
        (None, Some(query), _) => Some(query),
        (None, None, None | Some(Value::Null)) => None,
        (None, None, Some(Value::String(query))) => Some(query.clone()),
        (None, None, Some(Value::Array(pairs))) => Some(
            pairs
                .iter()
                .map(|pair| match pair.as_array().map(Vec::as_slice) {
                    Some([Value::String(k), Value::String(v)]) => Ok(format!("{k}={v}")),
                    _ => Err(anyhow!(
                        "request.json: query pairs are [\"name\", \"value\"]"
                    )),
                })
                .collect::<anyhow::Result<Vec<_>>>()?
                .join("&"),
        ),
        (None, None, Some(_)) => {
            bail!("request.json: query is a string or a list of [name, value] pairs")
        }
    };
    let query = query.and_then(|q| strip_key_param(&q));
    let mut headers = Vec::new();
    match &file.headers {
        None | Some(Value::Null) => {}
        Some(Value::Array(pairs)) => {
            for pair in pairs {
                match pair.as_array().map(Vec::as_slice) {
                    Some([Value::String(name), Value::String(value)]) => {
                        headers.push((name.clone(), value.clone()))
                    }
                    _ => bail!("request.json: headers are [\"name\", \"value\"] pairs"),
                }
            }
        }
        Some(Value::Object(map)) => {
            for (name, value) in map {
                let Value::String(value) = value else {
                    bail!("request.json: header {name} must be a string");
                };
                headers.push((name.clone(), value.clone()));
            }
        }
        Some(_) => bail!("request.json: headers are a list of pairs or an object"),
    }
    let headers = headers
        .into_iter()
        .map(|(name, value)| Header {
            name: name.to_ascii_lowercase(),
            value,
        })
        .filter(|h| !CREDENTIAL_HEADERS.contains(&h.name.as_str()))
        .collect();
    let body = match (&file.body, file.body_text) {
        (Some(_), Some(_)) => bail!("request.json: body or body_text, not both"),
        (Some(raw), None) => json_text::minify(raw.get())
            .ok_or_else(|| anyhow!("request.json: body is not JSON"))?
            .into_bytes(),
        (None, Some(text)) => text.into_bytes(),
        (None, None) => Vec::new(),
    };
    Ok(ClientRequest {
        method: file.method.to_ascii_uppercase(),
        path,
        query,
        headers,
        body,
    })
}

/// The query without a `key=` parameter (as the gateway strips it).
fn strip_key_param(query: &str) -> Option<String> {
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.starts_with("key=") && *pair != "key")
        .collect();
    (!kept.is_empty()).then(|| kept.join("&"))
}

/// `"name":<JSON as the adapter wrote it>`, or `"name_text"` / `"name_hex"` when the bytes
/// are not JSON; `"name":null` when empty.
fn bytes_field(name: &str, bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return format!("\"{name}\":null");
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        if let Some(json) = json_text::minify(text) {
            return format!("\"{name}\":{json}");
        }
        return format!("\"{name}_text\":{}", Value::String(text.to_owned()));
    }
    format!("\"{name}_hex\":\"{}\"", hex::encode(bytes))
}

fn headers_json(headers: &[Header]) -> String {
    Value::Array(
        headers
            .iter()
            .map(|h| {
                Value::Array(vec![
                    Value::String(h.name.clone()),
                    Value::String(h.value.clone()),
                ])
            })
            .collect(),
    )
    .to_string()
}

fn opt_string(value: &Option<String>) -> String {
    match value {
        Some(text) => Value::String(text.clone()).to_string(),
        None => "null".to_owned(),
    }
}

/// `pivot.json` as compact text, fields in a reading order, body last.
fn pivot_text(pivot: &PivotRequest) -> String {
    let removed = Value::Array(
        pivot
            .removed
            .iter()
            .map(|r| serde_json::json!({"location": r.location, "value": r.value}))
            .collect(),
    );
    format!(
        "{{\"model\":{},\"stream\":{},\"warnings\":{},\"removed\":{},\"client_software\":{},\
         \"session_id\":{},\"stream_headers\":{},{},{}}}",
        Value::String(pivot.model.clone()),
        pivot.stream,
        Value::from(pivot.warnings.clone()),
        removed,
        opt_string(&pivot.client_software),
        opt_string(&pivot.session_id),
        headers_json(&pivot.stream_headers),
        bytes_field("state", &pivot.state),
        bytes_field("body", &pivot.body),
    )
}

/// `response.json` as compact text.
fn response_text(response: &ClientResponse) -> String {
    let body = if response.body.is_empty() {
        "\"body_text\":\"\"".to_owned()
    } else {
        bytes_field("body", &response.body)
    };
    format!(
        "{{\"status\":{},\"headers\":{},{body}}}",
        response.status,
        headers_json(&response.headers)
    )
}

fn indent(lines: &[String]) -> String {
    lines
        .iter()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn request(json: &str) -> anyhow::Result<ClientRequest> {
        client_request(serde_json::from_str(json)?)
    }

    #[test]
    fn requests_read_like_the_gateway_hands_them_over() {
        let req = request(
            r#"{"method":"post","path":"/v1beta/models/m:streamGenerateContent",
                "raw_target":"/v1beta/models/m:streamGenerateContent?alt=sse&key=secret",
                "headers":[["User-Agent","x/1"],["x-goog-api-key","secret"],["Authorization","Bearer k"]],
                "body":{ "z": 1, "a": [ 2 ] }}"#,
        )
        .unwrap();
        assert_eq!(req.method, "POST");
        assert_eq!(req.query.as_deref(), Some("alt=sse"));
        assert_eq!(req.headers.len(), 1);
        assert_eq!(req.headers[0].name, "user-agent");
        assert_eq!(req.body, br#"{"z":1,"a":[2]}"#);

        let req =
            request(r#"{"method":"POST","path":"/p?x=1","headers":{"A":"b"},"body_text":"{"}"#)
                .unwrap();
        assert_eq!(req.query.as_deref(), Some("x=1"));
        assert_eq!(req.body, b"{");
        let req = request(r#"{"method":"GET","path":"/p","query":[["beta","true"]]}"#).unwrap();
        assert_eq!(req.query.as_deref(), Some("beta=true"));
        assert!(req.body.is_empty());
        assert!(request(r#"{"method":"GET","path":"/p","query":5}"#).is_err());
        assert!(request(r#"{"method":"GET","path":"/p","body":{},"body_text":""}"#).is_err());
    }

    #[test]
    fn recorded_documents_keep_the_adapters_order_and_flag_non_json() {
        let pivot = PivotRequest {
            model: "m".into(),
            stream: true,
            body: br#"{"model":"m","messages":[]}"#.to_vec(),
            warnings: vec!["w".into()],
            removed: vec![],
            client_software: None,
            session_id: Some("s".into()),
            stream_headers: vec![Header {
                name: "content-type".into(),
                value: "text/event-stream".into(),
            }],
            state: b"not json".to_vec(),
        };
        let text = pivot_text(&pivot);
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["state_text"], "not json");
        assert_eq!(value["body"]["model"], "m");
        assert!(
            text.ends_with(r#""body":{"model":"m","messages":[]}}"#),
            "{text}"
        );
        let response = ClientResponse {
            status: 426,
            headers: vec![],
            body: vec![0xff, 0x00],
        };
        let value: Value = serde_json::from_str(&response_text(&response)).unwrap();
        assert_eq!(value["body_hex"], "ff00");
    }

    #[test]
    fn error_kinds_use_the_wit_names() {
        let error = ErrorValue {
            kind: "rate-limited".into(),
            status: None,
            message: "slow".into(),
            retry_after_seconds: Some(3),
        }
        .to_wit()
        .unwrap();
        assert_eq!(error.kind, ErrorKind::RateLimited);
        assert_eq!(error.status, 429);
        let unknown = ErrorValue {
            kind: "rate_limited".into(),
            status: None,
            message: String::new(),
            retry_after_seconds: None,
        }
        .to_wit()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(unknown.contains("invalid-request"), "{unknown}");
    }

    #[test]
    fn a_fixtures_directory_lists_its_cases() {
        let dir = tempfile::tempdir().unwrap();
        assert!(list_cases(dir.path()).is_err());
        std::fs::create_dir(dir.path().join("b")).unwrap();
        std::fs::write(dir.path().join("b/request.json"), "{}").unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        std::fs::write(dir.path().join("a/error.json"), "{}").unwrap();
        std::fs::create_dir(dir.path().join("notes")).unwrap();
        let cases = list_cases(dir.path()).unwrap();
        assert_eq!(cases.len(), 2);
        assert!(cases[0].ends_with("a"));
        assert_eq!(list_cases(&dir.path().join("b")).unwrap().len(), 1);
    }
}
