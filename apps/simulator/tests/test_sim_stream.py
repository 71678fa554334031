"""The random stream: schedule, determinism, anomaly rates, and the side log agreeing with it."""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter, defaultdict
from typing import Any

import pytest

from simulator import codec
from simulator.config import AnomalyRates
from simulator.sensors import make_fleet
from simulator.stream import NO_ANOMALIES, Stream, StreamSpec

START = 1_732_250_000_000
RATES = AnomalyRates(
    spike=0.01,
    drift=0.0005,
    stuck=0.0005,
    dropout=0.0005,
    out_of_order=0.01,
    late=0.003,
    duplicate=0.01,
    malformed=0.005,
)


def spec(
    count: int,
    rates: AnomalyRates = NO_ANOMALIES,
    seed: int = 11,
    sensors: int = 50,
    rate: float = 500.0,
) -> StreamSpec:
    return StreamSpec(
        seed=seed,
        sensors=tuple(make_fleet(seed, sensors, 3)),
        rate=rate,
        start_ts=START,
        count=count,
        rates=rates,
        episode_s=4,
        dropout_s=5,
        late_s=6,
    )


def run(s: StreamSpec) -> tuple[list[tuple[bytes, bytes]], list[dict[str, Any]], Stream]:
    records: list[dict[str, Any]] = []
    stream = Stream(s, records.append)
    messages = list(stream)
    messages += list(stream.drain())
    return messages, records, stream


def test_clean_stream_schedule() -> None:
    messages, records, stream = run(spec(1000, sensors=10, rate=100.0))
    assert len(messages) == 1000 and records == []
    readings = [codec.decode(v) for _, v in messages]
    for n, ((key, _), r) in enumerate(zip(messages, readings, strict=True)):
        assert key == r.sensor_id.encode() == f"sensor-{n % 10:04d}".encode()
        assert r.ts == START + n * 10 and r.seq == n // 10
    assert stream.readings == 1000 and stream.slot == 1000


def test_same_seed_same_stream_other_seed_differs() -> None:
    first = run(spec(20_000, RATES))
    again = run(spec(20_000, RATES))
    assert first[0] == again[0] and first[1] == again[1]
    other = run(spec(20_000, RATES, seed=12))
    assert other[0] != first[0]


def _binomial_ok(observed: int, n: int, p: float, sigmas: float = 5.0) -> bool:
    expected = n * p
    return abs(observed - expected) <= sigmas * math.sqrt(n * p * (1 - p)) + 1


@pytest.fixture(scope="module")
def anomalous() -> tuple[list[tuple[bytes, bytes]], list[dict[str, Any]], Stream]:
    return run(spec(200_000, RATES))


def test_anomaly_rates_within_tolerance(anomalous: Any) -> None:
    _, records, _ = anomalous
    kinds = Counter(r["kind"] for r in records)
    # a slot inside an episode gets no draw of its own
    busy = sum(
        r.get("readings", r.get("missing", 0)) - 1
        for r in records
        if r["kind"] in ("drift", "stuck", "dropout")
    )
    draws = 200_000 - busy
    for kind, p in RATES.as_dict().items():
        assert kinds[kind] > 0, kind
        assert _binomial_ok(kinds[kind], draws, p), (kind, kinds[kind], draws * p)


def test_side_log_matches_what_was_sent(anomalous: Any) -> None:
    messages, records, stream = anomalous
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_kind[r["kind"]].append(r)

    valid: list[codec.Reading] = []
    malformed_payloads: list[str] = []
    for key, value in messages:
        try:
            reading = codec.decode(value)
        except ValueError:
            malformed_payloads.append(value.decode())
            continue
        assert key == reading.sensor_id.encode()
        valid.append(reading)
    assert sorted(malformed_payloads) == sorted(r["payload"] for r in by_kind["malformed"])

    # duplicates: the same message twice in a row; exactly the logged ones
    dupes = {(a[0], a[1]) for a, b in itertools.pairwise(messages) if a == b}
    assert {(r["sensor_id"].encode(), r["seq"]) for r in by_kind["duplicate"]} == {
        (k, codec.decode(v).seq) for k, v in dupes
    }

    # out of order and late: a reading arriving after a newer one of its sensor
    newest: dict[str, int] = {}
    overtaken: set[tuple[str, int]] = set()
    seen: dict[str, set[int]] = defaultdict(set)
    by_seq: dict[tuple[str, int], codec.Reading] = {}
    for r in valid:
        if r.seq < newest.get(r.sensor_id, -1):
            overtaken.add((r.sensor_id, r.seq))
        newest[r.sensor_id] = max(newest.get(r.sensor_id, -1), r.seq)
        seen[r.sensor_id].add(r.seq)
        by_seq[(r.sensor_id, r.seq)] = r
    logged = {
        (r["sensor_id"], r["seq"])
        for r in by_kind["out_of_order"] + by_kind["late"]
        if r["overtaken"]
    }
    assert overtaken == logged
    for r in by_kind["late"]:
        assert r["delay_ms"] >= 6000 or not r["complete"]  # cut short only by the end of run
    # only those of the last late_s (3,000 slots at p=0.003: ~9) can be cut short
    assert sum(not r["complete"] for r in by_kind["late"]) < 30

    # every sequence number 0..n-1 of every sensor arrived: nothing lost, nothing skipped
    for sensor, seqs in seen.items():
        assert seqs == set(range(len(seqs))), sensor
    assert len(by_seq) == stream.readings
    assert len(messages) == stream.readings + stream.duplicates + stream.malformed
    assert stream.readings == 200_000 - stream.dropped_slots

    for r in by_kind["spike"]:
        assert by_seq[(r["sensor_id"], r["seq"])].temperature_c == r["temperature_c"]
        assert abs(r["temperature_c"] - r["normal_c"]) >= 40 - 0.01
    for r in by_kind["stuck"]:
        values = {
            by_seq[(r["sensor_id"], s)].temperature_c
            for s in range(r["first_seq"], r["last_seq"] + 1)
        }
        assert values == {r["value_c"]}
    for r in by_kind["drift"]:
        if r["complete"]:
            first = by_seq[(r["sensor_id"], r["first_seq"])]
            last = by_seq[(r["sensor_id"], r["last_seq"])]
            moved = last.temperature_c - first.temperature_c
            expected = r["c_per_min"] * (last.ts - first.ts) / 60_000
            assert abs(moved - expected) < 2.0  # noise and the daily cycle, nothing more
    for r in by_kind["dropout"]:
        if r["complete"] and r["last_seq_before"] is not None:
            before = by_seq[(r["sensor_id"], r["last_seq_before"])]
            after = by_seq.get((r["sensor_id"], r["last_seq_before"] + 1))
            assert before.ts == r["last_ts_before"]
            if after is not None:
                assert after.ts - before.ts == r["resumes_ts"] - r["last_ts_before"]
                assert after.ts - before.ts > 5000  # silent for at least SIMULATOR_DROPOUT_S
    json.dumps(records)  # every record is JSON-serialisable as the side log writes it


def test_stop_completes_the_current_slot() -> None:
    rates = AnomalyRates(0, 0, 0, 0, 0, 0, 1.0, 0)  # every reading is a duplicate
    stream = Stream(spec(0, rates))
    it = iter(stream)
    first = next(it)
    stream.stop()
    rest = list(it)
    assert rest == [first]  # the duplicate's second copy still goes out, then nothing
    assert stream.slot == 1  # stopped at the top of the next slot


def test_drain_releases_held_readings() -> None:
    rates = AnomalyRates(0, 0, 0, 0, 0, 1.0, 0, 0)  # every reading is late
    records: list[dict[str, Any]] = []
    stream = Stream(spec(30, rates), records.append)
    sent = list(stream)
    drained = list(stream.drain())
    assert sent == []  # 30 slots are far less than late_s, so all were still held
    assert stream.held == 0 and len(drained) == 30
    assert sorted((k, codec.decode(v).seq) for k, v in drained) == sorted(
        (f"sensor-{n % 50:04d}".encode(), n // 50) for n in range(30)
    )
    late = [r for r in records if r["kind"] == "late"]
    assert len(late) == 30 and not any(r["complete"] for r in late)
