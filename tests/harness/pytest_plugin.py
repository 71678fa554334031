"""Session-scoped pytest fixtures for the real services (started on first use, always stopped).

Also a guard on the command line: a file or directory named there that yields no test fails
the run (a path under one given before it, or under a ``norecursedirs`` entry, can silently
collect nothing; ``tests/infra/flink_live.py`` once never ran in CI that way).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness import elasticsearch as es_mod
from harness import flink as flink_mod
from harness import kafka as kafka_mod
from harness import kube as kube_mod
from harness.stack import Stack


def named_paths_without_tests(config: pytest.Config, items: list[pytest.Item]) -> list[str]:
    """The path arguments of this run (as given) under which no test was collected."""
    collected = {item.path.resolve() for item in items}
    empty = []
    for arg in config.args:
        path = (config.invocation_params.dir / arg.split("::", 1)[0]).resolve()
        if not path.exists():
            continue  # pytest itself reports paths it cannot find
        if not any(found == path or found.is_relative_to(path) for found in collected):
            empty.append(arg)
    return empty


@pytest.hookimpl(tryfirst=True)  # before -k/-m deselect anything
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Fail the run when a path named on the command line collected no test."""
    empty = named_paths_without_tests(config, items)
    if empty:
        raise pytest.UsageError(
            "\n".join(f"{arg}: named on the command line but collected no test" for arg in empty)
        )


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
def elasticsearch_security(service_stack: Stack) -> es_mod.Elasticsearch:
    """A node with security on (TLS off), ``elastic``'s password TEST_ELASTIC_PASSWORD."""
    return service_stack.elasticsearch_security()


@pytest.fixture(scope="session")
def flink(service_stack: Stack, kafka: kafka_mod.Kafka) -> flink_mod.Flink:
    """A Flink session cluster; ``flink.rest_url``; Kafka runs too (the job's only peer)."""
    return service_stack.flink()


@pytest.fixture(scope="session")
def kube(service_stack: Stack) -> kube_mod.Kube:
    """Kubernetes 1.37 (etcd, API server, controllers, scheduler) + a KWOK node; context
    ``kind-iotstack`` in ``kube.kubeconfig``."""
    return service_stack.kube()
