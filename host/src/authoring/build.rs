//! `cligate adapter build`: build an adapter crate for `wasm32-wasip2`, check the component
//! with the gateway's own loader, print its size and SHA-256, and optionally install it into
//! a plugins directory the way hot reload expects (hidden temp file, then rename).
//!
//! Inside a workspace that defines `[profile.adapter]` (this repository) the build uses it,
//! with the same path remapping as `adapters/build.sh`, so both give the same bytes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, anyhow, bail};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::adapter_host::wit::SUPPORTED_CONTRACTS;
use crate::adapter_host::wit::latest::types::RouteAction;

/// The target adapters are built for.
pub const WASM_TARGET: &str = "wasm32-wasip2";

/// What `cargo metadata --no-deps` says, the parts used here.
#[derive(Deserialize)]
struct Metadata {
    packages: Vec<Package>,
    workspace_root: PathBuf,
    target_directory: PathBuf,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    version: String,
    manifest_path: PathBuf,
    targets: Vec<Target>,
}

#[derive(Deserialize)]
struct Target {
    name: String,
    crate_types: Vec<String>,
}

/// What was built and installed.
#[derive(Debug, Clone)]
pub struct Built {
    /// The component in the target directory.
    pub wasm: PathBuf,
    /// Adapter name from `info`.
    pub name: String,
    /// SHA-256 of the component.
    pub sha256: String,
    /// Where it was installed, if it was.
    pub installed: Option<PathBuf>,
}

/// Build the crate at `path`; check; print; install into `install` if given.
pub async fn build(
    path: &Path,
    install: Option<&Path>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    build_adapter(path, install, out).await.map(|_| ())
}

/// [`build`], returning what it did.
pub async fn build_adapter(
    path: &Path,
    install: Option<&Path>,
    out: &mut impl Write,
) -> anyhow::Result<Built> {
    let crate_dir = path
        .canonicalize()
        .with_context(|| format!("{} does not exist", path.display()))?;
    let manifest = crate_dir.join("Cargo.toml");
    if !manifest.is_file() {
        bail!(
            "{} has no Cargo.toml; pass the adapter crate's directory",
            crate_dir.display()
        );
    }
    let metadata = cargo_metadata(&manifest)?;
    let package = metadata
        .packages
        .iter()
        .find(|p| p.manifest_path.canonicalize().ok().as_deref() == Some(manifest.as_path()))
        .ok_or_else(|| anyhow!("cargo metadata does not list {}", manifest.display()))?;
    let lib = package
        .targets
        .iter()
        .find(|t| t.crate_types.iter().any(|c| c == "cdylib"))
        .ok_or_else(|| {
            anyhow!(
                "{} builds no component: its [lib] needs crate-type = [\"cdylib\", \"rlib\"]",
                package.name
            )
        })?;
    let profile = if has_adapter_profile(&metadata.workspace_root) {
        "adapter"
    } else {
        "release"
    };
    ensure_target(&crate_dir, out)?;
    writeln!(
        out,
        "building {} {} for {WASM_TARGET} (profile {profile})",
        package.name, package.version
    )?;
    out.flush()?;

    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo
        .arg("build")
        .arg("--manifest-path")
        .arg(&manifest)
        .args(["--lib", "--target", WASM_TARGET, "--profile", profile])
        .current_dir(&crate_dir)
        .stdin(Stdio::null());
    // The remapping of adapters/build.sh: no absolute path of this machine in the component,
    // and the same bytes as that script for the same sources and toolchain.
    let flags_var = "CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS";
    if std::env::var_os(flags_var).is_none() {
        let cargo_home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
        let mut flags = format!(
            "--remap-path-prefix={}=/cligate",
            metadata.workspace_root.display()
        );
        if let Some(home) = cargo_home {
            flags.push_str(&format!(" --remap-path-prefix={}=/cargo", home.display()));
        }
        cargo.env(flags_var, flags);
    }
    let status = cargo.status().context("running cargo (is it on PATH?)")?;
    if !status.success() {
        bail!("cargo build failed ({status})");
    }
    let wasm = metadata
        .target_directory
        .join(WASM_TARGET)
        .join(profile)
        .join(format!("{}.wasm", lib.name.replace('-', "_")));
    let bytes = std::fs::read(&wasm)
        .with_context(|| format!("cargo built no component at {}", wasm.display()))?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    writeln!(out, "wasm: {}", wasm.display())?;

    let (_engine, adapter) = super::load_component(&wasm).await.with_context(|| {
        format!(
            "the component does not load in this gateway (contracts supported: {})",
            SUPPORTED_CONTRACTS.join(", ")
        )
    })?;
    writeln!(
        out,
        "check: ok — {} {} (dialect {}, contract {}; this gateway loads {})",
        adapter.name,
        adapter.version,
        adapter.dialect,
        adapter.contract,
        SUPPORTED_CONTRACTS.join(", ")
    )?;
    for route in &adapter.info.routes {
        writeln!(
            out,
            "  {} {}{} → {}",
            route.method,
            route.path,
            route
                .when_header
                .as_deref()
                .map(|h| format!(" (with header {h})"))
                .unwrap_or_default(),
            match route.action {
                RouteAction::Translate => "translate",
                RouteAction::Local => "local",
            }
        )?;
    }
    writeln!(
        out,
        "size: {} bytes ({:.1} KiB)",
        bytes.len(),
        bytes.len() as f64 / 1024.0
    )?;
    writeln!(out, "sha256: {sha256}")?;

    let installed = match install {
        Some(dir) => Some(install_atomic(dir, &adapter.name, &bytes, out)?),
        None => None,
    };
    Ok(Built {
        wasm,
        name: adapter.name.clone(),
        sha256,
        installed,
    })
}

fn cargo_metadata(manifest: &Path) -> anyhow::Result<Metadata> {
    let output = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--manifest-path",
        ])
        .arg(manifest)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo metadata (is cargo on PATH?)")?;
    if !output.status.success() {
        bail!("cargo metadata failed for {}", manifest.display());
    }
    serde_json::from_slice(&output.stdout).context("reading cargo metadata")
}

fn has_adapter_profile(workspace_root: &Path) -> bool {
    std::fs::read_to_string(workspace_root.join("Cargo.toml"))
        .is_ok_and(|text| text.lines().any(|l| l.trim() == "[profile.adapter]"))
}

/// Add the wasm target with rustup when it is missing (without rustup, cargo reports it).
fn ensure_target(crate_dir: &Path, out: &mut impl Write) -> anyhow::Result<()> {
    let Ok(listed) = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(crate_dir)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
    else {
        return Ok(());
    };
    if !listed.status.success()
        || String::from_utf8_lossy(&listed.stdout)
            .lines()
            .any(|l| l.trim() == WASM_TARGET)
    {
        return Ok(());
    }
    writeln!(
        out,
        "installing the {WASM_TARGET} target: rustup target add {WASM_TARGET}"
    )?;
    out.flush()?;
    let status = Command::new("rustup")
        .args(["target", "add", WASM_TARGET])
        .current_dir(crate_dir)
        .stdin(Stdio::null())
        .status()
        .context("running rustup")?;
    if !status.success() {
        bail!("rustup target add {WASM_TARGET} failed ({status})");
    }
    Ok(())
}

/// Install `bytes` as `<dir>/<name>.wasm`: write `.<name>.wasm.tmp` (ignored by the watcher),
/// flush it to disk, keep the file it replaces as `.<name>.wasm.previous`, rename into place.
pub fn install_atomic(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    out: &mut impl Write,
) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let target = dir.join(format!("{name}.wasm"));
    if let Ok(existing) = std::fs::read(&target) {
        if existing == bytes {
            writeln!(out, "installed: {} (unchanged)", target.display())?;
            return Ok(target);
        }
        let previous = dir.join(format!(".{name}.wasm.previous"));
        std::fs::write(&previous, &existing)
            .with_context(|| format!("keeping the previous version as {}", previous.display()))?;
        writeln!(
            out,
            "previous: {} (sha256 {}) kept as {}",
            target.display(),
            hex::encode(Sha256::digest(&existing)),
            previous.display()
        )?;
    }
    let temp = dir.join(format!(".{name}.wasm.tmp"));
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()
    };
    if let Err(err) = write().and_then(|()| std::fs::rename(&temp, &target)) {
        let _ = std::fs::remove_file(&temp);
        return Err(anyhow!(
            "installing {} as {}: {err}",
            temp.display(),
            target.display()
        ));
    }
    // Make the rename itself durable; a failure here does not undo the install.
    if let Ok(handle) = std::fs::File::open(dir) {
        let _ = handle.sync_all();
    }
    writeln!(out, "installed: {}", target.display())?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn install_replaces_atomically_and_keeps_the_previous_file() {
        let dir = tempfile::tempdir().unwrap();
        let plugins = dir.path().join("plugins");
        let mut out = Vec::new();
        let target = install_atomic(&plugins, "demo", b"one", &mut out).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"one");
        install_atomic(&plugins, "demo", b"two", &mut out).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"two");
        assert_eq!(
            std::fs::read(plugins.join(".demo.wasm.previous")).unwrap(),
            b"one"
        );
        install_atomic(&plugins, "demo", b"two", &mut out).unwrap();
        let printed = String::from_utf8(out).unwrap();
        assert!(printed.contains("(unchanged)"), "{printed}");
        let names: Vec<String> = std::fs::read_dir(&plugins)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
    }

    #[test]
    fn the_adapter_profile_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!has_adapter_profile(dir.path()));
        std::fs::write(
            dir.path().join("Cargo.toml"),
            "[workspace]\n\n[profile.adapter]\ninherits = \"release\"\n",
        )
        .unwrap();
        assert!(has_adapter_profile(dir.path()));
    }
}
