"""In a real browser, with Elasticsearch and Kafka down: a visible banner, no broken page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import closed_port, shot, start_server, stop_server
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


@pytest.fixture
def down_server() -> Iterator[str]:
    server, base, log = start_server({
        "ELASTICSEARCH_URL": f"http://127.0.0.1:{closed_port()}",
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{closed_port()}"}, "degraded")
    try:
        yield base
    finally:
        stop_server(server, log)


def test_degraded_banner_and_paused_live_status(down_server: str,
                                                browser: webdriver.Chrome) -> None:
    browser.get(down_server + "/")
    banner = browser.find_element(By.ID, "degraded")
    assert banner.is_displayed()
    assert "Degraded:" in banner.text and "unreachable" in banner.text
    WebDriverWait(browser, 15).until(
        lambda d: "live updates paused" in d.find_element(By.ID, "live-status").text)
    assert "Traceback" not in browser.page_source
    shot(browser, "dashboard-overview-degraded.png")
