"""Helpers for the wired tests: topics, producing readings, reading outputs, running the job."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, cast

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic

from alerts import config as cfg_mod
from alerts import submit as submit_mod
from harness import artifacts
from harness.flink import Flink

SRC = Path(__file__).resolve().parent.parent / "src"
JOB_PY = SRC / "alerts" / "job.py"
JAVA = SRC.parent / "java"
# The aggregates topic as infra creates it: compacted (latest value per document id) and
# deleted by retention.
AGGREGATES_TOPIC_CONFIG = {"cleanup.policy": "compact,delete"}


def functions_jar() -> Path:
    """The job's Java functions jar (alerts.job.FUNCTIONS_JAR), built by
    apps/alerts/java/build.sh when it is missing or older than its sources."""
    from alerts.job import FUNCTIONS_JAR

    sources = [JAVA / "build.sh", *JAVA.rglob("*.java")]
    newest = max(path.stat().st_mtime for path in sources)
    if not FUNCTIONS_JAR.is_file() or FUNCTIONS_JAR.stat().st_mtime < newest:
        done = subprocess.run(
            ["sh", str(JAVA / "build.sh"), str(FUNCTIONS_JAR), str(artifacts.flink_home())],
            capture_output=True, text=True,
            env={**os.environ, "PATH": f"{artifacts.java_home() / 'bin'}{os.pathsep}"
                                       f"{os.environ.get('PATH', '')}"},
        )
        assert done.returncode == 0, f"building {FUNCTIONS_JAR} failed:\n{done.stderr[-3000:]}"
    return FUNCTIONS_JAR


def unique(prefix: str) -> str:
    """A fresh name so tests sharing one broker never see each other's data."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def job_settings(kafka: str, flink_url: str, **overrides: object) -> dict[str, str]:
    """Settings for one test job: fresh topics and job name."""
    tag = uuid.uuid4().hex[:8]
    settings = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "FLINK_REST_URL": flink_url,
        "READINGS_TOPIC": f"readings-{tag}",
        "ALERTS_TOPIC": f"alerts-{tag}",
        "DEAD_LETTER_TOPIC": f"dlq-{tag}",
        "LATE_TOPIC": f"late-{tag}",
        "AGGREGATES_TOPIC": f"agg-{tag}",
        "KAFKA_GROUP_ID": f"alerts-job-{tag}",
        "JOB_NAME": f"alerts-test-{tag}",
    }
    settings.update({k: str(v) for k, v in overrides.items()})
    return settings


def prepare(settings: Mapping[str, str], partitions: int = 3) -> None:
    """Create the job's topics (the aggregates topic compacted, as infra does)."""
    admin = KafkaAdminClient(bootstrap_servers=settings["KAFKA_BOOTSTRAP_SERVERS"])
    admin.create_topics([
        NewTopic(settings[name], num_partitions=partitions, replication_factor=1)
        for name in ("READINGS_TOPIC", "ALERTS_TOPIC", "DEAD_LETTER_TOPIC", "LATE_TOPIC")
    ] + [NewTopic(settings["AGGREGATES_TOPIC"], num_partitions=partitions, replication_factor=1,
                  topic_configs=AGGREGATES_TOPIC_CONFIG)])
    admin.close()


def submit_args(
    flink: Flink, settings: Mapping[str, str]
) -> tuple[cfg_mod.Config, dict[str, str], dict[str, Any]]:
    """(config, environment, how) to submit the job from source to the harness's Flink."""
    functions_jar()
    env = {
        **flink.env,
        **settings,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
    }
    how = {"entry": ("-py", str(JOB_PY)), "pyexec": sys.executable,
           "flink": str(artifacts.flink_home() / "bin" / "flink")}
    return cfg_mod.load(settings), env, how


def start_job(flink: Flink, settings: Mapping[str, str], savepoint: str | None = None) -> str:
    """Submit the job from source with ``settings``; return its id once it is RUNNING."""
    cfg, env, how = submit_args(flink, settings)
    job_id, submitted = submit_mod.submit(cfg, env, savepoint=savepoint, **how)
    assert submitted, f"a job named {cfg.job_name} was already running"
    submit_mod.wait_running(flink.rest_url, job_id, 180)  # the image's own readiness wait
    return job_id


def stop_with_savepoint(flink: Flink, job_id: str, timeout: float = 120) -> str:
    """Stop the job with a savepoint (no drain) and return the savepoint's location."""
    req = urllib.request.Request(
        f"{flink.rest_url}/jobs/{job_id}/stop", data=json.dumps({"drain": False}).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        trigger = json.load(resp)["request-id"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = flink.get(f"/jobs/{job_id}/savepoints/{trigger}")
        if status["status"]["id"] == "COMPLETED":
            operation = status["operation"]
            assert "location" in operation, f"stop-with-savepoint failed: {operation}"
            return str(operation["location"])
        time.sleep(0.5)
    raise AssertionError(f"savepoint of {job_id} not completed after {timeout} s")


def reading(sensor: str, ts: int, temp: float, seq: int, site: str = "plant-a") -> bytes:
    """A contract reading (docs/contracts.md), encoded."""
    return json.dumps({"schema_version": 1, "sensor_id": sensor, "site": site, "ts": ts,
                       "temperature_c": temp, "seq": seq}).encode()


def produce(bootstrap: str, topic: str, messages: Iterable[tuple[Any, ...]]) -> int:
    """Send (key, value[, partition]) messages in order (acks=all, one in flight)."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                             max_in_flight_requests_per_connection=1)
    count = 0
    try:
        for key, value, *partition in messages:
            producer.send(topic, key=key, value=value,
                          partition=partition[0] if partition else None)
            count += 1
    finally:
        producer.flush()
        producer.close()
    return count


def consume_all(bootstrap: str, topic: str, idle_ms: int = 3000) -> list[Any]:
    """Every message of a topic so far, as (key, decoded JSON value; None for a tombstone),
    in offset order within each partition."""
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             group_id=None, consumer_timeout_ms=idle_ms)
    try:
        return [(m.key, None if m.value is None else json.loads(m.value)) for m in consumer]
    finally:
        consumer.close()


def alert_docs(bootstrap: str, topic: str, idle_ms: int = 3000) -> dict[str, dict[str, Any]]:
    """The alerts as the indexer's documents: the last event of each ``alert_id`` (its
    events share the sensor's key, so one partition orders them)."""
    return {v["alert_id"]: v for _, v in consume_all(bootstrap, topic, idle_ms)}


def aggregate_docs(bootstrap: str, topic: str, idle_ms: int = 3000) -> dict[str, dict[str, Any]]:
    """The aggregates topic as the indexer's documents: the latest value of each key (UTF-8,
    the document id), a tombstone deleting it. Every value must carry its own key."""
    docs: dict[str, dict[str, Any]] = {}
    for key, value in consume_all(bootstrap, topic, idle_ms):
        assert key is not None, f"an aggregate without a key: {value}"
        doc_id = key.decode("utf-8")
        if value is None:
            docs.pop(doc_id, None)
            continue
        assert doc_id == f"{value['sensor_id']}:{value['window_start']}", (doc_id, value)
        docs[doc_id] = value
    return docs


def wait_until(check: Callable[[], Any], timeout: float, what: str, poll: float = 1.0) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(poll)
    if os.environ.get("ALERTS_DEBUG"):
        print("DEBUG last:", last)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; last: {last!r}")


def _vertices(flink: Flink, job_id: str) -> list[dict[str, Any]]:
    return list(flink.get(f"/jobs/{job_id}")["vertices"])


def _get_list(flink: Flink, path: str) -> list[dict[str, Any]]:
    """A REST path that answers a JSON list (watermarks, metrics)."""
    return cast(list[dict[str, Any]], flink.get(path))


def input_watermarks(flink: Flink, job_id: str) -> dict[str, int]:
    """Each non-source vertex's input watermark (the minimum over its subtasks), by name."""
    out = {}
    for vertex in _vertices(flink, job_id):
        if vertex["name"].startswith("Source"):
            continue
        marks = _get_list(flink, f"/jobs/{job_id}/vertices/{vertex['id']}/watermarks")
        values = [int(m["value"]) for m in marks if m["id"].endswith("currentInputWatermark")]
        out[vertex["name"]] = min(values) if values else -(2**63)
    return out


def wait_watermark(flink: Flink, job_id: str, at_least: int, timeout: float = 60) -> None:
    """Wait until every operator of the job has seen a watermark of at least ``at_least``."""
    wait_until(lambda: min(input_watermarks(flink, job_id).values()) >= at_least, timeout,
               f"the watermark at {at_least} everywhere", poll=0.5)


def late_records_dropped(flink: Flink, job_id: str) -> dict[str, int]:
    """Every operator metric ``numLateRecordsDropped`` of the job (the windows), by id."""
    out = {}
    for vertex in _vertices(flink, job_id):
        path = f"/jobs/{job_id}/vertices/{vertex['id']}/metrics"
        names = [m["id"] for m in _get_list(flink, path)
                 if m["id"].endswith(".numLateRecordsDropped")]
        if names:
            query = urllib.parse.quote(",".join(names), safe=",")
            for metric in _get_list(flink, f"{path}?get={query}"):
                out[metric["id"]] = int(float(metric["value"]))
    return out
