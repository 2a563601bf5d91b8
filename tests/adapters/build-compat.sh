#!/usr/bin/env bash
# Build the contract-compatibility fixtures committed under tests/fixtures/compat/:
#
#   adapter-v0_1_0.wasm   tests/adapters/compat-v0_1_0  built against wit/adapter@0.1.0
#   adapter-v9_9_9.wasm   tests/adapters/compat-future  built against a 9.9.9 copy (unsupported)
#
# The committed files ARE the test: the gateway must keep loading the 0.1.0 component as it
# is, whatever contract versions it adds. Run this only to create a fixture (or when the
# future one needs another version number), never to make a failing compatibility test pass.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
export CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS="--remap-path-prefix=$root=/cligate --remap-path-prefix=$cargo_home=/cargo"
target="${CARGO_TARGET_DIR:-target}"
cargo build --locked --target wasm32-wasip2 --profile adapter \
  -p cligate-test-compat-v0_1_0 -p cligate-test-compat-future
out=tests/fixtures/compat
mkdir -p "$out"
cp "$target/wasm32-wasip2/adapter/cligate_test_compat_v0_1_0.wasm" "$out/adapter-v0_1_0.wasm"
cp "$target/wasm32-wasip2/adapter/cligate_test_compat_future.wasm" "$out/adapter-v9_9_9.wasm"
(cd "$out" && sha256sum adapter-v0_1_0.wasm adapter-v9_9_9.wasm | tee SHA256SUMS)
