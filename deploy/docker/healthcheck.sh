#!/bin/bash
# Container health check: GET /readyz on the gateway's own port. The runtime image has no curl,
# so this speaks HTTP/1.0 over bash's /dev/tcp. Exit 0 when the answer is 200 (at least one
# adapter loaded), 1 otherwise.
#
#   cligate-healthcheck [PORT]
# PORT defaults to CLIGATE_HEALTHCHECK_PORT, else the port of CLIGATE_LISTEN, else 8787.
# CLIGATE_HEALTHCHECK_PATH=/healthz checks liveness only.
set -euo pipefail

listen="${CLIGATE_LISTEN:-0.0.0.0:8787}"
port="${1:-${CLIGATE_HEALTHCHECK_PORT:-${listen##*:}}}"
path="${CLIGATE_HEALTHCHECK_PATH:-/readyz}"

if ! exec 3<>"/dev/tcp/127.0.0.1/$port"; then
  echo "unhealthy: nothing listens on 127.0.0.1:$port" >&2
  exit 1
fi
printf 'GET %s HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n' "$path" >&3
if ! IFS= read -r -t 5 status <&3; then
  echo "unhealthy: no answer from 127.0.0.1:$port$path within 5 s" >&2
  exit 1
fi
status="${status%$'\r'}"
case "$status" in
  "HTTP/1."?" 200 "*)
    echo "$path: $status"
    ;;
  *)
    echo "unhealthy: $path answered '$status'" >&2
    exit 1
    ;;
esac
