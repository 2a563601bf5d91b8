//! The production patch loop of docs/adapters.md, end to end against a running gateway:
//!
//! 1. the gateway serves the released `openai-chat` 1.0.0 from `plugins-dist/`, and clients
//!    send requests continuously (a background loop; every failure is counted);
//! 2. the backend renamed a field: it now sends reasoning as `thinking`, which 1.0.0 passes
//!    through untranslated. Edit a copy of the adapter (version 1.0.1, read `thinking`), add a
//!    fixture for it, `cligate adapter build`, `cligate adapter test`;
//! 3. start a long stream on 1.0.0, then `cligate adapter build --install <plugins dir>`;
//! 4. 1.0.1 serves the next requests; the stream started before the swap finishes on 1.0.0;
//! 5. roll back to 1.0.0 from the `.previous` copy the install kept.
//!
//! Asserts zero failed requests and prints the loop time (edit → serving) and the counts
//! (also written to `<target>/tmp/adapter-patch-loop.txt`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

#[path = "support/kit.rs"]
mod kit;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cligate_e2e::fixture::http;
use cligate_e2e::gateway::{Gateway, GatewayOptions, PluginsDir};
use cligate_e2e::paths::{dist_plugin, workspace_root};
use cligate_e2e::sse::EventStream;
use cligate_e2e::upstream::{Outcome, ScriptedUpstream, UpstreamOptions};
use cligate_e2e::{ChatStream, Reply};
use kit::{cligate, copy_tree, printed, stable_dir, temp_workspace};
use serde_json::{Value, json};
use tokio::sync::RwLock;

const ADAPTER: &str = "openai-chat";
const FILE: &str = "openai-chat.wasm";

/// The backend's whole answer: reasoning in the renamed field.
fn backend_answer() -> Value {
    json!({
        "id": "chatcmpl-backend", "object": "chat.completion", "created": 1_790_000_000u64,
        "model": "backend-model",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "Done.", "thinking": "pondering"}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    })
}

/// Which version answered a whole request, from its visible behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    /// 1.0.0: `thinking` passed through.
    Old,
    /// 1.0.1: `thinking` shown as `reasoning_content`.
    New,
}

fn version_of(answer: &Value) -> Option<Version> {
    let message = &answer["choices"][0]["message"];
    if message["content"] != "Done." {
        return None;
    }
    match (
        message.get("thinking"),
        message["reasoning_content"].as_str(),
    ) {
        (Some(t), None) if t == "pondering" => Some(Version::Old),
        (None, Some("pondering")) => Some(Version::New),
        _ => None,
    }
}

#[derive(Default)]
struct Traffic {
    ok_old: AtomicU64,
    ok_new: AtomicU64,
    failed: AtomicU64,
    /// Requests that started inside the swap windows (install → serving, rollback).
    during_swaps: AtomicU64,
    in_swap: AtomicBool,
    errors: std::sync::Mutex<Vec<String>>,
}

impl Traffic {
    fn fail(&self, what: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut errors = self.errors.lock().unwrap();
        if errors.len() < 20 {
            errors.push(what);
        }
    }
}

/// One client request through the gateway, classified.
async fn one_request(client: &reqwest::Client, url: &str, traffic: &Traffic) {
    if traffic.in_swap.load(Ordering::Relaxed) {
        traffic.during_swaps.fetch_add(1, Ordering::Relaxed);
    }
    let sent = client
        .post(url)
        .json(&json!({"model": "gpt-5", "messages": [{"role": "user", "content": "go"}]}))
        .send()
        .await;
    let resp = match sent {
        Ok(resp) => resp,
        Err(err) => return traffic.fail(format!("transport: {err}")),
    };
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if status != 200 {
        return traffic.fail(format!("{status}: {text}"));
    }
    let version = serde_json::from_str::<Value>(&text)
        .ok()
        .as_ref()
        .and_then(version_of);
    match version {
        Some(Version::Old) => {
            traffic.ok_old.fetch_add(1, Ordering::Relaxed);
        }
        Some(Version::New) => {
            traffic.ok_new.fetch_add(1, Ordering::Relaxed);
        }
        None => traffic.fail(format!("unexpected answer: {text}")),
    }
}

async fn whole_version(gateway: &Gateway) -> Version {
    let traffic = Traffic::default();
    one_request(&http(), &gateway.url("/v1/chat/completions"), &traffic).await;
    if traffic.ok_new.load(Ordering::Relaxed) == 1 {
        Version::New
    } else if traffic.ok_old.load(Ordering::Relaxed) == 1 {
        Version::Old
    } else {
        panic!("{:?}", traffic.errors.lock().unwrap());
    }
}

fn edit(path: &std::path::Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} has no {from:?}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// The new fixture: the backend streams reasoning as `thinking`.
const RENAMED_UPSTREAM: &str = concat!(
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1790000000,\"model\":\"backend-model\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1790000000,\"model\":\"backend-model\",\"choices\":[{\"index\":0,\"delta\":{\"thinking\":\"Think\"}}]}\n\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1790000000,\"model\":\"backend-model\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":\"stop\"}]}\n\n",
    "data: [DONE]\n\n",
);
/// What a client must now receive (the adapter sorts keys: serde_json without preserve_order).
const RENAMED_CLIENT: &str = concat!(
    "data: {\"choices\":[{\"delta\":{\"content\":\"\",\"role\":\"assistant\"},\"index\":0}],\"created\":1790000000,\"id\":\"c1\",\"model\":\"gpt-5\",\"object\":\"chat.completion.chunk\"}\n\n",
    "data: {\"choices\":[{\"delta\":{\"reasoning_content\":\"Think\"},\"index\":0}],\"created\":1790000000,\"id\":\"c1\",\"model\":\"gpt-5\",\"object\":\"chat.completion.chunk\"}\n\n",
    "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"},\"finish_reason\":\"stop\",\"index\":0}],\"created\":1790000000,\"id\":\"c1\",\"model\":\"gpt-5\",\"object\":\"chat.completion.chunk\"}\n\n",
    "data: [DONE]\n\n",
);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn patch_an_adapter_in_production_with_zero_failed_requests() {
    // The running gateway, serving the released adapter.
    let upstream = ScriptedUpstream::start_with(UpstreamOptions {
        default_reply: Reply::Json {
            status: 200,
            body: backend_answer(),
        },
        ..UpstreamOptions::default()
    })
    .await
    .unwrap();
    let released = dist_plugin(ADAPTER).unwrap();
    let plugins = PluginsDir::with(&[(FILE, released.as_path())]).unwrap();
    let gateway = Gateway::start(
        GatewayOptions::new(plugins.path(), &upstream.url())
            .env("CLIGATE_RELOAD_DEBOUNCE_MS", "100"),
    )
    .await
    .unwrap();
    gateway
        .wait_for_adapter(ADAPTER, |a| a["version"] == "1.0.0")
        .await
        .unwrap();
    assert_eq!(whole_version(&gateway).await, Version::Old);

    // Continuous client traffic for the whole loop.
    let traffic = Arc::new(Traffic::default());
    let stop = Arc::new(AtomicBool::new(false));
    // Held (write) only while the in-flight stream's scripted reply is queued and taken, so
    // no loop request takes it instead.
    let gate = Arc::new(RwLock::new(()));
    let mut workers = Vec::new();
    for _ in 0..2 {
        let (traffic, stop, gate) = (Arc::clone(&traffic), Arc::clone(&stop), Arc::clone(&gate));
        let url = gateway.url("/v1/chat/completions");
        workers.push(tokio::spawn(async move {
            let client = http();
            while !stop.load(Ordering::Relaxed) {
                let _pass = gate.read().await;
                one_request(&client, &url, &traffic).await;
            }
        }));
    }

    // The adapter's source, copied into a workspace that depends on this checkout's SDK.
    let ws = temp_workspace("adapter-patch-loop");
    let crate_dir = ws.join("adapters").join(ADAPTER);
    let source = workspace_root().join("adapters").join(ADAPTER);
    std::fs::create_dir_all(&crate_dir).unwrap();
    for part in ["Cargo.toml", "src", "fixtures"] {
        let (from, to) = (source.join(part), crate_dir.join(part));
        if from.is_dir() {
            copy_tree(&from, &to);
        } else {
            std::fs::copy(&from, &to).unwrap();
        }
    }

    // Edit: the patch, its version, and a fixture for the new field.
    let t_edit = Instant::now();
    edit(
        &crate_dir.join("Cargo.toml"),
        "version = \"1.0.0\"",
        "version = \"1.0.1\"",
    );
    edit(
        &crate_dir.join("src/lib.rs"),
        "if let Some(reasoning) = message.remove(\"reasoning\") {",
        "if let Some(reasoning) = message\n            .remove(\"reasoning\")\n            .or_else(|| message.remove(\"thinking\"))\n        {",
    );
    let case = crate_dir.join("fixtures/backend-renamed-reasoning");
    std::fs::create_dir_all(&case).unwrap();
    for file in ["request.json", "pivot.json"] {
        std::fs::copy(
            crate_dir.join("fixtures/stream-without-usage").join(file),
            case.join(file),
        )
        .unwrap();
    }
    std::fs::write(case.join("upstream.sse"), RENAMED_UPSTREAM).unwrap();
    std::fs::write(case.join("client.sse"), RENAMED_CLIENT).unwrap();

    // Build and check.
    let built = cligate(&["adapter", "build", crate_dir.to_str().unwrap()], &[]);
    assert!(built.ok, "{}", built.all());
    assert!(
        built.stdout.contains("check: ok — openai-chat 1.0.1"),
        "{}",
        built.all()
    );
    let wasm = printed(&built.stdout, "wasm").unwrap();
    let t_built = t_edit.elapsed();

    // Replay-test: the shipped fixtures still pass, and so does the new one.
    let replay = cligate(
        &[
            "adapter",
            "test",
            &wasm,
            crate_dir.join("fixtures").to_str().unwrap(),
        ],
        &[],
    );
    assert!(replay.ok, "{}", replay.all());
    assert!(
        replay.stdout.contains("ok    backend-renamed-reasoning"),
        "{}",
        replay.all()
    );
    // The released build fails the new fixture: the fixture pins the fix.
    let old = cligate(
        &[
            "adapter",
            "test",
            released.to_str().unwrap(),
            case.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(old.code, Some(1), "{}", old.all());
    let t_tested = t_edit.elapsed();

    // A long stream on 1.0.0, started before the swap: reasoning as `thinking` (passed through).
    let stream_request = {
        let _exclusive = gate.write().await;
        let mut script = ChatStream::new().role();
        for i in 0..60 {
            script = script
                .chunk(json!({"thinking": format!("t{i} ")}), None)
                .sleep(500);
        }
        upstream.push(script.content("end").finish("stop").done().build());
        let before = upstream.request_count();
        let resp = http()
            .post(gateway.url("/v1/chat/completions"))
            .json(&json!({"model": "gpt-5", "stream": true,
                          "messages": [{"role": "user", "content": "long"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        upstream
            .wait_for_requests(before + 1, Duration::from_secs(10))
            .await
            .unwrap();
        (resp, before)
    };
    let (resp, stream_index) = stream_request;
    let mut stream = EventStream::new(resp);
    let mut events = vec![
        stream
            .next_within(Duration::from_secs(30))
            .await
            .unwrap()
            .unwrap(),
    ];

    // Install into the running gateway's plugins directory.
    traffic.in_swap.store(true, Ordering::Relaxed);
    let t_install_start = t_edit.elapsed();
    let install = cligate(
        &[
            "adapter",
            "build",
            crate_dir.to_str().unwrap(),
            "--install",
            plugins.path().to_str().unwrap(),
        ],
        &[],
    );
    assert!(install.ok, "{}", install.all());
    gateway
        .wait_for_adapter(ADAPTER, |a| a["version"] == "1.0.1")
        .await
        .unwrap();
    let t_serving = t_edit.elapsed();
    traffic.in_swap.store(false, Ordering::Relaxed);
    assert_eq!(
        upstream.outcome(stream_index),
        Some(Outcome::Streaming),
        "the stream was still running when 1.0.1 took over"
    );
    assert_eq!(whole_version(&gateway).await, Version::New);
    let admin = gateway.admin_adapters().await.unwrap();
    let entry = cligate_e2e::gateway::find_adapter(&admin, ADAPTER).unwrap();
    assert_eq!(
        entry["sha256"].as_str(),
        printed(&install.stdout, "sha256").as_deref()
    );

    // The in-flight stream ends normally, every event from 1.0.0.
    while let Some(event) = stream.next_within(Duration::from_secs(30)).await.unwrap() {
        events.push(event);
    }
    assert!(events.last().unwrap().is_done(), "ends with [DONE]");
    let deltas: Vec<Value> = events
        .iter()
        .filter_map(|e| e.json())
        .map(|v| v["choices"][0]["delta"].clone())
        .collect();
    let thinking: Vec<&Value> = deltas
        .iter()
        .filter(|d| d.get("thinking").is_some() || d.get("reasoning_content").is_some())
        .collect();
    assert_eq!(thinking.len(), 60, "{events:?}");
    assert!(
        thinking
            .iter()
            .all(|d| d.get("reasoning_content").is_none()),
        "every event of the stream came from 1.0.0"
    );

    // Roll back: the file the install replaced, renamed into place the same way.
    let t_rollback = Instant::now();
    traffic.in_swap.store(true, Ordering::Relaxed);
    let previous = plugins.file(&format!(".{FILE}.previous"));
    plugins.replace_atomic_from(FILE, &previous).unwrap();
    gateway
        .wait_for_adapter(ADAPTER, |a| a["version"] == "1.0.0")
        .await
        .unwrap();
    traffic.in_swap.store(false, Ordering::Relaxed);
    let rollback = t_rollback.elapsed();
    assert_eq!(whole_version(&gateway).await, Version::Old);
    tokio::time::sleep(Duration::from_millis(300)).await;

    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }
    let (old, new, failed, during) = (
        traffic.ok_old.load(Ordering::Relaxed),
        traffic.ok_new.load(Ordering::Relaxed),
        traffic.failed.load(Ordering::Relaxed),
        traffic.during_swaps.load(Ordering::Relaxed),
    );
    let report = format!(
        "patch loop ({}): edit → serving {:.1}s (build+check {:.1}s, replay-test {:.1}s, \
         install+reload {:.1}s); rollback → serving {:.1}s; requests: {} answered by 1.0.0, \
         {} by 1.0.1, {} started during the swaps, {} failed",
        gateway.bin().display(),
        t_serving.as_secs_f64(),
        t_built.as_secs_f64(),
        (t_tested - t_built).as_secs_f64(),
        (t_serving - t_install_start).as_secs_f64(),
        rollback.as_secs_f64(),
        old,
        new,
        during,
        failed,
    );
    println!("{report}");
    let _ = std::fs::write(stable_dir(".").join("adapter-patch-loop.txt"), &report);
    assert_eq!(
        failed,
        0,
        "failed requests: {:?}",
        traffic.errors.lock().unwrap()
    );
    assert!(new > 0 && old > 0, "{report}");
    assert!(during > 0, "traffic ran during the swaps: {report}");
}
