"""Check what `make up` needs before anything heavy runs; one line per missing prerequisite.

Run as ``python infra/preflight.py [--stack dev|kind]``; exits 1 if anything is missing.
Standard library only, so it runs before any virtualenv exists.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from iotstack.config import StackConfig

MIN_PYTHON = (3, 11)


def _docker_problem() -> str | None:
    if shutil.which("docker") is None:
        return (
            "Docker CLI not found: install Docker Engine (https://docs.docker.com/engine/install/)"
        )
    try:
        done = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except subprocess.TimeoutExpired:
        return (
            "Docker daemon did not answer within 20 s: is it running? (sudo systemctl start docker)"
        )
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no answer"])[-1]
        return f"Docker daemon not reachable ({reason}): start it (sudo systemctl start docker)"
    return None


def _pulumi_problem() -> str | None:
    if shutil.which("pulumi") is None:
        return (
            "Pulumi CLI not found: curl -fsSL https://get.pulumi.com | sh (then restart the shell)"
        )
    return None


def _port_problems(cfg: StackConfig) -> list[str]:
    problems = []
    for key, port in cfg.host_ports().items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                problems.append(
                    f"port {port} (config {key}) is in use: stop what listens there "
                    f"or run `pulumi config set {key} <free port>`"
                )
    return problems


def problems(stack: str) -> list[str]:
    """Every missing prerequisite for deploying ``stack``, each as one actionable line."""
    found: list[str] = []
    if sys.version_info[:2] < MIN_PYTHON:
        found.append(
            f"Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]}+ needed, this is {sys.version.split()[0]}"
        )
    found += [p for p in (_docker_problem(), _pulumi_problem()) if p]
    if stack == "kind":
        for tool in ("kind", "kubectl"):
            if shutil.which(tool) is None:
                found.append(f"{tool} not found: see README.md, 'The kind target'")
    else:
        found += _port_problems(StackConfig())
    return found


def main(argv: list[str] | None = None) -> int:
    """Print each problem on its own line; exit 1 if there is any."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", default="dev", choices=["dev", "kind"])
    args = parser.parse_args(argv)
    found = problems(args.stack)
    for line in found:
        print(f"preflight: {line}", file=sys.stderr)
    if found:
        print(
            f"preflight: {len(found)} prerequisite(s) missing; nothing was deployed.",
            file=sys.stderr,
        )
        return 1
    print("preflight: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
