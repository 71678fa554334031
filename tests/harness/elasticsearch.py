"""A single-node Elasticsearch from the integ-test zip (no bundled JDK), security off.

The 8.19 integ-test zip carries the x-pack-core and x-pack-security modules (so security is
on unless switched off) but not the rest-root module: ``GET /`` and ``HEAD /`` answer 405
here, while every other API the stack uses is present.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from harness import artifacts
from harness.procs import ManagedProcess, ServiceError, free_port

READY_TIMEOUT_S = 180.0
TEST_ELASTIC_PASSWORD = "harness-elastic-password"  # loopback-only test nodes
UNPRIVILEGED = 65534  # "nobody": Elasticsearch refuses to run as root


@dataclass
class Elasticsearch:
    """A running node; ``url`` is its HTTP endpoint."""

    version: str
    url: str
    process: ManagedProcess
    startup_s: float = 0.0

    def stop(self) -> None:
        """Stop the node."""
        self.process.stop()

    def start_again(self, timeout: float = READY_TIMEOUT_S) -> float:
        """Start the stopped node again (same ports, same data); seconds until it is ready."""
        self.process.start()
        return self.process.wait_ready(lambda: cluster_ready(self.url), timeout)

    def restart(self, timeout: float = READY_TIMEOUT_S) -> float:
        """Stop the node and start it again on the same ports and data; seconds until ready."""
        return self.process.restart(lambda: cluster_ready(self.url), timeout)


def cluster_ready(url: str, headers: dict[str, str] | None = None) -> bool:
    """True when the cluster health is yellow or green."""
    req = urllib.request.Request(
        f"{url}/_cluster/health?wait_for_status=yellow&timeout=1s", headers=headers or {}
    )
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.load(r).get("status") in ("yellow", "green")


def start(
    workdir: Path, heap: str = "512m", elastic_password: str | None = None
) -> Elasticsearch:
    """Start a node on free 127.0.0.1 ports with its data, logs and config under ``workdir``.

    With ``elastic_password`` the node runs with the stack's security-on settings
    (``infra/iotstack/services.py``: security on, TLS off on HTTP and transport) and that
    bootstrap password for ``elastic`` in its keystore, as the image's entrypoint puts
    ``ELASTIC_PASSWORD`` there. Users other than ``elastic`` cannot be given passwords here:
    the ``.security`` index needs the analysis-common module, which the zip lacks.
    """
    from iotstack import versions

    home = artifacts.elasticsearch_home()
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "config"
    shutil.rmtree(conf, ignore_errors=True)
    shutil.copytree(home / "config", conf)
    # jvm.options points GC logs and crash files at paths relative to the install
    # directory, which the unprivileged server user cannot write: keep them per run.
    options = conf / "jvm.options"
    options.write_text(
        options.read_text()
        .replace("file=logs/", f"file={workdir / 'logs'}/")
        .replace("ErrorFile=logs/", f"ErrorFile={workdir / 'logs'}/")
        .replace("HeapDumpPath=data", f"HeapDumpPath={workdir / 'data'}")
    )
    for sub in ("data", "logs", "tmp"):
        (workdir / sub).mkdir(exist_ok=True)
    env = {
        **os.environ,
        "ES_JAVA_HOME": str(artifacts.java_home()),
        "ES_PATH_CONF": str(conf),
        "ES_TMPDIR": str(workdir / "tmp"),
        "ES_JAVA_OPTS": f"-Xms{heap} -Xmx{heap}",
    }
    if elastic_password is not None:
        keystore = str(home / "bin" / "elasticsearch-keystore")
        for args, stdin in ((["create"], None), (["add", "-x", "bootstrap.password"], "")):
            subprocess.run(
                [keystore, *args],
                env=env,
                input=elastic_password if stdin is not None else None,
                text=True,
                check=True,
                capture_output=True,
            )
    http_port, transport_port = free_port(), free_port()
    argv = [
        str(home / "bin" / "elasticsearch"),
        "-Ediscovery.type=single-node",
        "-Enetwork.host=127.0.0.1",
        f"-Ehttp.port={http_port}",
        f"-Etransport.port={transport_port}",
        f"-Epath.data={workdir / 'data'}",
        f"-Epath.logs={workdir / 'logs'}",
        "-Ecluster.name=iotstack-test",
        "-Ecluster.routing.allocation.disk.threshold_enabled=false",
        "-Eaction.auto_create_index=true",
        # Tests talk plain HTTP on loopback; 8.x enables security (and TLS
        # auto-configuration) unless told otherwise.
        *(
            [
                "-Expack.security.enabled=true",
                "-Expack.security.http.ssl.enabled=false",
                "-Expack.security.transport.ssl.enabled=false",
            ]
            if elastic_password is not None
            else ["-Expack.security.enabled=false"]
        ),
    ]
    if os.geteuid() == 0:
        for parent in [*reversed(workdir.parents), *reversed(home.parents)]:
            if parent.stat().st_mode & 0o001 == 0:
                raise ServiceError(
                    f"Elasticsearch runs as an unprivileged user (it refuses root) and cannot "
                    f"enter {parent}: chmod o+x {parent}, or point IOTSTACK_CACHE elsewhere"
                )
        for path in [workdir, *workdir.rglob("*")]:
            os.chown(path, UNPRIVILEGED, UNPRIVILEGED)
        argv = [
            "setpriv",
            f"--reuid={UNPRIVILEGED}",
            f"--regid={UNPRIVILEGED}",
            "--clear-groups",
            # setpriv's uid change clears the parent-death signal set before it: set it again
            # so Elasticsearch dies with the harness even when the harness is killed.
            "--pdeathsig=KILL",
            "--",
            *argv,
        ]
        env["HOME"] = str(workdir)
    proc = ManagedProcess(
        f"Elasticsearch {versions.ELASTICSEARCH_VERSION}",
        argv,
        workdir / "elasticsearch.log",
        env=env,
        cwd=workdir,  # jvm.options writes logs/gc.log relative to the working directory
    ).start()
    url = f"http://127.0.0.1:{http_port}"
    node = Elasticsearch(versions.ELASTICSEARCH_VERSION, url, proc)
    headers = {}
    if elastic_password is not None:
        token = base64.b64encode(f"elastic:{elastic_password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    try:
        node.startup_s = proc.wait_ready(lambda: cluster_ready(url, headers), READY_TIMEOUT_S)
    except BaseException:
        node.stop()
        raise
    return node
