#!/usr/bin/env bash
# Validate deploy/ without a Docker engine or a Kubernetes cluster (tests/run.sh calls this after
# building the gateway; it also runs alone):
#
#   deploy/validate.sh
#
#  1. checkers: a venv under target/ with pinned checkers from PyPI (deploy/validate-requirements.txt),
#     reused while that file is unchanged; nothing else is downloaded
#  2. shell scripts pass shellcheck; every YAML file parses and passes yamllint
#  3. compose.yaml conforms to the Compose Specification schema, as written and interpolated
#     (defaults, and deploy/.env.example), plus what a schema cannot say (validate.py compose)
#  4. k8s manifests and the generated adapter ConfigMaps conform to the Kubernetes 1.37 schemas
#     (strict: unknown fields fail), plus cross-references (validate.py k8s)
#  5. Dockerfile: hadolint, structure and build context (validate.py dockerfile); its
#     dependency layer's manifests-only workspace resolves with `cargo metadata --locked`
#  6. every deploy/config/*.toml and the k8s ConfigMap's cligate.toml pass `cligate check`
#     and its adapter half builds as plain commands, byte-identical to plugins-dist/
#  7. smoke: the image's ENTRYPOINT + CMD run on this machine against the real binary: an
#     empty plugins directory is seeded, the HEALTHCHECK script passes, /admin/adapters lists
#     the adapters; the README's patch procedure (atomic rename of a bad file) keeps the
#     previous version serving, and restoring the file rolls back
#
# Uses CLIGATE_BIN, else target/release/cligate, building it (cargo build --locked --release
# -p cligate) only when missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
step() { printf '\n--> %s\n' "$*"; }
fail() { printf 'deploy/validate.sh: %s\n' "$*" >&2; exit 1; }
started=$SECONDS

work="$(mktemp -d "${TMPDIR:-/tmp}/cligate-deploy-validate.XXXXXX")"
gateway_pid=""
cleanup() {
  if [ -n "$gateway_pid" ] && kill -0 "$gateway_pid" 2>/dev/null; then
    kill "$gateway_pid" 2>/dev/null || true
    wait "$gateway_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# ---- 1. checkers ---------------------------------------------------------------------------
step "checkers (target/deploy-venv, pinned in deploy/validate-requirements.txt)"
venv="$root/target/deploy-venv"
requirements="$root/deploy/validate-requirements.txt"
stamp="$(cat "$requirements" <(python3 --version) | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$venv/.deploy-validate-stamp" 2>/dev/null)" != "$stamp" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  echo "$stamp" >"$venv/.deploy-validate-stamp"
  echo "installed: $(grep -v '^#' "$requirements" | tr '\n' ' ')"
else
  echo "reusing $venv"
fi
bin="$venv/bin"

# ---- 2. scripts and YAML -------------------------------------------------------------------
step "shellcheck"
mapfile -t scripts < <(find deploy -name '*.sh' -not -path 'deploy/plugins/*' | sort)
"$bin/shellcheck" "${scripts[@]}"
echo "${#scripts[@]} scripts clean"

step "YAML parses (yamllint)"
"$bin/yamllint" --strict -c deploy/.yamllint.yaml deploy/compose.yaml deploy/k8s/ deploy/.yamllint.yaml
echo "clean"

# ---- 3. compose ----------------------------------------------------------------------------
step "compose.yaml against the Compose Specification schema"
"$bin/check-jsonschema" --builtin-schema vendor.compose-spec deploy/compose.yaml
"$bin/python" deploy/validate.py compose "$work"
for interpolated in "$work"/compose.*.json; do
  "$bin/check-jsonschema" --builtin-schema vendor.compose-spec "$interpolated"
done

# ---- 4. Kubernetes -------------------------------------------------------------------------
step "Kubernetes manifests against the Kubernetes 1.37 schemas (strict)"
deploy/k8s/plugins-configmaps.sh >"$work/plugin-configmaps.yaml"
"$bin/kubernetes-validate" --strict --quiet --kubernetes-version 1.37.0 \
  deploy/k8s/*.yaml "$work/plugin-configmaps.yaml"
echo "$(find deploy/k8s -name '*.yaml' | wc -l) manifest files and $(grep -c '^kind: ConfigMap' "$work/plugin-configmaps.yaml") generated adapter ConfigMaps valid"
"$bin/python" deploy/validate.py k8s "$work/plugin-configmaps.yaml" "$work"

# ---- 5. Dockerfile -------------------------------------------------------------------------
step "Dockerfile (hadolint, structure, build context)"
"$bin/hadolint" deploy/Dockerfile
"$bin/python" deploy/validate.py dockerfile

step "Dockerfile dependency layer: the manifests-only workspace resolves (cargo metadata --locked)"
stubbed="$work/stub-workspace"
while IFS= read -r manifest; do
  mkdir -p "$stubbed/$(dirname "$manifest")"
  cp "$manifest" "$stubbed/$manifest"
done < <(git ls-files --cached --others --exclude-standard -- Cargo.lock '*Cargo.toml')
bash deploy/docker/stub-workspace.sh "$stubbed"
host_triple="$(rustc -vV | sed -n 's/^host: //p')"
(cd "$stubbed" && cargo metadata --locked --format-version 1 --filter-platform "$host_triple" >/dev/null)
echo "$(find "$stubbed" -name Cargo.toml | wc -l) manifests + placeholder sources resolve against Cargo.lock"

# The builder stage's adapter half, as plain commands in the same order: placeholder build from
# the manifests, then the real sources over it. Its output must be byte-identical to
# plugins-dist/ (what tests/run.sh's `adapters/build.sh --check` proves for the repository
# itself). The host half is `cargo build --locked --release -p cligate`, which tests/run.sh runs.
# A fixed folder keeps reruns warm; DEPLOY_VALIDATE_SKIP_BUILD=1 skips this step.
if [ "${DEPLOY_VALIDATE_SKIP_BUILD:-0}" != 1 ]; then
  step "Dockerfile builder stage as plain commands: placeholder layer, then sources, then adapters/build.sh"
  image_src="$root/target/deploy-image-build/src"
  mkdir -p "$image_src"
  find "$image_src" -mindepth 1 -maxdepth 1 ! -name target -exec rm -rf {} +
  copy_tracked() {
    while IFS= read -r file; do
      mkdir -p "$image_src/$(dirname "$file")"
      cp -p "$file" "$image_src/$file"
    done < <(git ls-files --cached --others --exclude-standard -- "$@")
  }
  copy_tracked Cargo.lock '*Cargo.toml' adapters/build.sh
  bash deploy/docker/stub-workspace.sh "$image_src"
  (cd "$image_src" && adapters/build.sh --out "$work/placeholder-plugins" >"$work/placeholder-build.log" 2>&1) ||
    { tail -n 30 "$work/placeholder-build.log"; fail "the placeholder (dependency) layer does not build"; }
  echo "placeholder layer builds"
  copy_tracked wit host adapters
  find "$image_src/host" "$image_src/adapters" -name '*.rs' -exec touch {} +
  (cd "$image_src" && adapters/build.sh --out "$work/image-plugins" >"$work/image-build.log" 2>&1) ||
    { tail -n 30 "$work/image-build.log"; fail "the adapters do not build on top of the placeholder layer"; }
  if ! diff -u plugins-dist/SHA256SUMS "$work/image-plugins/SHA256SUMS"; then
    fail "the image's adapter build differs from plugins-dist/ (is plugins-dist/ stale? adapters/build.sh --check)"
  fi
  echo "the image's adapters are byte-identical to plugins-dist/ ($(wc -l <"$work/image-plugins/SHA256SUMS") files)"
fi

# ---- 6. configurations ---------------------------------------------------------------------
step "configurations (cligate check)"
cligate="${CLIGATE_BIN:-$root/target/release/cligate}"
if [ ! -x "$cligate" ]; then
  cargo build --locked --release -p cligate
  cligate="$root/target/release/cligate"
fi
# The gateway's environment, as in the image: no stray CLIGATE_* or proxy settings from here.
clean_env=(env)
while IFS='=' read -r name _; do
  case "$name" in
    CLIGATE_* | HTTP_PROXY | HTTPS_PROXY | ALL_PROXY | http_proxy | https_proxy | all_proxy) clean_env+=(-u "$name") ;;
  esac
done < <(env)
clean_env+=(NO_COLOR=1 "RUST_LOG=warn")
for config in deploy/config/*.toml "$work/k8s-cligate.toml"; do
  if ! "${clean_env[@]}" CLIGATE_PLUGINS_DIR=plugins-dist CLIGATE_CACHE_DIR="$work/cache" \
    "$cligate" check --config "$config" >"$work/check.log" 2>&1; then
    cat "$work/check.log"
    fail "cligate check --config $config failed"
  fi
  echo "ok    ${config#"$work/"}: $(tail -n 1 "$work/check.log")"
done
printf '[limits]\nmax_bdy_bytes = 1\n' >"$work/typo.toml"
if "${clean_env[@]}" CLIGATE_PLUGINS_DIR=plugins-dist "$cligate" check --config "$work/typo.toml" >/dev/null 2>&1; then
  fail "cligate check accepted an unknown key: it cannot be trusted to validate the examples"
fi
echo "ok    a misspelt key is rejected (the check is meaningful)"

# ---- 7. smoke: the image's entrypoint and command on this machine ------------------------
step "smoke: ENTRYPOINT + CMD seed an empty plugins volume, HEALTHCHECK, /admin/adapters, patch and roll back"
mkdir -p "$work/bin" "$work/plugins" "$work/cache"
ln -s "$cligate" "$work/bin/cligate"
mapfile -d '' -t cmd < <("$bin/python" deploy/validate.py cmd)
[ "${cmd[0]}" = cligate ] || fail "unexpected image CMD: ${cmd[*]}"
echo "CMD: ${cmd[*]}"
"${clean_env[@]}" PATH="$work/bin:$PATH" \
  CLIGATE_PLUGINS_DIR="$work/plugins" CLIGATE_CACHE_DIR="$work/cache" CLIGATE_SEED_DIR="$root/plugins-dist" \
  CLIGATE_LISTEN=127.0.0.1:0 CLIGATE_ADDR_FILE="$work/addr" CLIGATE_LOG_FORMAT=text RUST_LOG=info \
  CLIGATE_UPSTREAM_URL=http://127.0.0.1:9/v1 \
  bash deploy/docker/entrypoint.sh "${cmd[@]}" >"$work/gateway.log" 2>&1 &
gateway_pid=$!
for _ in $(seq 150); do
  [ -s "$work/addr" ] && break
  kill -0 "$gateway_pid" 2>/dev/null || { cat "$work/gateway.log"; fail "the gateway exited"; }
  sleep 0.1
done
[ -s "$work/addr" ] || { cat "$work/gateway.log"; fail "the gateway wrote no address within 15 s"; }
addr="$(cat "$work/addr")"
port="${addr##*:}"
grep -o "cligate-entrypoint: seeded $work/plugins with .*" "$work/gateway.log" ||
  { cat "$work/gateway.log"; fail "the entrypoint did not seed the plugins volume"; }
bash deploy/docker/healthcheck.sh "$port" || { cat "$work/gateway.log"; fail "the HEALTHCHECK script failed"; }
CLIGATE_HEALTHCHECK_PATH=/healthz bash deploy/docker/healthcheck.sh "$port" >/dev/null || fail "the liveness check failed"
if bash deploy/docker/healthcheck.sh 9 2>/dev/null; then fail "the HEALTHCHECK passed with nothing listening"; fi

admin() { "$bin/python" -c 'import json,sys,urllib.request; print(json.dumps(json.load(urllib.request.urlopen(sys.argv[1], timeout=5))))' "http://$addr/admin/adapters"; }
# wait_for PYTHON_EXPR: poll /admin/adapters until the expression over `d` is true (10 s).
wait_for() {
  local expr="$1" what="$2"
  for _ in $(seq 50); do
    if admin | "$bin/python" -c "import json,sys; d=json.load(sys.stdin); sys.exit(0 if ($expr) else 1)"; then
      echo "ok    $what"
      return 0
    fi
    sleep 0.2
  done
  admin >&2 || true
  cat "$work/gateway.log" >&2
  fail "timed out waiting for: $what"
}
expected="$(find plugins-dist -name '*.wasm' | wc -l)"
wait_for "len(d['adapters']) == $expected and all(a['sha256'] and a['version'] and a['routes'] for a in d['adapters'])" \
  "/admin/adapters lists $expected adapters with version, contract, routes and sha256"

victim="$work/plugins/openai-chat.wasm"
good_sha="$(sha256sum "$victim" | cut -d' ' -f1)"
cp "$victim" "$work/openai-chat.wasm.previous"
# A dot-file is ignored while it is being written ...
printf 'not a component' >"$work/plugins/.openai-chat.wasm.tmp"
# ... and the rename swaps it in atomically: a broken patch must leave the previous version serving.
mv "$work/plugins/.openai-chat.wasm.tmp" "$victim"
wait_for "any(r['file'].endswith('openai-chat.wasm') and not r['ok'] for r in d['reloads'])" \
  "a broken patch is reported in the reload history"
wait_for "any(a['name'] == 'openai-chat' and a['sha256'] == '$good_sha' for a in d['adapters']) and len(d['adapters']) == $expected" \
  "the previous openai-chat keeps serving"
bash deploy/docker/healthcheck.sh "$port" >/dev/null || fail "not ready after a broken patch"
# Roll back: restore the previous file, the same way.
cp "$work/openai-chat.wasm.previous" "$work/plugins/.openai-chat.wasm.tmp"
mv "$work/plugins/.openai-chat.wasm.tmp" "$victim"
wait_for "[r for r in d['reloads'] if r['file'].endswith('openai-chat.wasm')][-1]['ok'] and [r for r in d['reloads'] if r['file'].endswith('openai-chat.wasm')][-1]['sha256'] == '$good_sha'" \
  "restoring the previous file reloads it (rollback)"
grep -q 'adapter loaded' "$work/gateway.log" || fail "no 'adapter loaded' log line"
echo "ok    the log shows: $(grep 'adapter loaded' "$work/gateway.log" | grep -o 'adapter=openai-chat version=[^ ]*' | tail -n 1)"

kill "$gateway_pid"
wait "$gateway_pid" 2>/dev/null || true
gateway_pid=""

# An empty, unseeded volume: the gateway starts, and the HEALTHCHECK reports it unready.
rm -f "$work/addr"
mkdir -p "$work/empty"
"${clean_env[@]}" PATH="$work/bin:$PATH" CLIGATE_SEED_PLUGINS=false \
  CLIGATE_PLUGINS_DIR="$work/empty" CLIGATE_CACHE_DIR="$work/cache" CLIGATE_SEED_DIR="$root/plugins-dist" \
  CLIGATE_LISTEN=127.0.0.1:0 CLIGATE_ADDR_FILE="$work/addr" \
  bash deploy/docker/entrypoint.sh "${cmd[@]}" >"$work/gateway-empty.log" 2>&1 &
gateway_pid=$!
for _ in $(seq 150); do [ -s "$work/addr" ] && break; sleep 0.1; done
[ -s "$work/addr" ] || { cat "$work/gateway-empty.log"; fail "the gateway did not start on an empty volume"; }
if bash deploy/docker/healthcheck.sh "$(sed 's/.*://' "$work/addr")" 2>/dev/null; then
  fail "the HEALTHCHECK passed with no adapter loaded"
fi
CLIGATE_HEALTHCHECK_PATH=/healthz bash deploy/docker/healthcheck.sh "$(sed 's/.*://' "$work/addr")" >/dev/null ||
  fail "/healthz failed with no adapter loaded"
echo "ok    with no adapter the HEALTHCHECK fails (/readyz 503) while /healthz stays up"

# ---- optional ------------------------------------------------------------------------------
if command -v caddy >/dev/null 2>&1; then
  step "Caddyfile (caddy adapt), with Caddy's internal CA and with mounted certificate files"
  caddy adapt --config deploy/caddy/Caddyfile --adapter caddyfile 2>/dev/null | grep -q '"module":"internal"' ||
    fail "Caddyfile: the default is not Caddy's internal CA"
  CLIGATE_TLS="/certs/tls.crt /certs/tls.key" caddy adapt --config deploy/caddy/Caddyfile --adapter caddyfile 2>/dev/null |
    grep -q '"certificate":"/certs/tls.crt"' || fail "Caddyfile: CLIGATE_TLS with certificate files is not honoured"
  echo "clean"
else
  step "Caddyfile: skipped (no caddy binary here; apt-get install caddy to check it)"
fi

printf '\ndeploy/ validated in %ss\n' "$((SECONDS - started))"
