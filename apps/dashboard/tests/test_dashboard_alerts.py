"""The Alert contract parser: the contract example passes, anything else says what is wrong."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dashboard.alerts import parse_alert, validate_alert

CONTRACT_EXAMPLE: dict[str, Any] = {
    "alert_id": "sensor-0007:high_temperature:1732250000123",
    "sensor_id": "sensor-0007", "site": "plant-a",
    "rule": "high_temperature", "severity": "critical", "status": "open",
    "value": 81.2, "threshold": 80.0,
    "started_at": 1732250000123, "resolved_at": None, "updated_at": 1732250000123,
    "message": "temperature 81.2 °C above 80.0 °C"}


def test_contract_example_parses_unchanged() -> None:
    assert parse_alert(json.dumps(CONTRACT_EXAMPLE).encode()) == CONTRACT_EXAMPLE


def test_resolved_alert_parses() -> None:
    doc = {**CONTRACT_EXAMPLE, "status": "resolved", "resolved_at": 1732250060000}
    assert validate_alert(doc)["resolved_at"] == 1732250060000


def test_extra_fields_are_dropped() -> None:
    assert "extra" not in validate_alert({**CONTRACT_EXAMPLE, "extra": 1})


@pytest.mark.parametrize(("change", "field"), [
    ({"sensor_id": ""}, "sensor_id"),
    ({"site": 3}, "site"),
    ({"rule": "too_hot"}, "rule"),
    ({"severity": "fatal"}, "severity"),
    ({"status": "closed"}, "status"),
    ({"value": "81"}, "value"),
    ({"threshold": True}, "threshold"),
    ({"started_at": 1.5}, "started_at"),
    ({"updated_at": None}, "updated_at"),
    ({"resolved_at": "yesterday"}, "resolved_at"),
    ({"alert_id": "x" * 300}, "alert_id"),
    ({"message": 5}, "message"),
])
def test_bad_fields_are_named(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        validate_alert({**CONTRACT_EXAMPLE, **change})


@pytest.mark.parametrize("raw", [None, b"", b"not json", b"\xff\xfe", b"[1, 2]"])
def test_undecodable_messages_are_malformed(raw: bytes | None) -> None:
    with pytest.raises(ValueError):
        parse_alert(raw)
