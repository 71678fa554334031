"""A redeploy keeps the job's state: an alert opened before it is resolved after it.

``pulumi up`` after a change re-runs the alerts image's submitter with the description's
own command. Two kinds of redeploy and a reboot, one after the other:

1. settings changed, Flink kept: the replace step stops the running job with a savepoint
   (on the volume the Flink containers and the submitter mount), the new job starts from it;
2. a new alerts image: the JobManager and TaskManager are replaced too and the job dies with
   them; the replace step finds the newest checkpoint it left on the volume;
3. a reboot: the JobManager and TaskManager restart without the job, and `make resubmit`
   starts the existing submitter container again (``docker start --attach``).

Each time a sensor that is hot before and cools down after must resolve the SAME alert; a
job that forgot its state would leave that alert open forever.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from alerts import config as alerts_config
from alerts import rules
from elasticsearch import Elasticsearch as EsClient
from harness.elasticsearch import Elasticsearch
from harness.kafka import Kafka
from harness.procs import free_port
from kafka import KafkaProducer

from docker_e2e import engine
from docker_e2e.engine import http_json
from docker_e2e.wiring import (
    app_env,
    apply_index_templates,
    create_stack_topics,
    flink_mounts,
    flink_properties,
    service_command,
)

pytestmark = pytest.mark.services

T0 = 1_700_000_040_000
STEP_MS = 5_000
SENSORS = ("rd-hot", "rd-steady-1", "rd-steady-2")
# rd-hot is 90 °C in steps 4-11 (alert A), 18-29 (B) and 32-41 (C), 50 °C otherwise.
BEFORE = range(0, 12)  # A opens; then redeploy 1 (savepoint)
MIDDLE = range(12, 24)  # A resolves, B opens; then redeploy 2 (Flink replaced)
AFTER = range(24, 36)  # B resolves, C opens; then a reboot and `make resubmit`
LAST = range(36, 48)  # C resolves


def _reading(sensor: str, i: int) -> dict[str, Any]:
    hot = sensor == "rd-hot" and (4 <= i < 12 or 18 <= i < 30 or 32 <= i < 42)
    temperature = 90.0 if hot else 50.0 if sensor == "rd-hot" else 21.0
    return {
        "schema_version": 1,
        "sensor_id": sensor,
        "site": "plant-rd",
        "ts": T0 + i * STEP_MS,
        "temperature_c": temperature,
        "seq": i,
    }


def _produce(bootstrap: str, topic: str, steps: range) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for i in steps:
        for sensor in SENSORS:
            value = json.dumps(_reading(sensor, i)).encode()
            producer.send(topic, key=sensor.encode(), value=value)
    producer.flush()
    producer.close()


def _expected(env: dict[str, str], steps: range) -> dict[str, dict[str, Any]]:
    """Final state of every alert after ``steps``, by the pure rules (one uninterrupted run)."""
    cfg = alerts_config.load(env)
    states = {s: rules.SensorState() for s in SENSORS}
    final: dict[str, dict[str, Any]] = {}
    for i in steps:
        for sensor in SENSORS:
            r = _reading(sensor, i)
            reading = rules.Reading(sensor, r["site"], r["ts"], r["temperature_c"], r["seq"])
            for event in rules.on_reading(states[sensor], reading, cfg.rules_for(sensor)):
                final[event["alert_id"]] = event
    return final


def _statuses(names: dict[str, str], steps: range) -> dict[str, str]:
    """Alert id -> final status after ``steps``, with the description's rule settings."""
    return {k: e["status"] for k, e in _expected(app_env("alerts-submit", **names), steps).items()}


def _high(statuses: dict[str, str]) -> list[str]:
    """Statuses of rd-hot's high_temperature alerts, oldest episode first."""
    return [v for k, v in sorted(statuses.items()) if ":high_temperature:" in k]


def test_redeploys_resume_the_job_state_and_resolve_the_open_alerts(
    app_images: engine.AppImages,
    containers: engine.Containers,
    kafka: Kafka,
    elasticsearch: Elasticsearch,
) -> None:
    sfx = uuid.uuid4().hex[:6]
    names = {
        "READINGS_TOPIC": f"rd-readings-{sfx}",
        "ALERTS_TOPIC": f"rd-alerts-{sfx}",
        "DEAD_LETTER_TOPIC": f"rd-dlq-{sfx}",
        "LATE_TOPIC": f"rd-late-{sfx}",
        "ALERTS_INDEX": f"rd-alerts-{sfx}",
        "AGGREGATES_INDEX": f"rd-aggs-{sfx}",
        "JOB_NAME": f"iot-alerts-rd-{sfx}",
        "KAFKA_GROUP_ID": f"alerts-rd-{sfx}",
    }
    apply_index_templates(elasticsearch.url, names["ALERTS_INDEX"], names["AGGREGATES_INDEX"])
    create_stack_topics(kafka.bootstrap, names)
    image = app_images["alerts"].tag
    mounts = flink_mounts(containers.prefix)  # kept across the Flink replacement, as a volume

    def start_flink(generation: int) -> str:
        """JobManager + TaskManager from the alerts image; returns the REST URL."""
        rest_port = free_port()
        props = flink_properties(rest_port)
        for role in ("jobmanager", "taskmanager"):
            containers.run(
                f"{role}-{generation}",
                image,
                app_env(role, FLINK_PROPERTIES=props),
                args=service_command(role),
                volumes=mounts,
            )
        return f"http://127.0.0.1:{rest_port}"

    def submitter_env(rest_url: str) -> dict[str, str]:
        return app_env(
            "alerts-submit",
            KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap,
            ELASTICSEARCH_URL=elasticsearch.url,
            FLINK_REST_URL=rest_url,
            **names,
        )

    def deploy(n: int, rest_url: str) -> tuple[str, str]:
        """One `pulumi up` of the submitter (the description's command and volume, to
        completion); returns its log and the id of the job then RUNNING."""
        submit = containers.run(
            f"alerts-submit-{n}",
            image,
            submitter_env(rest_url),
            args=service_command("alerts-submit"),
            volumes=mounts,
        )
        assert containers.wait(submit, timeout=400) == 0, containers.logs(submit)[-5000:]
        log = containers.logs(submit)
        return log, engine.wait_job_running(rest_url, names["JOB_NAME"], 60)

    es = EsClient(elasticsearch.url)

    def alerts() -> dict[str, str]:
        """Alert id -> status, as stored in Elasticsearch."""
        if not es.indices.exists(index=names["ALERTS_INDEX"]):
            return {}
        es.indices.refresh(index=names["ALERTS_INDEX"])
        hits = es.search(index=names["ALERTS_INDEX"], size=100)["hits"]["hits"]
        return {h["_id"]: h["_source"]["status"] for h in hits}

    def until_stored(what: str, want: dict[str, str], rest_url: str) -> None:
        engine.poll_until(
            what,
            lambda: alerts() == want,
            180,
            lambda: f"in Elasticsearch: {alerts()}\n"
            + engine.job_report(rest_url, names["JOB_NAME"]),
        )

    def checkpoint_from_now(rest_url: str, job: str, what: str) -> None:
        """Wait for a checkpoint of ``job`` triggered from now on (so it holds ``what``)."""
        now_ms = time.time() * 1000
        engine.poll_until(
            f"a checkpoint after {what}",
            lambda: (
                (done := http_json(f"{rest_url}/jobs/{job}/checkpoints")["latest"]["completed"])
                and done["trigger_timestamp"] > now_ms
            ),
            60,
        )

    # First deploy: a new cluster, nothing to restore.
    rest_url = start_flink(1)
    log, first = deploy(1, rest_url)
    assert "a new JobManager; restoring from nothing" in log, log[-2000:]
    _produce(kafka.bootstrap, names["READINGS_TOPIC"], BEFORE)
    before = _statuses(names, BEFORE)  # every alert the rules give, compared exactly
    assert _high(before) == ["open"]  # alert A
    until_stored("alert A open", before, rest_url)

    # Redeploy 1: only the job is replaced, from a savepoint.
    log, second = deploy(2, rest_url)
    assert f"stopped {first} with savepoint file:/opt/flink/data/savepoints/" in log, log[-3000:]
    assert "restored from file:/opt/flink/data/savepoints/" in log, log[-3000:]
    assert second != first
    assert http_json(f"{rest_url}/jobs/{first}")["state"] == "FINISHED"  # stopped, not failed
    restored = http_json(f"{rest_url}/jobs/{second}/checkpoints")["latest"]["restored"]
    assert restored and restored["is_savepoint"], restored
    _produce(kafka.bootstrap, names["READINGS_TOPIC"], MIDDLE)
    middle = _statuses(names, range(BEFORE.start, MIDDLE.stop))
    assert _high(middle) == ["resolved", "open"] and set(before) < set(middle)  # A, B
    until_stored("alert A resolved by the restored job, alert B open", middle, rest_url)

    # Redeploy 2: a new image replaces the Flink containers; the job dies with them after a
    # checkpoint that holds alert B (taken after B was seen stored).
    checkpoint_from_now(rest_url, second, "alert B")
    for role in ("jobmanager-1", "taskmanager-1"):  # as the Docker provider replaces them
        engine.docker("stop", "-t", "10", f"{containers.prefix}-{role}")
        engine.docker("rm", f"{containers.prefix}-{role}")
    rest_url = start_flink(2)
    log, third = deploy(3, rest_url)
    assert "a new JobManager; restoring from file:/opt/flink/data/checkpoints/" in log, log[-3000:]
    assert f"/{second}/chk-" in log, log[-3000:]
    restored = http_json(f"{rest_url}/jobs/{third}/checkpoints")["latest"]["restored"]
    # (Flink reports any -s restore as is_savepoint; the path says it was a checkpoint.)
    assert restored and f"/checkpoints/{second}/chk-" in restored["external_path"], restored
    _produce(kafka.bootstrap, names["READINGS_TOPIC"], AFTER)
    after = _statuses(names, range(BEFORE.start, AFTER.stop))
    assert set(middle) < set(after) and _high(after) == ["resolved", "resolved", "open"]
    until_stored("alert B resolved by the job restored from a checkpoint, C open", after, rest_url)

    # A reboot: Flink restarts (same containers, same addresses) and forgets its job; the
    # last submitter container is started again, as `make resubmit` does.
    checkpoint_from_now(rest_url, third, "alert C")
    for role in ("jobmanager-2", "taskmanager-2"):
        engine.docker("restart", "-t", "10", f"{containers.prefix}-{role}")
    again = engine.docker(
        "start", "--attach", f"{containers.prefix}-alerts-submit-3", timeout=400, check=False
    )
    log = again.stdout + again.stderr
    assert again.returncode == 0, log[-3000:]
    assert f"restoring from file:/opt/flink/data/checkpoints/{third}/chk-" in log, log[-3000:]
    fourth = engine.wait_job_running(rest_url, names["JOB_NAME"], 60)
    _produce(kafka.bootstrap, names["READINGS_TOPIC"], LAST)
    last = _statuses(names, range(BEFORE.start, LAST.stop))
    assert set(last) == set(after) and _high(last) == ["resolved"] * 3
    until_stored("alert C resolved after the reboot", last, rest_url)
    assert fourth != third
