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
    # Idleness off (0): every partition gets a clock reading (clocks()), so no partition
    # ever needs to be declared idle. Idleness is processing time: a partition merely slower
    # to catch up on the backlog is skipped and its readings land behind the watermark (seen
    # with 1 s; with 5 s on a CI machine at load 10 the scenario then timed out).
    "SOURCE_IDLE_TIMEOUT_MS": "0", "CHECKPOINT_INTERVAL_MS": "2000",
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
    (b"bad-1", b"not json at all", "not JSON"),
    (b"bad-2", b"[1, 2, 3]", "not a JSON object"),
    (b"bad-3", json.dumps({"schema_version": 1, "sensor_id": "s-x", "site": "plant-a",
                           "temperature_c": 20.0, "seq": 1}).encode(), "missing field 'ts'"),
    (b"bad-4", json.dumps({"schema_version": 1, "sensor_id": "s-x", "site": "plant-a",
                           "ts": T0, "temperature_c": "hot", "seq": 2}).encode(),
     "field 'temperature_c' has the wrong type"),
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
           "temperature changed 15.00 °C within a minute (limit 10 °C)"),
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


# --- Input edge cases (issue 16, defects 1, 2, 4, 7): what the job accepts, what it
# dead-letters and with which of the documented reasons (docs/contracts.md).

EDGE_T0 = T0  # every accepted edge reading is in the scenario's first minute
NEXT_BELOW_ABSOLUTE_ZERO = "-273.15000000000003"  # the next double below -273.15
NEXT_ABOVE_MAX = "10000.000000000002"  # the next double above 10000


def edge_text(sensor: str, temperature: str = "21.5", *, seq: int = 0, ts: float = EDGE_T0,
              sensor_id: str | None = None, extra: str = "") -> str:
    """A reading written by hand: ``temperature`` is the literal JSON text of the value."""
    sid = json.dumps(sensor if sensor_id is None else sensor_id)
    return (f'{{"schema_version":1,"sensor_id":{sid},"site":"plant-a","ts":{ts},'
            f'"temperature_c":{temperature},"seq":{seq}{extra}}}')


NOT_JSON = "not JSON"
NOT_OBJECT = "not a JSON object"
OUT_OF_RANGE = "field 'temperature_c' is out of range"
_V = edge_text("e-x")  # a valid reading, to be spoiled


def _spoil(old: str, new: str) -> str:
    """_V with ``old`` (which must be in it) replaced by ``new``."""
    assert old in _V, old
    return _V.replace(old, new)

# (case name, payload text, the reason, or None: accepted as a reading of sensor e-<name>)
EDGE_CASES: list[tuple[str, str, str | None]] = [
    # RFC 8259: one JSON value, optionally surrounded by whitespace (space, tab, LF, CR).
    ("whitespace-around", " \t\r\n" + edge_text("e-whitespace-around") + "\r\n\t ", None),
    ("trailing-text", _V + " trailing", NOT_JSON),
    ("two-objects", _V + _V, NOT_JSON),
    ("two-objects-comma", _V + "," + _V, NOT_JSON),
    ("trailing-comma", _V + " ,", NOT_JSON),
    ("trailing-bracket", _V + "]", NOT_JSON),
    ("trailing-brace", _V + "}", NOT_JSON),
    ("trailing-key-value", _V + ',"x":1', NOT_JSON),
    ("trailing-string", _V + ',"x"', NOT_JSON),
    ("byte-order-mark", "\ufeff" + _V, NOT_JSON),
    ("nul-after", _V + "\u0000", NOT_JSON),
    ("nul-before", "\u0000" + _V, NOT_JSON),
    ("vertical-tab-after", _V + "\u000b", NOT_JSON),
    ("comment-after", _V + "/* c */", NOT_JSON),
    ("comment-before", "// c\n" + _V, NOT_JSON),
    ("nan-literal", edge_text("e-x", "NaN"), NOT_JSON),
    ("infinity-literal", edge_text("e-x", "Infinity"), NOT_JSON),
    ("single-quotes", _V.replace('"', "'"), NOT_JSON),
    ("leading-zero", edge_text("e-x", "021.5"), NOT_JSON),
    ("plus-sign", edge_text("e-x", "+21.5"), NOT_JSON),
    ("empty-text", "", NOT_JSON),
    ("blank-text", " \n", NOT_JSON),
    ("csv", "sensor-0001;1700000000000;21.5", NOT_JSON),
    # One JSON value, not an object.
    ("array", "[1, 2, 3]", NOT_OBJECT),
    ("array-of-reading", "[" + _V + "]", NOT_OBJECT),
    ("string", '"' + _V.replace('"', '\\"') + '"', NOT_OBJECT),
    ("number", " 42 ", NOT_OBJECT),
    ("null", "null", NOT_OBJECT),
    ("true", "true", NOT_OBJECT),
    # Fields.
    ("null-field", edge_text("e-x", "null"), "missing field 'temperature_c'"),
    ("string-number", edge_text("e-x", '"21.5"'), "field 'temperature_c' has the wrong type"),
    ("bool-number", edge_text("e-x", "true"), "field 'temperature_c' has the wrong type"),
    ("ts-fraction", edge_text("e-x", ts=1_700_000_040_000.0),
     "field 'ts' has the wrong type"),
    ("ts-negative", edge_text("e-x", ts=-1), "field 'ts' is out of range"),
    ("seq-negative", edge_text("e-x", seq=-1), "field 'seq' is out of range"),
    ("seq-over-long", edge_text("e-x", seq=2**63), "field 'seq' is out of range"),
    ("seq-long-max", edge_text("e-seq-long-max", seq=2**63 - 1), None),
    ("sensor-id-empty", edge_text("e-x", sensor_id=""), "field 'sensor_id' is out of range"),
    ("sensor-id-101", edge_text("e-x", sensor_id="e-" + "x" * 99),
     "field 'sensor_id' is out of range"),
    ("sensor-id-100", edge_text("e-x", sensor_id="e-sensor-id-100-" + "y" * 84), None),
    ("schema-version-2", _V.replace('"schema_version":1', '"schema_version":2'),
     "unknown schema_version 2"),
    # A value in an array, even of one element, is not the value: the wrong type.
    ("schema-version-in-array", _spoil('"schema_version":1', '"schema_version":[1]'),
     "field 'schema_version' has the wrong type"),
    ("sensor-id-in-array", _spoil('"sensor_id":"e-x"', '"sensor_id":["e-x"]'),
     "field 'sensor_id' has the wrong type"),
    ("ts-in-array", _spoil(f'"ts":{EDGE_T0}', f'"ts":[{EDGE_T0}]'),
     "field 'ts' has the wrong type"),
    ("temperature-in-array", edge_text("e-x", "[21.5]"),
     "field 'temperature_c' has the wrong type"),
    ("seq-in-array", _spoil('"seq":0', '"seq":[0]'), "field 'seq' has the wrong type"),
    # The temperature range, -273.15 to 10000 inclusive, compared as a double.
    ("absolute-zero", edge_text("e-absolute-zero", "-273.15"), None),
    ("below-absolute-zero", edge_text("e-x", NEXT_BELOW_ABSOLUTE_ZERO), OUT_OF_RANGE),
    ("max", edge_text("e-max", "10000"), None),
    ("max-exponent", edge_text("e-max-exponent", "1E+4"), None),
    ("above-max", edge_text("e-x", NEXT_ABOVE_MAX), OUT_OF_RANGE),
    ("poison-pill", edge_text("e-x", "1.7e308"), OUT_OF_RANGE),
    ("overflows-double", edge_text("e-x", "1e400"), OUT_OF_RANGE),
    ("overflows-negative", edge_text("e-x", "-1e400"), OUT_OF_RANGE),
    ("minus-zero", edge_text("e-minus-zero", "-0"), None),
    ("underflows-double", edge_text("e-underflows-double", "1e-400"), None),
    ("duplicate-key", edge_text("e-duplicate-key", "99", extra=',"temperature_c":21.25'),
     None),
    # The parser's limits (Jackson's defaults): a number of at most 1000 digits, at
    # most 999 levels of nesting, the message's own object being the first.
    ("number-1000-chars", edge_text("e-x", "1" + "0" * 999), OUT_OF_RANGE),
    ("number-1001-chars", edge_text("e-x", "1" + "0" * 1000), NOT_JSON),
    ("nesting-999", edge_text("e-nesting-999", extra=',"x":' + "[" * 998 + "]" * 998), None),
    ("nesting-1000", edge_text("e-x", extra=',"x":' + "[" * 999 + "]" * 999), NOT_JSON),
]

# The accepted cases' temperatures, as the aggregates report them (min = max = avg).
EDGE_ACCEPTED_C = {
    "whitespace-around": 21.5, "seq-long-max": 21.5, "sensor-id-100": 21.5,
    "absolute-zero": -273.15, "max": 10000.0, "max-exponent": 10000.0, "minus-zero": 0.0,
    "underflows-double": 0.0, "duplicate-key": 21.25, "nesting-999": 21.5,
}


def edge_sensor(name: str) -> str:
    """The sensor id an accepted edge case reads as."""
    return "e-sensor-id-100-" + "y" * 84 if name == "sensor-id-100" else f"e-{name}"


# Defect 2: 600,000 characters that JSON must escape (each becomes 2 or 6 bytes).
HUGE_ESCAPABLE = '"\\\u0001' * 200_000
