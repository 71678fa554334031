"""The index mappings the dashboard's queries rely on, and a helper to create the indices.

The JSON files in ``mappings/`` are the single definition: the infra's index templates and the
tests load the same files. Run ``python -m dashboard.indices`` to create missing indices.
"""

from __future__ import annotations

import json
import os
import sys
from importlib import resources
from typing import Any

from elasticsearch import Elasticsearch

MAPPING_FILES = {"alerts": "alerts.json", "aggregates": "readings-1m.json"}


def mapping(kind: str) -> dict[str, Any]:
    """The index body (settings + mappings) for 'alerts' or 'aggregates', as in its file."""
    text = resources.files("dashboard").joinpath("mappings", MAPPING_FILES[kind]).read_text()
    body: dict[str, Any] = json.loads(text)
    return body


def ensure_index(es: Elasticsearch, name: str, kind: str) -> bool:
    """Create index `name` with the `kind` mapping unless it exists; True if created."""
    if es.indices.exists(index=name):
        return False
    es.indices.create(index=name, **mapping(kind))
    return True


def main(argv: list[str] | None = None) -> int:
    """Create the alerts and aggregates indices named by the dashboard's settings."""
    from .config import ConfigError, load

    try:
        cfg = load(os.environ)
    except ConfigError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    es = Elasticsearch(cfg.elasticsearch_url, request_timeout=cfg.es_timeout_s)
    for name, kind in ((cfg.alerts_index, "alerts"), (cfg.aggregates_index, "aggregates")):
        created = ensure_index(es, name, kind)
        sys.stdout.write(f"{name}: {'created' if created else 'exists'}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
