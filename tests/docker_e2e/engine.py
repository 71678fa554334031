"""Reach (or start) a Docker engine, build the local base image and the app images.

No image can be pulled on the machines this project is built on, so the apps' Dockerfiles
are built with ``--build-arg BASE_IMAGE=`` a Debian bookworm image made by
``build_base_image.sh`` (debootstrap + ``docker import``). In CI a missing engine is a
failure, never a skip.

Clean-up: everything a run creates is labelled ``iotstack.run=<RUN_ID>`` (containers,
networks, volumes, images it builds), and :func:`cleanup` (called at the end of the pytest
session, also after a failure or an interrupt, and at interpreter exit) removes the labelled
containers, networks and volumes, then the images THIS run built (never one that existed before it;
``docker rmi`` without ``-f``, so an image another session still uses survives).

Environment:

* ``IOTSTACK_KEEP_IMAGES=1``: keep the images this run built (faster re-runs while you
  develop; an unchanged app reuses its content-digest tag).
* ``IOTSTACK_RUN_ID``: the run id used in the label (default: a fresh one per process), so a
  wrapper can find, or clean, what one run left.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.procs import ManagedProcess, ServiceError
from iotstack.services import HealthCheck

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = "iotstack-test/python-base:bookworm"
APPS = ("simulator", "alerts", "dashboard")
DAEMON_TIMEOUT_S = 60.0
RUN_LABEL = "iotstack.run"
RUN_ID = os.environ.get("IOTSTACK_RUN_ID") or f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
KEEP_IMAGES_ENV = "IOTSTACK_KEEP_IMAGES"

# Images this process built (not found already present), removed by cleanup().
_BUILT: list[str] = []
_BUILT_LOCK = threading.Lock()
_CREATED = threading.Event()  # set once this process created anything labelled


def run_label() -> str:
    """The ``key=value`` label on everything this run creates."""
    return f"{RUN_LABEL}={RUN_ID}"


def built_images() -> list[str]:
    """Tags of the images this run built so far (oldest first)."""
    with _BUILT_LOCK:
        return list(_BUILT)


def _image_exists(tag: str) -> bool:
    return docker("image", "inspect", tag, check=False).returncode == 0


def _record_built(tag: str) -> None:
    _CREATED.set()
    with _BUILT_LOCK:
        if tag not in _BUILT:
            _BUILT.append(tag)


class NotReached(RuntimeError):
    """A polled condition did not hold within its time limit."""


def poll_until(
    what: str,
    check: Callable[[], Any],
    timeout: float,
    logs: Callable[[], str] | None = None,
    tolerate: tuple[type[BaseException], ...] = (OSError,),
) -> Any:
    """Poll ``check`` every second until it returns something truthy; return that.

    Exceptions in ``tolerate`` (a service down or restarting) count as "not yet". On time-out
    raise :class:`NotReached` naming ``what``, the last value seen and ``logs()`` if given.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except tolerate as err:
            last = err
        time.sleep(1.0)  # poll interval, not a readiness wait
    raise NotReached(
        f"{what} not reached in {timeout:.0f} s (last: {last})\n" + (logs() if logs else "")
    )


def http_json(url: str, timeout: float = 10.0) -> Any:
    """GET ``url`` and decode its JSON body."""
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.load(resp)


def job_report(rest_url: str, name: str) -> str:
    """Every job called ``name`` on the Flink cluster with its state and its latest
    failure, for the message of a failed wait (best effort: the cluster may be gone)."""
    try:
        jobs = [j for j in http_json(f"{rest_url}/jobs/overview")["jobs"] if j["name"] == name]
    except (OSError, ValueError) as err:
        return f"Flink REST {rest_url} unreachable: {err}\n"
    if not jobs:
        return f"no job named {name!r} on {rest_url}\n"
    lines = []
    for job in jobs:
        lines.append(f"job {job['jid']} {job['state']} (tasks {job.get('tasks')})")
        with contextlib.suppress(OSError, ValueError, KeyError):
            # Flink 2 reports failures only as exceptionHistory entries (no root-exception).
            history = http_json(f"{rest_url}/jobs/{job['jid']}/exceptions")["exceptionHistory"]
            entries = sorted(history["entries"], key=lambda e: e.get("timestamp") or 0)
            trace = entries[-1]["stacktrace"] if entries else ""
            if trace:
                lines.append("latest failure:\n" + trace[:4000])
    return "\n".join(lines) + "\n"


def wait_job_running(
    rest_url: str,
    name: str,
    timeout: float,
    logs: Callable[[], str] | None = None,
    tolerate: tuple[type[BaseException], ...] = (OSError,),
) -> str:
    """Poll the Flink REST API until the job called ``name`` is RUNNING; return its id.

    On time-out the error lists every job of that name with its state and latest failure
    (a job that was submitted but keeps failing shows why), then ``logs()`` if given.
    """

    def running() -> str | None:
        jobs = http_json(f"{rest_url}/jobs/overview")["jobs"]
        return next((j["jid"] for j in jobs if j["name"] == name and j["state"] == "RUNNING"), None)

    def report() -> str:
        return job_report(rest_url, name) + (logs() if logs else "")

    jid: str = poll_until(f"the job {name!r} RUNNING", running, timeout, report, tolerate)
    return jid


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
    existed = _image_exists(BASE_IMAGE)
    subprocess.run(
        [str(Path(__file__).with_name("build_base_image.sh")), BASE_IMAGE],
        check=True,
        timeout=1200,
    )
    if not existed:
        _record_built(BASE_IMAGE)
    return BASE_IMAGE


def build_image(context: Path, tag: str, build_args: dict[str, str] | None = None) -> bool:
    """Build ``context`` as ``tag`` unless that tag exists; True if this call built it.

    An image built here is labelled with the run and removed by :func:`cleanup`.
    """
    if _image_exists(tag):
        return False
    argv = ["build", "--label", run_label(), "-t", tag]
    for key, value in (build_args or {}).items():
        argv += ["--build-arg", f"{key}={value}"]
    docker(*argv, str(context), timeout=1800)
    _record_built(tag)
    return True


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
    build_image(ROOT / "apps" / app, tag, {"BASE_IMAGE": base_image})
    build_s = time.monotonic() - started
    info = json.loads(docker("image", "inspect", tag).stdout)[0]
    return BuiltImage(app, tag, build_s, info["Size"] / 1e6, info["Config"].get("User", ""))


class AppImages:
    """App images built on first use from the local base image, then reused."""

    def __init__(self) -> None:
        self._base: str | None = None
        self._built: dict[str, BuiltImage] = {}
        self._lock = threading.Lock()

    def __getitem__(self, app: str) -> BuiltImage:
        with self._lock:  # tests build images from threads; one build of each at a time
            known = self._built.get(app)
            # Another session's clean-up may have removed an image it built and we reused.
            if known is None or not _image_exists(known.tag):
                if self._base is None or not _image_exists(self._base):
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
        network: str = "host",
        alias: str | None = None,
        user: str | None = None,
        health: HealthCheck | None = None,
        memory_mib: int | None = None,
    ) -> str:
        """Start a detached container; return its full name.

        By default on the host network (to reach the harness's services on 127.0.0.1);
        ``network`` + ``alias`` put it on a user network under a host name instead, as the
        stack does. ``user``, ``health`` (iotstack.services.HealthCheck) and ``memory_mib`` are
        passed as the Docker target passes them.
        """
        full = f"{self.prefix}-{name}"
        argv = ["run", "-d", "--name", full, "--label", run_label(), "--network", network]
        if alias is not None:
            argv += ["--network-alias", alias]
        if user is not None:
            argv += ["--user", user]
        if memory_mib is not None:
            argv += ["--memory", f"{memory_mib}m"]
        if health is not None:
            argv += [
                "--health-cmd", health.shell,
                "--health-interval", f"{health.interval_s}s",
                "--health-timeout", f"{health.timeout_s}s",
                "--health-retries", str(health.retries),
                "--health-start-period", f"{health.start_period_s}s",
            ]  # fmt: skip
        for key, value in env.items():
            argv += ["-e", f"{key}={value}"]
        for volume in volumes:
            argv += ["-v", volume]
        if entrypoint is not None:
            argv += ["--entrypoint", entrypoint]
        _CREATED.set()
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


def create_network(name: str) -> str:
    """A bridge network labelled with this run (removed by :func:`cleanup`); returns its name."""
    _CREATED.set()
    docker("network", "create", "--label", run_label(), name)
    return name


def create_volume(name: str) -> str:
    """A named volume labelled with this run (removed by :func:`cleanup`); returns its name."""
    _CREATED.set()
    docker("volume", "create", "--label", run_label(), name)
    return name


def labelled(kind: str, run_id: str = RUN_ID) -> list[str]:
    """Ids of the containers (``kind="container"``), networks (``"network"``) or volumes
    (``"volume"``) of a run."""
    listing = {
        "container": ("ps", "-a", "-q"),
        "network": ("network", "ls", "-q"),
        "volume": ("volume", "ls", "-q"),
    }[kind]
    done = docker(*listing, "--filter", f"label={RUN_LABEL}={run_id}", check=False, timeout=60)
    return done.stdout.split()


def cleanup(keep_images: bool | None = None) -> list[str]:
    """Remove this run's containers, networks, volumes and (unless kept) built images.

    Safe to call more than once; returns what could not be removed (one line each).
    """
    if keep_images is None:
        keep_images = os.environ.get(KEEP_IMAGES_ENV, "") not in ("", "0", "false")
    problems: list[str] = []
    try:
        containers = labelled("container")
        if containers:
            done = docker("rm", "-f", "-v", *containers, check=False, timeout=120)
            if done.returncode != 0:
                problems.append(f"containers: {done.stderr.strip()}")
        networks = labelled("network")
        if networks:
            done = docker("network", "rm", *networks, check=False, timeout=60)
            if done.returncode != 0:
                problems.append(f"networks: {done.stderr.strip()}")
        volumes = labelled("volume")
        if volumes:
            done = docker("volume", "rm", *volumes, check=False, timeout=60)
            if done.returncode != 0:
                problems.append(f"volumes: {done.stderr.strip()}")
        if not keep_images:
            with _BUILT_LOCK:
                tags = list(reversed(_BUILT))  # apps before the base image they build on
                _BUILT.clear()
            for tag in tags:
                # No -f: an image another session's container uses stays (and is reported).
                done = docker("rmi", tag, check=False, timeout=120)
                if done.returncode != 0 and "No such image" not in done.stderr:
                    problems.append(f"image {tag}: {done.stderr.strip()}")
    except (FileNotFoundError, subprocess.TimeoutExpired) as err:
        problems.append(f"docker: {err}")
    return problems


@atexit.register
def _cleanup_at_exit() -> None:
    # A process that ends without its fixtures' teardown (sys.exit, a SIGTERM turned into an
    # exit, a script such as the benchmark) still removes what it created.
    if _CREATED.is_set():
        with contextlib.suppress(Exception):  # at exit there is no one left to report to
            cleanup()
