"""The app images, built from their own Dockerfiles, run with the infra's environment."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch as EsClient
from harness.elasticsearch import Elasticsearch
from harness.kafka import Kafka
from harness.procs import free_port
from kafka import KafkaConsumer, KafkaProducer

from docker_e2e import engine
from docker_e2e.wiring import (
    app_env,
    apply_index_templates,
    create_stack_topics,
    es_documents,
    read_topic,
    start_indexer,
)

pytestmark = pytest.mark.services

# One open alert (docs/contracts.md), as the job writes it: the dashboard and the indexer
# container tests both start from it.
OPEN_ALERT: dict[str, Any] = {
    "alert_id": "sensor-0042:high_temperature:1700000000000",
    "sensor_id": "sensor-0042",
    "site": "plant-b",
    "rule": "high_temperature",
    "severity": "critical",
    "status": "open",
    "value": 91.5,
    "threshold": 80.0,
    "started_at": 1_700_000_000_000,
    "resolved_at": None,
    "updated_at": 1_700_000_000_000,
    "message": "temperature 91.5 °C above 80.0 °C",
}


def test_images_build_and_run_as_non_root(app_images: engine.AppImages) -> None:
    print("\nimage                          build s   size MB   user")
    for image in (app_images[app] for app in engine.APPS):
        print(f"{image.tag:30} {image.build_s:7.1f} {image.size_mb:9.0f}   {image.user}")
        uid = engine.docker("run", "--rm", "--entrypoint", "id", image.tag, "-u").stdout.strip()
        assert uid != "0", f"{image.app} runs as root"


def test_simulator_container_replays_a_scenario_into_kafka(
    app_images: engine.AppImages,
    containers: engine.Containers,
    kafka: Kafka,
    tmp_path: Path,
) -> None:
    topic = f"e2e-readings-{uuid.uuid4().hex[:6]}"
    lines = [
        {
            "sensor_id": "sensor-0001",
            "site": "plant-a",
            "ts": 1_700_000_000_000 + i * 1000,
            "temperature_c": 20.0 + i,
        }
        for i in range(5)
    ] + [{"raw": "not json at all", "key": "sensor-0001"}]
    tmp_path.chmod(0o755)
    (tmp_path / "scenario.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    (tmp_path / "scenario.jsonl").chmod(0o644)
    env = app_env(
        "simulator",
        KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap,
        READINGS_TOPIC=topic,
        SIMULATOR_SCENARIO="/scenario/scenario.jsonl",
        SIMULATOR_REALTIME="false",
    )
    name = containers.run(
        "simulator", app_images["simulator"].tag, env, volumes=(f"{tmp_path}:/scenario:ro",)
    )
    assert containers.wait(name, timeout=180) == 0, containers.logs(name)

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka.bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=10_000,
    )
    values = [m.value.decode() for m in consumer]
    consumer.close()
    assert len(values) == 6
    readings = [json.loads(v) for v in values[:5]]
    assert [r["temperature_c"] for r in readings] == [20.0, 21.0, 22.0, 23.0, 24.0]
    assert [r["seq"] for r in readings] == [0, 1, 2, 3, 4]
    assert all(r["schema_version"] == 1 and r["sensor_id"] == "sensor-0001" for r in readings)
    assert values[5] == "not json at all"


def _get_json(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def test_dashboard_container_serves_alerts_and_streams_them(
    app_images: engine.AppImages,
    containers: engine.Containers,
    kafka: Kafka,
    elasticsearch: Elasticsearch,
) -> None:
    suffix = uuid.uuid4().hex[:6]
    port = free_port()
    env = app_env(
        "dashboard",
        KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap,
        ELASTICSEARCH_URL=elasticsearch.url,
        ALERTS_TOPIC=f"e2e-alerts-{suffix}",
        ALERTS_INDEX=f"e2e-alerts-{suffix}",
        AGGREGATES_INDEX=f"e2e-aggs-{suffix}",
        DASHBOARD_BIND=f"127.0.0.1:{port}",
    )
    alert: dict[str, Any] = dict(OPEN_ALERT)
    apply_index_templates(elasticsearch.url, env["ALERTS_INDEX"], env["AGGREGATES_INDEX"])
    es = EsClient(elasticsearch.url)
    es.index(index=env["ALERTS_INDEX"], id=alert["alert_id"], document=alert, refresh=True)
    name = containers.run("dashboard", app_images["dashboard"].tag, env)
    base = f"http://127.0.0.1:{port}"

    deadline = time.monotonic() + 90
    status, health = 0, dict[str, Any]()
    while time.monotonic() < deadline:
        try:
            status, health = _get_json(f"{base}/healthz")
            if health.get("status") == "ok":
                break
        except OSError:
            pass
        time.sleep(0.5)
    assert health.get("status") == "ok", f"{health}\n{containers.logs(name)}"

    status, body = _get_json(f"{base}/api/alerts?status=any")
    assert status == 200, body
    assert [a["alert_id"] for a in body["alerts"]] == [alert["alert_id"]]

    live: dict[str, Any] = dict(
        alert,
        alert_id="sensor-0043:high_temperature:1700000005000",
        sensor_id="sensor-0043",
        started_at=1_700_000_005_000,
    )
    with urllib.request.urlopen(f"{base}/stream/alerts", timeout=30) as stream:
        producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all")
        producer.send(env["ALERTS_TOPIC"], key=b"sensor-0043", value=json.dumps(live).encode())
        producer.flush()
        producer.close()
        seen = ""
        stop = time.monotonic() + 30
        while live["alert_id"] not in seen and time.monotonic() < stop:
            seen += stream.readline().decode()
    assert live["alert_id"] in seen, seen[-2000:]


def test_indexer_container_ships_both_topics_into_elasticsearch(
    app_images: engine.AppImages,
    containers: engine.Containers,
    kafka: Kafka,
    elasticsearch: Elasticsearch,
) -> None:
    """The dashboard image with the described entrypoint and health check: alerts by
    ``alert_id`` (the latest event wins), aggregates by record key (a tombstone deletes),
    malformed records dead-lettered with a reason, under their own keys."""
    suffix = uuid.uuid4().hex[:6]
    topics = {
        key: f"e2e-{name}-{suffix}"
        for key, name in (
            ("READINGS_TOPIC", "readings"),
            ("ALERTS_TOPIC", "alerts"),
            ("AGGREGATES_TOPIC", "aggs"),
            ("DEAD_LETTER_TOPIC", "dlq"),
            ("LATE_TOPIC", "late"),
        )
    }
    indices = {"ALERTS_INDEX": f"e2e-alerts-{suffix}", "AGGREGATES_INDEX": f"e2e-aggs-{suffix}"}
    create_stack_topics(kafka.bootstrap, topics)
    apply_index_templates(elasticsearch.url, indices["ALERTS_INDEX"], indices["AGGREGATES_INDEX"])
    indexer = start_indexer(
        containers,
        app_images["dashboard"].tag,
        {
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
            "ELASTICSEARCH_URL": elasticsearch.url,
            "ALERTS_TOPIC": topics["ALERTS_TOPIC"],
            "AGGREGATES_TOPIC": topics["AGGREGATES_TOPIC"],
            "DEAD_LETTER_TOPIC": topics["DEAD_LETTER_TOPIC"],
            "INDEXER_GROUP_ID": f"indexer-e2e-{suffix}",
        }
        | indices,
    )
    opened: dict[str, Any] = dict(OPEN_ALERT)
    resolved = opened | {
        "status": "resolved",
        "resolved_at": 1_700_000_060_000,
        "updated_at": 1_700_000_060_000,
    }
    aggregate = {
        "sensor_id": "sensor-0042",
        "site": "plant-b",
        "window_start": 1_700_000_040_000,
        "window_end": 1_700_000_100_000,
        "count": 12,
        "min": 20.5,
        "avg": 50.25,
        "max": 91.5,
    }
    agg_id = "sensor-0042:1700000040000"
    gone_id = "sensor-0042:1700000100000"  # indexed, then deleted by a tombstone
    records: list[tuple[str, bytes | None, bytes | None]] = [
        (topics["ALERTS_TOPIC"], b"sensor-0042", json.dumps(opened).encode()),
        (topics["ALERTS_TOPIC"], b"sensor-0042", json.dumps(resolved).encode()),
        (topics["ALERTS_TOPIC"], b"sensor-0043", b"not json"),
        (topics["AGGREGATES_TOPIC"], agg_id.encode(), json.dumps(aggregate).encode()),
        (topics["AGGREGATES_TOPIC"], gone_id.encode(), json.dumps(aggregate).encode()),
        (topics["AGGREGATES_TOPIC"], gone_id.encode(), None),
        (topics["AGGREGATES_TOPIC"], b"sensor-0044:1700000040000", b"[1, 2]"),
    ]
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all")
    futures = [producer.send(topic, key=key, value=value) for topic, key, value in records]
    producer.flush()
    for future in futures:
        future.get(timeout=30)
    producer.close()

    def shipped() -> bool:
        return es_documents(elasticsearch.url, indices["ALERTS_INDEX"]) == {
            opened["alert_id"]: resolved
        } and es_documents(elasticsearch.url, indices["AGGREGATES_INDEX"]) == {agg_id: aggregate}

    engine.poll_until(
        "the alert and the aggregate in Elasticsearch",
        shipped,
        90,
        lambda: containers.logs(indexer.container)[-3000:],
    )
    letters = engine.poll_until(
        "two dead letters",
        lambda: (
            d if len(d := read_topic(kafka.bootstrap, topics["DEAD_LETTER_TOPIC"])) >= 2 else None
        ),
        60,
        lambda: containers.logs(indexer.container)[-3000:],
    )
    dead = sorted((json.loads(v or b"{}") for _, v in letters), key=lambda d: d["source_topic"])
    assert [(d["source_topic"], d["payload"]) for d in dead] == [
        (topics["AGGREGATES_TOPIC"], "[1, 2]"),
        (topics["ALERTS_TOPIC"], "not json"),
    ], dead
    assert sorted(k for k, _ in letters) == [b"sensor-0043", b"sensor-0044:1700000040000"]
    assert all(d["reason"] and d["failed_at"] > 0 for d in dead), dead

    health = engine.poll_until(
        "the indexer's /healthz: ok, Elasticsearch up, lag 0",
        lambda: (h := _get_json(indexer.health_url)[1])["lag"] == 0 and h,
        30,
        lambda: containers.logs(indexer.container)[-3000:],
    )
    assert health["status"] == "ok" and health["elasticsearch"] == "up", health
