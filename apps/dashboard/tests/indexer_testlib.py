"""Helpers for the indexer tests: run `python -m indexer`, read topics, offsets and health."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeVar

from elasticsearch import Elasticsearch
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

SRC = Path(__file__).resolve().parents[1] / "src"
OUTPUT = Path(__file__).resolve().parents[3] / "test-output"

# Runs the real entry point with one change: the process SIGKILLs itself at the moment it
# would commit offsets, i.e. after Elasticsearch acknowledged the bulk and the dead letters
# were acknowledged. Deterministic "crash between bulk and commit".
CRASH_BEFORE_COMMIT = (
    "import os, signal, sys\n"
    "from indexer import service\n"
    "def crash(self, offsets):\n"
    "    sys.stderr.write('test hook: SIGKILL before committing %r\\n' % (offsets,))\n"
    "    sys.stderr.flush()\n"
    "    os.kill(os.getpid(), signal.SIGKILL)\n"
    "service.Indexer.commit_offsets = crash\n"
    "from indexer.__main__ import main\n"
    "sys.exit(main())\n"
)

T = TypeVar("T")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], T | None], timeout: float, what: str, every: float = 0.2
               ) -> T:
    """Call `check` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = check()
            if value:
                return value
            last = value
        except Exception as exc:  # the services may be between states
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout:.0f} s (last: {last!r})")
        time.sleep(every)


def create_topics(bootstrap: str, *names: str, partitions: int = 2) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    finally:
        admin.close()


def producer(bootstrap: str) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)


def send(p: KafkaProducer, topic: str, key: str | None, value: dict[str, Any] | bytes | None
         ) -> None:
    raw = value if value is None or isinstance(value, bytes) else json.dumps(value).encode()
    p.send(topic, key=None if key is None else key.encode("utf-8"), value=raw)


def end_offsets(bootstrap: str, *topics: str) -> dict[TopicPartition, int]:
    c = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        tps = [TopicPartition(t, p) for t in topics for p in sorted(c.partitions_for_topic(t))]
        return dict(c.end_offsets(tps))
    finally:
        c.close()


def committed(bootstrap: str, group: str) -> dict[TopicPartition, int]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return {tp: om.offset for tp, om in admin.list_consumer_group_offsets(group).items()
                if om.offset >= 0}
    finally:
        admin.close()


def caught_up(bootstrap: str, group: str, *topics: str) -> bool:
    """True when the group's committed offsets equal the end of every partition of `topics`."""
    ends = end_offsets(bootstrap, *topics)
    done = committed(bootstrap, group)
    return all(done.get(tp, 0) == end for tp, end in ends.items())


def read_topic(bootstrap: str, topic: str, expect: int, timeout: float = 30.0
               ) -> list[Any]:
    """Every record of `topic` from the beginning (at least `expect` of them)."""
    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                      enable_auto_commit=False, consumer_timeout_ms=2000)
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            out.extend(c)
            if len(out) >= expect:
                # one more round: more than expected would be a bug the test must see
                out.extend(c)
                break
    finally:
        c.close()
    return out


def doc_count(es: Elasticsearch, index: str) -> int:
    es.indices.refresh(index=index)
    return int(es.count(index=index)["count"])


def docs(es: Elasticsearch, index: str) -> dict[str, dict[str, Any]]:
    """Every document of `index` by _id: {"_version": n, **source}."""
    es.indices.refresh(index=index)
    hits = es.search(index=index, size=10_000, version=True,
                     query={"match_all": {}})["hits"]["hits"]
    return {h["_id"]: {"_version": h["_version"], **h["_source"]} for h in hits}


class IndexerProcess:
    """`python -m indexer` (or the crash-hook variant) with its log under test-output/."""

    def __init__(self, settings: dict[str, str], name: str, crash_before_commit: bool = False
                 ) -> None:
        self.port = free_port()
        env = {**os.environ, "PYTHONPATH": str(SRC), "INDEXER_HEALTH_BIND":
               f"127.0.0.1:{self.port}", "INDEXER_LOG_INTERVAL_S": "1", **settings}
        OUTPUT.mkdir(exist_ok=True)
        self.log_path = OUTPUT / f"indexer-{name}.log"
        self._log: IO[str] = self.log_path.open("w")
        argv = [sys.executable, "-c", CRASH_BEFORE_COMMIT] if crash_before_commit else [
            sys.executable, "-m", "indexer"]
        self.proc = subprocess.Popen(argv, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def health(self) -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz",
                                        timeout=5) as r:
                return r.status, json.load(r)
        except urllib.error.HTTPError as err:
            return err.code, json.load(err)

    def wait_healthy(self, timeout: float = 30.0) -> dict[str, Any]:
        def ok() -> dict[str, Any] | None:
            if self.proc.poll() is not None:
                raise AssertionError(f"indexer exited with {self.proc.returncode}; "
                                     f"see {self.log_path}")
            code, body = self.health()
            return body if code == 200 else None

        return wait_until(ok, timeout, "indexer /healthz 200")

    def log_text(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, as Docker does; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._log.close()
