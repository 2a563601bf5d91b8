//! Shared by the adapter-kit tests (`adapter_kit.rs`, `adapter_compat.rs`,
//! `adapter_patch_loop.rs`): run `cligate adapter …` and `cligate check` as a user would, and
//! set up throw-away cargo workspaces that depend on this checkout's SDK.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use cligate_e2e::paths::{cligate_bin, workspace_root};

/// The shipped adapters, by `plugins-dist/<name>.wasm` and `adapters/<name>/`.
pub const SHIPPED: &[&str] = &[
    "openai-chat",
    "anthropic-messages",
    "openai-responses",
    "gemini",
];

/// What a command printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub ok: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Both streams, for assertion messages.
    pub fn all(&self) -> String {
        format!(
            "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Run {
            ok: output.status.success(),
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// A directory under cargo's per-target temp dir that survives between runs (build caches).
pub fn stable_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The target directory for the adapters these tests build: shared by every test and kept
/// between runs, so only the changed crate compiles again.
pub fn kit_target_dir() -> PathBuf {
    stable_dir("adapter-kit-target")
}

/// `cligate <args>` with a hermetic environment: none of the caller's `CLIGATE_*`, a compile
/// cache kept between runs, cargo offline (the registry crates are already here) and one
/// fixed set of wasm rustflags, so every throw-away workspace reuses the same built deps.
pub fn cligate(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(cligate_bin().unwrap());
    cmd.args(args);
    hermetic(&mut cmd);
    fixed_wasm_rustflags(&mut cmd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap().into()
}

/// `cligate <args>` as [`cligate`], but with cargo's wasm rustflags left to `cligate adapter
/// build` (the remapping of `adapters/build.sh`).
pub fn cligate_own_rustflags(args: &[&str]) -> Run {
    let mut cmd = Command::new(cligate_bin().unwrap());
    cmd.args(args);
    hermetic(&mut cmd);
    cmd.env_remove("CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS");
    cmd.output().unwrap().into()
}

/// `cargo <args>` in `dir` with the same environment as [`cligate`].
pub fn cargo(dir: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args(args).current_dir(dir);
    hermetic(&mut cmd);
    fixed_wasm_rustflags(&mut cmd);
    cmd.output().unwrap().into()
}

fn hermetic(cmd: &mut Command) {
    for (k, _) in std::env::vars_os() {
        if let Some(k) = k.to_str()
            && k.starts_with("CLIGATE_")
            && k != "CLIGATE_BIN"
        {
            cmd.env_remove(k);
        }
    }
    cmd.stdin(Stdio::null())
        .env("CLIGATE_CACHE_DIR", stable_dir("adapter-kit-cache"))
        .env("CARGO_TARGET_DIR", kit_target_dir())
        .env("CARGO_NET_OFFLINE", "true")
        .env("NO_COLOR", "1");
}

fn fixed_wasm_rustflags(cmd: &mut Command) {
    let cargo_home = std::env::var("CARGO_HOME")
        .unwrap_or_else(|_| format!("{}/.cargo", std::env::var("HOME").unwrap_or_default()));
    cmd.env(
        "CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS",
        format!(
            "--remap-path-prefix={}=/kit --remap-path-prefix={cargo_home}=/cargo",
            Path::new(env!("CARGO_TARGET_TMPDIR")).display()
        ),
    );
}

/// A fresh cargo workspace at a stable path (`<target tmp>/<name>`) shaped like this
/// repository's: members `adapters/*`, the same `[workspace.package]`, the SDK by path, the
/// `adapter` profile, this repository's `Cargo.lock`. Everything but its build output is
/// wiped first.
pub fn temp_workspace(name: &str) -> PathBuf {
    let root = stable_dir(name);
    for entry in std::fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
    }
    let repo = workspace_root();
    let repo_manifest = std::fs::read_to_string(repo.join("Cargo.toml")).unwrap();
    let profile = &repo_manifest[repo_manifest
        .find("[profile.adapter]")
        .expect("the repository defines [profile.adapter]")..];
    let manifest = format!(
        r#"[workspace]
resolver = "3"
members = ["adapters/*"]

[workspace.package]
version = "0.1.0"
edition = "2024"
license = "Apache-2.0"
publish = false

[workspace.dependencies]
cligate-adapter-sdk = {{ path = "{}" }}
serde = {{ version = "1", features = ["derive"] }}
serde_json = {{ version = "1", features = ["raw_value"] }}

{profile}"#,
        repo.join("adapters").join("sdk").display()
    );
    std::fs::write(root.join("Cargo.toml"), manifest).unwrap();
    std::fs::copy(repo.join("Cargo.lock"), root.join("Cargo.lock")).unwrap();
    std::fs::create_dir_all(root.join("adapters")).unwrap();
    root
}

/// Copy a directory tree.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The value of a `key: value` line `cligate adapter build` printed.
pub fn printed(stdout: &str, key: &str) -> Option<String> {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")))
        .map(|v| v.trim().to_owned())
}
