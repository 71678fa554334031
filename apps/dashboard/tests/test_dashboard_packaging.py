"""Pins agree with infra/iotstack/versions.py; the image and mappings match the contracts."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from dashboard.indices import mapping
from iotstack import versions

APP = Path(__file__).resolve().parents[1]


def _pins() -> dict[str, str]:
    project = tomllib.loads((APP / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + project["optional-dependencies"]["test"]
    pins = {}
    for dep in deps:
        name, sep, version = dep.partition("==")
        assert sep, f"{dep} is not pinned exactly with =="
        pins[name.lower()] = version
    return pins


def test_server_facing_clients_match_versions_py() -> None:
    pins = _pins()
    assert pins["elasticsearch"] == versions.ELASTICSEARCH_CLIENT_VERSION
    assert pins["kafka-python"] == versions.KAFKA_PYTHON_VERSION


def test_dockerfile_base_image_default_and_user() -> None:
    text = (APP / "Dockerfile").read_text()
    assert f"ARG BASE_IMAGE={versions.PYTHON_BASE_IMAGE}\n" in text
    assert re.search(r"^USER 10001$", text, re.M)
    assert "EXPOSE 8000" in text and "DASHBOARD_BIND=0.0.0.0:8000" in text


CONTRACT_ALERT = ("alert_id", "sensor_id", "site", "rule", "severity", "status", "value",
                  "threshold", "started_at", "resolved_at", "updated_at", "message")
CONTRACT_AGGREGATE = ("sensor_id", "site", "window_start", "window_end", "count", "min", "avg",
                      "max")


def test_mappings_cover_contract_fields_with_exact_types() -> None:
    alerts = mapping("alerts")["mappings"]["properties"]
    aggregates = mapping("aggregates")["mappings"]["properties"]
    assert sorted(alerts) == sorted(CONTRACT_ALERT)
    assert sorted(aggregates) == sorted(CONTRACT_AGGREGATE)
    for field in ("alert_id", "sensor_id", "site", "rule", "severity", "status"):
        assert alerts[field]["type"] == "keyword"
    for field in ("started_at", "resolved_at", "updated_at"):
        assert alerts[field] == {"type": "date", "format": "epoch_millis"}
    assert aggregates["sensor_id"]["type"] == aggregates["site"]["type"] == "keyword"
    assert aggregates["window_start"] == {"type": "date", "format": "epoch_millis"}


def test_mapping_files_are_plain_index_bodies() -> None:
    # The infra reuses these files verbatim as index-template bodies.
    for name in ("alerts.json", "readings-1m.json"):
        body = json.loads((APP / "src/dashboard/mappings" / name).read_text())
        assert set(body) == {"settings", "mappings"}
