"""Reach (or start) a Docker engine, build the local base image and the app images.

No image can be pulled on the machines this project is built on, so the apps' Dockerfiles
are built with ``--build-arg BASE_IMAGE=`` a Debian bookworm image made by
``build_base_image.sh`` (debootstrap + ``docker import``). In CI a missing engine is a
failure, never a skip.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from harness.procs import ManagedProcess, ServiceError

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = "iotstack-test/python-base:bookworm"
APPS = ("simulator", "alerts", "dashboard")
DAEMON_TIMEOUT_S = 60.0


class DockerUnavailable(RuntimeError):
    """No engine can be reached or started; the message says how to get one."""


def docker(
    *args: str, timeout: float = 600, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run the docker CLI; on failure raise with its stderr."""
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:3])} failed: {done.stderr.strip()[-2000:]}")
    return done


def _engine_answers() -> bool:
    try:
        return (
            docker("info", "--format", "{{.ServerVersion}}", timeout=20, check=False).returncode
            == 0
        )
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return False


def ensure_engine(log_dir: Path) -> ManagedProcess | None:
    """Return None if an engine answers; else start dockerd (as root) and return its process."""
    if _engine_answers():
        return None
    if shutil.which("docker") is None or shutil.which("dockerd") is None:
        raise DockerUnavailable(
            "no Docker engine: apt-get install docker.io (Debian), or install Docker Engine"
        )
    if os.geteuid() != 0:
        raise DockerUnavailable("the Docker engine is not running and starting it needs root")
    daemon = ManagedProcess(
        "dockerd", ["dockerd", "--host", "unix:///var/run/docker.sock"], log_dir / "dockerd.log"
    ).start()
    try:
        daemon.wait_ready(_engine_answers, DAEMON_TIMEOUT_S)
    except ServiceError as err:
        daemon.stop()
        raise DockerUnavailable(str(err)) from err
    return daemon


def build_base_image() -> str:
    """Build (once) the local stand-in for the official Python image; return its tag."""
    subprocess.run(
        [str(Path(__file__).with_name("build_base_image.sh")), BASE_IMAGE],
        check=True,
        timeout=1200,
    )
    return BASE_IMAGE


def context_digest(app: str) -> str:
    """A tag from the app's build context, so an unchanged app reuses its image."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "apps" / app).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and ".egg-info" not in str(path):
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class BuiltImage:
    """An app image built from its own Dockerfile, with what the build cost."""

    app: str
    tag: str
    build_s: float
    size_mb: float
    user: str


def build_app(app: str, base_image: str) -> BuiltImage:
    """Build apps/<app>/Dockerfile with the local base image; reuse an identical build."""
    tag = f"iotstack-test/{app}:{context_digest(app)}"
    started = time.monotonic()
    if docker("image", "inspect", tag, check=False).returncode != 0:
        docker(
            "build",
            "--build-arg",
            f"BASE_IMAGE={base_image}",
            "-t",
            tag,
            str(ROOT / "apps" / app),
            timeout=1800,
        )
    build_s = time.monotonic() - started
    info = json.loads(docker("image", "inspect", tag).stdout)[0]
    return BuiltImage(app, tag, build_s, info["Size"] / 1e6, info["Config"].get("User", ""))


class AppImages:
    """App images built on first use from the local base image, then reused."""

    def __init__(self) -> None:
        self._base: str | None = None
        self._built: dict[str, BuiltImage] = {}

    def __getitem__(self, app: str) -> BuiltImage:
        if app not in self._built:
            if self._base is None:
                self._base = build_base_image()
            self._built[app] = build_app(app, self._base)
        return self._built[app]


class Containers:
    """Containers started by one test, on the host network so they reach the harness's
    services on 127.0.0.1; ``remove_all`` removes them whatever happened."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.names: list[str] = []

    def run(
        self,
        name: str,
        image: str,
        env: dict[str, str],
        args: tuple[str, ...] = (),
        entrypoint: str | None = None,
        volumes: tuple[str, ...] = (),
    ) -> str:
        """Start a detached container; return its full name."""
        full = f"{self.prefix}-{name}"
        argv = ["run", "-d", "--name", full, "--network", "host"]
        for key, value in env.items():
            argv += ["-e", f"{key}={value}"]
        for volume in volumes:
            argv += ["-v", volume]
        if entrypoint is not None:
            argv += ["--entrypoint", entrypoint]
        docker(*argv, image, *args)
        self.names.append(full)
        return full

    def logs(self, full: str) -> str:
        """Everything the container printed."""
        done = docker("logs", full, check=False)
        return done.stdout + done.stderr

    def wait(self, full: str, timeout: float) -> int:
        """Wait for the container to exit; return its exit code."""
        done = docker("wait", full, timeout=timeout)
        return int(done.stdout.strip())

    def state(self, full: str) -> dict[str, object]:
        """docker inspect's State object (Status, Health, ExitCode...)."""
        return dict(json.loads(docker("inspect", full).stdout)[0]["State"])

    def remove_all(self) -> None:
        """Force-remove every container this object started."""
        if self.names:
            docker("rm", "-f", "-v", *self.names, check=False)
        self.names.clear()
