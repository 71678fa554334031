"""The SQL rules (alerts.sql_rules) against the executable specification (alerts.rules).

Random reading sequences (flapping around the thresholds, jumps, duplicates, out-of-order
readings, silences, per-sensor overrides) run through :func:`define_alerts_and_minutes` on Flink (a
local mini-cluster in this process, the same runtime the job uses) and through
:func:`alerts.rules.on_reading`; the events must be the same records, in the same order
per alert. The watermark here lags a day behind, so no reading is behind it and the
silence timers (in SENSOR_RULES) fire only when the input ends (the watermark then jumps to
the end of time): each sensor's last silence opens there, as the Python timer would.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pyflink.common import Configuration, Types
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.table import DataTypes, Schema, StreamTableEnvironment, Table
from pyflink.table.expressions import col

from alerts import rules as r
from alerts import sql_rules
from alerts.config import Rules
from alerts_helpers import functions_jar

SRC = Path(__file__).resolve().parent.parent / "src"
T0 = 1_700_000_000_000
DEFAULTS = Rules(high=80.0, low=-10.0, hysteresis=2.0, rate=10.0, silence_s=30.0)
OVERRIDES = {
    "p-03": Rules(high=90.0, low=-10.0, hysteresis=0.5, rate=10.0, silence_s=30.0),
    "p-05": Rules(high=80.0, low=-10.0, hysteresis=2.0, rate=1000.0, silence_s=12.5),
    "p-07": Rules(high=80.0, low=5.0, hysteresis=2.0, rate=4.0, silence_s=20.0),
    # high - hysteresis = 80.1 in decimal, 80.10000000000001 in binary
    "p-08": Rules(high=80.2, low=-10.0, hysteresis=0.1, rate=10.0, silence_s=30.0),
}
LATENESS = 5_000  # ALLOWED_LATENESS_MS
ReadingRow = tuple[str, str, int, float, int]


def _value(rng: random.Random, style: str) -> float:
    if style == "flap":
        return rng.choice([79.5, 80.5, 78.1, 77.9, 80.0, 78.0, 81.0, 90.25, 80.005, 80.004,
                           77.995, 79.995, 80.1, 80.09, 80.2, 80.21])
    if style == "low":
        return rng.choice([-9.5, -10.5, -8.1, -7.9, -10.0, -8.0, -15.0, 0.0, -10.005,
                           -10.004, -7.995, -8.005])
    if style == "rate":
        return rng.choice([20.0, 20.06, 10.06, 30.1, 20.1, 10.1, 25.0, 14.99, 20.11, 20.005,
                           10.004, 10.005])
    return round(rng.uniform(-20, 100), rng.choice([2, 3]))


def sequences(seed: int, sensors: int = 40, length: int = 40) -> list[ReadingRow]:
    """Readings of ``sensors`` sensors, each sensor's in its own order, interleaved."""
    rng = random.Random(seed)
    per: list[list[ReadingRow]] = []
    for n in range(sensors):
        sid, style = f"p-{n:02d}", ("flap", "low", "rate", "any")[n % 4]
        ts, out = T0 + rng.randrange(0, 10_000), []
        for seq in range(length):
            ts += rng.choice([1_000, 5_000, 5_000, 10_000, 20_000, 30_000, 30_001, 45_000])
            site = rng.choice(["plant-a", "plant-a", "plant-a", "plant-b"])  # sensors move
            row = (sid, site, ts, _value(rng, style), seq)
            out.append(row)
            if rng.random() < 0.1:
                out.append(row)  # a duplicate
            if rng.random() < 0.1:  # an out-of-order (older) reading
                out.append((sid, site, ts - rng.randrange(0, 70_000), _value(rng, style),
                            seq + 1000))
        per.append(out)
    merged: list[ReadingRow] = []
    while any(per):
        queue = rng.choice([q for q in per if q])
        merged.append(queue.pop(0))
    return merged


def expected(readings: list[ReadingRow]) -> dict[str, list[dict[str, Any]]]:
    """The events of alerts.rules, per alert id in order; then the input ends (the
    watermark passes every deadline): each sensor's silence timer fires."""
    states: dict[str, r.SensorState] = defaultdict(r.SensorState)
    events: list[dict[str, Any]] = []
    for row in readings:
        rules = OVERRIDES.get(row[0], DEFAULTS)
        events += r.on_reading(states[row[0]], r.Reading(*row), rules)
    for sid, state in states.items():
        rules = OVERRIDES.get(sid, DEFAULTS)
        assert state.last_ts is not None
        at = r.silence_timer_at(state.last_ts, rules, LATENESS)
        events += r.on_timer(state, sid, at, rules, LATENESS)
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        out[event["alert_id"]].append(event)
    return dict(out)


def define(readings: list[ReadingRow], state_backend: str = "hashmap") -> tuple[
        StreamTableEnvironment, Table, Table]:
    """define_alerts_and_minutes on a local Flink fed ``readings``: its table environment,
    alert events and minutes."""
    conf = Configuration()
    conf.set_string("state.backend.type", state_backend)
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    env.add_jars(functions_jar().as_uri())  # the rate rule's Java function, as alerts.job
    env.set_parallelism(1)
    env.add_python_file(str(SRC / "alerts"))
    t_env = StreamTableEnvironment.create(env)
    t_env.get_config().set("table.local-time-zone", "UTC")
    stream = env.from_collection(readings, type_info=Types.ROW_NAMED(
        ["sensor_id", "site", "ts", "temperature_c", "seq"],
        [Types.STRING(), Types.STRING(), Types.LONG(), Types.DOUBLE(), Types.LONG()]))
    t_env.create_temporary_view("on_time", t_env.from_data_stream(stream, (
        Schema.new_builder()
        .column("sensor_id", DataTypes.STRING()).column("site", DataTypes.STRING())
        .column("ts", DataTypes.BIGINT()).column("temperature_c", DataTypes.DOUBLE())
        .column("seq", DataTypes.BIGINT())
        .column_by_expression("rowtime", "TO_TIMESTAMP_LTZ(ts, 3)")
        .watermark("rowtime", "rowtime - INTERVAL '1' DAY")
        .build())))
    alerts, minutes = sql_rules.define_alerts_and_minutes(
        t_env, "on_time", defaults=DEFAULTS, overrides=OVERRIDES, allowed_lateness_ms=LATENESS)
    return t_env, alerts, minutes


def run_sql(
    readings: list[ReadingRow], state_backend: str = "hashmap"
) -> dict[str, list[dict[str, Any]]]:
    """The events of define_alerts_and_minutes on a local Flink, per alert id in arrival order. On
    RocksDB every state access goes through the state's serializers."""
    _, alerts, _ = define(readings, state_backend)
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with alerts.execute().collect() as rows:
        for row in rows:
            event = dict(zip(sql_rules.ALERT_FIELDS, row, strict=True))
            out[event["alert_id"]].append(event)
    return dict(out)


def test_formatting_is_exactly_the_python_rules() -> None:
    assert sql_rules.alert_message(r.HIGH, 90.0, 80.0, None) == "temperature 90 °C above 80 °C"
    assert sql_rules.alert_message(r.LOW, -15.5, -10.0, None) == (
        "temperature -15.5 °C below -10 °C")
    assert sql_rules.alert_message(r.RATE, 10.01, 10.0, None) == (
        "temperature changed 10.01 °C within a minute (limit 10 °C)")
    assert sql_rules.alert_message(r.SILENT, 12.5, 12.5, 1234) == (
        "no reading for 12.5 s after 1234")
    assert sql_rules.alert_value(r.RATE, 10.01) == 10.01


def test_per_sensor_parameters_are_one_json_argument_looked_up_by_sensor() -> None:
    argument = json.loads(sql_rules.rules_argument(DEFAULTS, OVERRIDES))
    # thresholds as whole hundredths; high - hysteresis computed in decimal (80.2 - 0.1 is
    # 80.1, not 80.10000000000001: its bound is 8010, not 8011)
    assert argument["default"] == {
        "high_c": 8000, "high_back_c": 7800, "low_c": -1000, "low_back_c": -800,
        "rate_c": 1000, "silence_ms": 30000, "silence_s": 30.0, "high": 80.0, "low": -10.0,
        "rate": 10.0}
    assert sorted(argument["sensors"]) == ["p-03", "p-05", "p-07", "p-08"]
    assert argument["sensors"]["p-03"]["high_c"] == 9000
    assert argument["sensors"]["p-03"]["high_back_c"] == 8950
    assert argument["sensors"]["p-08"]["high_c"] == 8020
    assert argument["sensors"]["p-08"]["high_back_c"] == 8010
    assert argument["sensors"]["p-05"]["silence_ms"] == 12500
    assert argument["sensors"]["p-05"]["silence_s"] == 12.5
    # a sensor whose parameters are the defaults' is not listed
    same = {"p-00": DEFAULTS, "p-01": Rules(high=80.0, low=-10.0, hysteresis=2.0, rate=10.0,
                                            silence_s=30.0)}
    assert json.loads(sql_rules.rules_argument(DEFAULTS, same))["sensors"] == {}
    # the events' thresholds, as written: the default's, and each sensor's own
    assert (argument["default"]["high"], argument["default"]["low"],
            argument["default"]["rate"]) == (80.0, -10.0, 10.0)
    assert argument["sensors"]["p-03"]["high"] == 90.0
    assert argument["sensors"]["p-08"]["high"] == 80.2
    assert argument["sensors"]["p-07"]["low"] == 5.0
    assert argument["sensors"]["p-05"]["rate"] == 1000.0


# Temperatures near the roundings of CAST(x AS DECIMAL(7, 2)), which SENSOR_RULES computes
# itself: a quarter of a hundredth from a whole one (its shortcut's edge), half a hundredth
# (ties, rounded away from zero), many digits, the range's ends.
# (above HIGH or below LOW, so that each opens an episode whose value is its hundredths).
CAST_EDGES = (90.0025, 90.00249999, 90.00250001, 90.0075, 90.00749999, 90.0175, 90.005,
              90.015, 90.025, 99.995, 99.985, 90.125, 90.004999999999, 90.0051, 91.23456789,
              85.1 + 1e-9, 9999.995, 9999.994999, 10000.0, 80.01, 80.1 + 0.2)
CAST_EDGES_LOW = (-20.005, -20.0025, -20.00250001, -20.0075, -20.015, -273.15, -273.145,
                  -99.995, -10.01)


@pytest.mark.parametrize("state_backend", ["hashmap", "rocksdb"])
def test_temperatures_are_compared_as_flinks_decimal_cast(state_backend: str) -> None:
    readings: list[ReadingRow] = []
    for sensor, values in (("h-1", CAST_EDGES), ("h-2", CAST_EDGES_LOW)):
        for i, value in enumerate(values):  # each value opens an episode, 0.0 resolves it
            readings.append((sensor, "plant-a", T0 + 2_000 * i, value, 2 * i))
            readings.append((sensor, "plant-a", T0 + 2_000 * i + 1_000, 0.0, 2 * i + 1))
    want = expected(readings)
    opened = {e["value"] for events in want.values() for e in events
              if e["rule"] in (r.HIGH, r.LOW) and e["status"] == "open"}
    assert opened == {float(r.hundredths(v)) for v in CAST_EDGES + CAST_EDGES_LOW}
    got = run_sql(readings, state_backend)
    assert set(got) == set(want)
    for alert_id, events in want.items():
        assert got[alert_id] == events, alert_id


@pytest.mark.parametrize(("x", "floor", "ceil"), [
    ("30", 3000, 3000), ("30.005", 3000, 3001), ("-0.005", -1, 0), ("-30.001", -3001, -3000),
    ("0", 0, 0), ("1E+300", 10**15, 10**15), ("-1E+300", -10**15, -10**15),
])
def test_threshold_bounds_in_hundredths_are_exact(x: str, floor: int, ceil: int) -> None:
    # c > floor(100 x) iff c / 100 > x, and c < ceil(100 x) iff c / 100 < x, for every whole
    # number of hundredths c in a temperature's range; absurd thresholds are clamped.
    value = Decimal(x)
    assert sql_rules.cents_floor(value) == floor
    assert sql_rules.cents_ceil(value) == ceil
    for c in range(-4000, 4000, 1):
        assert (c > floor) == (Decimal(c) / 100 > value)
        assert (c < ceil) == (Decimal(c) / 100 < value)


@pytest.mark.parametrize("state_backend", ["hashmap", "rocksdb"])
@pytest.mark.parametrize("seed", [1, 2])
def test_sql_rules_give_the_python_rules_events(seed: int, state_backend: str) -> None:
    readings = sequences(seed)
    want = expected(readings)
    got = run_sql(readings, state_backend)
    rules_seen = {e["rule"] for events in want.values() for e in events}
    assert rules_seen == {r.HIGH, r.LOW, r.RATE, r.SILENT}  # the sequences exercise all four
    assert set(got) == set(want)
    for alert_id, events in want.items():
        assert got[alert_id] == events, alert_id


def test_rate_window_boundaries_and_ts_zero() -> None:
    # The rate's spread (in the Java SENSOR_RULES) at its edges: a reading exactly 60000 ms
    # older is inside, 60001 ms older is not; a first reading at ts 0 takes part; a value
    # equal to the current max/min replaces it as the newer candidate (it expires later).
    readings: list[ReadingRow] = [
        ("z-1", "plant-a", 0, 20.0, 0),
        ("z-1", "plant-a", 60_000, 30.01, 1),      # 0 is inside: spread 10.01 opens
        ("z-1", "plant-a", 60_001, 30.01, 2),      # 0 is out: 0.00, resolves
        ("z-2", "plant-a", T0, 20.0, 0),
        ("z-2", "plant-a", T0 + 30_000, 20.0, 1),  # equal value, newer
        ("z-2", "plant-a", T0 + 60_001, 30.01, 2),  # T0 out, T0 + 30 s in: 10.01 opens
        ("z-2", "plant-a", T0 + 90_001, 30.0, 3),   # 20.0 out: 0.01, resolves
        ("z-3", "plant-a", T0, 30.02, 0),
        ("z-3", "plant-a", T0 + 60_000, 20.01, 1),  # falls by 10.01 within the minute: opens
    ]
    want = expected(readings)
    got = run_sql(readings)
    assert got == want
    rate = {k: [(e["status"], e["started_at"], e["resolved_at"], e["value"]) for e in v]
            for k, v in want.items() if v[0]["rule"] == r.RATE}
    assert rate == {
        "z-1:rate_of_change:60000": [("open", 60_000, None, 10.01),
                                     ("resolved", 60_000, 60_001, 10.01)],
        f"z-2:rate_of_change:{T0 + 60_001}": [("open", T0 + 60_001, None, 10.01),
                                             ("resolved", T0 + 60_001, T0 + 90_001, 10.01)],
        f"z-3:rate_of_change:{T0 + 60_000}": [("open", T0 + 60_000, None, 10.01)],
    }


def test_sensor_rules_emits_a_row_only_where_an_alert_opens_or_resolves() -> None:
    # The rules' stage keeps a normal reading to itself (apps/alerts/README.md, "Costs and
    # choices"): every row it emits carries at least one open or resolve, so it emits no
    # more rows than there are events, far fewer than readings.
    readings = sequences(1)
    events = sum(len(e) for e in expected(readings).values())
    t_env, _, _ = define(readings)
    flags = ("sl_open", "sl_close", "hi_open", "hi_close", "lo_open", "lo_close", "rt_open",
             "rt_close")
    table = t_env.from_path("rules_moves").select(*[col(f) for f in flags])
    with table.execute().collect() as rows:
        moves = [tuple(row) for row in rows]
    assert moves and all(any(m) for m in moves)
    assert len(moves) <= events < len(readings)


def with_copies(readings: list[ReadingRow], seed: int) -> list[ReadingRow]:
    """``readings`` with copies inserted later: the same sensor, ``ts`` and ``seq``, another
    site (``plant-z``, greater than every real one) and temperature."""
    rng = random.Random(seed)
    out = list(readings)
    for row in readings:
        if rng.random() < 0.15:
            sid, _, ts, t, seq = row
            at = out.index(row) + 1
            out.insert(rng.randrange(at, len(out) + 1), (sid, "plant-z", ts, t + 1.0, seq))
    return out


def expected_minutes(readings: list[ReadingRow]) -> dict[tuple[str, int], dict[str, Any]]:
    """Each (sensor, minute) of ``readings``: the first copy of each (sensor_id, seq, ts)
    counted, the sum in arrival order, the greatest site (code point order)."""
    seen: set[tuple[str, int, int]] = set()
    acc: dict[tuple[str, int], dict[str, Any]] = {}
    for sid, site, ts, t, seq in readings:
        if (sid, seq, ts) in seen:
            continue
        seen.add((sid, seq, ts))
        start = ts - ts % 60_000
        m = acc.setdefault((sid, start), {"site": site, "count": 0, "sum": 0.0, "min": t,
                                          "max": t})
        m["count"] += 1
        m["sum"] += t
        m["min"], m["max"], m["site"] = min(m["min"], t), max(m["max"], t), max(m["site"], site)
    return {(sid, start): {"sensor_id": sid, "site": m["site"], "window_start": start,
                           "window_end": start + 60_000, "count": m["count"],
                           "min": m["min"], "avg": m["sum"] / m["count"], "max": m["max"]}
            for (sid, start), m in acc.items()}


@pytest.mark.parametrize("state_backend", ["hashmap", "rocksdb"])
def test_minutes_count_each_reading_once_the_first_copy_wins(state_backend: str) -> None:
    # SENSOR_RULES' minutes (io.iotstack.alerts.Minutes) on random sequences with copies
    # that differ in site and temperature: each minute is the aggregate of the first copy of
    # each reading. The watermark lags a day, so every minute is emitted once, when the input
    # ends, and no reading comes after. On RocksDB the minutes go through the state's bytes.
    readings = with_copies(sequences(3), seed=3)
    want = expected_minutes(readings)
    assert len(readings) - len({(r_[0], r_[4], r_[2]) for r_ in readings}) > 100  # copies
    assert any(m["count"] > 1 for m in want.values())
    _, _, minutes = define(readings, state_backend)
    with minutes.execute().collect() as rows:
        got = [dict(zip(sql_rules.MINUTE_FIELDS, row, strict=True)) for row in rows]
    keys = [(m["sensor_id"], m["window_start"]) for m in got]
    assert len(keys) == len(set(keys))  # each minute emitted once
    assert dict(zip(keys, got, strict=True)) == want
