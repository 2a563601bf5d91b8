//! cligate: a self-hosted gateway that lets Claude Code, Codex CLI and Gemini CLI work against
//! internal OpenAI-compatible models. Each client dialect is translated by a WebAssembly
//! component (an *adapter*) loaded from a plugins directory and hot-reloaded; this crate is the
//! host that owns all I/O. See docs/architecture.md.

pub mod adapter_host;
pub mod app;
pub mod audit;
pub mod auth;
pub mod authoring;
pub mod body;
pub mod config;
pub mod error;
pub mod metrics;
pub mod pivot;
pub mod proxy;
pub mod routes;
pub mod routing;
pub mod upstream;
