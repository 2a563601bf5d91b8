#!/bin/bash
# Give every workspace member placeholder sources, so that `cargo build` in the image's
# dependency layer compiles only the dependencies (from Cargo.toml + Cargo.lock alone). The
# real sources are copied over the placeholders in the next layer.
#
#   stub-workspace.sh [ROOT]     ROOT holds the workspace Cargo.toml (default: .)
# Creates src/lib.rs for every package, and every `path = "....rs"` a manifest names
# ([[bin]], [[test]], ...); never overwrites an existing file.
set -euo pipefail
cd "${1:-.}"

stub() {
  local file="$1"
  [ -e "$file" ] && return 0
  mkdir -p "$(dirname "$file")"
  if [ "${file##*/}" = lib.rs ]; then
    printf '//! Placeholder for the dependency layer; replaced by the real sources.\n' >"$file"
  else
    printf '//! Placeholder for the dependency layer; replaced by the real sources.\nfn main() {}\n' >"$file"
  fi
}

find . -mindepth 2 -name Cargo.toml -not -path './target/*' | sort | while read -r manifest; do
  grep -q '^\[package\]' "$manifest" || continue
  dir="${manifest%/Cargo.toml}"
  stub "$dir/src/lib.rs"
  sed -n 's/^[[:space:]]*path[[:space:]]*=[[:space:]]*"\([^"]*\.rs\)".*/\1/p' "$manifest" |
    while read -r path; do stub "$dir/$path"; done
done
