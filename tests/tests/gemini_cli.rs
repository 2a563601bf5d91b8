//! The real Gemini CLI (`@google/gemini-cli` 0.61.0 from `tests/node`), headless, through the
//! real gateway and the `gemini` adapter against the scripted upstream:
//!
//! 1. a plain answer, after the CLI's routing classifier call;
//! 2. a tool loop: `read_file` on a file in the work dir, its content back to the backend;
//! 3. two parallel `read_file` calls in one answer;
//! 4. an upstream error mid-stream: the CLI retries, then reports the error and exits;
//!
//! and a high classifier score routing the turn to the CLI's pro model, and `-m` skipping the
//! classifier.
//!
//! Each run: `gemini -p … -y --skip-trust --output-format json` in a scratch work dir, with only
//! PATH, TERM, LANG, HOME (holding `.gemini/settings.json`), TMPDIR, `GEMINI_API_KEY` and
//! `GOOGLE_GEMINI_BASE_URL` — the setup the README documents (see `cligate_e2e::gemini`).
//!
//! Needs the `cligate` binary, `plugins-dist/gemini.wasm` (or `CLIGATE_PLUGINS_DIST`) and
//! `npm ci --prefix tests/node`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cligate_e2e::fixture::{Stack, backend_model};
use cligate_e2e::gemini::{
    CLI_TIMEOUT, CliRun, GeminiCli, assert_no_gemini_leak, classifier_reply, gemini_stack,
    is_classifier,
};
use cligate_e2e::upstream::{ReasoningField, RecordedRequest, ToolCall, UpstreamOptions};
use cligate_e2e::{ChatStream, Reply};
use serde_json::Value;

/// The default reply, played only if the CLI makes a call the test did not script: a
/// distinctive text, so such a call shows in the CLI's output and in the assertions.
const UNSCRIPTED: &str = "UNSCRIPTED DEFAULT REPLY";

async fn stack() -> Stack {
    let options = UpstreamOptions {
        default_reply: Reply::answer(UNSCRIPTED, 2),
        ..UpstreamOptions::default()
    };
    gemini_stack(options).await.unwrap()
}

/// Run the CLI; never returns a run that timed out.
async fn run(s: &Stack, cli: &GeminiCli, prompt: &str) -> CliRun {
    let run = cli
        .run(&s.gateway.base_url(), prompt, CLI_TIMEOUT)
        .await
        .unwrap();
    eprintln!("{}", run.dump());
    assert!(!run.timed_out, "gemini hung:\n{}", run.dump());
    run
}

/// A successful run's `--output-format json` answer.
fn answer(run: &CliRun) -> Value {
    assert_eq!(
        run.status.and_then(|s| s.code()),
        Some(0),
        "gemini failed:\n{}",
        run.dump()
    );
    let v = run.json();
    assert!(
        v["response"].is_string(),
        "no JSON answer on stdout:\n{}",
        run.dump()
    );
    v
}

/// Common upstream checks: the classifier call first, then the streamed turns, every request
/// routed to the backend model, nothing of the client, no unscripted call.
fn check_upstream(s: &Stack, cli: &GeminiCli, turns: usize) -> Vec<RecordedRequest> {
    let reqs = s.upstream.requests();
    assert_no_installation_id(&reqs, cli);
    let paths: Vec<String> = reqs
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        reqs.len(),
        1 + turns,
        "classifier + {turns} turn(s) expected upstream, got {paths:?}"
    );
    for r in &reqs {
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("POST", "/v1/chat/completions")
        );
        assert!(!r.used_default, "an unscripted call reached the upstream");
        assert_no_gemini_leak(r);
        assert_eq!(r.json()["model"], backend_model(), "routed");
    }
    let classifier = reqs[0].json();
    assert!(
        is_classifier(&reqs[0]),
        "first call is the classifier: {classifier:#}"
    );
    assert_eq!(
        classifier["response_format"]["type"], "json_schema",
        "{classifier:#}"
    );
    let schema = &classifier["response_format"]["json_schema"]["schema"];
    assert_eq!(
        schema["properties"]["complexity_score"]["type"], "integer",
        "Gemini's upper-case types lower-cased: {schema:#}"
    );
    for r in &reqs[1..] {
        let v = r.json();
        assert_eq!(v["stream"], true, "turns stream");
        // The CLI's thinkingConfig {includeThoughts, thinkingLevel: HIGH}.
        assert_eq!(v["reasoning_effort"], "high", "thinkingLevel mapped");
        let names: Vec<&str> = v["tools"]
            .as_array()
            .map(|t| {
                t.iter()
                    .filter_map(|t| t["function"]["name"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        assert!(
            names.contains(&"read_file") && names.contains(&"run_shell_command"),
            "the CLI's tools are forwarded: {names:?}"
        );
    }
    reqs
}

/// The CLI's installation id (its `x-gemini-api-privileged-user-id`) is nowhere upstream.
fn assert_no_installation_id(reqs: &[RecordedRequest], cli: &GeminiCli) {
    let id = cli
        .installation_id()
        .expect("the CLI wrote an installation id into its HOME");
    for r in reqs {
        assert!(
            !String::from_utf8_lossy(&r.body).contains(&id)
                && !r.headers.iter().any(|(_, v)| v.contains(&id)),
            "the installation id {id} reached the upstream"
        );
    }
}

/// The models the CLI reports having used, by role (`utility_router`, `main`).
fn models_by_role(v: &Value) -> Vec<(String, String, u64)> {
    let mut out = Vec::new();
    for (model, m) in v["stats"]["models"].as_object().into_iter().flatten() {
        for (role, r) in m["roles"].as_object().into_iter().flatten() {
            out.push((
                model.clone(),
                role.clone(),
                r["totalRequests"].as_u64().unwrap_or(0),
            ));
        }
    }
    out
}

/// Tool messages of a Chat Completions request: `(tool_call_id, content)`.
fn tool_messages(req: &Value) -> Vec<(String, String)> {
    req["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| {
            let content = match &m["content"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (m["tool_call_id"].as_str().unwrap_or("").to_owned(), content)
        })
        .collect()
}

/// The tool calls of the last assistant message: `(id, name, arguments)`.
fn assistant_calls(req: &Value) -> Vec<(String, String, Value)> {
    let msgs = req["messages"].as_array().unwrap();
    let last = msgs
        .iter()
        .rev()
        .find(|m| m["role"] == "assistant")
        .unwrap_or_else(|| panic!("no assistant message: {req:#}"));
    last["tool_calls"]
        .as_array()
        .unwrap_or_else(|| panic!("no tool calls in {last:#}"))
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap_or("").to_owned(),
                c["function"]["name"].as_str().unwrap_or("").to_owned(),
                serde_json::from_str(c["function"]["arguments"].as_str().unwrap_or("null"))
                    .unwrap_or(Value::Null),
            )
        })
        .collect()
}

#[tokio::test]
async fn plain_answer_after_the_classifier() {
    let s = stack().await;
    let cli = GeminiCli::new().unwrap();
    let text = "Six times seven is 42 — héllo, 你好.";
    s.upstream
        .push_all([classifier_reply(1), Reply::text_stream(text, 6)]);
    let run = run(&s, &cli, "What is six times seven? Answer in one line.").await;
    let v = answer(&run);
    assert_eq!(
        v["response"].as_str().unwrap().trim(),
        text,
        "{}",
        run.dump()
    );

    let reqs = check_upstream(&s, &cli, 1);
    let turn = reqs[1].json();
    assert!(
        turn["messages"]
            .to_string()
            .contains("What is six times seven? Answer in one line."),
        "the prompt reached the backend: {turn:#}"
    );
    assert_eq!(
        turn["messages"][0]["role"], "system",
        "systemInstruction first"
    );
    // The classifier ran on a flash-lite model, the turn on the model it chose.
    let models = models_by_role(&v);
    assert!(
        models
            .iter()
            .any(|(m, role, n)| role == "utility_router" && m.contains("flash-lite") && *n == 1),
        "one classifier call: {models:?}"
    );
    // Score 1 → the CLI routes the turn to its flash model, a name the user never typed.
    assert!(
        models.iter().any(|(m, role, n)| role == "main"
            && m.contains("flash")
            && !m.contains("lite")
            && *n == 1),
        "one main call on the routed flash model: {models:?}"
    );
    assert_eq!(s.upstream.queued(), 0);
}

/// `-m <name>` pins the model: no classifier call, the turn goes out under that name (routed
/// by the gateway like any other).
#[tokio::test]
async fn explicit_model_skips_the_classifier() {
    let s = stack().await;
    let cli = GeminiCli::new().unwrap();
    s.upstream.push(Reply::text_stream("pinned", 2));
    let run = cli
        .run_with(
            &s.gateway.base_url(),
            "Say hi",
            &["-m", "internal-coder"],
            CLI_TIMEOUT,
        )
        .await
        .unwrap();
    eprintln!("{}", run.dump());
    let v = answer(&run);
    assert_eq!(v["response"].as_str().unwrap().trim(), "pinned");
    let reqs = s.upstream.requests();
    assert_eq!(reqs.len(), 1, "no classifier call");
    assert!(!is_classifier(&reqs[0]));
    assert_eq!(reqs[0].json()["stream"], true);
    assert_eq!(reqs[0].json()["model"], backend_model());
    assert_no_gemini_leak(&reqs[0]);
    assert_no_installation_id(&reqs, &cli);
    let models = models_by_role(&v);
    assert!(
        models
            .iter()
            .any(|(m, role, n)| m == "internal-coder" && role == "main" && *n == 1),
        "{models:?}"
    );
}

/// A high complexity score routes the turn to yet another model name (the configured pro
/// model); the default route covers it too.
#[tokio::test]
async fn complex_prompt_routes_the_turn_to_another_model() {
    let s = stack().await;
    let cli = GeminiCli::new().unwrap();
    s.upstream
        .push_all([classifier_reply(95), Reply::text_stream("Designed.", 2)]);
    let run = run(&s, &cli, "Design a microservices backend for this app.").await;
    let v = answer(&run);
    assert_eq!(v["response"].as_str().unwrap().trim(), "Designed.");
    check_upstream(&s, &cli, 1);
    let models = models_by_role(&v);
    assert!(
        models
            .iter()
            .any(|(m, role, n)| role == "main" && m.contains("pro") && *n == 1),
        "one main call on the pro model: {models:?}"
    );
}

#[tokio::test]
async fn tool_loop_reads_a_file() {
    let s = stack().await;
    let cli = GeminiCli::new().unwrap();
    let content = "Hello from the cligate e2e test! Ünïcødé ✓";
    cli.write_work_file("hello.txt", &format!("{content}\n"))
        .unwrap();
    let final_text = format!("hello.txt says: {content}");
    let reasoning = "The user wants hello.txt; read it first.";
    s.upstream.push_all([
        classifier_reply(1),
        // Reasoning, then the call in fragments (a DeepSeek-style backend).
        ChatStream::new()
            .role()
            .reasoning_pieces(ReasoningField::ReasoningContent, reasoning, 3)
            .tool_calls_fragmented(
                &[ToolCall::new(
                    "call_read_1",
                    "read_file",
                    r#"{"file_path":"hello.txt"}"#,
                )],
                4,
            )
            .finish("tool_calls")
            .usage(20, 9)
            .done()
            .build(),
        Reply::text_stream(&final_text, 5),
    ]);
    let run = run(&s, &cli, "Read hello.txt and tell me what it says").await;
    let v = answer(&run);
    assert_eq!(v["response"].as_str().unwrap().trim(), final_text);
    assert_eq!(
        v["stats"]["tools"]["totalSuccess"], 1,
        "one tool call: {:#}",
        v["stats"]["tools"]
    );
    assert_eq!(v["stats"]["tools"]["byName"]["read_file"]["success"], 1);

    let reqs = check_upstream(&s, &cli, 2);
    let follow_up = reqs[2].json();
    let calls = assistant_calls(&follow_up);
    assert_eq!(calls.len(), 1, "{follow_up:#}");
    assert_eq!(calls[0].1, "read_file");
    assert_eq!(calls[0].2["file_path"], "hello.txt");
    let tools = tool_messages(&follow_up);
    assert_eq!(tools.len(), 1, "{follow_up:#}");
    assert_eq!(
        tools[0].0, calls[0].0,
        "the tool result answers the call it belongs to"
    );
    assert_eq!(calls[0].0, "call_read_1", "the backend's call id survives");
    assert!(
        tools[0].1.contains(content),
        "the file content reached the backend in the tool message: {:?}",
        tools[0].1
    );
    // The reasoning went to the CLI inside the gateway's thoughtSignature and comes back to
    // the backend with its tool call; the CLI's own placeholder signature does not.
    let assistant = follow_up["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["role"] == "assistant")
        .unwrap();
    assert_eq!(
        assistant["reasoning_content"], reasoning,
        "reasoning restored: {assistant:#}"
    );
    assert!(
        !reqs[2]
            .json()
            .to_string()
            .contains("skip_thought_signature_validator")
    );
    assert_eq!(s.upstream.queued(), 0);
}

#[tokio::test]
async fn parallel_function_calls() {
    let s = stack().await;
    let cli = GeminiCli::new().unwrap();
    let (alpha, beta) = ("alpha file: 1111 apples", "beta file: 2222 bananas");
    cli.write_work_file("alpha.txt", &format!("{alpha}\n"))
        .unwrap();
    cli.write_work_file("beta.txt", &format!("{beta}\n"))
        .unwrap();
    let final_text = "alpha.txt has apples, beta.txt has bananas.";
    s.upstream.push_all([
        classifier_reply(1),
        Reply::tool_calls_stream(
            &[
                ToolCall::new("call_a", "read_file", r#"{"file_path":"alpha.txt"}"#),
                ToolCall::new("call_b", "read_file", r#"{"file_path":"beta.txt"}"#),
            ],
            5,
        ),
        Reply::text_stream(final_text, 4),
    ]);
    let run = run(&s, &cli, "Read alpha.txt and beta.txt and compare them").await;
    let v = answer(&run);
    assert_eq!(v["response"].as_str().unwrap().trim(), final_text);
    assert_eq!(
        v["stats"]["tools"]["byName"]["read_file"]["success"], 2,
        "{:#}",
        v["stats"]["tools"]
    );

    let reqs = check_upstream(&s, &cli, 2);
    let follow_up = reqs[2].json();
    let calls = assistant_calls(&follow_up);
    let ids: Vec<&str> = calls.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(
        ids,
        ["call_a", "call_b"],
        "both calls in one assistant turn"
    );
    let tools = tool_messages(&follow_up);
    assert_eq!(tools.len(), 2, "{follow_up:#}");
    let by_id = |id: &str| {
        tools
            .iter()
            .find(|t| t.0 == id)
            .map(|t| t.1.clone())
            .unwrap_or_else(|| panic!("no tool message for {id}: {follow_up:#}"))
    };
    assert!(by_id("call_a").contains(alpha));
    assert!(by_id("call_b").contains(beta));
    assert_eq!(s.upstream.queued(), 0);
}

#[tokio::test]
async fn upstream_error_mid_stream_is_reported() {
    let s = stack().await;
    let cli = GeminiCli::new().unwrap();
    let failing = || {
        ChatStream::new()
            .role()
            .content("I will start answering and then")
            .sleep(200)
            .error("the backend fell over mid-answer")
            .build()
    };
    // Gemini CLI retries a failed stream (4 attempts in all); script more than it uses.
    s.upstream.push(classifier_reply(1));
    s.upstream.push_all((0..8).map(|_| failing()));
    let run = run(&s, &cli, "Tell me a long story").await;
    let code = run.status.and_then(|s| s.code());
    assert!(
        code.is_some_and(|c| c != 0),
        "gemini must fail (exit code, not a signal):\n{}",
        run.dump()
    );
    // `--output-format json` reports the error as a JSON object on stderr.
    let error = json_error(&run.stderr)
        .unwrap_or_else(|| panic!("no JSON error object on stderr:\n{}", run.dump()));
    assert_eq!(error["code"], 500, "{error:#}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("INTERNAL") && message.contains("the backend fell over mid-answer"),
        "the upstream's message is reported: {message}"
    );
    assert!(
        run.stdout.trim().is_empty(),
        "no answer (and no partial text) printed as a result:\n{}",
        run.dump()
    );
    let reqs = s.upstream.requests();
    assert!(is_classifier(&reqs[0]));
    let turns = reqs.iter().filter(|r| !is_classifier(r)).count();
    // Gemini CLI 0.61: one call and 3 mid-stream retries (MID_STREAM_RETRY_OPTIONS).
    assert_eq!(
        turns, 4,
        "the CLI's mid-stream retries reached the upstream"
    );
    assert_eq!(
        s.upstream.queued(),
        4,
        "the rest of the script was not used"
    );
    for r in &reqs {
        assert!(!r.used_default);
        assert_no_gemini_leak(r);
    }
    assert_no_installation_id(&reqs, &cli);
}

/// The error chunk right behind the text, as backends send it: the gateway reads both in one
/// piece and the CLI's SDK (1.30) then gets the text frame and the error object in one read,
/// where it cannot tell the error object from a truncated frame. The run must still fail
/// cleanly after the CLI's retries, never end as if the answer were complete.
#[tokio::test]
async fn upstream_error_right_after_text_fails_the_run() {
    let s = stack().await;
    let cli = GeminiCli::new().unwrap();
    let failing = || {
        ChatStream::new()
            .role()
            .content("I will start answering and then")
            .error("the backend fell over at once")
            .build()
    };
    s.upstream.push(classifier_reply(1));
    s.upstream.push_all((0..8).map(|_| failing()));
    let run = run(&s, &cli, "Tell me a long story").await;
    assert!(
        run.status.and_then(|s| s.code()).is_some_and(|c| c != 0),
        "gemini must fail (exit code, not a signal):\n{}",
        run.dump()
    );
    let error = json_error(&run.stderr)
        .unwrap_or_else(|| panic!("no JSON error object on stderr:\n{}", run.dump()));
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("the backend fell over at once")
            || message.contains("Incomplete JSON segment"),
        "an error is reported: {error:#}"
    );
    assert!(run.stdout.trim().is_empty(), "{}", run.dump());
    let turns = s
        .upstream
        .requests()
        .iter()
        .filter(|r| !is_classifier(r))
        .count();
    assert_eq!(turns, 4, "retried like any mid-stream failure");
}

/// The last top-level JSON object in `text` (an object whose `{` starts a line), its `error`.
fn json_error(text: &str) -> Option<Value> {
    let starts: Vec<usize> = text
        .match_indices('{')
        .map(|(i, _)| i)
        .filter(|&i| i == 0 || text.as_bytes()[i - 1] == b'\n')
        .collect();
    starts.iter().rev().find_map(|&i| {
        let mut it = serde_json::Deserializer::from_str(&text[i..]).into_iter::<Value>();
        match it.next() {
            Some(Ok(v)) if v["error"].is_object() => Some(v["error"].clone()),
            _ => None,
        }
    })
}
