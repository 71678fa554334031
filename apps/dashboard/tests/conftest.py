"""Fixtures for the dashboard tests; the services come from the root conftest's harness."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

SRC = Path(__file__).resolve().parents[1] / "src"
# The app is not installed into the shared test venv; import it from its source tree.
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

from dashboard import create_app  # noqa: E402


def closed_port() -> int:
    """A local TCP port nothing listens on: a real, unreachable backend."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def unreachable() -> dict[str, str]:
    """Settings pointing Elasticsearch and Kafka at closed local ports."""
    return {"ELASTICSEARCH_URL": f"http://127.0.0.1:{closed_port()}",
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{closed_port()}",
            "DASHBOARD_ES_TIMEOUT_S": "2"}


@pytest.fixture
def degraded_app(unreachable: dict[str, str]) -> Iterator[Flask]:
    """The app with both backends down."""
    app = create_app(unreachable)
    yield app
    app.extensions["dashboard.live"].stop()
