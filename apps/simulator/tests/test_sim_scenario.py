"""Scenario files: parsing, defaults, errors naming the line, replay order and pacing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator import codec
from simulator.scenario import Replay, ScenarioError, load, parse

START = 1_732_250_000_000

SCRIPT = """\
# a sensor crosses 80 °C and recovers; a duplicate; a malformed message
{"sensor_id": "sensor-0001", "site": "plant-a", "ts": 1732250000000, "temperature_c": 21.5}
{"sensor_id": "sensor-0001", "site": "plant-a", "offset_ms": 1000, "temperature_c": 85}

{"sensor_id": "sensor-0002", "site": "plant-b", "offset_ms": 1500, "temperature_c": -3.25,\
 "note": "x"}
{"sensor_id": "sensor-0001", "site": "plant-a", "offset_ms": 1000, "temperature_c": 85, "seq": 1}
{"sensor_id": "sensor-0001", "site": "plant-a", "offset_ms": 2000, "temperature_c": 22.0}
{"raw": "sensor-0001;not json", "key": "sensor-0001"}
{"raw": "{\\"schema_version\\": 7}"}
"""


def test_parse_readings_and_raw_lines() -> None:
    entries = parse(SCRIPT, START)
    readings = [codec.decode(e.value) for e in entries[:5]]
    assert [(r.sensor_id, r.ts, r.temperature_c, r.seq) for r in readings] == [
        ("sensor-0001", START, 21.5, 0),
        ("sensor-0001", START + 1000, 85.0, 1),
        ("sensor-0002", START + 1500, -3.25, 0),
        ("sensor-0001", START + 1000, 85.0, 1),  # explicit seq: a duplicate
        ("sensor-0001", START + 2000, 22.0, 2),
    ]
    assert entries[1].value == entries[3].value
    assert all(e.key == r.sensor_id.encode() for e, r in zip(entries[:5], readings, strict=True))
    assert (entries[5].key, entries[5].value) == (b"sensor-0001", b"sensor-0001;not json")
    assert (entries[6].key, entries[6].value) == (None, b'{"schema_version": 7}')


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "scenario:2: not a JSON object (Expecting value)"),
        ("[1]", "scenario:2: not a JSON object"),
        (
            '{"sensor_id": "s", "site": "p", "temperature_c": 1}',
            "scenario:2: give exactly one of 'ts' and 'offset_ms'",
        ),
        (
            '{"sensor_id": "s", "site": "p", "ts": 1, "offset_ms": 1, "temperature_c": 1}',
            "scenario:2: give exactly one of 'ts' and 'offset_ms'",
        ),
        ('{"site": "p", "ts": 1, "temperature_c": 1}', "scenario:2: missing 'sensor_id'"),
        (
            '{"sensor_id": "s", "site": "p", "ts": 1, "temperature_c": "hot"}',
            "scenario:2: 'temperature_c' must be int or float, got \"hot\"",
        ),
        (
            '{"sensor_id": "s", "site": "p", "ts": 1.5, "temperature_c": 1}',
            "scenario:2: 'ts' must be int, got 1.5",
        ),
        (
            '{"sensor_id": "s", "site": "p", "ts": 1, "temperature_c": 1, "seq": -1}',
            "scenario:2: 'seq' must be >= 0, got -1",
        ),
        (
            '{"sensor_id": "s", "site": "p", "ts": 1, "temperature": 1}',
            "scenario:2: unknown key(s) ['temperature']",
        ),
        ('{"raw": 5}', "scenario:2: 'raw' must be str, got 5"),
        ('{"raw": "x", "key": 5}', "scenario:2: 'key' must be str or null, got 5"),
    ],
)
def test_errors_name_the_line(line: str, message: str) -> None:
    good = '{"sensor_id": "s", "site": "p", "ts": 1, "temperature_c": 1}'
    with pytest.raises(ScenarioError) as caught:
        parse(f"{good}\n{line}\n", START)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_empty_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no messages"):
        parse("# only a comment\n\n", START)
    with pytest.raises(ScenarioError, match=r"SIMULATOR_SCENARIO='.*nope.jsonl' cannot be read"):
        load(str(tmp_path / "nope.jsonl"), START)
    path = tmp_path / "s.jsonl"
    path.write_text(SCRIPT, encoding="utf-8")
    assert load(str(path), START) == parse(SCRIPT, START, str(path))


def test_replay_order_and_pacing() -> None:
    replay = Replay(parse(SCRIPT, START))
    dues = []
    sent = []
    for key, value in replay:
        dues.append(replay.due_s())
        sent.append((key, value))
    assert sent == [(e.key, e.value) for e in replay.entries]
    # paced by event time from the first reading; earlier times and raw lines go at once
    assert dues == [0.0, 1.0, 1.5, 1.5, 2.0, 2.0, 2.0]
    assert list(replay.drain()) == []


def test_a_written_scenario_round_trips_through_json() -> None:
    lines = [
        json.dumps({"sensor_id": "s", "site": "p", "ts": START + i, "temperature_c": i})
        for i in range(3)
    ]
    entries = parse("\n".join(lines), START)
    assert [codec.decode(e.value).seq for e in entries] == [0, 1, 2]
