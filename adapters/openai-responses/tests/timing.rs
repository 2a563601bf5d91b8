//! Rough native timings (`cargo test --release -p cligate-adapter-openai-responses --test timing -- --ignored --nocapture`).
//! Inside Wasm expect roughly 1.5–2× these numbers; the host's benchmark is the reference.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod common;

use std::time::Instant;

use cligate_adapter_openai_responses::OpenAiResponses;
use cligate_adapter_sdk::{Adapter, SseEvent, StreamTranslator};
use common::{capture, codex_state, context, delta, options};
use serde_json::json;

#[test]
#[ignore = "timing, run on demand in release"]
fn translate_request_and_chunk_cost() {
    for (folder, file) in [
        ("codex-main", "02-POST-v1-responses.request.json"),
        ("codex-internal-model", "02-POST-v1-responses.request.json"),
    ] {
        let req = capture(folder, file);
        let size = req.body.len();
        let rounds = 2000;
        let start = Instant::now();
        for _ in 0..rounds {
            let pivot = OpenAiResponses::translate_request(req.clone(), options(false)).unwrap();
            std::hint::black_box(pivot);
        }
        let per = start.elapsed() / rounds;
        println!("translate_request {folder}/{file} ({size} bytes): {per:?}");
    }

    let chunk = SseEvent {
        event: None,
        data: delta(json!({"content": "hello world "})).to_string(),
    };
    let mut stream = OpenAiResponses::open_stream(context(codex_state()));
    let rounds = 20_000;
    let start = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(stream.push(chunk.clone()).unwrap());
    }
    println!("push (one text delta): {:?}", start.elapsed() / rounds);
}

#[test]
#[ignore = "timing, run on demand in release"]
fn parse_floor() {
    let req = capture("codex-main", "02-POST-v1-responses.request.json");
    let rounds = 2000;
    let start = Instant::now();
    for _ in 0..rounds {
        let v: serde::de::IgnoredAny = serde_json::from_slice(&req.body).unwrap();
        std::hint::black_box(v);
    }
    println!("IgnoredAny scan: {:?}", start.elapsed() / rounds);
    let start = Instant::now();
    for _ in 0..rounds {
        let v: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
        std::hint::black_box(v);
    }
    println!("Value parse: {:?}", start.elapsed() / rounds);
    let pivot = OpenAiResponses::translate_request(req.clone(), options(false)).unwrap();
    let body: serde_json::Value = serde_json::from_slice(&pivot.body).unwrap();
    let start = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(serde_json::to_vec(&body).unwrap());
    }
    println!(
        "pivot Value serialise ({} bytes): {:?}",
        pivot.body.len(),
        start.elapsed() / rounds
    );
}
