#!/bin/bash
# Print one ConfigMap per adapter (cligate-adapter-<name>, key <name>.wasm) for the Deployment's
# projected /plugins volume. Generated here, without kubectl, so the output can be reviewed,
# committed to a GitOps repository, and applied as one unit:
#
#   deploy/k8s/plugins-configmaps.sh [DIR] | kubectl apply --server-side -f -
#
# DIR defaults to plugins-dist/ (the committed build; or adapters/build.sh --out DIR, or the
# image's copy: docker cp $(docker create IMAGE):/opt/cligate/plugins-dist DIR).
# Server-side apply matters: client-side `kubectl apply` stores the whole object in an
# annotation, which is limited to 256 KiB, and adapters are larger than that.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="${1:-$root/plugins-dist}"
# A ConfigMap holds at most 1 MiB; base64 makes the adapter a third larger.
max_bytes=$((750 * 1024))

shopt -s nullglob
files=("$dir"/*.wasm)
if [ "${#files[@]}" -eq 0 ]; then
  echo "plugins-configmaps.sh: no *.wasm in $dir" >&2
  exit 1
fi
for file in "${files[@]}"; do
  base="${file##*/}"
  name="${base%.wasm}"
  if ! [[ "$name" =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]]; then
    echo "plugins-configmaps.sh: $base: the name must be lower-case letters, digits and '-'" >&2
    exit 1
  fi
  size="$(stat -c %s "$file")"
  if [ "$size" -gt "$max_bytes" ]; then
    echo "plugins-configmaps.sh: $base is $size bytes; a ConfigMap holds at most $max_bytes before base64" >&2
    exit 1
  fi
  sha256="$(sha256sum "$file" | cut -d' ' -f1)"
  cat <<YAML
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cligate-adapter-$name
  labels:
    app.kubernetes.io/name: cligate
    app.kubernetes.io/component: adapter
  annotations:
    cligate/adapter-file: "$base"
    cligate/sha256: "$sha256"
binaryData:
  $base: $(base64 -w0 "$file")
YAML
done
