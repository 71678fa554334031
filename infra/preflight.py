"""Check what a verb needs before anything heavy runs; one line per problem.

Run as ``python infra/preflight.py --stack dev --verb up`` (the Makefile does, after the
shared set-up step ``make stack``); exits 1 if anything is missing. Standard library only,
so it runs before any virtualenv exists.

What each verb checks (``target`` is read from the stack's own configuration):

==========  ====================================================================
every verb  Python = the version the apps are built for (``versions.PYTHON_VERSION``),
            the Pulumi CLI, and the stack's configuration (a bad value is reported
            with the key and the fix, as ``pulumi preview`` would)
docker      the Docker daemon answers; for ``preview`` and ``up`` also every host port
            the stack's configuration publishes is free, except the ports that the
            deployed stack itself publishes (read from the local backend's state file)
kind        ``kind`` and ``kubectl`` exist, and the configured cluster's context
            (``kind-<kindClusterName>``) answers within 10 s
``resubmit`` the stack has something deployed (local backend's state file)
``down``    never blocked by ports or by the kind cluster: only Python, the Pulumi CLI,
            the configuration and (docker) the daemon, without which nothing can be removed
==========  ====================================================================
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from iotstack import versions
from iotstack.config import ConfigError, StackConfig
from stackinit import SetupError, last_line, local_backend_dir, run_pulumi

PROJECT = "iotstack"  # name: in Pulumi.yaml
VERBS = ("preview", "up", "down", "resubmit")
STOPPED = {
    "preview": "no preview was run",
    "up": "nothing was deployed",
    "down": "nothing was destroyed",
    "resubmit": "nothing was resubmitted",
}
CONTAINER_TYPE = "docker:index/container:Container"
SYSTEMD_RUNTIME = Path("/run/systemd/system")  # exists only when systemd is the init system

Runner = Callable[..., subprocess.CompletedProcess[str]]


def python_problem(version: tuple[int, ...] = tuple(sys.version_info[:3])) -> str | None:
    """The apps and their images are built for exactly one Python minor line."""
    want = versions.PYTHON_VERSION
    if tuple(version[:2]) != want:
        found = ".".join(str(part) for part in version[:3])
        return (
            f"Python {want[0]}.{want[1]} needed (the apps and PyFlink are pinned to it), "
            f"this is {found}: run make with PYTHON=python{want[0]}.{want[1]}"
        )
    return None


def _docker_start_advice() -> str:
    if SYSTEMD_RUNTIME.is_dir():
        return "sudo systemctl start docker"
    if sys.platform == "darwin":
        return "start Docker Desktop"
    return "sudo service docker start, or run sudo dockerd"


def docker_problem(run: Runner = subprocess.run) -> str | None:
    """None when the Docker daemon answers ``docker info``."""
    if shutil.which("docker") is None:
        return (
            "Docker CLI not found: install Docker Engine (https://docs.docker.com/engine/install/)"
        )
    try:
        done = run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except subprocess.TimeoutExpired:
        advice = _docker_start_advice()
        return f"Docker daemon did not answer within 20 s: is it running? ({advice})"
    if done.returncode != 0:
        reason = last_line(done)
        return f"Docker daemon not reachable ({reason}): start it ({_docker_start_advice()})"
    return None


def pulumi_problem() -> str | None:
    if shutil.which("pulumi") is None:
        return (
            "Pulumi CLI not found: install it (https://www.pulumi.com/docs/iac/download-install/)"
        )
    return None


def kind_tool_problems() -> list[str]:
    return [
        f"{tool} not found: see README.md, 'The kind target'"
        for tool in ("kind", "kubectl")
        if shutil.which(tool) is None
    ]


def kind_cluster_problem(
    cfg: StackConfig, env: Mapping[str, str] | None = None, run: Runner = subprocess.run
) -> str | None:
    """None when the context the kind target deploys to answers ``/readyz``."""
    context = f"kind-{cfg.kind_cluster_name}"
    fix = "create it with `make kind-cluster`" + (
        "" if cfg.kind_cluster_name == "iotstack" else " (after setting its name in it)"
    )
    try:
        done = run(
            ["kubectl", "--context", context, "get", "--raw", "/readyz", "--request-timeout=10s"],
            capture_output=True,
            text=True,
            timeout=20,
            env=None if env is None else dict(env),
        )
    except subprocess.TimeoutExpired:
        return f"kind cluster context {context} did not answer within 20 s: {fix}"
    if done.returncode != 0:
        reason = last_line(done)
        return f"kind cluster context {context} does not answer ({reason}): {fix}"
    return None


def state_file(backend: Path, stack: str) -> Path | None:
    """The local backend's checkpoint of ``stack`` (project-scoped or legacy layout)."""
    stacks = backend / ".pulumi" / "stacks"
    for folder in (stacks / PROJECT, stacks):
        for name in (f"{stack}.json", f"{stack}.json.gz"):
            if (folder / name).is_file():
                return folder / name
    return None


def deployed_resources(path: Path | None) -> list[dict[str, Any]]:
    """The resources of the stack's latest checkpoint (none without a state file)."""
    if path is None:
        return []
    raw = path.read_bytes()
    data = json.loads(gzip.decompress(raw) if path.suffix == ".gz" else raw)
    resources: list[dict[str, Any]] = (
        ((data.get("checkpoint") or {}).get("latest") or {}).get("resources") or []
    )
    return resources


def held_host_ports(resources: list[dict[str, Any]]) -> set[int]:
    """Host ports that the deployed stack's own containers publish."""
    held: set[int] = set()
    for resource in resources:
        if resource.get("type") != CONTAINER_TYPE:
            continue
        props = resource.get("outputs") or resource.get("inputs") or {}
        for port in props.get("ports") or []:
            if isinstance(port, dict) and port.get("external"):
                held.add(int(port["external"]))
    return held


def port_problems(cfg: StackConfig, held: set[int]) -> list[str]:
    """Every configured host port that is busy and not held by the deployed stack itself."""
    problems = []
    for key, port in cfg.host_ports().items():
        if port in held:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((cfg.bind_address, port))
            except OSError:
                problems.append(
                    f"port {port} (config {key}) is in use: stop what listens there "
                    f"or run `pulumi config set {key} <free port> --stack <stack>` in infra/"
                )
    return problems


def read_stack_config(stack: str, env: Mapping[str, str]) -> dict[str, str]:
    """The stack's ``iotstack:*`` values as the CLI resolves them (``pulumi config --json``)."""
    try:
        done = run_pulumi(["config", "--stack", stack, "--json"], env)
    except SetupError as exc:
        raise ConfigError(str(exc)) from None
    if done.returncode != 0:
        reason = last_line(done)
        raise ConfigError(f"cannot read the config of stack {stack} ({reason}): run `make stack`")
    raw: dict[str, str] = {}
    for full_key, entry in json.loads(done.stdout or "{}").items():
        namespace, _, key = full_key.partition(":")
        if namespace != PROJECT or not isinstance(entry, dict) or entry.get("secret"):
            continue
        value = entry.get("value")
        if value is not None:
            raw[key] = str(value)
    return raw


def problems(
    stack: str,
    verb: str,
    raw_config: Mapping[str, str],
    *,
    python: tuple[int, ...] = tuple(sys.version_info[:3]),
    held_ports: frozenset[int] | set[int] = frozenset(),
    deployed: int = 0,
    env: Mapping[str, str] | None = None,
    run: Runner = subprocess.run,
) -> list[str]:
    """Every problem that stops ``verb`` on ``stack``, each as one actionable line."""
    found = [p for p in (python_problem(python), pulumi_problem()) if p]
    try:
        cfg = StackConfig.from_mapping(raw_config)
    except ConfigError as exc:
        return [*found, str(exc)]
    if verb == "resubmit" and deployed == 0:
        found.append(f"stack {stack} has nothing deployed, so no job to restart: run `make up`")
    if cfg.target == "docker":
        daemon = docker_problem(run)
        found += [daemon] if daemon else []
        if verb in ("preview", "up") and daemon is None:
            found += port_problems(cfg, set(held_ports))
    elif verb != "down":
        tools = kind_tool_problems()
        found += tools
        if not tools:
            cluster = kind_cluster_problem(cfg, env, run)
            found += [cluster] if cluster else []
    return found


def main(argv: list[str] | None = None) -> int:
    """Print each problem on its own line; exit 1 if there is any."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--verb", default="up", choices=VERBS)
    args = parser.parse_args(argv)
    env = dict(os.environ)
    # Without the right Python or a CLI the stack's config cannot be read: say only that.
    found = [p for p in (python_problem(), pulumi_problem()) if p]
    if not found:
        try:
            raw = read_stack_config(args.stack, env)
        except ConfigError as exc:
            found.append(str(exc))
    if not found:
        backend = local_backend_dir(env)
        # One read of the state file serves both questions.
        resources = deployed_resources(state_file(backend, args.stack) if backend else None)
        found = problems(
            args.stack,
            args.verb,
            raw,
            held_ports=held_host_ports(resources),
            deployed=len(resources) if backend else 1,
            env=env,
        )
    for line in found:
        print(f"preflight: {line}", file=sys.stderr)
    if found:
        print(
            f"preflight: {len(found)} problem(s) for `make {args.verb}`; {STOPPED[args.verb]}.",
            file=sys.stderr,
        )
        return 1
    print(f"preflight: ok ({args.verb}, stack {args.stack})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
