"""The data objects the stack creates: Kafka topics, index templates, Kibana objects.

Plain data (standard library only) shared by the Pulumi resources and their tests.
Shapes follow docs/contracts.md: times are epoch milliseconds, ``alert_id`` is the
document id of the ``alerts`` index.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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
    """Readings, alerts and dead-letter topics with partitions and retention from config."""
    retention = str(cfg.retention_hours * HOUR_MS)
    return (
        TopicSpec(TOPICS["readings"], cfg.topic_partitions, {"retention.ms": retention}),
        TopicSpec(TOPICS["alerts"], cfg.topic_partitions, {"retention.ms": retention}),
        # One partition keeps dead letters in arrival order for the people reading them.
        TopicSpec(TOPICS["dead_letter"], 1,
                  {"retention.ms": str(cfg.dead_letter_retention_hours * HOUR_MS)}),
    )


_EPOCH_MS = {"type": "date", "format": "epoch_millis"}
_KW = {"type": "keyword"}


def index_templates() -> dict[str, dict[str, Any]]:
    """Composable index templates (PUT _index_template/<name>) for the two indices."""
    return {
        "iotstack-alerts": {
            "index_patterns": [INDICES["alerts"]],
            "priority": 200,
            "template": {
                "settings": {"number_of_shards": 1, "number_of_replicas": 0},
                "mappings": {
                    "dynamic": "strict",
                    "properties": {
                        "alert_id": _KW, "sensor_id": _KW, "site": _KW, "rule": _KW,
                        "severity": _KW, "status": _KW,
                        "value": {"type": "double"}, "threshold": {"type": "double"},
                        "started_at": _EPOCH_MS, "resolved_at": _EPOCH_MS,
                        "updated_at": _EPOCH_MS, "message": {"type": "text"},
                    },
                },
            },
            "_meta": {"managed_by": "iotstack pulumi"},
        },
        "iotstack-aggregates": {
            "index_patterns": [INDICES["aggregates"]],
            "priority": 200,
            "template": {
                "settings": {"number_of_shards": 1, "number_of_replicas": 0},
                "mappings": {
                    "dynamic": "strict",
                    "properties": {
                        "sensor_id": _KW, "site": _KW,
                        "window_start": _EPOCH_MS, "window_end": _EPOCH_MS,
                        "count": {"type": "long"}, "min": {"type": "double"},
                        "avg": {"type": "double"}, "max": {"type": "double"},
                    },
                },
            },
            "_meta": {"managed_by": "iotstack pulumi"},
        },
    }


DATA_VIEW_ID = "iotstack-alerts"
SEARCH_ID = "iotstack-open-alerts"
DASHBOARD_ID = "iotstack-overview"


def data_view() -> dict[str, Any]:
    """The Kibana data view over the alerts index, timed by ``started_at``."""
    return {"id": DATA_VIEW_ID, "title": INDICES["alerts"], "name": "IoT alerts",
            "timeFieldName": "started_at"}


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
        "description": "Alerts raised by the Flink job (index 'alerts').",
        "markdown": (
            "**IoT alerts.** Readings flow simulator -> Kafka `readings` -> Flink alerts job "
            "-> Elasticsearch `alerts`. The live view is the dashboard app on :8000."
        ),
    }
