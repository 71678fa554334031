"""The reading's wire format against docs/contracts.md."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from simulator import codec
from simulator.sensors import make_sensor
from simulator.stream import MALFORMED_REASONS, _malformed, _State


def test_encoding_is_the_contract_shape() -> None:
    reading = codec.Reading("sensor-0007", "plant-a", 1732250000123, 21.534, 42)
    value = codec.encode(reading)
    assert value == (
        b'{"schema_version":1,"sensor_id":"sensor-0007","site":"plant-a",'
        b'"ts":1732250000123,"temperature_c":21.53,"seq":42}'
    )
    assert list(json.loads(value)) == [
        "schema_version",
        "sensor_id",
        "site",
        "ts",
        "temperature_c",
        "seq",
    ]
    assert codec.key("sensor-0007") == b"sensor-0007"


@pytest.mark.parametrize("temperature", [0.0, -0.004, -12.5, 81.2, 1e-7, 123456.789, 20])
def test_round_trip(temperature: float) -> None:
    reading = codec.Reading('odd "id" \u00e9\n<script>', "site/ü", 0, temperature, 0)
    decoded = codec.decode(codec.encode(reading))
    assert decoded.sensor_id == reading.sensor_id and decoded.site == reading.site
    assert decoded.temperature_c == round(temperature, 2)
    assert isinstance(json.loads(codec.encode(reading))["temperature_c"], float)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"sensor-1;21.5", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (
            b'{"schema_version":1,"sensor_id":"s","site":"p","temperature_c":1,"seq":0}',
            "missing field 'ts'",
        ),
        (
            b'{"schema_version":1,"sensor_id":"s","site":"p","ts":null,"temperature_c":1,"seq":0}',
            "missing field 'ts'",
        ),
        (
            b'{"schema_version":1,"sensor_id":"s","site":"p","ts":true,"temperature_c":1,"seq":0}',
            "field 'ts' has the wrong type",
        ),
        (
            b'{"schema_version":1,"sensor_id":"s","site":"p","ts":1,"temperature_c":"1","seq":0}',
            "field 'temperature_c' has the wrong type",
        ),
        (
            b'{"schema_version":2,"sensor_id":"s","site":"p","ts":1,"temperature_c":1,"seq":0}',
            "unknown schema_version 2",
        ),
    ],
)
def test_decode_rejects_with_reason(value: bytes, reason: str) -> None:
    with pytest.raises(ValueError) as caught:
        codec.decode(value)
    assert str(caught.value) == reason


@pytest.mark.parametrize("variant", sorted(MALFORMED_REASONS))
def test_every_malformed_variant_is_rejected_for_its_stated_reason(variant: str) -> None:
    sensor = make_sensor(1, 3, 2)
    state = _State(sensor=sensor, key=b"", head=codec.prefix(sensor.sensor_id, sensor.site))
    payload = _malformed(variant, state, 1732250000000, 20.5, 4)
    with pytest.raises(ValueError) as caught:
        codec.decode(payload.encode())
    assert str(caught.value) == MALFORMED_REASONS[variant]


CONTRACTS = Path(__file__).resolve().parents[3] / "docs" / "contracts.md"


def documented_reason_patterns() -> list[str]:
    """docs/contracts.md's dead-letter reasons as regular expressions (placeholders filled)."""
    section = CONTRACTS.read_text(encoding="utf-8").split("### Dead-letter reasons", 1)[1]
    templates = re.findall(r"^\| `([^`]+)` \|", section.split("\n#", 1)[0], flags=re.M)
    assert len(templates) == 7, templates
    return [re.escape(t).replace(re.escape("<field>"), "[a-z_]+").replace(
        re.escape("<value>"), "-?[0-9]+") for t in templates]


@pytest.mark.parametrize("variant", sorted(MALFORMED_REASONS))
def test_every_malformed_variant_expects_a_documented_reason(variant: str) -> None:
    patterns = documented_reason_patterns()
    assert any(re.fullmatch(p, MALFORMED_REASONS[variant]) for p in patterns)
