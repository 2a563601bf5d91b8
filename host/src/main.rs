//! The `cligate` command.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cligate::config::{Config, LogFormat};

#[derive(Parser)]
#[command(
    name = "cligate",
    version,
    about = "A gateway between coding CLIs and internal models"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        /// TOML configuration file; `CLIGATE_*` environment variables override it.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Validate the configuration and every adapter in the plugins directory, then exit.
    Check {
        /// TOML configuration file.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Write, build and replay-test adapters (see docs/adapters.md).
    #[command(subcommand)]
    Adapter(cligate::authoring::AdapterCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config_path = match &cli.command {
        Command::Serve { config } | Command::Check { config } => config.clone(),
        // Needs no configuration and no server.
        Command::Adapter(command) => return cligate::authoring::run(command),
    };
    let config = match Config::load(config_path.as_deref()) {
        Ok(config) => config,
        Err(err) => return fail(&format!("configuration error: {err}")),
    };
    if let Err(err) = config.validate() {
        return fail(&format!("configuration error: {err}"));
    }
    init_tracing(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return fail(&format!("cannot start the async runtime: {err}")),
    };
    let result = match cli.command {
        Command::Serve { .. } => runtime.block_on(cligate::app::serve(config)),
        Command::Check { .. } => runtime.block_on(check(config)),
        Command::Adapter(_) => Ok(()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&format!("{err:#}")),
    }
}

/// `cligate check`: load everything, report, exit non-zero on any failure.
async fn check(config: Config) -> anyhow::Result<()> {
    let (state, _reloader) = cligate::app::build_state(config).await?;
    let registry = state.registry.current();
    let mut out = std::io::stdout().lock();
    let history = state.registry.history();
    for adapter in registry.adapters.values() {
        writeln!(
            out,
            "ok    {} {} (contract {}, {} routes) from {}",
            adapter.name,
            adapter.version,
            adapter.contract,
            adapter.info.routes.len(),
            adapter.file.display()
        )?;
    }
    let failures: Vec<_> = history.iter().filter(|r| !r.ok).collect();
    for failure in &failures {
        writeln!(
            out,
            "FAIL  {}: {}",
            failure.file.display(),
            failure.error.as_deref().unwrap_or("unknown error")
        )?;
    }
    if failures.is_empty() && !registry.adapters.is_empty() {
        writeln!(
            out,
            "configuration and {} adapter(s) are valid",
            registry.adapters.len()
        )?;
        Ok(())
    } else if registry.adapters.is_empty() && failures.is_empty() {
        anyhow::bail!("no adapter found in {}", state.config.plugins_dir.display())
    } else {
        anyhow::bail!("{} adapter file(s) failed to load", failures.len())
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// The one place that turns an error into an exit code.
fn fail(message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "cligate: {message}");
    ExitCode::FAILURE
}
