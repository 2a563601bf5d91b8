"""Structural checks of deploy/ that no schema expresses; driven by deploy/validate.sh.

    python deploy/validate.py dockerfile          Dockerfile stages, user, healthcheck, tags, COPY sources
    python deploy/validate.py cmd                 the image's CMD, NUL-separated, with the config
                                                  path replaced by the repository file it is copied from
    python deploy/validate.py compose OUTDIR      compose semantics; writes the interpolated file(s)
                                                  to OUTDIR for schema validation
    python deploy/validate.py k8s PLUGINS_YAML OUTDIR
                                                  manifest semantics; writes the ConfigMap's
                                                  cligate.toml to OUTDIR for `cligate check`

Failed checks print one line each (all of them with VALIDATE_VERBOSE=1); any failure exits 1
after all checks of the command ran.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = DEPLOY / "Dockerfile.dockerignore"
CONFIG_IN_IMAGE = "/etc/cligate/cligate.toml"

VERBOSE = os.environ.get("VALIDATE_VERBOSE") == "1"
failures: list[str] = []
passed = 0


def check(ok: bool, what: str, detail: str = "") -> None:
    global passed
    if ok:
        passed += 1
        if VERBOSE:
            print(f"  ok    {what}")
    else:
        print(f"  FAIL  {what}{': ' + detail if detail else ''}")
        failures.append(what)


def finish() -> None:
    print(f"  {passed} passed, {len(failures)} failed")
    if failures:
        sys.exit(1)


# ---- Dockerfile ----------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    current = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        keyword, _, args = current.strip().partition(" ")
        out.append((keyword.upper(), args.strip()))
        current = ""
    return out


def stages() -> list[dict]:
    args: dict[str, str] = {}
    result: list[dict] = []
    for keyword, rest in dockerfile_instructions():
        if keyword == "ARG" and not result:
            name, _, default = rest.partition("=")
            args[name] = default
        elif keyword == "FROM":
            parts = rest.split()
            image = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), parts[0])
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else ""
            result.append({"image": image, "name": name, "ins": []})
        elif result:
            result[-1]["ins"].append((keyword, rest))
    return result


def exec_form(rest: str) -> list[str] | None:
    try:
        value = json.loads(rest)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, list) else None


def image_cmd() -> list[str]:
    final = stages()[-1]
    cmds = [exec_form(rest) for kw, rest in final["ins"] if kw == "CMD"]
    return cmds[-1] if cmds and cmds[-1] else []


def copy_sources(rest: str) -> tuple[list[str], str, bool]:
    parts = shlex.split(rest)
    from_stage = any(p.startswith("--from=") for p in parts)
    parts = [p for p in parts if not p.startswith("--")]
    return parts[:-1], parts[-1], from_stage


def dockerignore_includes(path: str) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern matching a parent matches too."""
    patterns = []
    for line in DOCKERIGNORE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line[1:] if negate else line
        pattern = pattern.strip("/")
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex += "(.*/)?"
                i += 3
            elif pattern.startswith("**", i):
                regex += ".*"
                i += 2
            elif pattern[i] == "*":
                regex += "[^/]*"
                i += 1
            elif pattern[i] == "?":
                regex += "[^/]"
                i += 1
            else:
                regex += re.escape(pattern[i])
                i += 1
        patterns.append((re.compile("^" + regex + "$"), negate))
    path = path.strip("/")
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for regex, negate in patterns:
        if any(regex.match(p) for p in prefixes):
            excluded = not negate
    return not excluded


def cmd_dockerfile() -> None:
    print("Dockerfile structure (deploy/Dockerfile)")
    all_stages = stages()
    names = [s["name"] for s in all_stages]
    check(names == ["manifests", "builder", "runtime"], "stages manifests -> builder -> runtime", str(names))
    for stage in all_stages:
        image = stage["image"]
        tagged = ":" in image.rsplit("/", 1)[-1] or "@sha256:" in image
        check(tagged and not image.endswith(":latest"), f"stage {stage['name']}: pinned base image {image}")
    check(all_stages[0]["image"].startswith("rust:1.95-"), "builder uses Rust 1.95", all_stages[0]["image"])
    check(all_stages[-1]["image"] == "debian:bookworm-slim", "runtime is debian:bookworm-slim")

    builder_runs = " ".join(rest for kw, rest in all_stages[1]["ins"] if kw == "RUN")
    run_sh = (ROOT / "tests" / "run.sh").read_text()
    for command in (
        "rustup target add wasm32-wasip2",
        "cargo build --locked --release -p cligate",
        "adapters/build.sh --out /out/plugins",
    ):
        check(command in builder_runs, f"builder runs `{command}`")
    check(
        "cargo build --locked --release -p cligate" in run_sh and "adapters/build.sh" in run_sh,
        "tests/run.sh runs the same host build and adapters/build.sh as the image",
    )
    order = [kw + " " + rest for kw, rest in all_stages[1]["ins"]]
    first_stub = next(i for i, s in enumerate(order) if "stub-workspace ." in s)
    first_src = next(i for i, s in enumerate(order) if s.startswith("COPY host/"))
    check(first_stub < first_src, "dependency layer (placeholder sources) comes before the sources")

    final = all_stages[-1]["ins"]
    kws = [kw for kw, _ in final]
    users = [rest for kw, rest in final if kw == "USER"]
    check(bool(users) and users[-1].split(":")[0] not in ("root", "0"), "runtime runs as a non-root user", str(users))
    check(bool(users) and users[-1].split(":")[0].isdigit(), "USER is numeric (Kubernetes runAsNonRoot can verify it)")
    check("HEALTHCHECK" in kws, "HEALTHCHECK present")
    health = [rest for kw, rest in final if kw == "HEALTHCHECK"]
    check(bool(health) and "cligate-healthcheck" in health[-1], "HEALTHCHECK runs cligate-healthcheck")
    check(any(kw == "EXPOSE" and "8787" in rest.split() for kw, rest in final), "EXPOSE 8787")
    volumes = [exec_form(rest) or rest.split() for kw, rest in final if kw == "VOLUME"]
    check(any("/plugins" in v for v in volumes), "VOLUME /plugins")
    envs = " ".join(rest for kw, rest in final if kw == "ENV")
    check("CLIGATE_CACHE_DIR=/var/cache/cligate" in envs, "ENV CLIGATE_CACHE_DIR=/var/cache/cligate")
    entry = [exec_form(rest) for kw, rest in final if kw == "ENTRYPOINT"]
    check(entry == [["/usr/local/bin/cligate-entrypoint"]], "ENTRYPOINT is the seeding entrypoint (exec form)", str(entry))
    check(image_cmd() == ["cligate", "serve", "--config", CONFIG_IN_IMAGE], "CMD is `cligate serve --config /etc/cligate/cligate.toml`", str(image_cmd()))
    copies = [copy_sources(rest) for kw, rest in final if kw == "COPY"]
    check(any(dest == CONFIG_IN_IMAGE for _, dest, _ in copies), f"a config file is copied to {CONFIG_IN_IMAGE}")
    check(any(dest.rstrip("/") == "/opt/cligate/plugins-dist" and frm for _, dest, frm in copies), "freshly built adapters shipped in /opt/cligate/plugins-dist")

    for stage in all_stages:
        for kw, rest in stage["ins"]:
            if kw not in ("COPY", "ADD"):
                continue
            sources, _, from_stage = copy_sources(rest)
            if from_stage:
                continue
            for source in sources:
                if source == ".":
                    continue
                exists = (ROOT / source).exists()
                check(exists, f"COPY source {source} exists in the repository")
                if exists:
                    check(dockerignore_includes(source), f"COPY source {source} is in the build context (Dockerfile.dockerignore)")
    for path in ("target/release/cligate", "tests/node/node_modules", "plugins-dist/gemini.wasm", "fixtures"):
        check(not dockerignore_includes(path), f"build context leaves out {path}")
    for path in ("host/src/main.rs", "adapters/gemini/src/lib.rs", "tests/adapters/misbehave/Cargo.toml", "wit/adapter@0.1.0/adapter.wit"):
        check(dockerignore_includes(path), f"build context has {path}")
    finish()


def cmd_cmd() -> None:
    """The image's CMD with the config path mapped to the file the image copies there."""
    final = stages()[-1]["ins"]
    config_source = next(
        sources[0] for sources, dest, frm in (copy_sources(r) for kw, r in final if kw == "COPY")
        if dest == CONFIG_IN_IMAGE and not frm
    )
    cmd = [str(ROOT / config_source) if arg == CONFIG_IN_IMAGE else arg for arg in image_cmd()]
    sys.stdout.write("\0".join(cmd))


# ---- compose -------------------------------------------------------------------------------

VAR = re.compile(r"\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


def interpolate(value, env: dict[str, str]):
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(m: re.Match) -> str:
        if m.group(1):
            return "$"
        name = m.group(2) or m.group(5)
        op, arg = m.group(3), m.group(4)
        current = env.get(name)
        if op in (":-", "-"):
            unset = current is None or (op == ":-" and current == "")
            return arg if unset else current
        if op in (":?", "?"):
            if current is None or (op == ":?" and current == ""):
                raise ValueError(f"required variable {name}: {arg}")
        return current or ""

    return VAR.sub(one, value)


def dotenv(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


def image_ok(image: str) -> bool:
    last = image.rsplit("/", 1)[-1]
    return (":" in last and not last.endswith(":latest")) or "@sha256:" in image


def cmd_compose(outdir: str) -> None:
    print("compose semantics (deploy/compose.yaml)")
    raw = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    env_example = dotenv(DEPLOY / ".env.example")
    out = Path(outdir)
    for label, env in (("defaults", {}), ("env-example", env_example)):
        doc = interpolate(raw, env)
        (out / f"compose.{label}.json").write_text(json.dumps(doc))
        services = doc["services"]
        check(set(services) == {"cligate", "ollama", "ollama-init", "caddy"}, f"[{label}] services cligate, ollama, ollama-init, caddy")
        for name, service in services.items():
            check(image_ok(service.get("image", "")), f"[{label}] {name}: pinned image {service.get('image')}")
        published = sorted(n for n, s in services.items() if s.get("ports"))
        check(published == ["caddy", "cligate"], f"[{label}] only the gateway and its TLS terminator publish ports", str(published))
        check(services["caddy"].get("profiles") == ["tls"], f"[{label}] caddy only in profile tls")
        networks = doc.get("networks", {})
        check(networks.get("backend", {}).get("internal") is True, f"[{label}] backend network is internal")
        check("frontend" not in services["ollama"]["networks"], f"[{label}] ollama is not on the published network")
        check("backend" in services["cligate"]["networks"], f"[{label}] gateway reaches ollama on backend")
        gw = services["cligate"]
        check(gw.get("command") == image_cmd(), f"[{label}] gateway command is the image's CMD")
        envs = gw.get("environment", {})
        for key in ("CLIGATE_UPSTREAM_URL", "CLIGATE_DEFAULT_MODEL", "CLIGATE_UPSTREAM_API_KEY", "HTTPS_PROXY", "NO_PROXY"):
            check(key in envs, f"[{label}] gateway environment has {key}")
        check(envs.get("CLIGATE_UPSTREAM_URL") == "http://ollama:11434/v1", f"[{label}] upstream is Ollama's /v1", str(envs.get("CLIGATE_UPSTREAM_URL")))
        check("ollama" in (envs.get("NO_PROXY") or "").split(","), f"[{label}] NO_PROXY keeps ollama off the egress proxy")
        check(gw.get("read_only") is True and gw.get("cap_drop") == ["ALL"], f"[{label}] gateway: read-only root, no capabilities")
        mounts = {v["target"]: v for v in gw["volumes"] if isinstance(v, dict)}
        check(mounts.get("/plugins", {}).get("type") == "bind" and mounts["/plugins"]["source"] == "./plugins", f"[{label}] ./plugins bind-mounted at /plugins")
        config_mount = mounts.get(CONFIG_IN_IMAGE, {})
        check(bool(config_mount) and (DEPLOY / config_mount["source"]).is_file(), f"[{label}] mounted config {config_mount.get('source')} exists")
        check((DEPLOY / "plugins").is_dir(), f"[{label}] ./plugins exists in the checkout")
        caddyfile = next(v["source"] for v in services["caddy"]["volumes"] if isinstance(v, dict) and v["target"] == "/etc/caddy/Caddyfile")
        check((DEPLOY / caddyfile).is_file(), f"[{label}] Caddyfile {caddyfile} exists")
        for name, service in services.items():
            for dep in service.get("depends_on", {}):
                check(dep in services, f"[{label}] {name} depends on an existing service {dep}")
            for net in service.get("networks", []):
                check(net in networks, f"[{label}] {name}: network {net} declared")
        pulled = services["ollama-init"]["command"]
        check(pulled == ["pull", envs.get("CLIGATE_DEFAULT_MODEL")], f"[{label}] ollama-init pulls CLIGATE_DEFAULT_MODEL", str(pulled))
        if config_mount:
            config = tomllib.loads((DEPLOY / config_mount["source"]).read_text())
            catch_all = [r for r in config.get("models", []) if r["match"] == "*"]
            if catch_all:
                check(catch_all[0]["backend_model"] == envs.get("CLIGATE_DEFAULT_MODEL"),
                      f"[{label}] {config_mount['source']} routes to the model ollama-init pulls",
                      f"{catch_all[0]['backend_model']} != {envs.get('CLIGATE_DEFAULT_MODEL')}")
    finish()


# ---- Kubernetes ----------------------------------------------------------------------------


def cmd_k8s(plugins_yaml: str, outdir: str) -> None:
    print("Kubernetes semantics (deploy/k8s/)")
    docs = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    by_kind: dict[str, list[dict]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    for kind in ("Deployment", "Service", "ConfigMap", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
        check(kind in by_kind, f"{kind} present")
    dep = by_kind["Deployment"][0]
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    labels = spec["template"]["metadata"]["labels"]
    check(spec.get("replicas", 1) >= 2, "Deployment has at least 2 replicas")
    check(all(labels.get(k) == v for k, v in spec["selector"]["matchLabels"].items()), "Deployment selector matches its pods")
    psc = pod.get("securityContext", {})
    check(psc.get("runAsNonRoot") is True, "pod runAsNonRoot")
    check(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", "pod seccomp RuntimeDefault")
    check(pod.get("automountServiceAccountToken") is False, "no service account token (cligate calls no Kubernetes API)")
    container = pod["containers"][0]
    csc = container.get("securityContext", {})
    check(csc.get("readOnlyRootFilesystem") is True, "container readOnlyRootFilesystem")
    check(csc.get("allowPrivilegeEscalation") is False, "container allowPrivilegeEscalation false")
    check(csc.get("capabilities", {}).get("drop") == ["ALL"], "container drops ALL capabilities")
    check(image_ok(container["image"]), f"pinned image {container['image']}")
    check(container.get("args") == image_cmd() and "command" not in container, "container runs the image's entrypoint with its CMD")
    res = container.get("resources", {})
    check(all(k in res.get(p, {}) for p in ("requests", "limits") for k in ("cpu", "memory")), "cpu and memory requests and limits")
    probe = lambda name: container.get(name, {}).get("httpGet", {}).get("path")  # noqa: E731
    check(probe("livenessProbe") == "/healthz", "liveness probe on /healthz")
    check(probe("readinessProbe") == "/readyz", "readiness probe on /readyz")
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    check(all("subPath" not in m for m in mounts.values()), "no subPath mounts (they miss ConfigMap updates)")
    plugins = volumes.get(mounts.get("/plugins", {}).get("name"), {})
    projected = [s["configMap"]["name"] for s in plugins.get("projected", {}).get("sources", []) if "configMap" in s]
    generated = [d["metadata"]["name"] for d in yaml.safe_load_all(Path(plugins_yaml).read_text()) if d]
    check(sorted(projected) == sorted(generated), "/plugins projects exactly the adapter ConfigMaps plugins-configmaps.sh generates", f"{projected} vs {generated}")
    for path in ("/var/cache/cligate", "/tmp"):
        check("emptyDir" in volumes.get(mounts.get(path, {}).get("name"), {}), f"{path} is a writable emptyDir")
    config_volume = volumes.get(mounts.get("/etc/cligate", {}).get("name"), {})
    config_map_name = config_volume.get("configMap", {}).get("name")
    config_maps = {d["metadata"]["name"]: d for d in by_kind["ConfigMap"]}
    check(config_map_name in config_maps and "cligate.toml" in config_maps[config_map_name]["data"], "config ConfigMap mounted at /etc/cligate with cligate.toml")
    if config_map_name in config_maps:
        toml_text = config_maps[config_map_name]["data"]["cligate.toml"]
        (Path(outdir) / "k8s-cligate.toml").write_text(toml_text)
        config = tomllib.loads(toml_text)
        grace_ms = config.get("limits", {}).get("shutdown_grace_ms", 30000)
        pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", ["sleep", "0"])
        pre_stop_s = int(pre_stop[-1]) if pre_stop[0] == "sleep" else 0
        check(pod.get("terminationGracePeriodSeconds", 30) * 1000 > grace_ms + pre_stop_s * 1000,
              "terminationGracePeriodSeconds covers preStop + shutdown_grace_ms")
        check(config.get("log_format") == "json", "JSON logs for the cluster's collector")
    svc = by_kind["Service"][0]
    check(all(labels.get(k) == v for k, v in svc["spec"]["selector"].items()), "Service selects the gateway pods")
    check(any(p.get("targetPort") in ("http", 8787) for p in svc["spec"]["ports"]), "Service targets the http port")
    pdb = by_kind["PodDisruptionBudget"][0]
    check(all(labels.get(k) == v for k, v in pdb["spec"]["selector"]["matchLabels"].items()), "PodDisruptionBudget selects the gateway pods")
    hpa = by_kind["HorizontalPodAutoscaler"][0]["spec"]
    check(hpa["scaleTargetRef"]["kind"] == "Deployment" and hpa["scaleTargetRef"]["name"] == dep["metadata"]["name"], "HPA scales the Deployment")
    check(hpa.get("minReplicas", 1) >= 2, "HPA never goes below 2 replicas")
    finish()


def main() -> None:
    os.chdir(ROOT)
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "dockerfile":
        cmd_dockerfile()
    elif command == "cmd":
        cmd_cmd()
    elif command == "compose" and len(sys.argv) == 3:
        cmd_compose(sys.argv[2])
    elif command == "k8s" and len(sys.argv) == 4:
        cmd_k8s(sys.argv[2], sys.argv[3])
    else:
        print(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
