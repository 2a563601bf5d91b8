//! The real Codex CLI (`@openai/codex` 0.169.0, `tests/node/node_modules/.bin/codex`) through
//! the real gateway and the `openai-responses` adapter, against the scripted Chat Completions
//! upstream:
//!
//! 1. a plain answer (custom provider, default model);
//! 2. a tool loop with the classic function tool `exec_command` (`-m internal-coder`);
//! 3. a tool loop through the freeform custom tool `exec` (default model, code mode);
//! 4. an upstream error mid-stream, reported cleanly (with and without Codex's retries);
//! 5. the built-in `openai` provider re-pointed with `-c openai_base_url=…` and keyed by
//!    `CODEX_API_KEY`: no WebSocket retry stall before the first POST.
//!
//! Every run is `codex exec` with a temp `HOME`, `CODEX_HOME` and work dir (holding
//! `hello.txt`), and only `PATH`, `HOME`, `CODEX_HOME` and the key variable in the
//! environment. The custom provider's `config.toml` is [`provider_config`], the snippet the
//! README documents. The gateway routes every model to `CLIGATE_DEFAULT_MODEL`.
//!
//! Needs the `cligate` binary, `plugins-dist/openai-responses.wasm` (or
//! `CLIGATE_PLUGINS_DIST`) and `npm ci --prefix tests/node`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use cligate_e2e::Reply;
use cligate_e2e::fixture::{CLIENT_KEY, Stack, assert_no_client_leak, backend_model, stack};
use cligate_e2e::node::node_bin;
use cligate_e2e::paths;
use cligate_e2e::upstream::{RecordedRequest, ToolCall};
use serde_json::{Value, json};

/// One `codex exec` may take this long; then its process group is killed.
const CODEX_TIMEOUT: Duration = Duration::from_secs(180);
/// The environment variable the custom provider reads its key from (`env_key`).
const KEY_VAR: &str = "CLIGATE_API_KEY";
/// What `hello.txt` in the work dir says.
const HELLO: &str = "Hello from the cligate e2e fixture!";
/// The prompt of every run.
const PROMPT: &str = "Read hello.txt and tell me what it says";

/// The `config.toml` of a custom provider pointing at the gateway (`base_url` ends in `/v1`),
/// exactly as the README documents it. `extra` lines go into the provider table.
fn provider_config(base_url: &str, extra: &[&str]) -> String {
    let mut s = format!(
        "model_provider = \"cligate\"\n\
         \n\
         [model_providers.cligate]\n\
         name = \"cligate\"\n\
         base_url = \"{base_url}\"\n\
         wire_api = \"responses\"\n\
         env_key = \"{KEY_VAR}\"\n"
    );
    for line in extra {
        s.push_str(line);
        s.push('\n');
    }
    s
}

/// A temp `HOME` with `CODEX_HOME` = `HOME/.codex`, and a work dir with `hello.txt`.
struct CodexDirs {
    _temp: tempfile::TempDir,
    home: PathBuf,
    codex_home: PathBuf,
    work: PathBuf,
}

impl CodexDirs {
    fn new() -> Self {
        let temp = tempfile::Builder::new()
            .prefix("cligate-codex-")
            .tempdir()
            .unwrap();
        let home = temp.path().join("home");
        let codex_home = home.join(".codex");
        let work = temp.path().join("work");
        std::fs::create_dir_all(&codex_home).unwrap();
        std::fs::create_dir_all(&work).unwrap();
        std::fs::write(work.join("hello.txt"), format!("{HELLO}\n")).unwrap();
        CodexDirs {
            _temp: temp,
            home,
            codex_home,
            work,
        }
    }

    fn write_config(&self, toml: &str) {
        std::fs::write(self.codex_home.join("config.toml"), toml).unwrap();
    }
}

/// What one `codex exec` did.
struct CodexRun {
    /// `None` when it was killed at the timeout.
    status: Option<ExitStatus>,
    stdout: String,
    stderr: String,
    started: Instant,
    elapsed: Duration,
}

impl CodexRun {
    fn dump(&self) -> String {
        format!(
            "codex exec: status {:?} after {:?}\n--- codex stdout ---\n{}\n--- codex stderr ---\n{}\n--- end of codex output ---",
            self.status, self.elapsed, self.stdout, self.stderr
        )
    }

    fn assert_success(&self) {
        assert!(
            self.status.is_some_and(|s| s.success()),
            "codex exec failed\n{}",
            self.dump()
        );
    }

    /// The `session id: …` line Codex prints.
    fn session_id(&self) -> Option<String> {
        self.stderr
            .lines()
            .find_map(|l| l.strip_prefix("session id: "))
            .map(|s| s.trim().to_owned())
    }
}

/// `codex exec --skip-git-repo-check <args> PROMPT` in the work dir, with only `PATH`, `HOME`,
/// `CODEX_HOME` and `vars` in the environment, stdin from `/dev/null`, in its own process
/// group (the npm launcher spawns the native binary; both are killed at the timeout).
async fn run_codex(dirs: &CodexDirs, args: &[&str], vars: &[(&str, &str)]) -> CodexRun {
    let codex = node_bin("codex").unwrap();
    let mut cmd = tokio::process::Command::new(&codex);
    cmd.arg("exec")
        .arg("--skip-git-repo-check")
        .args(args)
        .arg(PROMPT)
        .current_dir(&dirs.work)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &dirs.home)
        .env("CODEX_HOME", &dirs.codex_home)
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let started = Instant::now();
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", codex.display()));
    let pgid = child.id();
    match tokio::time::timeout(CODEX_TIMEOUT, child.wait_with_output()).await {
        Ok(out) => {
            let out = out.unwrap();
            CodexRun {
                status: Some(out.status),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                started,
                elapsed: started.elapsed(),
            }
        }
        Err(_) => {
            if let Some(pgid) = pgid {
                kill_group(pgid);
            }
            panic!(
                "codex exec did not finish within {CODEX_TIMEOUT:?} (killed; its output is lost)"
            );
        }
    }
}

fn kill_group(pgid: u32) {
    let _ = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

async fn responses_stack() -> Stack {
    let s = stack(
        &[(
            "openai-responses.wasm",
            paths::dist_plugin("openai-responses").unwrap(),
        )],
        &[],
    )
    .await
    .unwrap();
    s.gateway
        .wait_for_adapter("openai-responses", |_| true)
        .await
        .unwrap();
    s
}

/// The custom provider setup: dirs and `config.toml` pointing at this gateway.
fn custom_provider(s: &Stack, extra: &[&str]) -> CodexDirs {
    let dirs = CodexDirs::new();
    dirs.write_config(&provider_config(&s.gateway.url("/v1"), extra));
    dirs
}

/// What every upstream request from Codex must (not) carry.
fn assert_clean_upstream(r: &RecordedRequest, run: &CodexRun) {
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/v1/chat/completions"),
        "{}",
        run.dump()
    );
    assert_no_client_leak(r);
    for (name, value) in &r.headers {
        assert!(
            !name.starts_with("x-codex")
                && !name.starts_with("x-openai")
                && !matches!(
                    name.as_str(),
                    "session-id" | "session_id" | "thread-id" | "originator" | "version"
                ),
            "Codex header `{name}: {value}` reached the upstream"
        );
    }
    let up = r.json();
    for field in [
        "prompt_cache_key",
        "client_metadata",
        "store",
        "include",
        "input",
        "instructions",
        "text",
    ] {
        assert!(
            up.get(field).is_none(),
            "`{field}` reached the upstream: {}",
            up[field]
        );
    }
    if let Some(session) = run.session_id() {
        let body = String::from_utf8_lossy(&r.body);
        assert!(
            !body.contains(&session),
            "Codex's session id {session} is in the upstream body"
        );
        assert!(
            !r.headers.iter().any(|(_, v)| v.contains(&session)),
            "Codex's session id {session} is in an upstream header"
        );
    }
    assert_eq!(
        up["model"],
        backend_model(),
        "routed by CLIGATE_DEFAULT_MODEL"
    );
    assert_eq!(up["stream"], true, "Codex streams");
    let user_asked = up["messages"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["role"] == "user" && m["content"].as_str() == Some(PROMPT));
    assert!(user_asked, "the prompt is a user message: {up:#}");
}

/// The names of the functions declared upstream.
fn tool_names(up: &Value) -> Vec<String> {
    up["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .map(|t| {
                    t["function"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// In a follow-up request: the assistant message carrying call `id`, and the tool message
/// answering it. Returns `(the call, the tool message content)`.
fn call_and_result(up: &Value, id: &str) -> (Value, String) {
    let messages = up["messages"].as_array().unwrap();
    let (pos, call) = messages
        .iter()
        .enumerate()
        .find_map(|(i, m)| {
            m["tool_calls"]
                .as_array()
                .and_then(|calls| calls.iter().find(|c| c["id"] == id))
                .map(|c| (i, c.clone()))
        })
        .unwrap_or_else(|| panic!("no assistant tool call {id} in the follow-up: {up:#}"));
    assert_eq!(messages[pos]["role"], "assistant");
    let result = messages[pos + 1..]
        .iter()
        .find(|m| m["role"] == "tool" && m["tool_call_id"] == id)
        .unwrap_or_else(|| panic!("no tool message for {id} after the call: {up:#}"));
    let content = match &result["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        other => panic!("tool message content {other}"),
    };
    (call, content)
}

/// Lines of the gateway log for `METHOD path` requests.
fn gateway_requests(s: &Stack, method: &str, path: &str) -> Vec<String> {
    let needle = format!("method={method} path={path} ");
    s.gateway
        .log()
        .lines()
        .filter(|l| l.contains(" request ") && l.contains(&needle))
        .map(str::to_owned)
        .collect()
}

/// Seconds since midnight of a gateway log line's leading UTC timestamp
/// (`2026-11-26T10:05:42.513572Z …`).
fn log_time(line: &str) -> Option<f64> {
    let time = line.split_whitespace().next()?.split('T').nth(1)?;
    let time = time.trim_end_matches('Z');
    let mut parts = time.split(':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}

/// (1) A plain answer through the custom provider.
#[tokio::test]
async fn codex_exec_plain_answer() {
    let s = responses_stack().await;
    let answer = "hello.txt is not needed: Hello — héllo, 你好!";
    s.upstream.push(Reply::text_stream(answer, 6));
    let dirs = custom_provider(&s, &[]);
    let run = run_codex(&dirs, &[], &[(KEY_VAR, CLIENT_KEY)]).await;
    run.assert_success();
    assert_eq!(run.stdout.trim(), answer, "{}", run.dump());
    assert!(run.stderr.contains("provider: cligate"), "{}", run.dump());
    assert!(
        run.stderr.contains(&format!("codex\n{answer}")),
        "{}",
        run.dump()
    );

    let reqs = s.upstream.requests();
    assert_eq!(reqs.len(), 1, "one upstream call\n{}", run.dump());
    assert_clean_upstream(&reqs[0], &run);
    assert!(
        gateway_requests(&s, "GET", "/v1/responses").is_empty(),
        "a custom provider makes no WebSocket attempt"
    );
    assert_eq!(gateway_requests(&s, "POST", "/v1/responses").len(), 1);
    assert_eq!(s.upstream.defaults_used(), 0);
    eprintln!("codex exec (plain answer) took {:?}", run.elapsed);
}

/// (2) A tool loop with the classic function tool `exec_command` (`-m internal-coder`: Codex
/// sends top-level function tools). Codex runs `cat hello.txt` in its sandbox and sends the
/// output back.
#[tokio::test]
async fn codex_exec_function_tool_loop() {
    let s = responses_stack().await;
    let call = ToolCall::new("call_cat_1", "exec_command", r#"{"cmd":"cat hello.txt"}"#);
    let answer = format!("hello.txt says: {HELLO}");
    s.upstream.push_all([
        Reply::tool_calls_stream(std::slice::from_ref(&call), 4),
        Reply::text_stream(&answer, 5),
    ]);
    let dirs = custom_provider(&s, &[]);
    let run = run_codex(&dirs, &["-m", "internal-coder"], &[(KEY_VAR, CLIENT_KEY)]).await;
    run.assert_success();
    assert_eq!(run.stdout.trim(), answer, "{}", run.dump());
    assert!(
        run.stderr.contains("model: internal-coder"),
        "{}",
        run.dump()
    );
    assert!(
        run.stderr.contains("cat hello.txt") && run.stderr.contains("succeeded"),
        "Codex ran the command\n{}",
        run.dump()
    );

    let reqs = s.upstream.requests();
    assert_eq!(reqs.len(), 2, "tool turn + follow-up\n{}", run.dump());
    for r in &reqs {
        assert_clean_upstream(r, &run);
    }
    let first = reqs[0].json();
    let names = tool_names(&first);
    assert!(
        names.iter().any(|n| n == "exec_command"),
        "exec_command declared: {names:?}"
    );
    assert!(
        !names.iter().any(|n| n.contains("web_search")),
        "the hosted web_search tool is dropped: {names:?}"
    );

    let follow = reqs[1].json();
    let (sent_call, output) = call_and_result(&follow, "call_cat_1");
    assert_eq!(sent_call["function"]["name"], "exec_command");
    let args: Value =
        serde_json::from_str(sent_call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"cmd": "cat hello.txt"}));
    assert!(
        output.contains(HELLO),
        "the tool message carries the file content: {output:?}"
    );
    assert!(
        output.contains("exited with code 0"),
        "exec_command's result: {output:?}"
    );
    eprintln!("exec_command result Codex sent back: {output:?}");
}

/// (3) A tool loop through the freeform custom tool `exec` (default model, code mode: the tool
/// arrives in an `additional_tools` namespace item and is exposed upstream as a function with
/// one string argument `input`).
#[tokio::test]
async fn codex_exec_custom_tool_loop() {
    let s = responses_stack().await;
    // The flattened name of the custom tool is checked against the first request below.
    let flat = "exec";
    let script = "const r = await tools.exec_command({cmd: \"cat hello.txt\"});\ntext(r.output);";
    let call = ToolCall::new("call_code_1", flat, &json!({ "input": script }).to_string());
    let answer = format!("The file says: {HELLO}");
    s.upstream.push_all([
        Reply::tool_calls_stream(std::slice::from_ref(&call), 6),
        Reply::text_stream(&answer, 5),
    ]);
    let dirs = custom_provider(&s, &[]);
    let run = run_codex(&dirs, &[], &[(KEY_VAR, CLIENT_KEY)]).await;

    let reqs = s.upstream.requests();
    assert!(!reqs.is_empty(), "no upstream request\n{}", run.dump());
    let first = reqs[0].json();
    let custom = first["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools upstream: {first:#}"))
        .iter()
        .find(|t| {
            t["function"]["description"]
                .as_str()
                .is_some_and(|d| d.contains("Run JavaScript code"))
        })
        .unwrap_or_else(|| {
            panic!(
                "no function for the custom exec tool upstream: {:?}",
                tool_names(&first)
            )
        });
    assert_eq!(
        custom["function"]["name"], flat,
        "the flattened name of the custom tool"
    );
    let params = &custom["function"]["parameters"];
    assert_eq!(
        params["properties"]["input"]["type"], "string",
        "{params:#}"
    );
    assert_eq!(params["required"], json!(["input"]), "{params:#}");

    run.assert_success();
    assert_eq!(run.stdout.trim(), answer, "{}", run.dump());
    assert!(
        run.stderr.contains("cat hello.txt"),
        "Codex ran the nested command\n{}",
        run.dump()
    );
    assert_eq!(reqs.len(), 2, "tool turn + follow-up\n{}", run.dump());
    for r in &reqs {
        assert_clean_upstream(r, &run);
    }
    let follow = reqs[1].json();
    let (sent_call, output) = call_and_result(&follow, "call_code_1");
    assert_eq!(sent_call["function"]["name"], flat);
    let args: Value =
        serde_json::from_str(sent_call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(
        args,
        json!({ "input": script }),
        "the custom call goes back with its raw input"
    );
    assert!(
        output.contains(HELLO),
        "the tool message carries the script's output: {output:?}"
    );
    assert!(output.contains("Script completed"), "{output:?}");
    eprintln!("exec result Codex sent back: {output:?}");
}

/// (4) An upstream error mid-stream with Codex's retries off: one upstream call, a clean error
/// message, exit code 1, no hang.
#[tokio::test]
async fn codex_exec_reports_a_mid_stream_error() {
    let s = responses_stack().await;
    s.upstream.push(Reply::error_mid_stream(
        "partial answer ",
        "backend exploded",
    ));
    let dirs = custom_provider(&s, &["stream_max_retries = 0", "request_max_retries = 0"]);
    let run = run_codex(&dirs, &[], &[(KEY_VAR, CLIENT_KEY)]).await;
    assert_eq!(
        run.status.and_then(|s| s.code()),
        Some(1),
        "exit code 1\n{}",
        run.dump()
    );
    assert!(
        run.stderr
            .contains("ERROR: stream disconnected before completion: backend exploded"),
        "{}",
        run.dump()
    );
    assert!(!run.stderr.contains("Reconnecting"), "{}", run.dump());
    assert!(
        run.stdout.trim().is_empty(),
        "no final message on stdout\n{}",
        run.dump()
    );
    assert!(run.elapsed < Duration::from_secs(60), "{}", run.dump());
    let reqs = s.upstream.requests();
    assert_eq!(reqs.len(), 1, "no retry\n{}", run.dump());
    assert_clean_upstream(&reqs[0], &run);
    eprintln!("codex exec with a mid-stream error took {:?}", run.elapsed);
}

/// (4b) The same error with Codex's default retries (`stream_max_retries` = 5): Codex
/// reconnects five times (the failure is `server_error`, retryable), then reports it.
#[tokio::test]
async fn codex_exec_retries_a_mid_stream_error_then_reports_it() {
    let s = responses_stack().await;
    for _ in 0..6 {
        s.upstream.push(Reply::error_mid_stream(
            "partial answer ",
            "backend exploded",
        ));
    }
    let dirs = custom_provider(&s, &[]);
    let run = run_codex(&dirs, &[], &[(KEY_VAR, CLIENT_KEY)]).await;
    assert_eq!(
        run.status.and_then(|s| s.code()),
        Some(1),
        "exit code 1\n{}",
        run.dump()
    );
    assert!(run.stderr.contains("Reconnecting... 5/5"), "{}", run.dump());
    assert!(
        run.stderr
            .contains("ERROR: stream disconnected before completion: backend exploded"),
        "{}",
        run.dump()
    );
    assert_eq!(
        s.upstream.requests().len(),
        6,
        "1 + 5 retries\n{}",
        run.dump()
    );
    assert_eq!(s.upstream.defaults_used(), 0);
    eprintln!(
        "codex exec with 5 retries of a mid-stream error took {:?}",
        run.elapsed
    );
}

/// (5) The built-in `openai` provider re-pointed with `-c openai_base_url=…`, keyed by
/// `CODEX_API_KEY`. It tries a WebSocket on `GET …/responses` first; the adapter's 426 makes
/// it fall back to HTTP POST at once instead of retrying for seconds.
#[tokio::test]
async fn codex_exec_builtin_provider_falls_back_to_post_without_a_stall() {
    let s = responses_stack().await;
    let answer = "Hello through the built-in provider.";
    s.upstream.push(Reply::text_stream(answer, 4));
    let dirs = CodexDirs::new();
    let base = format!("openai_base_url=\"{}\"", s.gateway.url("/v1"));
    let run = run_codex(&dirs, &["-c", &base], &[("CODEX_API_KEY", CLIENT_KEY)]).await;
    run.assert_success();
    assert_eq!(run.stdout.trim(), answer, "{}", run.dump());
    assert!(run.stderr.contains("provider: openai"), "{}", run.dump());

    let reqs = s.upstream.requests();
    assert_eq!(reqs.len(), 1, "{}", run.dump());
    assert_clean_upstream(&reqs[0], &run);
    let to_first_post = reqs[0].received_at.duration_since(run.started);
    let gets = gateway_requests(&s, "GET", "/v1/responses");
    let posts = gateway_requests(&s, "POST", "/v1/responses");
    // The gateway's own view: from the first WebSocket attempt to the POST.
    let get_to_post = gets
        .first()
        .and_then(|g| log_time(g))
        .zip(posts.first().and_then(|p| log_time(p)))
        .map(|(g, p)| Duration::from_secs_f64((p - g).max(0.0)));
    eprintln!(
        "built-in provider: first POST reached the upstream {to_first_post:?} after spawning \
         codex; {} WebSocket GET(s) answered 426; first GET to POST at the gateway: \
         {get_to_post:?}; the run took {:?}",
        gets.len(),
        run.elapsed
    );
    assert!(
        (1..=2).contains(&gets.len()),
        "one (at most two) WebSocket attempts: {gets:#?}\n{}",
        run.dump()
    );
    for g in &gets {
        assert!(g.contains("status=426"), "{g}");
    }
    assert_eq!(posts.len(), 1, "{posts:#?}");
    // Without the 426 (a server answering 404) Codex 0.169 makes 7 WebSocket attempts with
    // backoff and POSTs only ≈ 6.8 s after start; through the gateway it is ≈ 0.6–1.1 s here.
    if let Some(gap) = get_to_post {
        assert!(
            gap < Duration::from_secs(2),
            "{gap:?} between the WebSocket attempt and the POST\n{}",
            run.dump()
        );
    }
    assert!(
        to_first_post < Duration::from_secs(5),
        "first POST only after {to_first_post:?}: a WebSocket retry stall\n{}",
        run.dump()
    );
}

/// Keep the helper honest: the snippet is what the README documents.
#[test]
fn provider_config_snippet() {
    assert_eq!(
        provider_config("http://127.0.0.1:8080/v1", &[]),
        "model_provider = \"cligate\"\n\
         \n\
         [model_providers.cligate]\n\
         name = \"cligate\"\n\
         base_url = \"http://127.0.0.1:8080/v1\"\n\
         wire_api = \"responses\"\n\
         env_key = \"CLIGATE_API_KEY\"\n"
    );
}
