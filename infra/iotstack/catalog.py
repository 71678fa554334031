"""The data objects the stack creates: Kafka topics, index templates, Kibana objects.

Plain data (standard library only) shared by the Pulumi resources and their tests.
Shapes follow docs/contracts.md: times are epoch milliseconds, ``alert_id`` is the
document id of the ``alerts`` index.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iotstack.config import StackConfig
from iotstack.services import INDICES, TOPICS

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class TopicSpec:
    """A Kafka topic: name, partitions and topic-level configs."""

    name: str
    partitions: int
    configs: Mapping[str, str] = field(default_factory=dict)
    replication_factor: int = 1  # one broker


def topics(cfg: StackConfig) -> tuple[TopicSpec, ...]:
    """Readings, alerts, aggregates, dead-letter and late topics; partitions and retention
    from config."""
    retention = str(cfg.retention_hours * HOUR_MS)
    return (
        TopicSpec(TOPICS["readings"], cfg.topic_partitions, {"retention.ms": retention}),
        TopicSpec(TOPICS["alerts"], cfg.topic_partitions, {"retention.ms": retention}),
        # One-minute aggregates, keyed by their document id <sensor_id>:<window_start>: the
        # job re-emits a window's aggregate as late readings update it. Compaction keeps the
        # newest aggregate of each sensor and minute, while retention.ms still deletes
        # segments older than the retention, so the topic stays bounded by time.
        TopicSpec(
            TOPICS["aggregates"],
            cfg.topic_partitions,
            {"retention.ms": retention, "cleanup.policy": "compact,delete"},
        ),
        # One partition keeps dead letters in arrival order for the people reading them.
        TopicSpec(
            TOPICS["dead_letter"],
            1,
            {"retention.ms": str(cfg.dead_letter_retention_hours * HOUR_MS)},
        ),
        # Readings too late for their window: kept as long as dead letters, for inspection.
        TopicSpec(
            TOPICS["late"], 1, {"retention.ms": str(cfg.dead_letter_retention_hours * HOUR_MS)}
        ),
    )


# The index bodies are defined once, next to the dashboard that queries them; the indexer
# (same image) writes the alerts job's events and aggregates in that shape (docs/contracts.md).
# Infra reads the files, not the code.
MAPPINGS_DIR = (
    Path(__file__).resolve().parents[2] / "apps" / "dashboard" / "src" / "dashboard" / "mappings"
)
MAPPING_FILES = {"alerts": "alerts.json", "aggregates": "readings-1m.json"}


def index_body(kind: str, mappings_dir: Path = MAPPINGS_DIR) -> dict[str, Any]:
    """Settings and mappings of the ``alerts`` or ``aggregates`` index, from its JSON file."""
    path = mappings_dir / MAPPING_FILES[kind]
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the {kind} index template is built from it")
    body: dict[str, Any] = json.loads(path.read_text())
    return body


def index_templates(mappings_dir: Path = MAPPINGS_DIR) -> dict[str, dict[str, Any]]:
    """Composable index templates (PUT _index_template/<name>) for the two indices."""
    templates = {}
    for kind in ("alerts", "aggregates"):
        body = index_body(kind, mappings_dir)
        templates[f"iotstack-{kind}"] = {
            "index_patterns": [INDICES[kind]],
            "priority": 200,
            "template": {"settings": body["settings"], "mappings": body["mappings"]},
            "_meta": {"managed_by": "iotstack pulumi", "source": MAPPING_FILES[kind]},
        }
    return templates


DATA_VIEW_ID = "iotstack-alerts"
SEARCH_ID = "iotstack-open-alerts"
NOTE_ID = "iotstack-about"
DASHBOARD_ID = "iotstack-overview"


def data_view() -> dict[str, Any]:
    """The Kibana data view (index pattern) over the alerts index, timed by ``started_at``."""
    return {"id": DATA_VIEW_ID, "title": INDICES["alerts"], "timeFieldName": "started_at"}


def kibana_spec() -> dict[str, Any]:
    """Everything the Kibana objects resource creates, in one document."""
    return {
        "data_view": data_view(),
        "search_id": SEARCH_ID,
        "search": saved_search(),
        "note_id": NOTE_ID,
        "dashboard_id": DASHBOARD_ID,
        "dashboard": dashboard(),
    }


def saved_search() -> dict[str, Any]:
    """A saved search listing open alerts, newest first (the dashboard's main panel)."""
    return {
        "title": "Open alerts",
        "columns": ["sensor_id", "site", "rule", "severity", "value", "threshold"],
        "sort": [["started_at", "desc"]],
        "query": "status:open",
    }


def dashboard() -> dict[str, Any]:
    """A small dashboard: a note on where data comes from plus the open-alerts search."""
    return {
        "title": "IoT stack overview",
        "note_title": "About this data",
        "description": "Alerts raised by the Flink job (index 'alerts').",
        "markdown": (
            "**IoT alerts.** Readings flow simulator -> Kafka `readings` -> Flink alerts job "
            "-> Kafka `alerts` -> indexer -> Elasticsearch `alerts`. The live view is the "
            "dashboard app on :8000."
        ),
    }
