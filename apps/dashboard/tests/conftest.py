"""Fixtures for the dashboard tests; the services come from the root conftest's harness."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
import requests
from flask import Flask
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

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


REPO = Path(__file__).resolve().parents[3]
OUTPUT = REPO / "test-output"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def free_port() -> int:
    """A free local TCP port to serve on."""
    return closed_port()


def start_server(settings: dict[str, str], name: str
                 ) -> tuple[subprocess.Popen[bytes], str, IO[str]]:
    """Run `python -m dashboard` (gunicorn, as in the image) until /healthz answers."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(SRC), "DASHBOARD_BIND": f"127.0.0.1:{port}",
           **settings}
    OUTPUT.mkdir(exist_ok=True)
    log = (OUTPUT / f"dashboard-{name}-gunicorn.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "dashboard"], env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        if server.poll() is not None:
            log.close()
            raise AssertionError(f"gunicorn exited with {server.returncode}; see {log.name}")
        try:
            requests.get(f"{base}/healthz", timeout=5)
            return server, base, log
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                server.kill()
                raise AssertionError(
                    f"gunicorn did not answer within 30 s; see {log.name}") from None
            time.sleep(0.1)


def stop_server(server: subprocess.Popen[bytes], log: IO[str]) -> None:
    """Stop gunicorn the way Docker does (SIGTERM) and wait for it."""
    server.terminate()
    try:
        server.wait(timeout=15)
    finally:
        log.close()


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    """Debian's chromium, headless, with a fresh profile; never downloads a driver."""
    os.environ["SE_OFFLINE"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="dashboard-chromium-")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 f"--user-data-dir={profile}", "--window-size=1360,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def shot(driver: webdriver.Chrome, name: str) -> Path:
    """Save a screenshot under test-output/ and print where."""
    OUTPUT.mkdir(exist_ok=True)
    path = OUTPUT / name
    assert driver.save_screenshot(str(path)), f"could not write {path}"
    print(f"screenshot: {path}")
    return path
