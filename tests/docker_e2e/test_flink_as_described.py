"""The Flink services exactly as the description gives them, on a user network as in the stack.

The other end-to-end tests re-point addresses at the harness's services on the host network.
Here nothing is changed: the JobManager and TaskManager run under their stack host names
(network aliases) with the description's environment, command, user, memory limit, volume
and health check, verbatim, as the Docker target renders them. Each must become healthy by
its own health check, the TaskManager must register its slots, and the JobManager must
have loaded the description's configuration (checkpoints on the shared volume).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from iotstack.config import StackConfig
from iotstack.services import describe

from docker_e2e import engine
from docker_e2e.wiring import described_flink_properties, flink_mounts

pytestmark = pytest.mark.services

SERVICES = ("jobmanager", "taskmanager")


def _rest(containers: engine.Containers, jobmanager: str, path: str) -> Any:
    """GET the JobManager's REST API from inside its container (nothing is published)."""
    code = (
        "import sys, urllib.request as u; "
        f"sys.stdout.write(u.urlopen('http://127.0.0.1:8081{path}', timeout=5).read().decode())"
    )
    done = engine.docker("exec", jobmanager, "python3", "-c", code, check=False)
    if done.returncode != 0:
        raise OSError(done.stderr.strip()[-500:])
    return json.loads(done.stdout)


def test_flink_runs_healthy_exactly_as_described(
    app_images: engine.AppImages, containers: engine.Containers
) -> None:
    stack = describe(StackConfig())
    network = engine.create_network(f"{containers.prefix}-net")
    mounts = flink_mounts(containers.prefix)  # the described volumes, shared by both
    started = {}
    for name in SERVICES:
        service = stack.services[name]
        assert service.health is not None and service.build is not None
        started[name] = containers.run(
            name,
            app_images[service.build.app].tag,
            service.resolved_env({}),
            args=service.command,
            network=network,
            alias=name,
            user=service.user,
            health=service.health,
            memory_mib=service.memory_mib,
            volumes=mounts,
        )

    def logs() -> str:
        return "".join(f"--- {n} ---\n{containers.logs(c)[-3000:]}\n" for n, c in started.items())

    def health() -> dict[str, object]:
        """Service -> Docker's health status of its container."""
        out: dict[str, object] = {}
        for n, c in started.items():
            state = containers.state(c).get("Health")
            out[n] = state.get("Status") if isinstance(state, dict) else None
        return out

    engine.poll_until(
        "both Flink containers healthy by their own health checks",
        lambda: all(s == "healthy" for s in health().values()) and health(),
        240,
        lambda: f"health: {health()}\n{logs()}",
    )
    overview = engine.poll_until(
        "the TaskManager registered",
        lambda: (o := _rest(containers, started["jobmanager"], "/overview"))["taskmanagers"] and o,
        120,
        logs,
    )
    assert overview["taskmanagers"] == 1 and overview["slots-total"] == 2, overview

    loaded = {e["key"]: e["value"] for e in _rest(containers, started["jobmanager"],
                                                  "/jobmanager/config")}
    described = described_flink_properties()
    for key in ("execution.checkpointing.dir", "execution.checkpointing.savepoint-dir",
                "heartbeat.timeout",
                "jobmanager.memory.process.size", "jobmanager.rpc.address"):
        assert loaded.get(key) == described[key], (key, loaded.get(key), described[key])
