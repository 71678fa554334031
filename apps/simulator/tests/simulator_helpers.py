"""Helpers shared by the simulator tests: run the CLI as a process, read a topic back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parent.parent / "src"


def simulator_env(**settings: object) -> dict[str, str]:
    """A process environment that runs the simulator from source with ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIMULATOR_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    env.update({key: str(value) for key, value in settings.items()})
    return env


def command(*args: str) -> list[str]:
    """The argv that runs the simulator CLI with ``args``."""
    return [sys.executable, "-m", "simulator", *args]


def run_simulator(
    *args: str, timeout: float = 120, **settings: object
) -> subprocess.CompletedProcess[str]:
    """Run the simulator to completion and return its result (stdout and stderr as text)."""
    return subprocess.run(
        command(*args),
        env=simulator_env(**settings),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSON-lines file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def unique_topic(prefix: str) -> str:
    """A fresh topic name so tests sharing one broker never see each other's messages."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass(frozen=True)
class Record:
    """One consumed message."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes


def create_topic(bootstrap: str, topic: str, partitions: int = 3) -> None:
    """Create ``topic`` on the broker and wait until its metadata is visible."""
    from kafka import KafkaConsumer
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="simulator-tests")
    try:
        admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    finally:
        admin.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        deadline = time.monotonic() + 30
        while (
            consumer.partitions_for_topic(topic) is None
            or len(consumer.partitions_for_topic(topic)) < partitions
        ):
            if time.monotonic() > deadline:
                raise AssertionError(f"topic {topic} did not appear on {bootstrap}")
            time.sleep(0.1)
            consumer.topics()  # refresh metadata
    finally:
        consumer.close()


def read_topic(bootstrap: str, topic: str, idle_s: float = 3.0) -> list[Record]:
    """Every message of ``topic`` from the beginning, ordered by (partition, offset).

    Reads up to each partition's end offset as of now, so the result is complete, not
    "whatever arrived before a timeout".
    """
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        end = consumer.end_offsets(parts)
        records: list[Record] = []
        position = {tp: 0 for tp in parts}
        last_progress = time.monotonic()
        while any(position[tp] < end[tp] for tp in parts):
            batch = consumer.poll(timeout_ms=500, max_records=10_000)
            if batch:
                last_progress = time.monotonic()
            for tp, messages in batch.items():
                for m in messages:
                    records.append(Record(m.partition, m.offset, m.key, m.value))
                    position[tp] = m.offset + 1
            if time.monotonic() - last_progress > idle_s + 30:
                raise AssertionError(f"stalled reading {topic}: at {position}, end {end}")
        records.sort(key=lambda r: (r.partition, r.offset))
        return records
    finally:
        consumer.close()
