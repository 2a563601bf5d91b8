#!/usr/bin/env bash
# Build the test-only adapters under tests/adapters/ for wasm32-wasip2 and put them where the
# e2e harness looks for them: $TARGET/test-plugins/ (override with CLIGATE_TEST_PLUGINS).
#
#   misbehave-a.wasm   cligate-test-misbehave, variant "a" (version 1.0.0-a)
#   misbehave-b.wasm   the same source, variant "b" (version 1.0.0-b)
#
# The two variants build in separate target directories so neither invalidates the other.
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-target}"
out="${CLIGATE_TEST_PLUGINS:-$target/test-plugins}"
mkdir -p "$out"

rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 \
    || rustup target add wasm32-wasip2

build() { # variant target-dir
    echo "building cligate-test-misbehave variant $1 (target dir $2)" >&2
    CLIGATE_TEST_VARIANT="$1" CARGO_TARGET_DIR="$2" \
        cargo build --quiet -p cligate-test-misbehave --target wasm32-wasip2 --profile adapter
    cp "$2/wasm32-wasip2/adapter/cligate_test_misbehave.wasm" "$out/misbehave-$1.wasm"
}

build a "$target"
build b "$target/variant-b"

cd "$out"
sha256sum misbehave-a.wasm misbehave-b.wasm >&2
