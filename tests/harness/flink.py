"""A Flink standalone session cluster (JobManager + TaskManager) from the apache-flink wheel.

The connector jars from the pinned Maven list (the Kafka SQL connector only) are put on the
cluster's class path (a lib/ directory of links: the wheel's own jars plus the connectors),
the same set the alerts image bakes into /opt/flink/lib (apps/alerts/connectors.lock).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import artifacts
from harness.procs import ManagedProcess, ServiceError, free_port

READY_TIMEOUT_S = 120.0
SUBMIT_TIMEOUT_S = 300.0
TASK_SLOTS = 4


def _java_opts(flink_home: Path) -> str:
    """The JVM flags the distribution ships for Java 17 (module opens/exports)."""
    text = (flink_home / "conf" / "config.yaml").read_text()
    match = re.search(r"^\s+all:\s*(--add-.*)$", text, re.MULTILINE)
    return match.group(1).strip() if match else ""


@dataclass
class Flink:
    """A running session cluster; ``rest_url`` serves the REST API and web UI."""

    version: str
    rest_url: str
    conf_dir: Path
    lib_dir: Path
    log_dir: Path
    env: dict[str, str]
    processes: list[ManagedProcess] = field(default_factory=list)
    startup_s: float = 0.0

    def get(self, path: str) -> dict[str, Any]:
        """GET a REST API path and decode its JSON."""
        with urllib.request.urlopen(f"{self.rest_url}{path}", timeout=10) as resp:
            return json.load(resp)

    def submit_python(
        self,
        script: Path,
        args: list[str] | None = None,
        extra_env: dict[str, str] | None = None,
        savepoint: str | None = None,
    ) -> str:
        """Submit a PyFlink script detached (``flink run -d -py``, from ``savepoint`` if
        given); return the job id."""
        flink = artifacts.flink_home() / "bin" / "flink"
        host_port = self.rest_url.removeprefix("http://")
        argv = [
            str(flink),
            "run",
            "-m",
            host_port,
            "-d",
            *(["-s", savepoint] if savepoint else []),
            "-py",
            str(script),
            "-pyexec",
            sys.executable,
            *(args or []),
        ]
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=SUBMIT_TIMEOUT_S,
            env={**self.env, **(extra_env or {})},
        )
        match = re.search(r"JobID ([0-9a-f]{32})", done.stdout + done.stderr)
        if done.returncode != 0 or match is None:
            raise ServiceError(
                f"submitting {script.name} to Flink failed (exit {done.returncode})\n"
                + (done.stdout + done.stderr)[-4000:]
            )
        return match.group(1)

    def job_state(self, job_id: str) -> str:
        """The job's state as the REST API reports it (RUNNING, FAILED, ...)."""
        return str(self.get(f"/jobs/{job_id}")["state"])

    def wait_job_state(self, job_id: str, state: str, timeout: float = 120.0) -> None:
        """Poll until the job reaches ``state``; raise naming the state it is in otherwise."""
        deadline = time.monotonic() + timeout
        current = ""
        while time.monotonic() < deadline:
            current = self.job_state(job_id)
            if current == state:
                return
            if current in ("FAILED", "CANCELED", "FINISHED") and current != state:
                break
            time.sleep(0.5)
        # Flink 2 reports failures only as exceptionHistory entries (no root-exception).
        entries = self.get(f"/jobs/{job_id}/exceptions")["exceptionHistory"]["entries"]
        newest = max(entries, key=lambda e: e.get("timestamp") or 0) if entries else {}
        raise ServiceError(
            f"Flink job {job_id} is {current}, expected {state}\n"
            f"{str(newest.get('stacktrace', ''))[:3000]}"
        )

    def cancel(self, job_id: str) -> None:
        """Cancel a job (no-op if it already ended)."""
        req = urllib.request.Request(f"{self.rest_url}/jobs/{job_id}?mode=cancel", method="PATCH")
        with urllib.request.urlopen(req, timeout=10):
            pass

    def stop(self) -> None:
        """Stop the TaskManager, then the JobManager."""
        for proc in self.processes:
            proc.stop()


def cluster_ready(rest_url: str) -> bool:
    """True when the REST API answers and a TaskManager has registered its slots."""
    with urllib.request.urlopen(f"{rest_url}/overview", timeout=5) as resp:
        overview = json.load(resp)
    return int(overview.get("taskmanagers", 0)) >= 1 and int(overview.get("slots-total", 0)) >= 1


def start(workdir: Path) -> Flink:
    """Start a JobManager and one TaskManager on 127.0.0.1 with the connectors loaded."""
    from iotstack import versions

    home = artifacts.flink_home()
    conf_dir, lib_dir, log_dir = workdir / "conf", workdir / "lib", workdir / "log"
    for path in (conf_dir, lib_dir, log_dir):
        path.mkdir(parents=True, exist_ok=True)
    for jar in [
        *(home / "lib").glob("*.jar"),
        *artifacts.resolve("flink-connectors").glob("*.jar"),
    ]:
        link = lib_dir / jar.name
        if not link.exists():
            link.symlink_to(jar)
    for log_conf in (home / "conf").glob("log4j*.properties"):
        (conf_dir / log_conf.name).write_text(log_conf.read_text())
    rest_port = free_port()
    settings = {
        "jobmanager.rpc.address": "127.0.0.1",
        "jobmanager.rpc.port": free_port(),
        "jobmanager.bind-host": "127.0.0.1",
        "jobmanager.memory.process.size": "1024m",
        "taskmanager.bind-host": "127.0.0.1",
        "taskmanager.host": "127.0.0.1",
        "taskmanager.numberOfTaskSlots": TASK_SLOTS,
        "taskmanager.memory.process.size": "2048m",
        "rest.address": "127.0.0.1",
        "rest.bind-address": "127.0.0.1",
        "rest.port": rest_port,
        "blob.server.port": free_port(),
        "parallelism.default": 1,
        "execution.checkpointing.dir": f"file://{workdir / 'checkpoints'}",
        "execution.checkpointing.savepoint-dir": f"file://{workdir / 'savepoints'}",
        # The REST API's metrics are refreshed every second (default 10 s): benchmarks and
        # tests read progress from them.
        "metrics.fetcher.update-interval": 1000,
        "python.executable": sys.executable,
        "python.client.executable": sys.executable,
        "env.java.opts.all": _java_opts(home),
    }
    (conf_dir / "config.yaml").write_text(
        "".join(
            f"{key}: {json.dumps(value) if isinstance(value, str) else value}\n"
            for key, value in settings.items()
        )
    )
    env = {
        **os.environ,
        "JAVA_HOME": str(artifacts.java_home()),
        "FLINK_CONF_DIR": str(conf_dir),
        "FLINK_LIB_DIR": str(lib_dir),
        "FLINK_LOG_DIR": str(log_dir),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    rest_url = f"http://127.0.0.1:{rest_port}"
    cluster = Flink(versions.FLINK_VERSION, rest_url, conf_dir, lib_dir, log_dir, env)
    try:
        jobmanager = ManagedProcess(
            "Flink JobManager",
            [str(home / "bin" / "jobmanager.sh"), "start-foreground"],
            workdir / "jobmanager.log",
            env=env,
        ).start()
        cluster.processes.append(jobmanager)
        taskmanager = ManagedProcess(
            "Flink TaskManager",
            [str(home / "bin" / "taskmanager.sh"), "start-foreground"],
            workdir / "taskmanager.log",
            env=env,
        ).start()
        cluster.processes.insert(0, taskmanager)
        cluster.startup_s = jobmanager.wait_ready(lambda: cluster_ready(rest_url), READY_TIMEOUT_S)
        if not taskmanager.alive():
            raise taskmanager.failure("exited while the cluster started")
    except BaseException:
        cluster.stop()
        raise
    return cluster
