"""A real browser (Debian's headless chromium) watching an alert arrive live, no reload."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import shot, start_server, stop_server
from dashboard_testlib import aggregate, alert, index_aggregates, index_alerts, produce, producer
from elasticsearch import Elasticsearch
from kafka.admin import KafkaAdminClient, NewTopic
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from dashboard.indices import ensure_index

pytestmark = pytest.mark.services

REPO = Path(__file__).resolve().parents[3]
SRC = REPO / "apps" / "dashboard" / "src"
OUTPUT = REPO / "test-output"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
LIVE_BOUND_S = 10  # an alert must show up on the open page within this many seconds


@pytest.fixture
def stack(elasticsearch: Any, kafka: Any) -> Iterator[dict[str, Any]]:
    """Fresh indices and topic, and the dashboard served by gunicorn as in the image."""
    es = Elasticsearch(elasticsearch.url, request_timeout=30)
    suffix = uuid.uuid4().hex[:8]
    alerts_index, aggregates_index, topic = (f"alerts-{suffix}", f"readings-1m-{suffix}",
                                             f"alerts-{suffix}")
    ensure_index(es, alerts_index, "alerts")
    ensure_index(es, aggregates_index, "aggregates")
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    admin.create_topics([NewTopic(topic, 1, 1)])
    admin.close()
    server, base, log = start_server({
        "ELASTICSEARCH_URL": elasticsearch.url, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "ALERTS_TOPIC": topic, "ALERTS_INDEX": alerts_index,
        "AGGREGATES_INDEX": aggregates_index}, "browser")
    try:
        deadline = time.monotonic() + 30
        while requests.get(f"{base}/healthz", timeout=5).json()["kafka"]["live"]["state"] != "live":
            assert time.monotonic() < deadline, "dashboard did not become live within 30 s"
            time.sleep(0.2)
        yield {"base": base, "es": es, "alerts_index": alerts_index,
               "aggregates_index": aggregates_index, "topic": topic,
               "kafka_bootstrap": kafka.bootstrap}
    finally:
        stop_server(server, log)
        es.indices.delete(index=[alerts_index, aggregates_index], ignore_unavailable=True)


def row_ids(driver: webdriver.Chrome) -> list[str]:
    rows = driver.find_elements(By.CSS_SELECTOR, "#alerts tbody tr")
    return [r.get_attribute("data-alert-id") or "" for r in rows]


def test_alert_appears_live_without_reload(stack: dict[str, Any],
                                           browser: webdriver.Chrome) -> None:
    now = int(time.time() * 1000)
    old = alert("sensor-0001", now - 300_000, severity="warning", rule="rate_of_change",
                site="plant-b", value=31.0, threshold=30.0)
    index_alerts(stack["es"], stack["alerts_index"], [old])
    browser.get(stack["base"] + "/")
    WebDriverWait(browser, 15).until(
        lambda d: d.find_element(By.ID, "live-status").text == "live")
    assert row_ids(browser) == [old["alert_id"]]
    browser.execute_script("window.__notReloaded = true;")

    hostile = '<img src=x onerror="window.pwned=1">sensor-<b>7</b>'
    fresh = [alert("sensor-0042", now, site="plant-a", value=84.7, threshold=80.0),
             alert(hostile, now + 1, site="plant-a", rule="low_temperature",
                   severity="warning", value=1.2, threshold=2.0)]
    prod = producer(stack["kafka_bootstrap"])
    try:
        # The alerts job writes each alert to the index and to the topic; do the same.
        index_alerts(stack["es"], stack["alerts_index"], fresh)
        started = time.monotonic()
        for a in fresh:
            produce(prod, stack["topic"], a)
    finally:
        prod.close()
    WebDriverWait(browser, LIVE_BOUND_S).until(lambda d: len(row_ids(d)) == 3)
    seen_after = time.monotonic() - started
    print(f"alerts visible {seen_after:.2f} s after producing them (bound {LIVE_BOUND_S} s)")
    assert row_ids(browser) == [fresh[1]["alert_id"], fresh[0]["alert_id"], old["alert_id"]]
    assert browser.execute_script("return window.__notReloaded === true;")
    WebDriverWait(browser, LIVE_BOUND_S).until(
        lambda d: d.find_element(By.ID, "open-count").text == "3")

    first = browser.find_elements(By.CSS_SELECTOR, "#alerts tbody tr")[1]
    cells = [c.text for c in first.find_elements(By.TAG_NAME, "td")]
    assert cells[:6] == ["critical", "sensor-0042", "plant-a", "high_temperature", "84.7 °C",
                         "80.0 °C"]
    evil_row = browser.find_elements(By.CSS_SELECTOR, "#alerts tbody tr")[0]
    assert evil_row.find_elements(By.TAG_NAME, "td")[1].text == hostile
    assert evil_row.find_elements(By.TAG_NAME, "img") == []
    assert browser.execute_script("return window.pwned === undefined;")
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 - no dialog may have opened
    assert browser.find_element(By.ID, "by-site").text.splitlines() == ["plant-a 2", "plant-b 1"]
    shot(browser, "dashboard-overview-live.png")


def test_sensor_page_chart(stack: dict[str, Any], browser: webdriver.Chrome) -> None:
    minute = (int(time.time() * 1000) // 60_000 - 30) * 60_000
    docs = [aggregate("sensor-0042", minute + i * 60_000, 21.0 + 3 * ((i % 10) / 10))
            for i in range(30)]
    index_aggregates(stack["es"], stack["aggregates_index"], docs)
    browser.get(stack["base"] + "/sensors/sensor-0042")
    WebDriverWait(browser, 10).until(lambda d: d.execute_script(
        "var i = document.getElementById('chart'); return i.complete && i.naturalWidth > 0;"))
    assert "30 one-minute aggregates" in browser.find_element(By.TAG_NAME, "figcaption").text
    shot(browser, "dashboard-sensor-chart.png")
