"""The simulator as a process against the harness's real Kafka (both modes where it matters)."""

from __future__ import annotations

import itertools
import signal
import subprocess
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from kafka.partitioner.default import murmur2

from simulator import codec
from simulator.config import AnomalyRates
from simulator.sensors import make_fleet
from simulator.stream import Stream, StreamSpec
from simulator_helpers import (
    command,
    create_topic,
    read_jsonl,
    read_topic,
    run_simulator,
    simulator_env,
    unique_topic,
)

pytestmark = pytest.mark.services

START = 1_732_250_000_000
PARTITIONS = 3
NO_ANOMALIES = {
    f"SIMULATOR_{kind}_RATE": 0
    for kind in (
        "SPIKE",
        "DRIFT",
        "STUCK",
        "DROPOUT",
        "OUT_OF_ORDER",
        "LATE",
        "DUPLICATE",
        "MALFORMED",
    )
}
RATES = {
    "SIMULATOR_SPIKE_RATE": 0.01,
    "SIMULATOR_DRIFT_RATE": 0.001,
    "SIMULATOR_STUCK_RATE": 0.001,
    "SIMULATOR_DROPOUT_RATE": 0.001,
    "SIMULATOR_OUT_OF_ORDER_RATE": 0.01,
    "SIMULATOR_LATE_RATE": 0.003,
    "SIMULATOR_DUPLICATE_RATE": 0.01,
    "SIMULATOR_MALFORMED_RATE": 0.005,
}


def expected_partition(key: bytes) -> int:
    """The Java client's default partition for ``key`` (what every consumer can rely on)."""
    return (int(murmur2(key)) & 0x7FFFFFFF) % PARTITIONS


def fresh_topic(bootstrap: str, prefix: str) -> str:
    topic = unique_topic(prefix)
    create_topic(bootstrap, topic, PARTITIONS)
    return topic


def simulate(bootstrap: str, topic: str, log: Path, **settings: object) -> None:
    """Run the simulator to completion as fast as it can; fail with its stderr otherwise."""
    base: dict[str, object] = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "READINGS_TOPIC": topic,
        "SIMULATOR_REALTIME": "false",
        "SIMULATOR_START_TS": START,
        "SIMULATOR_ANOMALY_LOG": log,
        "SIMULATOR_CONNECT_TIMEOUT_S": 30,
    }
    base.update(settings)
    result = run_simulator(timeout=300, **base)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("mode", ["kafka", "kafka_kraft"])
def test_exact_count_keys_schema_and_order(
    mode: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    bootstrap = request.getfixturevalue(mode).bootstrap
    topic = fresh_topic(bootstrap, "sim-count")
    simulate(
        bootstrap,
        topic,
        tmp_path / "log.jsonl",
        SIMULATOR_COUNT=6000,
        SIMULATOR_SENSORS=24,
        SIMULATOR_RATE=1000,
        SIMULATOR_SEED=5,
        **NO_ANOMALIES,
    )

    records = read_topic(bootstrap, topic)
    assert len(records) == 6000
    per_sensor: dict[str, list[codec.Reading]] = defaultdict(list)
    for record in records:
        reading = codec.decode(record.value)  # raises on any schema violation
        assert record.key == reading.sensor_id.encode()
        assert record.partition == expected_partition(record.key)
        per_sensor[reading.sensor_id].append(reading)
    assert sorted(per_sensor) == [f"sensor-{i:04d}" for i in range(24)]
    for readings in per_sensor.values():
        # each sensor: 250 readings, in order, 24 ms apart in event time
        assert [r.seq for r in readings] == list(range(250))
        assert all(b.ts - a.ts == 24 for a, b in itertools.pairwise(readings))
    log = read_jsonl(tmp_path / "log.jsonl")
    assert [r["kind"] for r in log] == ["run", "summary"]
    assert log[-1]["sent"] == log[-1]["acked"] == 6000 and log[-1]["errors"] == 0


def test_same_seed_same_stream(kafka: Any, tmp_path: Path) -> None:
    settings: dict[str, object] = {
        "SIMULATOR_COUNT": 8000,
        "SIMULATOR_SENSORS": 40,
        "SIMULATOR_RATE": 400,
        "SIMULATOR_EPISODE_S": 3,
        "SIMULATOR_DROPOUT_S": 3,
        "SIMULATOR_LATE_S": 5,
        **RATES,
    }
    streams = []
    logs = []
    for run, seed in enumerate((21, 21, 22)):
        topic = fresh_topic(kafka.bootstrap, f"sim-seed{run}")
        log = tmp_path / f"log{run}.jsonl"
        simulate(kafka.bootstrap, topic, log, SIMULATOR_SEED=seed, **settings)
        streams.append([(r.partition, r.key, r.value) for r in read_topic(kafka.bootstrap, topic)])
        logs.append(read_jsonl(log))
    assert streams[0] == streams[1] and logs[0] == logs[1]
    assert len(logs[0]) > 20  # anomalies were injected, and identically
    assert streams[2] != streams[0]


def test_anomalies_in_kafka_match_the_side_log_and_the_rates(kafka: Any, tmp_path: Path) -> None:
    topic = fresh_topic(kafka.bootstrap, "sim-anomalies")
    slots = 40_000
    simulate(
        kafka.bootstrap,
        topic,
        tmp_path / "log.jsonl",
        SIMULATOR_COUNT=slots,
        SIMULATOR_SENSORS=40,
        SIMULATOR_RATE=400,
        SIMULATOR_SEED=8,
        SIMULATOR_EPISODE_S=2,
        SIMULATOR_DROPOUT_S=3,
        SIMULATOR_LATE_S=4,
        **RATES,
    )
    log = read_jsonl(tmp_path / "log.jsonl")
    summary = log[-1]
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in log[1:-1]:
        by_kind[entry["kind"]].append(entry)

    # What a consumer sees, derived from Kafka alone.
    records = read_topic(kafka.bootstrap, topic)
    assert len(records) == summary["sent"] == summary["acked"]
    copies: Counter[tuple[str, int]] = Counter()
    malformed: list[str] = []
    newest: dict[str, int] = {}
    overtaken: set[tuple[str, int]] = set()
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        try:
            reading = codec.decode(record.value)
        except ValueError:
            malformed.append(record.value.decode())
            continue
        copies[(reading.sensor_id, reading.seq)] += 1
        if copies[(reading.sensor_id, reading.seq)] == 1:
            if reading.seq < newest.get(reading.sensor_id, -1):
                overtaken.add((reading.sensor_id, reading.seq))
            newest[reading.sensor_id] = max(newest.get(reading.sensor_id, -1), reading.seq)
    duplicated = {key for key, n in copies.items() if n > 1}

    assert sorted(malformed) == sorted(r["payload"] for r in by_kind["malformed"])
    assert duplicated == {(r["sensor_id"], r["seq"]) for r in by_kind["duplicate"]}
    assert overtaken == {
        (r["sensor_id"], r["seq"])
        for r in by_kind["out_of_order"] + by_kind["late"]
        if r["overtaken"]
    }
    assert len(copies) == summary["readings"] == slots - summary["dropped_slots"]
    for sensor in newest:  # no reading lost: every sensor's seqs are 0..n-1
        assert {s for (name, s) in copies if name == sensor} == set(range(newest[sensor] + 1))

    # The injected counts at the configured rates (5 sigma; episodes take slots out of the draw).
    busy = sum(
        r.get("readings", r.get("missing", 0)) - 1
        for kind in ("drift", "stuck", "dropout")
        for r in by_kind[kind]
    )
    draws = slots - busy
    for variable, p in RATES.items():
        kind = variable.removeprefix("SIMULATOR_").removesuffix("_RATE").lower()
        observed = len(by_kind[kind])
        tolerance = 5 * (draws * p * (1 - p)) ** 0.5 + 1
        assert abs(observed - draws * p) <= tolerance, (kind, observed, draws * p)


SCENARIO = """\
# threshold crossed and recovered, a duplicate, malformed input, a late reading
{"sensor_id": "sensor-0001", "site": "plant-a", "offset_ms": 0, "temperature_c": 21.5}
{"sensor_id": "sensor-0002", "site": "plant-b", "offset_ms": 0, "temperature_c": 19.0}
{"sensor_id": "sensor-0001", "site": "plant-a", "offset_ms": 1000, "temperature_c": 85.25}
{"sensor_id": "sensor-0001", "site": "plant-a", "offset_ms": 1000, "temperature_c": 85.25, "seq": 1}
{"sensor_id": "sensor-0003", "site": "plant-c", "ts": 1732250001500, "temperature_c": -5}
{"raw": "sensor-0002;not json", "key": "sensor-0002"}
{"raw": "{\\"schema_version\\": 2}", "key": "sensor-0003"}
{"sensor_id": "sensor-0001", "site": "plant-a", "offset_ms": 2000, "temperature_c": 22.0}
{"sensor_id": "sensor-0002", "site": "plant-b", "offset_ms": 500, "temperature_c": 19.5}
{"raw": "no key at all"}
"""


def test_scenario_replay_is_exact(kafka: Any, tmp_path: Path) -> None:
    path = tmp_path / "scenario.jsonl"
    path.write_text(SCENARIO, encoding="utf-8")
    topic = fresh_topic(kafka.bootstrap, "sim-scenario")
    simulate(kafka.bootstrap, topic, tmp_path / "log.jsonl", SIMULATOR_SCENARIO=path)

    def reading(sensor: str, site: str, ts: int, temperature: float, seq: int) -> bytes:
        return codec.encode(codec.Reading(sensor, site, ts, temperature, seq))

    expected = [
        (b"sensor-0001", reading("sensor-0001", "plant-a", START, 21.5, 0)),
        (b"sensor-0002", reading("sensor-0002", "plant-b", START, 19.0, 0)),
        (b"sensor-0001", reading("sensor-0001", "plant-a", START + 1000, 85.25, 1)),
        (b"sensor-0001", reading("sensor-0001", "plant-a", START + 1000, 85.25, 1)),
        (b"sensor-0003", reading("sensor-0003", "plant-c", 1732250001500, -5.0, 0)),
        (b"sensor-0002", b"sensor-0002;not json"),
        (b"sensor-0003", b'{"schema_version": 2}'),
        (b"sensor-0001", reading("sensor-0001", "plant-a", START + 2000, 22.0, 2)),
        (b"sensor-0002", reading("sensor-0002", "plant-b", START + 500, 19.5, 1)),
    ]
    records = read_topic(kafka.bootstrap, topic)
    keyed = [r for r in records if r.key is not None]
    for partition in range(PARTITIONS):
        got = [(r.key, r.value) for r in keyed if r.partition == partition]
        assert got == [m for m in expected if expected_partition(m[0]) == partition]
    assert [r.value for r in records if r.key is None] == [b"no key at all"]
    assert read_jsonl(tmp_path / "log.jsonl")[-1] == {
        "kind": "summary",
        "sent": 10,
        "acked": 10,
        "errors": 0,
    }


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_mid_stream_loses_nothing_acknowledged(
    kafka: Any, tmp_path: Path, signum: signal.Signals
) -> None:
    topic = fresh_topic(kafka.bootstrap, "sim-sigterm")
    log_path = tmp_path / "log.jsonl"
    settings: dict[str, object] = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "READINGS_TOPIC": topic,
        "SIMULATOR_SENSORS": 50,
        "SIMULATOR_RATE": 5000,
        "SIMULATOR_REALTIME": "true",
        "SIMULATOR_SEED": 3,
        "SIMULATOR_START_TS": START,
        "SIMULATOR_ANOMALY_LOG": log_path,
        "SIMULATOR_PROGRESS_S": 0.5,
        **NO_ANOMALIES,
    }
    proc = subprocess.Popen(
        command(),
        env=simulator_env(**settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        # wait until Kafka holds part of the stream, then interrupt it mid-flight
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
            if len(read_topic(kafka.bootstrap, topic)) > 2000:
                break
        assert proc.poll() is None, "the simulator ended before it was signalled"
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr[-3000:]
    assert f"received {signum.name}" in stderr and "Traceback" not in stderr
    summary = read_jsonl(log_path)[-1]
    assert summary["sent"] == summary["acked"] > 2000 and summary["errors"] == 0

    # Kafka holds exactly the first `acked` messages of the seeded stream, nothing else.
    records = read_topic(kafka.bootstrap, topic)
    spec = StreamSpec(
        seed=3,
        sensors=tuple(make_fleet(3, 50, 4)),
        rate=5000,
        start_ts=START,
        count=summary["acked"],
        rates=AnomalyRates(0, 0, 0, 0, 0, 0, 0, 0),
    )
    expected = list(Stream(spec))
    for partition in range(PARTITIONS):
        got = [(r.key, r.value) for r in records if r.partition == partition]
        assert got == [m for m in expected if expected_partition(m[0]) == partition]
    assert len(records) == summary["acked"]


def test_realtime_pacing_and_duration(kafka: Any, tmp_path: Path) -> None:
    topic = fresh_topic(kafka.bootstrap, "sim-paced")
    started = time.monotonic()
    simulate(
        kafka.bootstrap,
        topic,
        tmp_path / "log.jsonl",
        SIMULATOR_REALTIME="true",
        SIMULATOR_RATE=200,
        SIMULATOR_SENSORS=10,
        SIMULATOR_DURATION_S=4,
        SIMULATOR_SEED=1,
        **NO_ANOMALIES,
    )
    elapsed = time.monotonic() - started
    sent = read_jsonl(tmp_path / "log.jsonl")[-1]["acked"]
    # paced: never ahead of 200/s (one check interval of slack), and it ran for its duration
    assert sent <= 200 * 4 + 2
    assert sent >= 200 * 4 * 0.5
    assert elapsed >= 4
    assert len(read_topic(kafka.bootstrap, topic)) == sent
