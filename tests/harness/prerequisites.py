"""Check what `make test` needs before anything heavy runs; one line per missing prerequisite.

Run as ``PYTHONPATH=tests:infra python3 -m harness.prerequisites`` (the first step of
``make test``); exits 1 if anything is missing. Standard library only (and the pins in
``infra/iotstack/versions.py``), so it runs before any virtualenv exists. Each line says
how to get the tool on Debian; ``.ci/run`` installs those packages on a fresh machine.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys

from iotstack import versions

from harness import artifacts

PYTHON = versions.PYTHON_VERSION  # the one pin; the venvs are made with it
# The dashboard's browser test drives Debian's Chromium and its driver at these paths.
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
# Commands looked up on PATH: (command, what needs it, Debian package).
ON_PATH = (
    ("mvn", "Maven resolves the Java artifacts the harness runs", "maven"),
    ("go", "Go builds actionlint for make lint", "golang-go"),
    ("debootstrap", "builds the Debian base of the app images", "debootstrap"),
    ("kubectl", "the kind preflight's tests ask a real API endpoint with it", "kubernetes-client"),
    ("openssl", "makes the test Kubernetes control plane's certificates and keys", "openssl"),
)
SETPRIV = (
    "setpriv",
    "starts every test server with a parent-death signal, Elasticsearch unprivileged",
    "util-linux",
)
VENV_PACKAGE = "python3-venv"  # Debian moves ensurepip, which `python3 -m venv` runs, there
DOCKER_PACKAGE = "docker.io"
CHROMIUM_PACKAGES = {"CHROMIUM": "chromium", "CHROMEDRIVER": "chromium-driver"}


def packages() -> set[str]:
    """Every Debian package a line of this check may name."""
    return {
        VENV_PACKAGE,
        f"openjdk-{versions.JAVA_VERSION}-jdk-headless",  # harness.artifacts.java_home says so
        *(package for _, _, package in ON_PATH),
        SETPRIV[2],
        DOCKER_PACKAGE,
        *CHROMIUM_PACKAGES.values(),
    }


def _tool(name: str, what: str, package: str) -> str | None:
    if shutil.which(name) is None:
        return f"{name} not found ({what}): apt-get install {package}"
    return None


def _venv_problem() -> str | None:
    if importlib.util.find_spec("ensurepip") is None:
        return (
            "Python's venv module cannot install pip into the virtualenvs (no ensurepip): "
            f"apt-get install {VENV_PACKAGE}"
        )
    return None


def _java_problem() -> str | None:
    try:
        home = artifacts.java_home()
    except artifacts.MissingPrerequisite as err:
        return f"{err} (Kafka, ZooKeeper, Elasticsearch and Flink run on it)"
    if not (home / "bin" / "javac").exists():
        return (
            f"{home} is a JRE, not a JDK (no bin/javac; the alerts job's Java functions are "
            f"compiled by apps/alerts/java/build.sh): apt-get install "
            f"openjdk-{versions.JAVA_VERSION}-jdk-headless, or set JAVA_HOME to a JDK"
        )
    return None


def _file(path: str, what: str, package: str) -> str | None:
    if not os.access(path, os.X_OK):
        return f"{path} not found ({what}): apt-get install {package}"
    return None


def _engine_answers() -> bool:
    try:
        done = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _docker_problem() -> str | None:
    """The end-to-end tests need an engine that answers, or root to start ``dockerd``."""
    if shutil.which("docker") is not None and _engine_answers():
        return None
    missing = [tool for tool in ("docker", "dockerd") if shutil.which(tool) is None]
    if missing:
        return (
            f"{' and '.join(missing)} not found (no Docker engine answers; the end-to-end "
            f"tests build and run the app images): apt-get install {DOCKER_PACKAGE}"
        )
    if os.geteuid() != 0:
        return (
            "the Docker engine is not running and starting it needs root: start it "
            "(sudo systemctl start docker) or run make test as root"
        )
    return None  # the end-to-end tests start dockerd themselves


def problems() -> list[str]:
    """Every missing prerequisite of `make test`, each as one actionable line."""
    found: list[str] = []
    if sys.version_info[:2] != PYTHON:
        found.append(
            f"Python {PYTHON[0]}.{PYTHON[1]} needed (the apps' pinned Python, with PyFlink "
            f"{versions.FLINK_VERSION}), "
            f"this is {sys.version.split()[0]}: apt-get install python3.11 python3.11-venv"
        )
    checks = [
        _venv_problem(),
        _java_problem(),
        *(_tool(*tool) for tool in ON_PATH),
        _docker_problem(),
        _file(CHROMIUM, "the dashboard's browser test", CHROMIUM_PACKAGES["CHROMIUM"]),
        _file(CHROMEDRIVER, "the dashboard's browser test", CHROMIUM_PACKAGES["CHROMEDRIVER"]),
    ]
    # Every harness server starts through it (harness.procs); as root it also drops
    # Elasticsearch, which refuses root, to another user.
    checks.append(_tool(*SETPRIV))
    found += [problem for problem in checks if problem]
    return found


def main() -> int:
    """Print each problem on its own line; exit 1 if there is any."""
    found = problems()
    for line in found:
        print(f"prerequisites: {line}", file=sys.stderr)
    if found:
        print(
            f"prerequisites: {len(found)} missing for make test; nothing was run.",
            file=sys.stderr,
        )
        return 1
    print("prerequisites: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
