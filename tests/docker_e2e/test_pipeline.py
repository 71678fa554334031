"""The whole pipeline from the images users get, wired with the infra's environment.

Flink (JobManager + TaskManager) runs from the alerts image, the job is submitted by the
alerts image's keeper with the description's own command, the simulator image
replays a scenario into Kafka, the job writes alerts and one-minute aggregates to Kafka, the
indexer (the dashboard image with the described entrypoint) ships both into Elasticsearch,
and the dashboard image serves them. The expected alerts are computed independently by the
pure rules (``alerts.rules``) from the scenario, then compared exactly with what is in
Elasticsearch; the expected aggregates likewise with the ``readings-1m`` topic (keys) and
the index (document ids).
"""

from __future__ import annotations

import json
import threading
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from alerts import config as alerts_config
from alerts import rules
from elasticsearch import Elasticsearch as EsClient
from harness.elasticsearch import Elasticsearch
from harness.kafka import Kafka
from harness.procs import free_port
from iotstack.services import FLINK_CHECKPOINTS_DIR
from kafka import KafkaConsumer

from docker_e2e import engine
from docker_e2e.wiring import (
    aggregates_mismatch,
    app_env,
    apply_index_templates,
    create_stack_topics,
    flink_mounts,
    flink_properties,
    read_topic,
    service_command,
    start_indexer,
)

pytestmark = pytest.mark.services

T0 = 1_700_000_040_000  # a minute boundary
STEP_MS = 5_000
STEPS = 36  # three minutes of event time per sensor


def _temperature(sensor: str, i: int) -> float:
    if sensor == "e2e-hot":  # crosses 80 °C at i=6, back to normal at i=12
        return 20.0 if i < 6 else 90.0 if i < 12 else 50.0
    if sensor == "e2e-cold":  # below -10 °C from i=10 to 15
        return 5.0 if i < 10 else -20.0 if i < 16 else 5.0
    return 21.0 + (i % 2) * 0.5  # e2e-normal: no alert


SENSORS = ("e2e-hot", "e2e-cold", "e2e-normal")


def _scenario() -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for i in range(STEPS):
        for sensor in SENSORS:
            lines.append(
                {
                    "sensor_id": sensor,
                    "site": "plant-e2e",
                    "ts": T0 + i * STEP_MS,
                    "temperature_c": _temperature(sensor, i),
                }
            )
    lines.append({"raw": "{broken json", "key": "e2e-hot"})
    return lines


def _expected_aggregates(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Doc id -> aggregate of every minute the scenario's watermark closes.

    The watermark is the newest event time less the allowed out-of-orderness, so the last
    minute (its readings are the newest) stays open; every other minute is emitted once.
    """
    window = 60_000
    watermark = T0 + (STEPS - 1) * STEP_MS - int(env["WATERMARK_OUT_OF_ORDERNESS_MS"])
    minutes: dict[tuple[str, int], list[float]] = {}
    for line in _scenario():
        if "raw" not in line:
            start = line["ts"] // window * window
            minutes.setdefault((line["sensor_id"], start), []).append(line["temperature_c"])
    return {
        f"{sensor}:{start}": {
            "sensor_id": sensor,
            "site": "plant-e2e",
            "window_start": start,
            "window_end": start + window,
            "count": len(temps),
            "min": min(temps),
            "avg": sum(temps) / len(temps),
            "max": max(temps),
        }
        for (sensor, start), temps in minutes.items()
        if start + window <= watermark
    }


def _expected_alerts(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Final state of every alert, by the pure rules with the job's own settings."""
    cfg = alerts_config.load(env)
    states = {s: rules.SensorState() for s in SENSORS}
    final: dict[str, dict[str, Any]] = {}
    seqs = dict.fromkeys(SENSORS, 0)
    for line in _scenario():
        if "raw" in line:
            continue
        sensor = line["sensor_id"]
        reading = rules.Reading(
            sensor, line["site"], line["ts"], line["temperature_c"], seqs[sensor]
        )
        seqs[sensor] += 1
        for event in rules.on_reading(states[sensor], reading, cfg.rules_for(sensor)):
            final[event["alert_id"]] = event
    return final


class _LiveStream:
    """Reads a Server-Sent Events stream in the background, like an open browser tab."""

    def __init__(self, url: str) -> None:
        self._chunks: list[str] = []
        self._resp = urllib.request.urlopen(url, timeout=300)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for line in self._resp:
                self._chunks.append(line.decode())
        except OSError:
            pass

    def text(self) -> str:
        return "".join(self._chunks)


def _json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.load(resp)


def test_pipeline_from_the_images(
    app_images: engine.AppImages,
    containers: engine.Containers,
    kafka: Kafka,
    elasticsearch: Elasticsearch,
    tmp_path: Path,
) -> None:
    sfx = uuid.uuid4().hex[:6]
    rest_port = free_port()
    rest_url = f"http://127.0.0.1:{rest_port}"
    names = {
        "READINGS_TOPIC": f"e2e-readings-{sfx}",
        "ALERTS_TOPIC": f"e2e-alerts-{sfx}",
        "AGGREGATES_TOPIC": f"e2e-aggs-{sfx}",
        "DEAD_LETTER_TOPIC": f"e2e-dlq-{sfx}",
    }
    indices = {"ALERTS_INDEX": f"e2e-alerts-{sfx}", "AGGREGATES_INDEX": f"e2e-aggs-{sfx}"}
    addresses = {"KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap, "ELASTICSEARCH_URL": elasticsearch.url}
    alerts_env = app_env(
        "alerts-submit",
        KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap,
        **names,
        FLINK_REST_URL=rest_url,
        LATE_TOPIC=f"e2e-late-{sfx}",
        JOB_NAME=f"iot-alerts-e2e-{sfx}",
        KAFKA_GROUP_ID=f"alerts-e2e-{sfx}",
    )
    apply_index_templates(elasticsearch.url, indices["ALERTS_INDEX"], indices["AGGREGATES_INDEX"])
    create_stack_topics(kafka.bootstrap, alerts_env)  # as the stack does, before the job

    # The indexer: the dashboard image with the described entrypoint and health check.
    indexer = start_indexer(
        containers,
        app_images["dashboard"].tag,
        addresses
        | {k: names[k] for k in ("ALERTS_TOPIC", "AGGREGATES_TOPIC", "DEAD_LETTER_TOPIC")}
        | indices
        | {"INDEXER_GROUP_ID": f"indexer-e2e-{sfx}"},
    )

    # Flink from the alerts image: the description's properties with loopback addresses.
    props = flink_properties(rest_port)
    image = app_images["alerts"].tag
    mounts = flink_mounts(containers.prefix)  # checkpoints, shared as in the stack
    jm = containers.run(
        "jobmanager",
        image,
        app_env("jobmanager", FLINK_PROPERTIES=props),
        args=service_command("jobmanager"),
        volumes=mounts,
    )
    tm = containers.run(
        "taskmanager",
        image,
        app_env("taskmanager", FLINK_PROPERTIES=props),
        args=service_command("taskmanager"),
        volumes=mounts,
    )
    engine.poll_until(
        "a TaskManager registered",
        lambda: _json(f"{rest_url}/overview").get("slots-total", 0) > 0,
        180,
        lambda: containers.logs(jm)[-3000:] + containers.logs(tm)[-3000:],
    )

    # The job's keeper: it submits the job, then stays to keep it running.
    submit = containers.run(
        "alerts-submit", image, alerts_env, args=service_command("alerts-submit")
    )
    job_id = engine.wait_job_running(
        rest_url,
        alerts_env["JOB_NAME"],
        400,
        lambda: (
            containers.logs(jm)[-4000:]
            + containers.logs(tm)[-4000:]
            + containers.logs(submit)[-4000:]
        ),
    )
    assert containers.state(submit)["Running"], containers.logs(submit)[-5000:]

    port = free_port()
    dashboard = containers.run(
        "dashboard",
        app_images["dashboard"].tag,
        app_env(
            "dashboard",
            **addresses,
            ALERTS_TOPIC=names["ALERTS_TOPIC"],
            **indices,
            DASHBOARD_BIND=f"127.0.0.1:{port}",
        ),
    )

    base = f"http://127.0.0.1:{port}"
    engine.poll_until(
        "the dashboard healthy",
        lambda: _json(f"{base}/healthz")["status"] == "ok",
        90,
        lambda: containers.logs(dashboard)[-3000:],
    )
    live = _LiveStream(f"{base}/stream/alerts")  # open, as a user's browser would be

    tmp_path.chmod(0o755)
    scenario = tmp_path / "scenario.jsonl"
    scenario.write_text("".join(json.dumps(line) + "\n" for line in _scenario()))
    scenario.chmod(0o644)
    sim = containers.run(
        "simulator",
        app_images["simulator"].tag,
        app_env(
            "simulator",
            KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap,
            READINGS_TOPIC=names["READINGS_TOPIC"],
            SIMULATOR_SCENARIO="/in/scenario.jsonl",
            SIMULATOR_REALTIME="false",
        ),
        volumes=(f"{tmp_path}:/in:ro",),
    )
    assert containers.wait(sim, timeout=180) == 0, containers.logs(sim)

    expected = _expected_alerts(alerts_env)
    assert {a["rule"] for a in expected.values()} >= {"high_temperature", "low_temperature"}
    es = EsClient(elasticsearch.url)

    def stored() -> dict[str, dict[str, Any]] | None:
        if not es.indices.exists(index=indices["ALERTS_INDEX"]):
            return None
        es.indices.refresh(index=indices["ALERTS_INDEX"])
        hits = es.search(index=indices["ALERTS_INDEX"], size=100)["hits"]["hits"]
        docs = {h["_id"]: h["_source"] for h in hits}
        done = set(docs) == set(expected) and all(
            docs[k]["status"] == v["status"] for k, v in expected.items()
        )
        return docs if done else None

    def logs() -> str:
        return (
            f"--- taskmanager ---\n{containers.logs(tm)[-4000:]}\n"
            f"--- indexer ---\n{containers.logs(indexer.container)[-4000:]}"
        )

    docs = engine.poll_until("the expected alerts in Elasticsearch", stored, 240, logs)
    for alert_id, want in expected.items():
        got = docs[alert_id]
        for field in (
            "sensor_id",
            "site",
            "rule",
            "severity",
            "status",
            "started_at",
            "resolved_at",
            "threshold",
        ):
            assert got[field] == want[field], (alert_id, field, got[field], want[field])

    # The aggregates: on the topic under their document ids, and in the index under the same
    # ids with the same values (shipped by the indexer).
    want_aggs = _expected_aggregates(alerts_env)
    assert len(want_aggs) == 2 * len(SENSORS), want_aggs

    def aggregates_shipped() -> dict[str, dict[str, Any]] | None:
        on_topic, mismatch = aggregates_mismatch(
            kafka.bootstrap,
            names["AGGREGATES_TOPIC"],
            elasticsearch.url,
            indices["AGGREGATES_INDEX"],
        )
        return on_topic if set(on_topic) == set(want_aggs) and not mismatch else None

    aggs = engine.poll_until(
        "the expected aggregates on the topic and in Elasticsearch",
        aggregates_shipped,
        120,
        lambda: (
            str(
                aggregates_mismatch(
                    kafka.bootstrap,
                    names["AGGREGATES_TOPIC"],
                    elasticsearch.url,
                    indices["AGGREGATES_INDEX"],
                )
            )
            + "\n"
            + logs()
        ),
    )
    for doc_id, want in want_aggs.items():
        got = aggs[doc_id]
        assert got == want | {"avg": pytest.approx(want["avg"])}, (doc_id, got, want)
    # The aggregates topic is keyed exactly by the document ids (raw UTF-8, no quotes).
    keys = {k for k, _ in read_topic(kafka.bootstrap, names["AGGREGATES_TOPIC"])}
    assert keys == {k.encode() for k in want_aggs}, keys

    dlq = KafkaConsumer(
        alerts_env["DEAD_LETTER_TOPIC"],
        bootstrap_servers=kafka.bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=15_000,
    )
    dead = [json.loads(m.value) for m in dlq]
    dlq.close()
    # Only the job's one dead letter: the indexer rejected nothing.
    assert [d["payload"] for d in dead] == ["{broken json"], dead
    assert dead[0]["reason"]

    listed = _json(f"{base}/api/alerts?status=any&size=100")
    assert {a["alert_id"] for a in listed["alerts"]} == set(expected)

    engine.poll_until(
        "every alert on the open live stream",
        lambda: all(k in live.text() for k in expected),
        45,
        lambda: live.text()[-3000:],
    )
    assert _json(f"{rest_url}/jobs/{job_id}")["state"] == "RUNNING"
    # Not one failover on the way (a job that fails and restarts may still end RUNNING).
    history = _json(f"{rest_url}/jobs/{job_id}/exceptions")["exceptionHistory"]["entries"]
    assert history == [], engine.job_report(rest_url, alerts_env["JOB_NAME"])
    # Checkpoints go to the description's shared volume, not to JobManager memory (5 MiB cap).
    assert _json(f"{rest_url}/jobs/{job_id}/checkpoints/config")["checkpoint_storage"] == (
        "FileSystemCheckpointStorage"
    )
    completed = engine.poll_until(
        "a completed checkpoint",
        lambda: _json(f"{rest_url}/jobs/{job_id}/checkpoints")["latest"]["completed"],
        60,
    )
    checkpoints_dir = FLINK_CHECKPOINTS_DIR.removeprefix("file://")
    assert completed["external_path"].removeprefix("file:").startswith(checkpoints_dir)

    # The indexer stayed healthy and reports Elasticsearch up and nothing left to ship.
    assert containers.state(indexer.container)["Health"]["Status"] == "healthy"  # type: ignore[index]
    health = engine.poll_until(
        "the indexer's lag 0",
        lambda: (h := _json(indexer.health_url))["lag"] == 0 and h,
        60,
        lambda: containers.logs(indexer.container)[-3000:],
    )
    assert health["status"] == "ok" and health["elasticsearch"] == "up", health
