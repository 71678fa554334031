"""Stop the job with a savepoint while readings keep arriving, restore: nothing lost or doubled."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from typing import Any

import pytest
from kafka import KafkaProducer

from alerts.config import load
from alerts.rules import Reading, SensorState, on_reading
from alerts_helpers import (
    aggregate_docs,
    alert_docs,
    consume_all,
    job_settings,
    prepare,
    reading,
    start_job,
    stop_with_savepoint,
    wait_until,
)
from harness.flink import Flink
from harness.kafka import Kafka

pytestmark = pytest.mark.services

T0 = 1_700_000_040_000
SENSORS = [f"r-{n:02d}" for n in range(10)]
PER_SENSOR = 240  # one reading per second of event time: four minutes
RATE = 60.0  # messages per second of wall time: ~40 s of input, spanning the restart
SETTINGS = {"WATERMARK_OUT_OF_ORDERNESS_MS": "2000", "ALLOWED_LATENESS_MS": "5000",
            "SOURCE_IDLE_TIMEOUT_MS": "5000", "CHECKPOINT_INTERVAL_MS": "2000",
            "SILENCE_SECONDS": "30"}


def temperature(sensor: int, i: int) -> float:
    """Episodes above 80 °C of varying length, so alerts open and resolve all along."""
    return 90.0 if (i // (7 + sensor)) % 3 == 0 else 20.0 + (i % 5) * 0.3


def messages() -> list[tuple[str, int, float, int]]:
    """(sensor, ts, temperature, seq), sensors interleaved, each in its own order."""
    return [(s, T0 + i * 1000, temperature(n, i), i)
            for i in range(PER_SENSOR) for n, s in enumerate(SENSORS)]


def expected_events() -> list[dict[str, Any]]:
    """The rules applied to each sensor's sequence: the oracle tested in test_alerts_rules."""
    cfg = load(SETTINGS)
    states = {s: SensorState() for s in SENSORS}
    events: list[dict[str, Any]] = []
    for sensor, ts, temp, seq in messages():
        events += on_reading(states[sensor], Reading(sensor, "plant-a", ts, temp, seq),
                             cfg.rules_for(sensor))
    return events


def _produce(bootstrap: str, topic: str, done: threading.Event) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all",
                             max_in_flight_requests_per_connection=1)
    try:
        for k, (sensor, ts, temp, seq) in enumerate(messages()):
            producer.send(topic, key=sensor.encode(), value=reading(sensor, ts, temp, seq))
            if k % 10 == 9:
                producer.flush()
                time.sleep(10 / RATE)
    finally:
        producer.flush()
        producer.close()
        done.set()


# Flink's names for STATE_BACKEND's values (the REST API's checkpoints/config)
BACKEND_NAMES = {"rocksdb": "EmbeddedRocksDBStateBackend", "hashmap": "HashMapStateBackend"}


@pytest.mark.parametrize(
    ("before", "after"),
    [("rocksdb", "rocksdb"),  # the default
     ("rocksdb", "hashmap")],  # STATE_BACKEND changed across the savepoint (README, Settings)
)
def test_stop_with_savepoint_and_restore_loses_and_doubles_nothing(
    flink: Flink, kafka: Kafka, before: str, after: str
) -> None:
    settings = job_settings(kafka.bootstrap, flink.rest_url, **SETTINGS, STATE_BACKEND=before)
    prepare(settings)
    job_id = start_job(flink, settings)
    backend = flink.get(f"/jobs/{job_id}/checkpoints/config")["state_backend"]
    assert backend == BACKEND_NAMES[before], backend
    finished = threading.Event()
    producer = threading.Thread(
        target=_produce, args=(kafka.bootstrap, settings["READINGS_TOPIC"], finished))
    producer.start()
    restored = None
    try:
        wait_until(lambda: len(alert_docs(kafka.bootstrap, settings["ALERTS_TOPIC"], 1000)) >= 5,
                   120, "the first alerts")
        savepoint = stop_with_savepoint(flink, job_id)
        assert not finished.is_set(), "input must still be arriving during the restart"
        time.sleep(2)  # readings pile up while no job runs
        settings = {**settings, "STATE_BACKEND": after}
        restored = start_job(flink, settings, savepoint=savepoint)
        restore_info = flink.get(f"/jobs/{restored}/checkpoints")["latest"]["restored"]
        assert restore_info and restore_info["is_savepoint"], restore_info
        backend = flink.get(f"/jobs/{restored}/checkpoints/config")["state_backend"]
        assert backend == BACKEND_NAMES[after], backend
        producer.join(timeout=300)
        assert finished.is_set()

        events = expected_events()
        final = {e["alert_id"]: e for e in events}  # the last event of an id is its state
        assert len(final) > 20

        def all_there() -> dict[str, dict[str, Any]] | None:
            docs = alert_docs(kafka.bootstrap, settings["ALERTS_TOPIC"])
            return docs if docs == final else None

        wait_until(all_there, 120, "the expected alerts (last event per id) after the restore")
        got = Counter((v["alert_id"], v["status"])
                      for _, v in consume_all(kafka.bootstrap, settings["ALERTS_TOPIC"]))
        assert got == Counter((e["alert_id"], e["status"]) for e in events), \
            "each alert event exactly once on the alerts topic"

        # Minutes closed by the watermark hold every reading exactly once.
        last_ts = T0 + (PER_SENSOR - 1) * 1000
        closed = [T0 + m * 60_000 for m in range(4) if T0 + (m + 1) * 60_000 + 2000 <= last_ts]
        want = {f"{s}:{start}": 60 for s in SENSORS for start in closed}

        def counts() -> dict[str, int] | None:
            docs = aggregate_docs(kafka.bootstrap, settings["AGGREGATES_TOPIC"])
            got = {k: v["count"] for k, v in docs.items()}
            return got if got == want else None

        wait_until(counts, 60, f"aggregates {json.dumps(want)[:200]}")
    finally:
        finished.wait(timeout=120)
        for jid in (job_id, restored):
            if jid is not None and flink.job_state(jid) not in ("FINISHED", "CANCELED", "FAILED"):
                flink.cancel(jid)
