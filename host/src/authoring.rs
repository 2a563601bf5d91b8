//! `cligate adapter …`: the adapter authoring kit.
//!
//! - `new` scaffolds an adapter crate that builds, tests and replays as generated
//!   ([`scaffold`]);
//! - `build` builds it for `wasm32-wasip2`, checks the component with the gateway's own loader,
//!   prints its size and SHA-256 and optionally installs it atomically into a plugins directory
//!   ([`build`]);
//! - `test` replays recorded exchanges (fixtures) through a component in-process, exactly the
//!   way the request path calls it, and reports readable differences ([`replay`], [`diff`]).
//!
//! None of these needs a configuration file or a running gateway. See `docs/adapters.md`.

pub mod build;
pub mod diff;
pub mod json_text;
pub mod replay;
pub mod scaffold;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use crate::adapter_host::AdapterEngine;
use crate::config::{Config, Sandbox};

/// `cligate adapter <command>`.
#[derive(Debug, clap::Subcommand)]
pub enum AdapterCommand {
    /// Scaffold a new adapter crate: trait impl with every method, a native unit test and one
    /// replay fixture. It builds, tests and replays as generated.
    New {
        /// Adapter name (also the directory and `cligate-adapter-<name>` crate): a-z, 0-9, `-`.
        name: String,
        /// Parent directory of the new crate.
        #[arg(long, default_value = "adapters")]
        dir: PathBuf,
        /// Path to the SDK (`adapters/sdk` of a cligate checkout). When given, the crate is
        /// standalone (its own workspace, SDK by path); otherwise it is a member of the
        /// enclosing workspace and takes the SDK from its `[workspace.dependencies]`.
        #[arg(long)]
        sdk_path: Option<PathBuf>,
    },
    /// Build an adapter crate for wasm32-wasip2, check the component against the contract
    /// versions this gateway supports, print its size and SHA-256, optionally install it.
    Build {
        /// The adapter crate (a directory with Cargo.toml).
        #[arg(default_value = ".")]
        path: PathBuf,
        /// Install into this plugins directory as `<adapter name>.wasm`: written to a hidden
        /// temp file, then renamed into place (what hot reload expects). The file it replaces
        /// is kept as `.<adapter name>.wasm.previous` for a rollback.
        #[arg(long, value_name = "DIR")]
        install: Option<PathBuf>,
    },
    /// Replay recorded exchanges (fixtures) through a component without a server; exit
    /// non-zero on any difference.
    Test {
        /// The adapter component.
        wasm: PathBuf,
        /// Directory of fixture cases (one sub-directory per case).
        fixtures: PathBuf,
        /// Record: write the expected files from what the component produces now.
        #[arg(long, alias = "record")]
        update: bool,
        /// Only cases whose name contains this text.
        #[arg(long)]
        filter: Option<String>,
    },
}

/// Run one `cligate adapter` command; the exit code is the outcome.
pub fn run(command: &AdapterCommand) -> ExitCode {
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return fail(&format!("cannot start the async runtime: {err}")),
    };
    let mut out = std::io::stdout().lock();
    let result = runtime.block_on(async {
        match command {
            AdapterCommand::New {
                name,
                dir,
                sdk_path,
            } => scaffold::scaffold(name, dir, sdk_path.as_deref(), &mut out).map(|()| true),
            AdapterCommand::Build { path, install } => {
                build::build(path, install.as_deref(), &mut out)
                    .await
                    .map(|()| true)
            }
            AdapterCommand::Test {
                wasm,
                fixtures,
                update,
                filter,
            } => {
                let options = replay::Options {
                    update: *update,
                    filter: filter.clone(),
                };
                replay::run(wasm, fixtures, &options, &mut out)
                    .await
                    .map(|summary| summary.failed == 0)
            }
        }
    });
    let _ = out.flush();
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => fail(&format!("{err:#}")),
    }
}

/// Load one component with the gateway's own loader (header check, compile, contract version,
/// imports, `info` validation), in an engine configured like the gateway's.
pub async fn load_component(
    wasm: &Path,
) -> anyhow::Result<(Arc<AdapterEngine>, Arc<crate::adapter_host::LoadedAdapter>)> {
    let engine = Arc::new(
        AdapterEngine::new(&Sandbox::default(), &cache_dir(), 8)
            .context("starting the adapter engine")?,
    );
    let adapter = engine
        .load(wasm)
        .await
        .with_context(|| format!("{} is not a loadable adapter", wasm.display()))?;
    Ok((engine, Arc::new(adapter)))
}

/// The compiled-adapter cache: `CLIGATE_CACHE_DIR`, else the gateway's default.
fn cache_dir() -> PathBuf {
    std::env::var_os("CLIGATE_CACHE_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Config::default().cache_dir())
}

/// Warnings and errors of the engine (cache, compile) on stderr; `RUST_LOG` overrides.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn fail(message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "cligate: {message}");
    ExitCode::FAILURE
}
