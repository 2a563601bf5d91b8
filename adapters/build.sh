#!/usr/bin/env bash
# Build every shipping adapter (each crate under adapters/ except the SDK) for wasm32-wasip2
# with the `adapter` profile and copy the components into plugins-dist/ with SHA256SUMS.
#
#   adapters/build.sh            rebuild plugins-dist/
#   adapters/build.sh --check    rebuild into a temp dir and fail if plugins-dist/ differs
#   adapters/build.sh --out DIR  rebuild into DIR
#
# Builds are byte-reproducible on the same toolchain: absolute paths (the workspace, the cargo
# registry) are remapped, so a different checkout folder or CARGO_HOME gives the same bytes.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
mode=install
out="$root/plugins-dist"
case "${1:-}" in
  --check) mode=check; out="$(mktemp -d)";;
  --out) out="$2"; mkdir -p "$out";;
  "") ;;
  *) echo "usage: $0 [--check | --out DIR]" >&2; exit 2;;
esac

rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

cargo_home="${CARGO_HOME:-$HOME/.cargo}"
export CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS="--remap-path-prefix=$root=/cligate --remap-path-prefix=$cargo_home=/cargo"

crates=()
for dir in adapters/*/; do
  name="$(basename "$dir")"
  [ "$name" = sdk ] && continue
  [ -f "$dir/Cargo.toml" ] || continue
  crates+=("$name")
done

args=()
for name in "${crates[@]}"; do args+=(-p "cligate-adapter-$name"); done
cargo build --locked --target wasm32-wasip2 --profile adapter "${args[@]}"

for name in "${crates[@]}"; do
  lib="cligate_adapter_${name//-/_}.wasm"
  cp "target/wasm32-wasip2/adapter/$lib" "$out/$name.wasm"
done
(cd "$out" && sha256sum *.wasm > SHA256SUMS)

if [ "$mode" = check ]; then
  if diff -u "$root/plugins-dist/SHA256SUMS" "$out/SHA256SUMS"; then
    echo "plugins-dist/ matches its sources (${#crates[@]} adapters)"
  else
    echo "plugins-dist/ is stale: run adapters/build.sh and commit the result" >&2
    exit 1
  fi
else
  echo "built ${#crates[@]} adapters into $out:"
  ls -l "$out"/*.wasm
fi
