//! End-to-end harness for cligate.
//!
//! - [`upstream::ScriptedUpstream`]: an in-process OpenAI Chat Completions server that plays
//!   scripted replies and records what it receives.
//! - [`gateway::Gateway`]: the real `cligate serve` binary on port 0 with a temp plugins
//!   directory, its log printed when a test fails.
//! - [`sse`] and [`chat`]: an independent client-side SSE reader and Chat Completions
//!   assembler.
//! - [`node::run_node`]: the official SDKs and the real CLIs from `tests/node`.
//!
//! The gateway tests need the binary (`cargo build --release -p cligate`, or `CLIGATE_BIN`),
//! `plugins-dist/openai-chat.wasm`, the test adapters (`bash tests/build-test-adapters.sh`)
//! and, for the SDK tests, `npm ci --prefix tests/node`.

pub mod chat;
pub mod claude;
pub mod fixture;
pub mod gateway;
pub mod gemini;
pub mod node;
pub mod paths;
pub mod sse;
pub mod upstream;

pub use gateway::{Gateway, GatewayOptions, PluginsDir};
pub use upstream::{ChatStream, Reply, ScriptedUpstream, Step};
