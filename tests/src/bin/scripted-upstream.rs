//! A standalone scripted upstream for the benchmark and for manual runs.
//!
//! ```text
//! scripted-upstream [--listen 127.0.0.1:0] [--script reply.json] [--addr-file FILE] [--record]
//! ```
//!
//! Plays the same reply to every `POST /v1/chat/completions`, forever: the reply in
//! `--script` (a JSON `Reply`, e.g. `{"type":"answer","text":"hi","pieces":4}` or
//! `{"type":"sse","events":[{"step":"data","value":"{…}"},{"step":"done"}]}`), else a text
//! answer streamed in 8 pieces (whole when the request does not stream). Prints
//! `http://ADDR/v1` on stdout once listening. Requests are not recorded unless `--record`.
#![allow(clippy::print_stdout)]

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use cligate_e2e::upstream::{Reply, ScriptedUpstream, UpstreamOptions};

const USAGE: &str =
    "usage: scripted-upstream [--listen ADDR] [--script FILE] [--addr-file FILE] [--record]";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut listen: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut script: Option<PathBuf> = None;
    let mut addr_file: Option<PathBuf> = None;
    let mut record = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => {
                listen = args
                    .next()
                    .context(USAGE)?
                    .parse()
                    .context("--listen takes ADDR:PORT")?
            }
            "--script" => script = Some(args.next().context(USAGE)?.into()),
            "--addr-file" => addr_file = Some(args.next().context(USAGE)?.into()),
            "--record" => record = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument {other}\n{USAGE}"),
        }
    }
    let default_reply = match script {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("read {}", path.display()))?;
            serde_json::from_str::<Reply>(&text)
                .with_context(|| format!("{} is not a Reply", path.display()))?
        }
        None => Reply::answer(
            "The scripted upstream answers every request with this short streamed text.",
            8,
        ),
    };
    let upstream = ScriptedUpstream::start_with(UpstreamOptions {
        default_reply,
        record,
        listen,
    })
    .await?;
    if let Some(f) = addr_file {
        let tmp = f.with_extension("tmp");
        std::fs::write(&tmp, upstream.addr().to_string())?;
        std::fs::rename(&tmp, &f)?;
    }
    println!("{}", upstream.url());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
