#!/usr/bin/env bash
# The whole test suite, from a fresh machine of this kind (Rust toolchain, Node 20 + npm,
# Python 3 present; network limited to the package registries). Installs what it needs,
# checks formatting and lints, proves plugins-dist/ matches its sources, builds the gateway
# once in release, and runs every test: unit tests, adapter tests, and the end-to-end tests
# that drive the real gateway binary with the official SDKs and the real CLIs.
#
#   tests/run.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
step() { printf '\n==> %s\n' "$*"; }
started=$SECONDS

step "toolchain: wasm32-wasip2 target, rustfmt, clippy"
rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed | grep -q '^clippy' || rustup component add clippy

step "node clients: pinned SDKs and CLIs (npm ci)"
if [ ! -d tests/node/node_modules ] || [ tests/node/package-lock.json -nt tests/node/node_modules/.package-lock.json ]; then
  npm ci --prefix tests/node --no-audit --no-fund
fi

step "formatting"
cargo fmt --all -- --check

step "plugins-dist/ is what adapters/ builds"
adapters/build.sh --check

step "test-only adapters"
bash tests/build-test-adapters.sh

step "build the gateway (release) and the test binaries"
cargo build --locked --release -p cligate
cargo test --locked --release --workspace --no-run

step "deploy/: compose, Kubernetes and Dockerfile checks, config examples (no Docker engine needed)"
CLIGATE_BIN="$root/target/release/cligate" deploy/validate.sh

step "clippy (all targets, warnings are errors)"
cargo clippy --locked --release --workspace --all-targets -- -D warnings

step "tests"
export CLIGATE_BIN="$root/target/release/cligate"
cargo test --locked --release --workspace --no-fail-fast -- --test-threads "${CLIGATE_TEST_THREADS:-2}"

printf '\nall checks passed in %ss\n' "$((SECONDS - started))"
