"""The scripted scenario of the wired test, with its expected alerts written out by hand."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from alerts_helpers import reading

T0 = 1_700_000_040_000  # a minute boundary (UTC), so minute k of the scenario is T0 + k min
STEP = 5_000  # one reading per sensor every 5 s of event time
N = 36  # readings per sensor: three minutes
RULE_SETTINGS = {
    "HIGH_THRESHOLD_C": "80", "LOW_THRESHOLD_C": "-10", "HYSTERESIS_C": "2",
    "RATE_OF_CHANGE_C_PER_MIN": "10", "SILENCE_SECONDS": "30",
    "WATERMARK_OUT_OF_ORDERNESS_MS": "2000", "ALLOWED_LATENESS_MS": "5000",
    # Idleness is processing time: too short, and a partition merely slower to catch up on
    # the backlog is skipped, its readings then behind the watermark (seen with 1 s).
    "SOURCE_IDLE_TIMEOUT_MS": "5000", "CHECKPOINT_INTERVAL_MS": "2000",
    # The threshold sensors jump by more than 10 °C at once: switch their rate rule off,
    # which also exercises per-sensor overrides.
    "SENSOR_RULES": json.dumps({s: {"rate": 1000} for s in ("s-high", "s-flap", "s-low")}),
}


def _value(sensor: str, i: int) -> float | None:
    """The temperature of ``sensor``'s i-th reading (None: no reading)."""
    if sensor == "s-normal":
        return 20.0 + (i % 3) * 0.5
    if sensor == "s-high":  # enters at i=6, stays inside the hysteresis band, leaves at 18
        return 20.0 if i < 6 else 90.0 if i < 12 else 79.0 if i < 18 else 50.0
    if sensor == "s-flap":  # flaps around 80 (never below 78): one alert, resolved at i=30
        return 70.0 if i >= 30 else (80.5 if i % 2 else 79.5)
    if sensor == "s-low":  # enters at i=4, -9 is inside the band, leaves at i=10
        return 5.0 if i < 4 else -15.0 if i < 8 else -9.0 if i < 10 else 0.0
    if sensor == "s-rate":  # +15 °C at i=10; the jump leaves the 1-minute window at i=22
        return 20.0 if i < 10 else 35.0
    if sensor == "s-silent":  # quiet from i=6 to 19 (70 s > 30 s)
        return None if 6 <= i < 20 else 21.0
    if sensor == "s-dup":  # every reading twice; reading 5 arrives after reading 6
        return 22.0 + i * 0.1
    raise KeyError(sensor)


SENSORS = ("s-normal", "s-high", "s-flap", "s-low", "s-rate", "s-silent", "s-dup")

MALFORMED: list[tuple[bytes | None, bytes | None, str]] = [
    (b"bad-1", b"not json at all", "not a JSON object"),
    (b"bad-2", b"[1, 2, 3]", "not a JSON object"),
    (b"bad-3", json.dumps({"schema_version": 1, "sensor_id": "s-x", "site": "plant-a",
                           "temperature_c": 20.0, "seq": 1}).encode(), "missing field 'ts'"),
    (b"bad-4", json.dumps({"schema_version": 1, "sensor_id": "s-x", "site": "plant-a",
                           "ts": T0, "temperature_c": "hot", "seq": 2}).encode(),
     "field 'temperature_c' is not a number"),
    (b"bad-5", json.dumps({"schema_version": 2, "sensor_id": "s-x", "site": "plant-a",
                           "ts": T0, "temperature_c": 20.0, "seq": 3}).encode(),
     "unknown schema_version 2"),
    (b"bad-6", None, "empty message (null value)"),
]


def phase1() -> list[tuple[bytes | None, bytes | None]]:
    """Readings in per-sensor order (with duplicates and one swap), malformed ones mixed in."""
    out: list[tuple[bytes | None, bytes | None]] = []
    for i in range(N):
        for sensor in SENSORS:
            order = [i]
            if sensor == "s-dup" and i in (5, 6):
                order = [6, 5] if i == 5 else []
            for j in order:
                value = _value(sensor, j)
                if value is None:
                    continue
                msg = (sensor.encode(), reading(sensor, T0 + j * STEP, value, j))
                out += [msg, msg] if sensor == "s-dup" else [msg]
        if i == 12:
            out += [(key, value) for key, value, _ in MALFORMED]
    return out


def clocks(partitions: int) -> list[tuple[bytes, bytes, int]]:
    """One reading 5 s into the fourth minute on every partition, so the watermark (the
    minimum over partitions) passes the end of the third minute and its windows close
    without waiting on partition idleness (processing time, so timing-dependent)."""
    return [(f"s-clock-{p}".encode(), reading(f"s-clock-{p}", CLOCK_TS, 20.0, 0), p)
            for p in range(partitions)]


CLOCK_TS = T0 + 3 * 60_000 + 5_000  # its own minute stays open: no aggregate expected


# Readings far behind the watermark (sent after phase 1 was processed): late, not counted.
LATE = [("s-normal", T0 + 1_000, 99.0, 1000), ("s-rate", T0 + 2_000, -40.0, 1001)]


def phase2() -> list[tuple[bytes | None, bytes | None]]:
    """The late readings."""
    return [(s.encode(), reading(s, ts, t, seq)) for s, ts, t, seq in LATE]


def _alert(sensor: str, rule: str, severity: str, value: float, threshold: float,
           start_i: int, end: int, message: str, started_at: int | None = None
           ) -> dict[str, Any]:
    started = T0 + start_i * STEP if started_at is None else started_at
    return {"alert_id": f"{sensor}:{rule}:{started}", "sensor_id": sensor, "site": "plant-a",
            "rule": rule, "severity": severity, "status": "resolved", "value": value,
            "threshold": threshold, "started_at": started, "resolved_at": end,
            "updated_at": end, "message": message}


# Every alert of the scenario, in its final (resolved) state, written out by hand.
EXPECTED_ALERTS = [
    _alert("s-high", "high_temperature", "critical", 90.0, 80.0, 6, T0 + 18 * STEP,
           "temperature 90 °C above 80 °C"),
    _alert("s-flap", "high_temperature", "critical", 80.5, 80.0, 1, T0 + 30 * STEP,
           "temperature 80.5 °C above 80 °C"),
    _alert("s-low", "low_temperature", "critical", -15.0, -10.0, 4, T0 + 10 * STEP,
           "temperature -15 °C below -10 °C"),
    _alert("s-rate", "rate_of_change", "warning", 15.0, 10.0, 10, T0 + 22 * STEP,
           "temperature changed 15.0 °C within a minute (limit 10 °C)"),
    _alert("s-silent", "sensor_silent", "warning", 30.0, 30.0, 0, T0 + 20 * STEP,
           f"no reading for 30 s after {T0 + 5 * STEP}", started_at=T0 + 5 * STEP + 30_000),
]


def expected_aggregates() -> dict[str, dict[str, Any]]:
    """The one-minute aggregates by document id: each (sensor, seq) once, late ones not."""
    per: dict[tuple[str, int], list[float]] = defaultdict(list)
    for sensor in SENSORS:
        for i in range(N):
            value = _value(sensor, i)
            if value is not None:
                per[(sensor, (T0 + i * STEP) // 60_000 * 60_000)].append(value)
    out = {}
    for (sensor, start), values in per.items():
        out[f"{sensor}:{start}"] = {
            "sensor_id": sensor, "site": "plant-a", "window_start": start,
            "window_end": start + 60_000, "count": len(values), "min": min(values),
            "avg": sum(values) / len(values), "max": max(values)}
    return out
