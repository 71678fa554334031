"""Session-scoped pytest fixtures for the real services (started on first use, always stopped)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness import elasticsearch as es_mod
from harness import flink as flink_mod
from harness import kafka as kafka_mod
from harness.stack import Stack


@pytest.fixture(scope="session")
def service_stack() -> Iterator[Stack]:
    """All services of this test session; stopped at the end even when tests fail."""
    stack = Stack()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def kafka(service_stack: Stack) -> kafka_mod.Kafka:
    """Kafka 3.9 + ZooKeeper; ``kafka.bootstrap`` is "127.0.0.1:PORT"."""
    return service_stack.kafka()


@pytest.fixture(scope="session")
def kafka_kraft(service_stack: Stack) -> kafka_mod.Kafka:
    """Kafka 4 in KRaft mode; same shape as ``kafka``."""
    return service_stack.kafka_kraft()


@pytest.fixture(scope="session")
def elasticsearch(service_stack: Stack) -> es_mod.Elasticsearch:
    """A single Elasticsearch node; ``elasticsearch.url`` is "http://127.0.0.1:PORT"."""
    return service_stack.elasticsearch()


@pytest.fixture(scope="session")
def flink(
    service_stack: Stack, kafka: kafka_mod.Kafka, elasticsearch: es_mod.Elasticsearch
) -> flink_mod.Flink:
    """A Flink session cluster; ``flink.rest_url``; Kafka and Elasticsearch run too."""
    return service_stack.flink()
