//! The benchmark (not a timed test): what the gateway costs, measured side by side in one run.
//!
//! ```sh
//! adapters/build.sh                                   # or use the committed plugins-dist/
//! cargo build --release -p cligate
//! cargo run --release -p cligate-e2e --bin bench      # add --quick for a short run
//! ```
//!
//! Part 1 runs the shipped adapters in-process through the host library (the same sandbox,
//! pooling allocator and epoch deadline the gateway uses): instantiation, `translate-request` on
//! the real captured CLI requests (76 KB Claude Code, 55/66 KB Codex, 54 KB Gemini), and one
//! `push` per stream chunk.
//!
//! Part 2 starts the real `cligate` binary in front of the scripted upstream and measures, at a
//! few concurrencies, request latency straight to the upstream and through the gateway,
//! alternating rounds so both see the same machine noise. The added latency is the difference.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use cligate::adapter_host::wit::latest::types::{
    ClientRequest, Header, RequestContext, RequestOptions, SseEvent,
};
use cligate::adapter_host::{AdapterEngine, LoadedAdapter, Session};
use cligate::config::Sandbox;
use cligate_e2e::gateway::{Gateway, GatewayOptions};
use cligate_e2e::paths;
use cligate_e2e::upstream::{Reply, ScriptedUpstream, UpstreamOptions};
use serde_json::Value;

struct Fixture {
    adapter: &'static str,
    label: &'static str,
    capture: &'static str,
}

const FIXTURES: &[Fixture] = &[
    Fixture {
        adapter: "anthropic-messages",
        label: "Claude Code request",
        capture: "claude-code-main/02-POST-v1-messages.request.json",
    },
    Fixture {
        adapter: "openai-responses",
        label: "Codex request (default model)",
        capture: "codex-main/01-POST-v1-responses.request.json",
    },
    Fixture {
        adapter: "openai-responses",
        label: "Codex request (internal model)",
        capture: "codex-internal-model/01-POST-v1-responses.request.json",
    },
    Fixture {
        adapter: "gemini",
        label: "Gemini CLI request",
        capture: "gemini-cli-main/02-POST-v1beta-models-gemini-3.8-flash_streamGenerateContent.request.json",
    },
];

const TEXT_CHUNK: &str = r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hello, world"},"finish_reason":null}]}"#;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn us(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

fn summary(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    (percentile(&samples, 0.5), percentile(&samples, 0.99))
}

fn load_capture(path: &Path) -> anyhow::Result<ClientRequest> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let capture: Value = serde_json::from_str(&text)?;
    let headers = capture["headers"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|pair| {
                    Some(Header {
                        name: pair.get(0)?.as_str()?.to_ascii_lowercase(),
                        value: pair.get(1)?.as_str()?.to_owned(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let query = capture["raw_target"]
        .as_str()
        .and_then(|t| t.split_once('?'))
        .map(|(_, q)| q.to_owned());
    Ok(ClientRequest {
        method: capture["method"].as_str().unwrap_or("POST").to_owned(),
        path: capture["path"].as_str().unwrap_or("/").to_owned(),
        query,
        headers,
        body: serde_json::to_vec(&capture["body"])?,
    })
}

fn context(request_id: &str) -> RequestContext {
    RequestContext {
        request_id: request_id.to_owned(),
        created_unix: 1_790_000_000,
        client_model: "client-model".to_owned(),
        backend_model: "backend-model".to_owned(),
        path: String::new(),
        query: None,
        warnings: Vec::new(),
        state: Vec::new(),
    }
}

async fn adapter_costs(plugins: &Path, rounds: usize) -> anyhow::Result<()> {
    let cache = tempfile::tempdir()?;
    let engine = Arc::new(AdapterEngine::new(&Sandbox::default(), cache.path(), 64)?);
    let captures = paths::workspace_root().join("tests/fixtures/captures");
    println!(
        "## Part 1: adapter calls inside the sandbox (wasmtime, pooling allocator, epoch deadline on)\n"
    );
    println!("| adapter | what | body | p50 µs | p99 µs |");
    println!("|---|---|---:|---:|---:|");
    let mut loaded: Vec<(String, Arc<LoadedAdapter>)> = Vec::new();
    for name in [
        "openai-chat",
        "anthropic-messages",
        "openai-responses",
        "gemini",
    ] {
        let file = plugins.join(format!("{name}.wasm"));
        if !file.exists() {
            println!("| {name} | (missing {}) | | | |", file.display());
            continue;
        }
        let adapter = Arc::new(engine.load(&file).await?);
        let mut starts = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let t = Instant::now();
            let session = Session::start(Arc::clone(&adapter), &engine).await?;
            starts.push(t.elapsed());
            drop(session);
        }
        let (p50, p99) = summary(starts);
        println!(
            "| {name} | new instance (Store + instantiate) | | {} | {} |",
            us(p50),
            us(p99)
        );

        // One push per stream chunk, on a long-lived stream.
        let mut session = Session::start(Arc::clone(&adapter), &engine).await?;
        let stream = session.open_stream(&context("req_bench")).await?;
        let event = SseEvent {
            event: None,
            data: TEXT_CHUNK.to_owned(),
        };
        let mut pushes = Vec::with_capacity(rounds * 4);
        for _ in 0..rounds * 4 {
            let t = Instant::now();
            session.push(stream, &event).await?;
            pushes.push(t.elapsed());
        }
        let (p50, p99) = summary(pushes);
        println!(
            "| {name} | push (one text chunk → client events) | {} B | {} | {} |",
            TEXT_CHUNK.len(),
            us(p50),
            us(p99)
        );
        loaded.push((name.to_owned(), adapter));
    }

    for fixture in FIXTURES {
        let Some((_, adapter)) = loaded.iter().find(|(n, _)| n == fixture.adapter) else {
            continue;
        };
        let request = load_capture(&captures.join(fixture.capture))?;
        let options = RequestOptions {
            request_id: "req_bench".to_owned(),
            redact_environment: false,
        };
        // Fresh instance per call, as in the gateway (includes the heap warm-up).
        let mut fresh = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let mut session = Session::start(Arc::clone(adapter), &engine).await?;
            let t = Instant::now();
            session.translate_request(&request, &options).await?;
            fresh.push(t.elapsed());
        }
        let (p50, p99) = summary(fresh);
        println!(
            "| {} | translate-request, {} (fresh instance) | {} KB | {} | {} |",
            fixture.adapter,
            fixture.label,
            request.body.len() / 1024,
            us(p50),
            us(p99)
        );
        let mut session = Session::start(Arc::clone(adapter), &engine).await?;
        let mut warm = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let t = Instant::now();
            session.translate_request(&request, &options).await?;
            warm.push(t.elapsed());
        }
        let (p50, p99) = summary(warm);
        println!(
            "| {} | translate-request, {} (warm instance) | {} KB | {} | {} |",
            fixture.adapter,
            fixture.label,
            request.body.len() / 1024,
            us(p50),
            us(p99)
        );
    }
    println!();
    Ok(())
}

const CHAT_BODY: &str = r#"{"model":"gpt-5","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello."}]}"#;
const CHAT_STREAM_BODY: &str = r#"{"model":"gpt-5","stream":true,"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello."}]}"#;

async fn one_request(
    client: &reqwest::Client,
    url: &str,
    body: &'static str,
) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    let status = response.status();
    let bytes = response.bytes().await?;
    anyhow::ensure!(
        status.is_success(),
        "{url}: {status}: {}",
        String::from_utf8_lossy(&bytes)
    );
    Ok(t.elapsed())
}

async fn batch(
    client: &reqwest::Client,
    url: &str,
    body: &'static str,
    concurrency: usize,
    requests: usize,
) -> anyhow::Result<Vec<Duration>> {
    let per_worker = requests.div_ceil(concurrency);
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let url = url.to_owned();
        workers.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(per_worker);
            for _ in 0..per_worker {
                samples.push(one_request(&client, &url, body).await?);
            }
            anyhow::Ok(samples)
        }));
    }
    let mut all = Vec::with_capacity(requests);
    for worker in workers {
        all.extend(worker.await??);
    }
    Ok(all)
}

async fn added_latency(plugins: &Path, requests: usize) -> anyhow::Result<()> {
    let upstream = ScriptedUpstream::start_with(UpstreamOptions {
        default_reply: Reply::answer("Hello! How can I help?", 4),
        record: false,
        ..UpstreamOptions::default()
    })
    .await?;
    let gateway = Gateway::start(
        GatewayOptions::new(plugins, &upstream.url())
            .env("CLIGATE_DEFAULT_MODEL", "backend-model")
            .env("RUST_LOG", "warn"),
    )
    .await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let direct = format!("{}/chat/completions", upstream.url());
    let via = gateway.url("/v1/chat/completions");
    // Warm both paths (connection pools, adapter cache).
    batch(&client, &direct, CHAT_BODY, 4, 200).await?;
    batch(&client, &via, CHAT_BODY, 4, 200).await?;

    println!(
        "## Part 2: added latency, openai-chat adapter, gateway binary vs the scripted upstream directly\n"
    );
    println!(
        "{requests} requests per cell, 3 alternating rounds; client, gateway and upstream share this 2-core machine.\n"
    );
    println!(
        "| mode | concurrency | direct p50 ms | via gateway p50 ms | added p50 ms | direct p99 ms | via gateway p99 ms | added p99 ms |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (mode, body) in [("whole", CHAT_BODY), ("stream", CHAT_STREAM_BODY)] {
        for concurrency in [1usize, 8, 32] {
            let mut direct_samples = Vec::new();
            let mut via_samples = Vec::new();
            for _ in 0..3 {
                direct_samples
                    .extend(batch(&client, &direct, body, concurrency, requests / 3).await?);
                via_samples.extend(batch(&client, &via, body, concurrency, requests / 3).await?);
            }
            let (d50, d99) = summary(direct_samples);
            let (g50, g99) = summary(via_samples);
            let ms = |d: Duration| d.as_secs_f64() * 1e3;
            println!(
                "| {mode} | {concurrency} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
                ms(d50),
                ms(g50),
                ms(g50) - ms(d50),
                ms(d99),
                ms(g99),
                ms(g99) - ms(d99)
            );
        }
    }
    println!();
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let quick = std::env::args().any(|a| a == "--quick");
    let plugins: PathBuf = std::env::var_os("CLIGATE_PLUGINS_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| paths::workspace_root().join("plugins-dist"));
    println!("# cligate benchmark\n");
    println!("plugins: {}\n", plugins.display());
    adapter_costs(&plugins, if quick { 100 } else { 1000 }).await?;
    added_latency(&plugins, if quick { 300 } else { 1500 }).await?;
    Ok(())
}
