//! The scripted upstream on its own: replies are played in order and recorded exactly,
//! chunk boundaries survive, and Close / Stall / peer-close behave as documented.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use cligate_e2e::chat::{ChatSummary, ToolCallSummary};
use cligate_e2e::sse::{self, EventStream};
use cligate_e2e::upstream::{
    DEFAULT_ANSWER, GARBAGE, Outcome, ReasoningField, SCRIPTED_MODEL, ToolCall, split_pieces,
};
use cligate_e2e::{ChatStream, Reply, ScriptedUpstream, Step};
use serde_json::{Value, json};

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn post(up: &ScriptedUpstream, body: Value) -> reqwest::Response {
    client()
        .post(format!("{}/chat/completions", up.url()))
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn chat_body(stream: bool) -> Value {
    json!({"model": "m", "stream": stream, "stream_options": {"include_usage": true},
           "messages": [{"role": "user", "content": "hi"}]})
}

#[tokio::test]
async fn replies_play_in_order_and_requests_are_recorded() {
    let up = ScriptedUpstream::start().await.unwrap();
    up.push(Reply::text("first"));
    up.push(Reply::status(400, "second is an error"));

    let resp = client()
        .post(format!("{}/chat/completions?api-version=1", up.url()))
        .header("X-Custom-Header", "one")
        .header("authorization", "Bearer k")
        .header("content-type", "application/json")
        .body(r#"{"model":"m","messages":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "first");
    assert_eq!(v["model"], SCRIPTED_MODEL);
    assert_eq!(v["object"], "chat.completion");

    let resp = post(&up, json!({"model": "m2"})).await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["message"], "second is an error");

    // Queue empty: the default answer, and the record says so.
    let resp = post(&up, json!({"model": "m3", "stream": false})).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], DEFAULT_ANSWER);

    let reqs = up.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(up.defaults_used(), 1);
    let r0 = &reqs[0];
    assert_eq!(r0.index, 0);
    assert_eq!(r0.method, "POST");
    assert_eq!(r0.path, "/v1/chat/completions");
    assert_eq!(r0.query.as_deref(), Some("api-version=1"));
    assert_eq!(r0.header("x-custom-header"), Some("one"));
    assert_eq!(r0.header("Authorization"), Some("Bearer k"));
    assert_eq!(&r0.body[..], br#"{"model":"m","messages":[]}"#);
    assert_eq!(r0.json()["model"], "m");
    // Order of the headers as sent (reqwest adds its own after ours).
    let names = r0.header_names();
    let pos = |n: &str| names.iter().position(|x| x == n).unwrap();
    assert!(pos("x-custom-header") < pos("authorization"));
    assert!(!r0.used_default && !reqs[1].used_default && reqs[2].used_default);
    assert_eq!(reqs[1].json()["model"], "m2");
    assert!(reqs.iter().all(|r| r.is_chat()));
    assert_eq!(up.outcome(0), Some(Outcome::Responded));
}

#[tokio::test]
async fn default_reply_streams_when_asked_with_usage() {
    let up = ScriptedUpstream::start().await.unwrap();
    let resp = post(&up, chat_body(true)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let (events, err) = EventStream::new(resp)
        .collect(Duration::from_secs(10))
        .await;
    assert!(err.is_none(), "{err:?}");
    let s = ChatSummary::from_events(&events);
    assert_eq!(s.text, DEFAULT_ANSWER);
    assert!(s.done);
    assert_eq!(s.finish_reason.as_deref(), Some("stop"));
    assert_eq!(s.usage_only_chunks, 1);
    assert!(s.usage.is_some());
    assert!(up.requests()[0].used_default);
}

#[tokio::test]
async fn models_and_unknown_paths_are_answered_and_recorded() {
    let up = ScriptedUpstream::start().await.unwrap();
    let v: Value = client()
        .get(format!("{}/models", up.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["data"][0]["id"], SCRIPTED_MODEL);
    let resp = client()
        .post(format!("{}/responses", up.url()))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let reqs = up.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].path.as_str()),
        ("GET", "/v1/models")
    );
    assert_eq!(reqs[1].path, "/v1/responses");
    assert_eq!(
        up.defaults_used(),
        0,
        "non-chat requests never use the queue"
    );
}

#[tokio::test]
async fn streamed_text_keeps_chunk_boundaries() {
    let up = ScriptedUpstream::start().await.unwrap();
    let text = "héllo wörld — ✓ streamed";
    let stream = ChatStream::new()
        .role()
        .content_pieces(text, 5)
        .finish("stop")
        .usage(3, 5)
        .done()
        .paced(20);
    let data_steps = stream
        .steps()
        .iter()
        .filter(|s| !matches!(s, Step::Sleep(_)))
        .count();
    up.push(stream.build());
    let mut es = EventStream::new(post(&up, chat_body(true)).await);
    let mut events = Vec::new();
    while let Some(ev) = es.next_within(Duration::from_secs(10)).await.unwrap() {
        events.push(ev);
    }
    // Each step was its own HTTP chunk, and the client saw it as its own piece.
    assert_eq!(es.chunks.len(), data_steps, "{:?}", es.chunks);
    for c in &es.chunks {
        assert!(c.starts_with(b"data: ") && c.ends_with(b"\n\n"));
    }
    let s = ChatSummary::from_events(&events);
    assert_eq!(s.text, text);
    assert_eq!(s.chunks, 8); // role + 5 + finish + usage
    assert_eq!(
        s.usage,
        Some(json!({"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}))
    );
    assert_eq!(s.after_done, 0);
    assert_eq!(up.outcome(0), Some(Outcome::StreamCompleted));
}

#[tokio::test]
async fn raw_steps_split_events_and_characters_exactly() {
    let up = ScriptedUpstream::start().await.unwrap();
    // One event split inside a multi-byte character, CRLF endings, a comment line.
    let first: &[u8] =
        b": keepalive\r\n\r\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"h\xc3";
    let second: &[u8] = b"\xa9\"},\"finish_reason\":null}]}\r\n\r\n";
    up.push(Reply::sse(vec![
        Step::Raw(first.to_vec()),
        Step::Sleep(30),
        Step::Raw(second.to_vec()),
        Step::Sleep(30),
        Step::Done,
    ]));
    let mut es = EventStream::new(post(&up, chat_body(true)).await);
    let mut events = Vec::new();
    while let Some(ev) = es.next_within(Duration::from_secs(10)).await.unwrap() {
        events.push(ev);
    }
    assert_eq!(es.chunks[0], first);
    assert_eq!(es.chunks[1], second);
    assert_eq!(es.parser().comments, vec!["keepalive".to_owned()]);
    let s = ChatSummary::from_events(&events);
    assert_eq!(s.text, "hé");
    assert!(s.done);
}

#[tokio::test]
async fn tool_call_reasoning_and_error_builders_assemble_as_scripted() {
    let calls = vec![
        ToolCall::new(
            "call_a",
            "read_file",
            r#"{"path":"/etc/hosts","lines":[1,2,3]}"#,
        ),
        ToolCall::new(
            "call_b",
            "shell",
            r#"{"command":"ls -la \"dir with space\""}"#,
        ),
    ];
    let expected: Vec<ToolCallSummary> = calls
        .iter()
        .enumerate()
        .map(|(i, c)| ToolCallSummary {
            index: i as u64,
            id: Some(c.id.clone()),
            name: Some(c.name.clone()),
            arguments: c.arguments.clone(),
        })
        .collect();

    let up = ScriptedUpstream::start().await.unwrap();
    up.push(Reply::tool_calls_stream(&calls, 4));
    up.push(Reply::tool_calls_stream_whole(&calls));
    up.push(Reply::tool_calls(&calls));
    up.push(Reply::reasoning_stream(
        ReasoningField::Reasoning,
        "think",
        "answer",
        2,
    ));
    up.push(Reply::reasoning(
        ReasoningField::ReasoningContent,
        "pondered",
        "done",
    ));
    up.push(Reply::error_mid_stream("partial", "backend exploded"));

    for _ in 0..2 {
        let (ev, err) = EventStream::new(post(&up, chat_body(true)).await)
            .collect(Duration::from_secs(10))
            .await;
        assert!(err.is_none());
        let s = ChatSummary::from_events(&ev);
        assert_eq!(s.tool_calls, expected);
        assert_eq!(s.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(s.usage.as_ref().unwrap()["total_tokens"], 29);
        assert!(s.done);
    }
    let v: Value = post(&up, chat_body(false)).await.json().await.unwrap();
    let s = ChatSummary::from_completion(&v);
    assert_eq!(s.tool_calls, expected);

    let (ev, _) = EventStream::new(post(&up, chat_body(true)).await)
        .collect(Duration::from_secs(10))
        .await;
    let s = ChatSummary::from_events(&ev);
    assert_eq!(
        s.reasoning.get("reasoning").map(String::as_str),
        Some("think")
    );
    assert!(!s.reasoning.contains_key("reasoning_content"));
    assert_eq!(s.text, "answer");

    let v: Value = post(&up, chat_body(false)).await.json().await.unwrap();
    let s = ChatSummary::from_completion(&v);
    assert_eq!(
        s.reasoning.get("reasoning_content").map(String::as_str),
        Some("pondered")
    );

    let (ev, _) = EventStream::new(post(&up, chat_body(true)).await)
        .collect(Duration::from_secs(10))
        .await;
    let s = ChatSummary::from_events(&ev);
    assert_eq!(s.text, "partial");
    assert_eq!(s.errors.len(), 1);
    assert_eq!(s.errors[0]["message"], "backend exploded");
    assert!(!s.done && s.finish_reason.is_none());
    assert_eq!(up.defaults_used(), 0);
}

#[tokio::test]
async fn close_aborts_the_connection_mid_stream() {
    let up = ScriptedUpstream::start().await.unwrap();
    up.push(
        ChatStream::new()
            .role()
            .content("before the cut")
            .sleep(50)
            .close()
            .build(),
    );
    let mut es = EventStream::new(post(&up, chat_body(true)).await);
    let mut events = Vec::new();
    let err = loop {
        match es.next_within(Duration::from_secs(10)).await {
            Ok(Some(ev)) => events.push(ev),
            Ok(None) => panic!("the body ended cleanly; expected an aborted connection"),
            Err(e) => break e,
        }
    };
    assert!(format!("{err:#}").contains("reading the SSE body"));
    assert_eq!(ChatSummary::from_events(&events).text, "before the cut");
    assert_eq!(up.outcome(0), Some(Outcome::ClosedByScript));
}

#[tokio::test]
async fn stall_delays_headers_and_then_plays() {
    let up = ScriptedUpstream::start().await.unwrap();
    up.push(Reply::stall(400, Reply::text("late")));
    let started = Instant::now();
    let resp = post(&up, chat_body(false)).await;
    assert!(started.elapsed() >= Duration::from_millis(400));
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "late");
}

#[tokio::test]
async fn a_client_giving_up_during_a_stall_is_seen() {
    let up = ScriptedUpstream::start().await.unwrap();
    up.push(Reply::stall(30_000, Reply::text("never")));
    let c = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let r = c
        .post(format!("{}/chat/completions", up.url()))
        .json(&chat_body(false))
        .send()
        .await;
    assert!(r.is_err());
    let o = up
        .wait_for_outcome(0, Duration::from_secs(10), |o| o.is_final())
        .await
        .unwrap();
    assert_eq!(o, Outcome::ClosedByPeer);
}

#[tokio::test]
async fn a_client_dropping_a_stream_is_seen() {
    let up = ScriptedUpstream::start().await.unwrap();
    let mut s = ChatStream::new().role();
    for i in 0..300 {
        s = s.content(&format!("piece {i} ")).sleep(100);
    }
    up.push(s.finish("stop").done().build());
    let mut es = EventStream::new(post(&up, chat_body(true)).await);
    es.next_within(Duration::from_secs(10)).await.unwrap();
    es.next_within(Duration::from_secs(10)).await.unwrap();
    assert_eq!(up.outcome(0), Some(Outcome::Streaming));
    let dropped = Instant::now();
    drop(es);
    let o = up
        .wait_for_outcome(0, Duration::from_secs(10), |o| o.is_final())
        .await
        .unwrap();
    assert_eq!(o, Outcome::ClosedByPeer);
    assert!(dropped.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn status_garbage_and_rate_limit_replies() {
    let up = ScriptedUpstream::start().await.unwrap();
    up.push_all([
        Reply::rate_limited(7),
        Reply::overloaded(),
        Reply::server_error(),
        Reply::garbage(),
    ]);
    let r = post(&up, chat_body(false)).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    assert_eq!(post(&up, chat_body(false)).await.status(), 503);
    assert_eq!(post(&up, chat_body(false)).await.status(), 500);
    let r = post(&up, chat_body(true)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let body = r.text().await.unwrap();
    assert_eq!(body, GARBAGE);
    assert!(serde_json::from_str::<Value>(&body).is_err());
    assert_eq!(up.queued(), 0);
}

#[tokio::test]
async fn waiting_for_requests_times_out_with_a_clear_message() {
    let up = ScriptedUpstream::start().await.unwrap();
    let err = up
        .wait_for_requests(1, Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("received 0 request"), "{err}");
    let up2 = &up;
    let waiter = async move { up2.wait_for_requests(2, Duration::from_secs(10)).await };
    let sender = async {
        post(&up, chat_body(false)).await;
        post(&up, chat_body(false)).await;
    };
    let (got, ()) = tokio::join!(waiter, sender);
    assert_eq!(got.unwrap().len(), 2);
}

#[test]
fn pieces_split_on_char_boundaries() {
    assert_eq!(split_pieces("abcdefg", 3), vec!["abc", "de", "fg"]);
    assert_eq!(split_pieces("é✓", 5), vec!["é", "✓"]);
    assert_eq!(split_pieces("", 3), vec![""]);
    let t = "ünïcödé text";
    assert_eq!(split_pieces(t, 4).concat(), t);
}

#[test]
fn replies_round_trip_through_json() {
    let r = Reply::stall(
        5,
        ChatStream::new()
            .content("x")
            .raw(b"\r\n")
            .sleep(1)
            .done()
            .close()
            .build(),
    );
    let text = serde_json::to_string(&r).unwrap();
    assert_eq!(serde_json::from_str::<Reply>(&text).unwrap(), r);
    let script: Reply =
        serde_json::from_str(r#"{"type":"answer","text":"hi","pieces":2}"#).unwrap();
    assert_eq!(script, Reply::answer("hi", 2));
    let parsed = sse::parse_all(b"event: a\ndata: 1\ndata: 2\n\ndata: [DONE]\n\n");
    assert_eq!(parsed.len(), 2);
    assert_eq!(parsed[0].event.as_deref(), Some("a"));
    assert_eq!(parsed[0].data, "1\n2");
    assert!(parsed[1].is_done());
}

#[tokio::test]
async fn the_standalone_binary_serves_its_script_forever() {
    use tokio::io::AsyncBufReadExt;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("reply.json");
    std::fs::write(
        &script,
        serde_json::to_string(&Reply::answer("bench answer", 4)).unwrap(),
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_scripted-upstream"))
        .arg("--script")
        .arg(&script)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let url = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/v1"),
        "{url}"
    );
    for _ in 0..3 {
        let resp = client()
            .post(format!("{url}/chat/completions"))
            .json(&chat_body(true))
            .send()
            .await
            .unwrap();
        let (ev, err) = EventStream::new(resp)
            .collect(Duration::from_secs(10))
            .await;
        assert!(err.is_none());
        assert_eq!(ChatSummary::from_events(&ev).text, "bench answer");
    }
    child.kill().await.unwrap();
}
