"""Fixtures for the Docker end-to-end tests: the engine, the base image, the app images."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from harness.stack import Stack

from docker_e2e import engine


@pytest.fixture(scope="session")
def docker_engine(service_stack: Stack) -> Iterator[None]:
    """A reachable Docker engine; started here (and stopped at the end) if none runs."""
    daemon = engine.ensure_engine(service_stack.run_dir)
    try:
        yield
    finally:
        if daemon is not None:
            daemon.stop()


@pytest.fixture(scope="session")
def app_images(docker_engine: None) -> engine.AppImages:
    """The app images, each built (once, on first use) from its own Dockerfile."""
    return engine.AppImages()


@pytest.fixture
def containers(docker_engine: None) -> Iterator[engine.Containers]:
    """Run containers for one test; all are removed afterwards, also on failure."""
    running = engine.Containers(prefix=f"iotstack-e2e-{uuid.uuid4().hex[:6]}")
    try:
        yield running
    finally:
        running.remove_all()
