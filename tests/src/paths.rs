//! Where things are: the workspace, the gateway binary, built adapters.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

/// The workspace root (the parent of `tests/`).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

/// The cargo target directory (`CARGO_TARGET_DIR` if set, else `<workspace>/target`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => {
            let d = PathBuf::from(d);
            if d.is_absolute() {
                d
            } else {
                workspace_root().join(d)
            }
        }
        None => workspace_root().join("target"),
    }
}

/// The `cligate` binary: `CLIGATE_BIN`, else `target/release/cligate`, else
/// `target/debug/cligate`; when both exist, the newer one (a stale release build left over
/// from earlier work would otherwise silently win over a fresh debug build).
pub fn cligate_bin() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("CLIGATE_BIN") {
        let p = PathBuf::from(p);
        if !p.is_file() {
            bail!("CLIGATE_BIN points to {}, which is not a file", p.display());
        }
        return Ok(p);
    }
    let target = target_dir();
    let found: Vec<PathBuf> = ["release", "debug"]
        .iter()
        .map(|profile| target.join(profile).join("cligate"))
        .filter(|p| p.is_file())
        .collect();
    let modified = |p: &PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    match found.as_slice() {
        [only] => return Ok(only.clone()),
        [release, debug] => {
            return Ok(if modified(debug) > modified(release) {
                debug.clone()
            } else {
                release.clone()
            });
        }
        _ => {}
    }
    bail!(
        "no cligate binary: set CLIGATE_BIN, or build it with `cargo build --release -p cligate` \
         (looked in {}/release and {}/debug)",
        target.display(),
        target.display()
    )
}

/// A shipped adapter: `plugins-dist/<name>.wasm` (directory overridable with
/// `CLIGATE_PLUGINS_DIST`).
pub fn dist_plugin(name: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::var_os("CLIGATE_PLUGINS_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("plugins-dist"));
    let p = dir.join(format!("{name}.wasm"));
    if !p.is_file() {
        bail!(
            "missing adapter {}: build the shipped adapters (adapters/build.sh) first",
            p.display()
        );
    }
    Ok(p)
}

/// A test adapter: `target/test-plugins/<name>.wasm` (directory overridable with
/// `CLIGATE_TEST_PLUGINS`).
pub fn test_plugin(name: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::var_os("CLIGATE_TEST_PLUGINS")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("test-plugins"));
    let p = dir.join(format!("{name}.wasm"));
    if !p.is_file() {
        bail!(
            "missing test adapter {}: run `bash tests/build-test-adapters.sh` first",
            p.display()
        );
    }
    Ok(p)
}

/// Hex sha256 of a file.
pub fn sha256_file(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    Ok(sha256_hex(&bytes))
}

/// Hex sha256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
