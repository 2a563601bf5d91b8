//! Metrics in the Prometheus text exposition format (0.0.4), written by hand.
//!
//! Why by hand: the set is small and fixed, every label's values are bounded by the
//! configuration (dialects and routes of loaded adapters, configured user names and backend
//! models, upstream names, normalised warning kinds), and a good part of it is read at scrape
//! time from counters that already exist (adapter sessions, traps, deadline hits; upstream
//! health; the audit queue). The exact 0.0.4 text format is what every scraper reads, and no
//! new dependency tree is needed for it.
//!
//! Request-time updates take one short mutex (a few map updates per request).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::pivot::Usage;
use crate::proxy::AppState;
use crate::routing::Availability;

/// Bucket bounds of the latency histograms, in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// Most distinct warning kinds counted; later kinds count as `other`.
const MAX_WARNING_KINDS: usize = 200;

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Per bucket (not cumulative), plus the `+Inf` overflow at the end.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, value: Duration) {
        if self.counts.is_empty() {
            self.counts = vec![0; LATENCY_BUCKETS.len() + 1];
        }
        let seconds = value.as_secs_f64();
        let slot = LATENCY_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        if let Some(c) = self.counts.get_mut(slot) {
            *c += 1;
        }
        self.sum += seconds;
        self.count += 1;
    }
}

#[derive(Debug, Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    duration: BTreeMap<String, Histogram>,
    ttfb: BTreeMap<String, Histogram>,
    tokens: BTreeMap<(String, String, &'static str), u64>,
    upstream_requests: BTreeMap<(String, String), u64>,
    failovers: BTreeMap<(String, String), u64>,
    ejections: BTreeMap<String, u64>,
    warnings: BTreeMap<(String, String), u64>,
    auth_failures: BTreeMap<&'static str, u64>,
}

/// Everything counted on the request path.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

/// What a finished request contributes.
#[derive(Debug)]
pub struct RequestSample<'a> {
    /// Dialect, or `none` when no adapter matched.
    pub dialect: &'a str,
    /// Route pattern, or `unmatched`.
    pub route: &'a str,
    /// Status sent to the client.
    pub status: u16,
    /// Whole duration.
    pub duration: Duration,
    /// Until the first body byte, if any was sent.
    pub ttfb: Option<Duration>,
    /// The gateway key's user (bounded: configured names or `anonymous`).
    pub user: &'a str,
    /// The backend model label (bounded: configured models or `other`).
    pub model: &'a str,
    /// Tokens, if known.
    pub tokens: Usage,
    /// Translation warnings.
    pub warnings: &'a [String],
}

impl Metrics {
    fn lock(&self) -> Option<std::sync::MutexGuard<'_, Inner>> {
        // A poisoned lock means a panic elsewhere; metrics are not worth a second one.
        self.inner.lock().ok()
    }

    /// Count a finished request.
    pub fn request(&self, sample: &RequestSample<'_>) {
        let Some(mut inner) = self.lock() else {
            return;
        };
        *inner
            .requests
            .entry((
                sample.dialect.to_owned(),
                sample.route.to_owned(),
                sample.status,
            ))
            .or_default() += 1;
        inner
            .duration
            .entry(sample.dialect.to_owned())
            .or_default()
            .observe(sample.duration);
        if let Some(ttfb) = sample.ttfb {
            inner
                .ttfb
                .entry(sample.dialect.to_owned())
                .or_default()
                .observe(ttfb);
        }
        for (kind, value) in [
            ("input", sample.tokens.input),
            ("output", sample.tokens.output),
            ("cached", sample.tokens.cached),
            ("reasoning", sample.tokens.reasoning),
        ] {
            if let Some(value) = value.filter(|v| *v > 0) {
                *inner
                    .tokens
                    .entry((sample.user.to_owned(), sample.model.to_owned(), kind))
                    .or_default() += value;
            }
        }
        for warning in sample.warnings {
            let mut kind = warning_kind(warning);
            let known = inner
                .warnings
                .keys()
                .filter(|(d, _)| d == sample.dialect)
                .count();
            if known >= MAX_WARNING_KINDS
                && !inner
                    .warnings
                    .contains_key(&(sample.dialect.to_owned(), kind.clone()))
            {
                kind = "other".to_owned();
            }
            *inner
                .warnings
                .entry((sample.dialect.to_owned(), kind))
                .or_default() += 1;
        }
    }

    /// Count one upstream attempt: `outcome` is `ok`, `connect_error`, `timeout`, `status_5xx`,
    /// `status_429`, `status_4xx`.
    pub fn upstream(&self, upstream: &str, outcome: &str) {
        if let Some(mut inner) = self.lock() {
            *inner
                .upstream_requests
                .entry((upstream.to_owned(), outcome.to_owned()))
                .or_default() += 1;
        }
    }

    /// Count a failover away from `upstream`.
    pub fn failover(&self, upstream: &str, reason: &str) {
        if let Some(mut inner) = self.lock() {
            *inner
                .failovers
                .entry((upstream.to_owned(), reason.to_owned()))
                .or_default() += 1;
        }
    }

    /// Count an ejection of `upstream`.
    pub fn ejection(&self, upstream: &str) {
        if let Some(mut inner) = self.lock() {
            *inner.ejections.entry(upstream.to_owned()).or_default() += 1;
        }
    }

    /// Count a refused gateway key (`missing` or `invalid`).
    pub fn auth_failure(&self, reason: &'static str) {
        if let Some(mut inner) = self.lock() {
            *inner.auth_failures.entry(reason).or_default() += 1;
        }
    }
}

/// A warning's kind: its text with numbers replaced by `N`, at most 80 characters.
fn warning_kind(warning: &str) -> String {
    let mut kind = String::with_capacity(warning.len().min(80));
    let mut in_number = false;
    for c in warning.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                kind.push('N');
            }
            in_number = true;
        } else {
            in_number = false;
            kind.push(c);
        }
        if kind.len() >= 80 {
            break;
        }
    }
    kind
}

/// A label value, escaped for the text format.
fn esc(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn histogram(out: &mut String, name: &str, label: &str, series: &BTreeMap<String, Histogram>) {
    for (value, h) in series {
        let mut cumulative = 0;
        for (bound, count) in LATENCY_BUCKETS.iter().zip(&h.counts) {
            cumulative += count;
            let _ = writeln!(
                out,
                "{name}_bucket{{{label}=\"{}\",le=\"{bound}\"}} {cumulative}",
                esc(value)
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{label}=\"{}\",le=\"+Inf\"}} {}",
            esc(value),
            h.count
        );
        let _ = writeln!(out, "{name}_sum{{{label}=\"{}\"}} {}", esc(value), h.sum);
        let _ = writeln!(
            out,
            "{name}_count{{{label}=\"{}\"}} {}",
            esc(value),
            h.count
        );
    }
}

/// The `/metrics` body.
pub fn render(state: &AppState) -> String {
    let mut out = String::with_capacity(8 * 1024);
    header(
        &mut out,
        "cligate_build_info",
        "gauge",
        "The gateway's version.",
    );
    let _ = writeln!(
        out,
        "cligate_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    if let Some(inner) = state.metrics.lock() {
        header(
            &mut out,
            "cligate_requests_total",
            "counter",
            "Requests by dialect, route and the status the client got.",
        );
        for ((dialect, route, status), n) in &inner.requests {
            let _ = writeln!(
                out,
                "cligate_requests_total{{dialect=\"{}\",route=\"{}\",status=\"{status}\"}} {n}",
                esc(dialect),
                esc(route)
            );
        }
        header(
            &mut out,
            "cligate_request_duration_seconds",
            "histogram",
            "Time from request to the end of the response (streams: the end of the stream).",
        );
        histogram(
            &mut out,
            "cligate_request_duration_seconds",
            "dialect",
            &inner.duration,
        );
        header(
            &mut out,
            "cligate_time_to_first_byte_seconds",
            "histogram",
            "Time from request to the first response body byte handed to the client.",
        );
        histogram(
            &mut out,
            "cligate_time_to_first_byte_seconds",
            "dialect",
            &inner.ttfb,
        );
        header(
            &mut out,
            "cligate_tokens_total",
            "counter",
            "Tokens reported by backends, by gateway user, backend model and kind.",
        );
        for ((user, model, kind), n) in &inner.tokens {
            let _ = writeln!(
                out,
                "cligate_tokens_total{{user=\"{}\",model=\"{}\",kind=\"{kind}\"}} {n}",
                esc(user),
                esc(model)
            );
        }
        header(
            &mut out,
            "cligate_upstream_requests_total",
            "counter",
            "Upstream attempts by outcome.",
        );
        for ((upstream, outcome), n) in &inner.upstream_requests {
            let _ = writeln!(
                out,
                "cligate_upstream_requests_total{{upstream=\"{}\",outcome=\"{}\"}} {n}",
                esc(upstream),
                esc(outcome)
            );
        }
        header(
            &mut out,
            "cligate_failovers_total",
            "counter",
            "Requests sent on to the next target, by the upstream that failed and why.",
        );
        for ((upstream, reason), n) in &inner.failovers {
            let _ = writeln!(
                out,
                "cligate_failovers_total{{upstream=\"{}\",reason=\"{}\"}} {n}",
                esc(upstream),
                esc(reason)
            );
        }
        header(
            &mut out,
            "cligate_upstream_ejections_total",
            "counter",
            "Times an upstream was ejected after consecutive failures.",
        );
        for (upstream, n) in &inner.ejections {
            let _ = writeln!(
                out,
                "cligate_upstream_ejections_total{{upstream=\"{}\"}} {n}",
                esc(upstream)
            );
        }
        header(
            &mut out,
            "cligate_translation_warnings_total",
            "counter",
            "Translation and routing warnings by dialect and kind (numbers shown as N).",
        );
        for ((dialect, kind), n) in &inner.warnings {
            let _ = writeln!(
                out,
                "cligate_translation_warnings_total{{dialect=\"{}\",kind=\"{}\"}} {n}",
                esc(dialect),
                esc(kind)
            );
        }
        header(
            &mut out,
            "cligate_auth_failures_total",
            "counter",
            "Requests refused for a missing or invalid gateway key.",
        );
        for (reason, n) in &inner.auth_failures {
            let _ = writeln!(
                out,
                "cligate_auth_failures_total{{reason=\"{reason}\"}} {n}"
            );
        }
    }

    let now = Instant::now();
    header(
        &mut out,
        "cligate_upstream_up",
        "gauge",
        "1 when the upstream takes traffic, 0 while ejected or rate limited.",
    );
    for slot in state.router.upstreams() {
        let up = u8::from(slot.availability(now) == Availability::Available);
        let _ = writeln!(
            out,
            "cligate_upstream_up{{upstream=\"{}\"}} {up}",
            esc(slot.name())
        );
    }

    let registry = state.registry.current();
    header(
        &mut out,
        "cligate_adapters_loaded",
        "gauge",
        "Adapters currently loaded.",
    );
    let _ = writeln!(out, "cligate_adapters_loaded {}", registry.adapters.len());
    header(
        &mut out,
        "cligate_adapter_loads_total",
        "counter",
        "Adapter file loads by result (hot reloads included).",
    );
    let (ok, failed) = state.registry.load_counts();
    let _ = writeln!(out, "cligate_adapter_loads_total{{result=\"ok\"}} {ok}");
    let _ = writeln!(
        out,
        "cligate_adapter_loads_total{{result=\"failed\"}} {failed}"
    );
    for (name, help, pick) in [
        (
            "cligate_adapter_sessions_total",
            "Sandboxed adapter instances started, per loaded adapter version.",
            0,
        ),
        (
            "cligate_adapter_traps_total",
            "Adapter calls that trapped (other than deadline and memory).",
            1,
        ),
        (
            "cligate_adapter_deadline_hits_total",
            "Adapter calls cut off by the deadline.",
            2,
        ),
        (
            "cligate_adapter_memory_hits_total",
            "Adapter calls that hit the memory cap.",
            3,
        ),
    ] {
        header(&mut out, name, "counter", help);
        for adapter in registry.adapters.values() {
            let stats = &adapter.stats;
            let value = match pick {
                0 => stats.sessions.load(Ordering::Relaxed),
                1 => stats.traps.load(Ordering::Relaxed),
                2 => stats.deadline_hits.load(Ordering::Relaxed),
                _ => stats.memory_hits.load(Ordering::Relaxed),
            };
            let _ = writeln!(
                out,
                "{name}{{adapter=\"{}\",version=\"{}\",dialect=\"{}\"}} {value}",
                esc(&adapter.name),
                esc(&adapter.version),
                esc(&adapter.dialect)
            );
        }
    }

    header(
        &mut out,
        "cligate_streams_in_flight",
        "gauge",
        "Streamed responses being relayed.",
    );
    let _ = writeln!(
        out,
        "cligate_streams_in_flight {}",
        state.streams_in_flight.load(Ordering::Relaxed)
    );
    header(
        &mut out,
        "cligate_requests_in_flight",
        "gauge",
        "Requests holding a concurrency permit.",
    );
    let max = state.config.limits.max_concurrent_requests as usize;
    let _ = writeln!(
        out,
        "cligate_requests_in_flight {}",
        max.saturating_sub(state.permits.available_permits())
    );
    header(
        &mut out,
        "cligate_gateway_keys",
        "gauge",
        "Gateway keys in force (0 with open access).",
    );
    let _ = writeln!(out, "cligate_gateway_keys {}", state.keys.count());
    for (name, help, value) in [
        (
            "cligate_audit_records_total",
            "Audit records written.",
            state.audit.written.load(Ordering::Relaxed),
        ),
        (
            "cligate_audit_dropped_total",
            "Audit records dropped because the writer's queue was full.",
            state.audit.dropped.load(Ordering::Relaxed),
        ),
        (
            "cligate_audit_write_errors_total",
            "Audit records that could not be written.",
            state.audit.write_errors.load(Ordering::Relaxed),
        ),
    ] {
        header(&mut out, name, "counter", help);
        let _ = writeln!(out, "{name} {value}");
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn warning_kinds_fold_numbers() {
        assert_eq!(
            warning_kind("max_tokens clamped from 64000 to 8192"),
            "max_tokens clamped from N to N"
        );
        assert_eq!(
            warning_kind("dropped cache_control"),
            "dropped cache_control"
        );
        assert!(warning_kind(&"x".repeat(500)).len() <= 80);
    }

    #[test]
    fn histograms_and_escaping() {
        let metrics = Metrics::default();
        let sample = RequestSample {
            dialect: "d\"x",
            route: "POST /v1",
            status: 200,
            duration: Duration::from_millis(30),
            ttfb: None,
            user: "alice",
            model: "m",
            tokens: Usage {
                input: Some(3),
                output: Some(0),
                cached: None,
                reasoning: None,
            },
            warnings: &["dropped 2 images".to_owned()],
        };
        metrics.request(&sample);
        metrics.request(&sample);
        let inner = metrics.lock().unwrap();
        let mut out = String::new();
        histogram(&mut out, "h", "dialect", &inner.duration);
        assert!(
            out.contains("h_bucket{dialect=\"d\\\"x\",le=\"0.025\"} 0"),
            "{out}"
        );
        assert!(
            out.contains("h_bucket{dialect=\"d\\\"x\",le=\"0.05\"} 2"),
            "{out}"
        );
        assert!(
            out.contains("h_bucket{dialect=\"d\\\"x\",le=\"+Inf\"} 2"),
            "{out}"
        );
        assert!(out.contains("h_count{dialect=\"d\\\"x\"} 2"), "{out}");
        assert_eq!(
            inner
                .tokens
                .get(&("alice".to_owned(), "m".to_owned(), "input")),
            Some(&6)
        );
        assert!(
            !inner
                .tokens
                .contains_key(&("alice".to_owned(), "m".to_owned(), "output"))
        );
        assert_eq!(
            inner
                .warnings
                .get(&("d\"x".to_owned(), "dropped N images".to_owned())),
            Some(&2)
        );
    }
}
