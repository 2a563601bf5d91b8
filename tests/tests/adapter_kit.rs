//! The adapter authoring kit, run as a user runs it: `cligate adapter test` over every
//! shipped adapter in `plugins-dist/` with its recorded fixtures (so the one test command
//! covers them), a readable report and a non-zero exit on a difference, `--update` recording,
//! and `cligate adapter new` → native `cargo test` → `cligate adapter build --install` →
//! `cligate adapter test` on the generated crate, in a workspace and standalone.
//!
//! The scaffold tests compile an adapter (deps are kept in `<target>/tmp/adapter-kit-target`
//! between runs); they need the `wasm32-wasip2` target.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/kit.rs"]
mod kit;

use std::path::Path;

use cligate_e2e::paths::{dist_plugin, sha256_file, workspace_root};
use kit::{
    SHIPPED, cargo, cligate, cligate_own_rustflags, copy_tree, printed, stable_dir, temp_workspace,
};

#[test]
fn every_shipped_adapter_passes_its_recorded_fixtures() {
    let root = workspace_root();
    let dist = dist_plugin("openai-chat").unwrap();
    let dist_dir = dist.parent().unwrap();
    let mut shipped: Vec<String> = std::fs::read_dir(dist_dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.strip_suffix(".wasm").map(str::to_owned)
        })
        .collect();
    shipped.sort();
    let mut expected: Vec<String> = SHIPPED.iter().map(|s| (*s).to_owned()).collect();
    expected.sort();
    assert_eq!(
        shipped, expected,
        "plugins-dist/ holds the four shipped adapters"
    );

    for name in &shipped {
        let fixtures = root.join("adapters").join(name).join("fixtures");
        let cases = std::fs::read_dir(&fixtures)
            .unwrap_or_else(|e| panic!("{}: {e}", fixtures.display()))
            .count();
        assert!(cases >= 5, "{name} has only {cases} fixture cases");
        let wasm = dist_dir.join(format!("{name}.wasm"));
        let run = cligate(
            &[
                "adapter",
                "test",
                wasm.to_str().unwrap(),
                fixtures.to_str().unwrap(),
            ],
            &[],
        );
        assert!(run.ok, "{name}: {}", run.all());
        assert!(
            run.stdout
                .contains(&format!("{cases} case(s): {cases} passed, 0 failed")),
            "{name}: {}",
            run.all()
        );
        assert!(!run.stdout.contains("FAIL"), "{}", run.all());
    }
}

#[test]
fn a_difference_fails_with_a_readable_report() {
    let root = workspace_root();
    let temp = tempfile::tempdir().unwrap();
    let fixtures = temp.path().join("fixtures");
    copy_tree(&root.join("adapters/openai-chat/fixtures"), &fixtures);
    let edit = |file: &str, from: &str, to: &str| {
        let path = fixtures.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} has no {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    };
    edit(
        "stream-with-usage/pivot.json",
        "\"max_tokens\": 200",
        "\"max_tokens\": 100",
    );
    edit(
        "stream-with-usage/client.sse",
        "\"content\":\" again.\"",
        "\"content\":\" AGAIN.\"",
    );
    edit("whole-answer/response.json", "\"Hello.\"", "\"Hi.\"");
    edit(
        "rejected-n-above-1/rejection.json",
        "only n = 1",
        "only one n",
    );
    let wasm = dist_plugin("openai-chat").unwrap();
    let run = cligate(
        &[
            "adapter",
            "test",
            wasm.to_str().unwrap(),
            fixtures.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(run.code, Some(1), "{}", run.all());
    for line in [
        "FAIL  stream-with-usage",
        "$.body.max_tokens: expected 100, got 200",
        "first difference at event #5:",
        "data $.choices[0].delta.content: expected \" AGAIN.\", got \" again.\"",
        "FAIL  whole-answer",
        "$.body.choices[0].message.content: expected \"Hi.\", got \"Hello.\"",
        "$.message: expected \"only one n is supported\", got \"only n = 1 is supported\"",
        "3 failed",
    ] {
        assert!(
            run.stdout.contains(line),
            "missing {line:?} in\n{}",
            run.all()
        );
    }

    // A split-dependent adapter would be caught too; a missing expectation says how to record.
    std::fs::remove_file(fixtures.join("stream-without-usage/client.sse")).unwrap();
    let run = cligate(
        &[
            "adapter",
            "test",
            wasm.to_str().unwrap(),
            fixtures.to_str().unwrap(),
            "--filter",
            "stream-without-usage",
        ],
        &[],
    );
    assert_eq!(run.code, Some(1), "{}", run.all());
    assert!(
        run.stdout
            .contains("client.sse is missing (record it with --update)"),
        "{}",
        run.all()
    );
}

#[test]
fn update_records_the_expected_files_from_the_current_output() {
    let root = workspace_root();
    let temp = tempfile::tempdir().unwrap();
    let fixtures = temp.path().join("fixtures");
    let original = root.join("adapters/anthropic-messages/fixtures");
    copy_tree(&original, &fixtures);
    let mut removed = Vec::new();
    for case in std::fs::read_dir(&fixtures).unwrap() {
        let case = case.unwrap().path();
        for file in [
            "pivot.json",
            "rejection.json",
            "client.sse",
            "response.json",
        ] {
            if case.join(file).is_file() {
                std::fs::remove_file(case.join(file)).unwrap();
                removed
                    .push(case.file_name().unwrap().to_owned().into_string().unwrap() + "/" + file);
            }
        }
    }
    assert!(removed.len() >= 10, "{removed:?}");
    let wasm = dist_plugin("anthropic-messages").unwrap();
    let args = [
        "adapter",
        "test",
        wasm.to_str().unwrap(),
        fixtures.to_str().unwrap(),
    ];
    let run = cligate(&[&args[..], &["--record"]].concat(), &[]);
    assert!(run.ok, "{}", run.all());
    assert!(
        run.stdout
            .contains(&format!("{} file(s) recorded", removed.len())),
        "{}",
        run.all()
    );
    // Recording is deterministic: the same files as committed, byte for byte.
    for file in &removed {
        assert_eq!(
            std::fs::read(fixtures.join(file)).unwrap(),
            std::fs::read(original.join(file)).unwrap(),
            "{file}"
        );
    }
    let run = cligate(&args, &[]);
    assert!(run.ok, "{}", run.all());
}

/// `cligate adapter build` on a shipped adapter gives the bytes `adapters/build.sh` committed.
#[test]
fn building_a_shipped_adapter_reproduces_plugins_dist() {
    let crate_dir = workspace_root().join("adapters/openai-chat");
    let run = cligate_own_rustflags(&["adapter", "build", crate_dir.to_str().unwrap()]);
    assert!(run.ok, "{}", run.all());
    assert_eq!(
        printed(&run.stdout, "sha256"),
        Some(sha256_file(&dist_plugin("openai-chat").unwrap()).unwrap()),
        "{}",
        run.all()
    );
    assert!(
        run.stdout.contains("check: ok — openai-chat 1.0.0"),
        "{}",
        run.all()
    );
}

/// `adapter new` → `cargo test` → `adapter build --install` → `adapter test`, in a
/// workspace shaped like this repository (the SDK from `[workspace.dependencies]`).
#[test]
fn a_scaffolded_adapter_builds_tests_and_replays_in_a_workspace() {
    let ws = temp_workspace("adapter-kit-ws");
    let adapters = ws.join("adapters");
    let run = cligate(
        &[
            "adapter",
            "new",
            "demo",
            "--dir",
            adapters.to_str().unwrap(),
        ],
        &[],
    );
    assert!(run.ok, "{}", run.all());
    assert!(!run.stdout.contains("note:"), "{}", run.all());
    let crate_dir = adapters.join("demo");
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("cligate-adapter-sdk.workspace = true"));

    let test = cargo(&ws, &["test", "-p", "cligate-adapter-demo"]);
    assert!(test.ok, "{}", test.all());
    assert!(test.stdout.contains("2 passed"), "{}", test.all());

    let plugins = tempfile::tempdir().unwrap();
    let built = cligate(
        &[
            "adapter",
            "build",
            crate_dir.to_str().unwrap(),
            "--install",
            plugins.path().to_str().unwrap(),
        ],
        &[],
    );
    assert!(built.ok, "{}", built.all());
    check_build_output(&built.stdout, "demo", plugins.path());

    let installed = plugins.path().join("demo.wasm");
    let replay = cligate(
        &[
            "adapter",
            "test",
            installed.to_str().unwrap(),
            crate_dir.join("fixtures").to_str().unwrap(),
        ],
        &[],
    );
    assert!(replay.ok, "{}", replay.all());
    assert!(
        replay
            .stdout
            .contains("ok    generate-stream: pivot, client stream (whole, split 1/7/4096)"),
        "{}",
        replay.all()
    );
}

/// The same with `--sdk-path`: a crate that is its own workspace.
#[test]
fn a_standalone_scaffold_builds_against_the_sdk_path() {
    let dir = stable_dir("adapter-kit-standalone");
    let crate_dir = dir.join("solo");
    if crate_dir.exists() {
        std::fs::remove_dir_all(&crate_dir).unwrap();
    }
    let sdk = workspace_root().join("adapters/sdk");
    let run = cligate(
        &[
            "adapter",
            "new",
            "solo",
            "--dir",
            dir.to_str().unwrap(),
            "--sdk-path",
            sdk.to_str().unwrap(),
        ],
        &[],
    );
    assert!(run.ok, "{}", run.all());
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("[workspace]"), "{manifest}");
    // Same dependency versions as this repository, and no network needed.
    std::fs::copy(
        workspace_root().join("Cargo.lock"),
        crate_dir.join("Cargo.lock"),
    )
    .unwrap();

    let test = cargo(&crate_dir, &["test"]);
    assert!(test.ok, "{}", test.all());
    let plugins = tempfile::tempdir().unwrap();
    let built = cligate(
        &[
            "adapter",
            "build",
            crate_dir.to_str().unwrap(),
            "--install",
            plugins.path().to_str().unwrap(),
        ],
        &[],
    );
    assert!(built.ok, "{}", built.all());
    check_build_output(&built.stdout, "solo", plugins.path());
}

fn check_build_output(stdout: &str, name: &str, plugins: &Path) {
    assert!(
        stdout.contains("(profile adapter)"),
        "the adapter profile is used: {stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "check: ok — {name} 0.1.0 (dialect {name}, contract 0.1.0"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("POST /{name}/v1/generate → translate")),
        "{stdout}"
    );
    let size: u64 = printed(stdout, "size")
        .and_then(|s| s.split(' ').next().map(str::to_owned))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no size in {stdout}"));
    let sha = printed(stdout, "sha256").unwrap_or_else(|| panic!("no sha256 in {stdout}"));
    let installed = plugins.join(format!("{name}.wasm"));
    assert_eq!(
        printed(stdout, "installed").as_deref(),
        Some(installed.to_str().unwrap())
    );
    assert_eq!(std::fs::metadata(&installed).unwrap().len(), size);
    assert_eq!(sha256_file(&installed).unwrap(), sha);
    let leftovers: Vec<_> = std::fs::read_dir(plugins)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}
