#!/bin/bash
# Container entrypoint: seed an empty plugins directory with the adapters built into the
# image, then exec the command, by default `cligate serve --config /etc/cligate/cligate.toml`.
#
#   CLIGATE_PLUGINS_DIR   the plugins directory (the image sets /plugins)
#   CLIGATE_SEED_DIR      where the image's own adapters are (/opt/cligate/plugins-dist)
#   CLIGATE_SEED_PLUGINS  "false" to never seed (an operator-managed, deliberately empty volume)
#
# Seeding happens only when the directory holds no *.wasm at all, so an operator's patched
# adapters are never overwritten by the image's. Files are copied under a dot-name and renamed
# into place: the gateway's watcher ignores dot-files, so it never sees a half-written adapter.
set -euo pipefail

plugins="${CLIGATE_PLUGINS_DIR:-/plugins}"
seed="${CLIGATE_SEED_DIR:-/opt/cligate/plugins-dist}"
log() { printf 'cligate-entrypoint: %s\n' "$*" >&2; }

if [ "$#" -eq 0 ]; then
  set -- cligate serve --config /etc/cligate/cligate.toml
fi

if [ "${CLIGATE_SEED_PLUGINS:-true}" != false ] && [ -d "$seed" ] \
  && ! compgen -G "$plugins/*.wasm" >/dev/null; then
  if [ -d "$plugins" ] && [ -w "$plugins" ]; then
    count=0
    for file in "$seed"/*.wasm; do
      [ -f "$file" ] || continue
      name="${file##*/}"
      cp "$file" "$plugins/.$name.tmp"
      mv -f "$plugins/.$name.tmp" "$plugins/$name"
      count=$((count + 1))
    done
    if [ -f "$seed/SHA256SUMS" ]; then
      cp "$seed/SHA256SUMS" "$plugins/SHA256SUMS"
    fi
    log "seeded $plugins with $count adapter(s) from $seed"
  else
    log "$plugins holds no adapter and is not writable by uid $(id -u): copy adapters" \
      "(plugins-dist/*.wasm) into the volume or make it writable; /readyz answers 503 until one loads"
  fi
fi

exec "$@"
