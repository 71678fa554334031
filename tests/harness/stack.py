"""Start services on demand, once, and stop them all together."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import artifacts
from harness import elasticsearch as es_mod
from harness import flink as flink_mod
from harness import kafka as kafka_mod
from harness import kube as kube_mod

KEEP_RUNS = 3  # older run directories (data + logs) are pruned


def _owner_alive(run: Path) -> bool:
    """Run directories are named <time>-<pid>; a live owner means services may still use it."""
    try:
        os.kill(int(run.name.rsplit("-", 1)[-1]), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def new_run_dir() -> Path:
    """A fresh directory for this session's service state and logs.

    Older runs are pruned to the newest few, but never one whose owning process still
    runs (parallel test sessions share the cache).
    """
    runs = artifacts.cache_dir() / "run"
    runs.mkdir(parents=True, exist_ok=True)
    finished = sorted(
        (p for p in runs.iterdir() if p.is_dir() and not _owner_alive(p)),
        key=lambda p: p.stat().st_mtime,
    )
    for stale in finished[: max(0, len(finished) - KEEP_RUNS)]:
        shutil.rmtree(stale, ignore_errors=True)
    run = runs / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    run.mkdir()
    os.chmod(run, 0o755)
    return run


class Stack:
    """Lazily started services sharing one run directory."""

    def __init__(self, run_dir: Path | None = None) -> None:
        self.run_dir = run_dir or new_run_dir()
        self._started: dict[str, Any] = {}
        self._order: list[str] = []

    def _get(self, name: str, start: Callable[[Path], Any]) -> Any:
        if name not in self._started:
            self._started[name] = start(self.run_dir / name)
            self._order.append(name)
        return self._started[name]

    def kafka(self) -> kafka_mod.Kafka:
        """Kafka 3.9 with ZooKeeper (the project's default mode)."""
        return self._get("kafka-zookeeper", kafka_mod.start_zookeeper_mode)

    def kafka_kraft(self) -> kafka_mod.Kafka:
        """Kafka 4 in KRaft mode."""
        return self._get("kafka-kraft", kafka_mod.start_kraft_mode)

    def elasticsearch(self) -> es_mod.Elasticsearch:
        """A single Elasticsearch node."""
        return self._get("elasticsearch", es_mod.start)

    def elasticsearch_security(self) -> es_mod.Elasticsearch:
        """A second node with the stack's security-on settings; ``elastic``'s password is
        :data:`harness.elasticsearch.TEST_ELASTIC_PASSWORD`."""
        return self._get(
            "elasticsearch-security",
            lambda d: es_mod.start(d, elastic_password=es_mod.TEST_ELASTIC_PASSWORD),
        )

    def flink(self) -> flink_mod.Flink:
        """A Flink session cluster with the connectors on its class path."""
        return self._get("flink", flink_mod.start)

    def kube(self) -> kube_mod.Kube:
        """A Kubernetes control plane with one KWOK node (context ``kind-iotstack``)."""
        return self._get("kube", kube_mod.start)

    def started(self) -> dict[str, Any]:
        """The services started so far, by name."""
        return dict(self._started)

    def stop(self) -> None:
        """Stop every started service, newest first; also after failures."""
        errors: list[BaseException] = []
        for name in reversed(self._order):
            try:
                self._started[name].stop()
            except BaseException as exc:  # keep stopping the rest
                errors.append(exc)
        self._started.clear()
        self._order.clear()
        if errors:
            raise errors[0]
