//! The `cligate` command.

use std::io::{BufRead, Write};
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
        #[arg(long, short, env = "CLIGATE_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Validate the configuration and every adapter in the plugins directory, then exit.
    Check {
        /// TOML configuration file.
        #[arg(long, short, env = "CLIGATE_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Audit log tools.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Print the SHA-256 of a gateway key read from stdin (for `[[auth.keys]] sha256`).
    HashKey,
    /// Write, build and replay-test adapters (see docs/adapters.md).
    #[command(subcommand)]
    Adapter(cligate::authoring::AdapterCommand),
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain of audit files, given oldest first (`audit.jsonl.* audit.jsonl`),
    /// and report the first bad line.
    Verify {
        /// The files, oldest first.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config_path = match &cli.command {
        Command::Serve { config } | Command::Check { config } => config.clone(),
        // Needs no configuration and no server.
        Command::Adapter(command) => return cligate::authoring::run(command),
        Command::Audit(AuditCommand::Verify { files }) => return audit_verify(files),
        Command::HashKey => return hash_key(),
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
        Command::Adapter(_) | Command::Audit(_) | Command::HashKey => Ok(()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&format!("{err:#}")),
    }
}

/// `cligate check`: load everything, report, exit non-zero on any failure.
async fn check(mut config: Config) -> anyhow::Result<()> {
    let warnings = config.relax_for_check();
    let (state, _reloader) = cligate::app::build_state_with(config, false).await?;
    let registry = state.registry.current();
    let mut out = std::io::stdout().lock();
    for warning in &warnings {
        writeln!(out, "warn  {warning}")?;
    }
    for slot in state.router.upstreams() {
        writeln!(
            out,
            "ok    upstream {} ({})",
            slot.name(),
            if slot.upstream.has_credential() {
                "service credential resolved"
            } else {
                "no service credential"
            }
        )?;
    }
    writeln!(
        out,
        "ok    {} model rule(s), {} dialect default(s), gateway keys: {}, audit log: {}",
        state.config.models.len(),
        state.config.defaults.len(),
        if state.keys.required() {
            format!("{} in force", state.keys.count())
        } else {
            "none (open access)".to_owned()
        },
        state
            .config
            .audit
            .path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "off".to_owned())
    )?;
    for dialect in state.config.defaults.keys() {
        if !registry.adapters.values().any(|a| &a.dialect == dialect) {
            writeln!(
                out,
                "warn  defaults.{dialect}: no loaded adapter has this dialect (loaded: {})",
                registry
                    .adapters
                    .values()
                    .map(|a| a.dialect.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )?;
        }
    }
    let history = state.registry.history();
    for adapter in registry.adapters.values() {
        writeln!(
            out,
            "ok    {} {} (dialect {}, contract {}, {} routes) from {}",
            adapter.name,
            adapter.version,
            adapter.dialect,
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

/// `cligate audit verify FILE...`
fn audit_verify(files: &[PathBuf]) -> ExitCode {
    match cligate::audit::verify(files) {
        Ok(verified) => {
            let start = if verified.first_prev == cligate::audit::GENESIS {
                "from its start".to_owned()
            } else {
                format!(
                    "from prev {} (older files rotated away or not given)",
                    verified.first_prev
                )
            };
            let _ = writeln!(
                std::io::stdout(),
                "ok: {} line(s) in {} file(s), chain intact {start}; last hash {}",
                verified.lines,
                verified.files,
                verified.last_hash
            );
            ExitCode::SUCCESS
        }
        Err(broken) => fail(&format!("audit chain broken at {broken}")),
    }
}

/// `cligate hash-key`: SHA-256 of the first line of stdin.
fn hash_key() -> ExitCode {
    let mut line = String::new();
    if let Err(err) = std::io::stdin().lock().read_line(&mut line) {
        return fail(&format!("cannot read the key from stdin: {err}"));
    }
    let key = line.trim_end_matches(['\r', '\n']);
    if key.is_empty() {
        return fail("no key on stdin");
    }
    let _ = writeln!(std::io::stdout(), "{}", cligate::auth::hash_key(key));
    ExitCode::SUCCESS
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
