"""Fixtures for the Docker end-to-end tests: the engine, the base image, the app images.

At the end of the session (also after failures, Ctrl-C or SIGTERM) everything the run
created is removed: its labelled containers and networks, and the images it built
(``IOTSTACK_KEEP_IMAGES=1`` keeps the images; see :mod:`docker_e2e.engine`).
"""

from __future__ import annotations

import signal
import sys
import uuid
from collections.abc import Iterator
from types import FrameType

import pytest
from harness.stack import Stack

from docker_e2e import engine


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    # SIGTERM (CI cancelling a job, `timeout`) becomes an interrupt, so pytest still runs
    # the fixtures' teardown and the clean-up below.
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def docker_engine(service_stack: Stack) -> Iterator[None]:
    """A reachable Docker engine (started here if none runs); cleaned up at the end."""
    daemon = engine.ensure_engine(service_stack.run_dir)
    previous = signal.getsignal(signal.SIGTERM)
    if previous is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        problems = engine.cleanup()
        if problems:
            sys.stderr.write(
                "docker clean-up left (another session may still use them):\n  "
                + "\n  ".join(problems)
                + "\n"
            )
        if previous is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
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
