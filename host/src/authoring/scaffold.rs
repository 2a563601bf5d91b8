//! `cligate adapter new`: a new adapter crate that builds, tests and replays as generated.
//!
//! ```text
//! <dir>/<name>/
//!   Cargo.toml                      member of the enclosing workspace, or standalone (--sdk-path)
//!   src/lib.rs                      the trait impl: every method, a tiny example dialect, unit tests
//!   fixtures/generate-stream/       one recorded exchange in the replay format
//!     request.json  pivot.json  upstream.sse  client.sse
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

const LIB_RS: &str = include_str!("templates/lib.rs.tmpl");
const CARGO_WORKSPACE: &str = include_str!("templates/Cargo.workspace.toml.tmpl");
const CARGO_STANDALONE: &str = include_str!("templates/Cargo.standalone.toml.tmpl");
const FIXTURE_REQUEST: &str = include_str!("templates/fixture/request.json.tmpl");
const FIXTURE_PIVOT: &str = include_str!("templates/fixture/pivot.json");
const FIXTURE_UPSTREAM: &str = include_str!("templates/fixture/upstream.sse");
const FIXTURE_CLIENT: &str = include_str!("templates/fixture/client.sse");

/// The example fixture's case name.
pub const EXAMPLE_CASE: &str = "generate-stream";

/// Names `cligate adapter new` refuses: they are taken by the repository layout.
const RESERVED: &[&str] = &["sdk"];

/// Write a new adapter crate `<dir>/<name>`.
pub fn scaffold(
    name: &str,
    dir: &Path,
    sdk_path: Option<&Path>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    validate_name(name)?;
    let crate_dir = dir.join(name);
    if crate_dir.exists() {
        bail!("{} already exists", crate_dir.display());
    }
    let crate_name = format!("cligate-adapter-{name}");
    let (manifest, standalone, member_hint) = match sdk_path {
        Some(sdk) => {
            let sdk = sdk
                .canonicalize()
                .with_context(|| format!("the SDK path {} does not exist", sdk.display()))?;
            let sdk_manifest = std::fs::read_to_string(sdk.join("Cargo.toml"))
                .with_context(|| format!("{} has no Cargo.toml", sdk.display()))?;
            if !sdk_manifest.contains("name = \"cligate-adapter-sdk\"") {
                bail!(
                    "{} is not the cligate adapter SDK (expected adapters/sdk of a cligate checkout)",
                    sdk.display()
                );
            }
            let manifest =
                CARGO_STANDALONE.replace("{{sdk}}", &toml_escape(&sdk.to_string_lossy()));
            (manifest, true, None)
        }
        None => {
            let root = enclosing_workspace(dir).with_context(|| {
                format!(
                    "{} is not inside a cargo workspace that provides cligate-adapter-sdk in \
                     [workspace.dependencies]; pass --sdk-path <cligate>/adapters/sdk for a \
                     standalone crate",
                    dir.display()
                )
            })?;
            (
                CARGO_WORKSPACE.to_owned(),
                false,
                member_hint(&root, &crate_dir),
            )
        }
    };

    let (type_name, stream_name) = type_names(name);
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{crate}}", &crate_name)
            .replace("{{type}}", &type_name)
            .replace("{{stream}}", &stream_name)
    };
    let case = crate_dir.join("fixtures").join(EXAMPLE_CASE);
    let mut files: Vec<(PathBuf, String)> = vec![
        (crate_dir.join("Cargo.toml"), fill(&manifest)),
        (crate_dir.join("src").join("lib.rs"), fill(LIB_RS)),
        (case.join("request.json"), fill(FIXTURE_REQUEST)),
        (case.join("pivot.json"), fill(FIXTURE_PIVOT)),
        (case.join("upstream.sse"), FIXTURE_UPSTREAM.to_owned()),
        (case.join("client.sse"), FIXTURE_CLIENT.to_owned()),
    ];
    if standalone {
        files.push((crate_dir.join(".gitignore"), "/target\n".to_owned()));
    }
    for (path, text) in &files {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }

    // Line widths depend on the name: let rustfmt settle them (best effort, it may be absent).
    let _ = std::process::Command::new("rustfmt")
        .args(["--edition", "2024"])
        .arg(crate_dir.join("src").join("lib.rs"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();

    writeln!(out, "created {crate_name} in {}:", crate_dir.display())?;
    for (path, _) in &files {
        let shown = path.strip_prefix(&crate_dir).unwrap_or(path);
        writeln!(out, "  {}", shown.display())?;
    }
    if let Some(hint) = member_hint {
        writeln!(out, "note: {hint}")?;
    }
    let manifest_path = crate_dir.join("Cargo.toml");
    writeln!(out, "next:")?;
    writeln!(
        out,
        "  cargo test --manifest-path {}          # the native unit tests",
        manifest_path.display()
    )?;
    writeln!(
        out,
        "  cligate adapter build {}               # wasm32-wasip2 component, checked",
        crate_dir.display()
    )?;
    writeln!(
        out,
        "  cligate adapter test <the .wasm it prints> {}",
        crate_dir.join("fixtures").display()
    )?;
    Ok(())
}

/// An adapter name: what the gateway accepts in `info.name`, usable as a directory and in a
/// crate name.
pub fn validate_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 48
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !ok {
        bail!(
            "adapter name {name:?} must start with a-z and use only a-z, 0-9, `-` and `_` \
             (at most 48 characters)"
        );
    }
    if RESERVED.contains(&name) {
        bail!("adapter name {name:?} is reserved");
    }
    Ok(())
}

/// `my-dialect` → (`MyDialectAdapter`, `MyDialectStream`): suffixed, so no name collides with
/// the SDK's items (`Adapter`, `Route`, …).
pub fn type_names(name: &str) -> (String, String) {
    let camel: String = name
        .split(['-', '_'])
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect();
    (format!("{camel}Adapter"), format!("{camel}Stream"))
}

/// The root of the workspace that encloses `dir` and provides the SDK.
fn enclosing_workspace(dir: &Path) -> anyhow::Result<PathBuf> {
    let start = nearest_existing(dir)?;
    for ancestor in start.ancestors() {
        let manifest = ancestor.join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        if text.contains("[workspace]") {
            if text.contains("cligate-adapter-sdk") {
                return Ok(ancestor.to_path_buf());
            }
            bail!(
                "the workspace {} does not list cligate-adapter-sdk in [workspace.dependencies]",
                manifest.display()
            );
        }
    }
    bail!("no Cargo.toml with [workspace] above {}", start.display())
}

fn nearest_existing(dir: &Path) -> anyhow::Result<PathBuf> {
    let absolute = absolute(dir)?;
    for ancestor in absolute.ancestors() {
        if ancestor.exists() {
            return Ok(ancestor.to_path_buf());
        }
    }
    bail!("no existing directory above {}", dir.display())
}

/// `path` made absolute, its existing part canonical (symlinks resolved), the rest appended.
fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    let path = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()?.join(path)
    };
    let mut missing = Vec::new();
    let mut existing = path.as_path();
    loop {
        if let Ok(canonical) = existing.canonicalize() {
            let mut out = canonical;
            out.extend(missing.iter().rev());
            return Ok(out);
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_owned());
                existing = parent;
            }
            _ => bail!("no existing directory above {}", path.display()),
        }
    }
}

/// A reminder when the workspace's `members` do not obviously include the new crate.
fn member_hint(root: &Path, crate_dir: &Path) -> Option<String> {
    let crate_dir = absolute(crate_dir).ok()?;
    let relative = crate_dir.strip_prefix(root).ok()?;
    let relative = relative.to_string_lossy().replace('\\', "/");
    let parent_glob = match relative.rsplit_once('/') {
        Some((parent, _)) => format!("{parent}/*"),
        None => "*".to_owned(),
    };
    let text = std::fs::read_to_string(root.join("Cargo.toml")).ok()?;
    if text.contains(&format!("\"{relative}\"")) || text.contains(&format!("\"{parent_glob}\"")) {
        None
    } else {
        Some(format!(
            "add \"{relative}\" to [workspace] members in {}",
            root.join("Cargo.toml").display()
        ))
    }
}

/// A TOML basic string's content.
fn toml_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_are_checked_and_turned_into_types() {
        for good in ["my-dialect", "a", "x2_y"] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in ["", "My", "2x", "a b", "a/b", "sdk", &"x".repeat(49)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        assert_eq!(
            type_names("my-dialect_v2"),
            (
                "MyDialectV2Adapter".to_owned(),
                "MyDialectV2Stream".to_owned()
            )
        );
    }

    #[test]
    fn workspace_mode_needs_a_workspace_with_the_sdk() {
        let dir = tempfile::tempdir().unwrap();
        let mut out = Vec::new();
        let err = scaffold("demo", &dir.path().join("adapters"), None, &mut out)
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(err.contains("--sdk-path"), "{err}");

        std::fs::write(
            dir.path().join("Cargo.toml"),
            "[workspace]\nmembers = [\"adapters/*\"]\n[workspace.dependencies]\ncligate-adapter-sdk = { path = \"sdk\" }\n",
        )
        .unwrap();
        scaffold("demo", &dir.path().join("adapters"), None, &mut out).unwrap();
        let manifest =
            std::fs::read_to_string(dir.path().join("adapters/demo/Cargo.toml")).unwrap();
        assert!(manifest.contains("name = \"cligate-adapter-demo\""));
        assert!(manifest.contains("cligate-adapter-sdk.workspace = true"));
        let lib = std::fs::read_to_string(dir.path().join("adapters/demo/src/lib.rs")).unwrap();
        assert!(lib.contains("pub struct DemoAdapter;") && !lib.contains("{{"));
        let request = std::fs::read_to_string(
            dir.path()
                .join("adapters/demo/fixtures/generate-stream/request.json"),
        )
        .unwrap();
        assert!(request.contains("\"/demo/v1/generate\""));
        let printed = String::from_utf8(out).unwrap();
        assert!(!printed.contains("note:"), "{printed}");
        // Twice is refused.
        assert!(scaffold("demo", &dir.path().join("adapters"), None, &mut Vec::new()).is_err());
        // Outside the members: a hint.
        let mut out = Vec::new();
        scaffold("other", &dir.path().join("elsewhere"), None, &mut out).unwrap();
        assert!(
            String::from_utf8(out)
                .unwrap()
                .contains("add \"elsewhere/other\"")
        );
    }

    #[test]
    fn standalone_mode_points_at_the_sdk() {
        let dir = tempfile::tempdir().unwrap();
        let sdk = dir.path().join("sdk");
        std::fs::create_dir_all(&sdk).unwrap();
        std::fs::write(
            sdk.join("Cargo.toml"),
            "[package]\nname = \"cligate-adapter-sdk\"\n",
        )
        .unwrap();
        scaffold("solo", dir.path(), Some(&sdk), &mut Vec::new()).unwrap();
        let manifest = std::fs::read_to_string(dir.path().join("solo/Cargo.toml")).unwrap();
        let sdk = sdk.canonicalize().unwrap();
        assert!(manifest.contains(&format!("path = \"{}\"", sdk.display())));
        assert!(manifest.contains("[workspace]") && manifest.contains("[profile.adapter]"));
        assert!(scaffold("bad", dir.path(), Some(dir.path()), &mut Vec::new()).is_err());
    }
}
