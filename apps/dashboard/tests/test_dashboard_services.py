"""The dashboard against the harness's real Elasticsearch and Kafka."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import Any, cast

import pytest
from dashboard_testlib import (
    SseReader,
    aggregate,
    alert,
    index_aggregates,
    index_alerts,
    produce,
    producer,
)
from elasticsearch import Elasticsearch
from flask import Flask
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from dashboard import create_app
from dashboard.indices import ensure_index

pytestmark = pytest.mark.services

NOW = int(time.time() * 1000)


@pytest.fixture
def es(elasticsearch: Any) -> Elasticsearch:
    return Elasticsearch(elasticsearch.url, request_timeout=30)


@pytest.fixture
def indices(es: Elasticsearch) -> Iterator[dict[str, str]]:
    """Fresh alerts and aggregates indices with the app's own mappings."""
    suffix = uuid.uuid4().hex[:8]
    names = {"ALERTS_INDEX": f"alerts-{suffix}", "AGGREGATES_INDEX": f"readings-1m-{suffix}"}
    assert ensure_index(es, names["ALERTS_INDEX"], "alerts")
    assert ensure_index(es, names["AGGREGATES_INDEX"], "aggregates")
    yield names
    es.indices.delete(index=list(names.values()), ignore_unavailable=True)


def create_topic(bootstrap: str, name: str, partitions: int = 2) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        admin.close()


@pytest.fixture
def topic(kafka: Any) -> str:
    """A fresh two-partition alerts topic."""
    name = f"alerts-{uuid.uuid4().hex[:8]}"
    create_topic(kafka.bootstrap, name)
    return name


@pytest.fixture
def prod(kafka: Any) -> Iterator[KafkaProducer]:
    p = producer(kafka.bootstrap)
    yield p
    p.close()


def make_app(elasticsearch: Any, kafka: Any, indices: dict[str, str], topic: str,
             **extra: str) -> Flask:
    return create_app({"ELASTICSEARCH_URL": elasticsearch.url,
                       "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap, "ALERTS_TOPIC": topic,
                       "DASHBOARD_HEARTBEAT_S": "0.2", **indices, **extra})


@pytest.fixture
def apps(elasticsearch: Any, kafka: Any, indices: dict[str, str], topic: str
         ) -> Iterator[list[Flask]]:
    """Apps made in a test (several may share a topic); every live reader is stopped after."""
    made: list[Flask] = []
    yield made
    for app in made:
        app.extensions["dashboard.live"].stop()


def wait_live(app: Flask, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = app.extensions["dashboard.live"].status()
        if status["live"] and status["state"] == "live":
            return
        time.sleep(0.1)
    raise AssertionError(f"live feed not ready: {app.extensions['dashboard.live'].status()}")


class Stream:
    """An open /stream/alerts response read as SSE."""

    def __init__(self, app: Flask, since: str | None = None, header: str | None = None):
        url = "/stream/alerts" + (f"?since={since}" if since else "")
        headers = {"Last-Event-ID": header} if header else {}
        self.resp = app.test_client().get(url, headers=headers, buffered=False)
        assert self.resp.status_code == 200, self.resp.get_data(as_text=True)
        self.reader = SseReader(cast(Iterable[bytes], self.resp.response))

    def close(self) -> None:
        self.resp.close()


# --- Elasticsearch-backed API and pages ----------------------------------------------------
@pytest.fixture
def seeded(es: Elasticsearch, indices: dict[str, str]) -> dict[str, Any]:
    crit = alert("sensor-0001", NOW - 120_000, severity="critical", site="plant-a")
    warn = alert("sensor-0002", NOW - 60_000, rule="low_temperature", severity="warning",
                 site="plant-b", value=1.5, threshold=2.0)
    done = alert("sensor-0001", NOW - 3_600_000, status="resolved")
    only_alert = alert("sensor-0003", NOW - 30_000, rule="sensor_silent", site="plant-b")
    index_alerts(es, indices["ALERTS_INDEX"], [crit, warn, done, only_alert])
    start = (NOW // 60_000 - 10) * 60_000
    index_aggregates(es, indices["AGGREGATES_INDEX"],
                     [aggregate("sensor-0001", start + i * 60_000, 20.0 + i) for i in range(10)])
    return {"crit": crit, "warn": warn, "done": done, "only_alert": only_alert, "start": start}


def test_alerts_api_filters_and_limits(elasticsearch: Any, kafka: Any, indices: dict[str, str],
                                       topic: str, apps: list[Flask],
                                       seeded: dict[str, Any]) -> None:
    apps.append(make_app(elasticsearch, kafka, indices, topic))
    client = apps[0].test_client()
    body = client.get("/api/alerts").get_json()
    assert body["total"] == 3
    assert [a["alert_id"] for a in body["alerts"]] == [
        seeded["only_alert"]["alert_id"], seeded["warn"]["alert_id"], seeded["crit"]["alert_id"]]
    assert body["alerts"][2] == seeded["crit"]
    assert client.get("/api/alerts?severity=warning").get_json()["alerts"] == [seeded["warn"]]
    assert client.get("/api/alerts?status=resolved").get_json()["alerts"] == [seeded["done"]]
    assert client.get("/api/alerts?status=any").get_json()["total"] == 4
    assert client.get("/api/alerts?site=plant-b&rule=sensor_silent").get_json()["total"] == 1
    assert client.get("/api/alerts?sensor_id=sensor-0001&status=any").get_json()["total"] == 2
    page = client.get("/api/alerts?size=1&offset=1").get_json()
    assert (page["total"], page["size"], page["offset"]) == (3, 1, 1)
    assert [a["alert_id"] for a in page["alerts"]] == [seeded["warn"]["alert_id"]]


def test_summary_sensors_and_series(elasticsearch: Any, kafka: Any, indices: dict[str, str],
                                    topic: str, apps: list[Flask],
                                    seeded: dict[str, Any]) -> None:
    apps.append(make_app(elasticsearch, kafka, indices, topic))
    client = apps[0].test_client()
    assert client.get("/api/alerts/summary").get_json() == {
        "open": 3, "by_rule": {"high_temperature": 1, "low_temperature": 1, "sensor_silent": 1},
        "by_site": {"plant-a": 1, "plant-b": 2}, "by_severity": {"critical": 2, "warning": 1}}
    sensors = {s["sensor_id"]: s for s in client.get("/api/sensors").get_json()["sensors"]}
    assert set(sensors) == {"sensor-0001", "sensor-0002", "sensor-0003"}
    assert sensors["sensor-0001"]["last_avg"] == 29.0
    assert sensors["sensor-0001"]["open_alerts"] == 1
    assert sensors["sensor-0003"] == {"sensor_id": "sensor-0003", "site": "plant-b",
                                      "last_window_end": None, "last_avg": None,
                                      "open_alerts": 1}
    assert [s["sensor_id"] for s in client.get("/api/sensors?site=plant-b")
            .get_json()["sensors"]] == ["sensor-0002", "sensor-0003"]
    series = client.get("/api/sensors/sensor-0001/series?minutes=5").get_json()
    assert series["site"] == "plant-a"
    assert [p["avg"] for p in series["points"]] == [25.0, 26.0, 27.0, 28.0, 29.0]
    assert series["points"][0]["window_start"] == seeded["start"] + 5 * 60_000
    known_by_alert = client.get("/api/sensors/sensor-0003/series").get_json()
    assert known_by_alert["points"] == []
    missing = client.get("/api/sensors/sensor-9999/series")
    assert missing.status_code == 404
    assert "unknown sensor 'sensor-9999'" in missing.get_json()["error"]
    assert client.get("/sensors/sensor-9999").status_code == 404


def test_pages_show_alerts_counts_and_chart(elasticsearch: Any, kafka: Any,
                                            indices: dict[str, str], topic: str,
                                            apps: list[Flask], seeded: dict[str, Any]) -> None:
    apps.append(make_app(elasticsearch, kafka, indices, topic))
    client = apps[0].test_client()
    html = client.get("/").get_data(as_text=True)
    assert 'id="degraded"' not in html
    assert html.count('<tr data-alert-id="') == 3
    assert '<div class="num" id="open-count">3</div>' in html
    assert re.search(r"<th>plant-b</th><td class=\"n\">2</td>", html)
    sensor = client.get("/sensors/sensor-0001").get_data(as_text=True)
    assert "10 one-minute aggregates" in sensor
    assert "/chart.svg?sensor_id=sensor-0001&amp;minutes=60" in sensor
    svg = client.get("/chart.svg?sensor_id=sensor-0001&minutes=60")
    assert svg.mimetype == "image/svg+xml"
    points = re.search(r'<polyline points="([^"]+)"', svg.get_data(as_text=True))
    assert points is not None and len(points.group(1).split()) == 10
    assert client.get("/sensors").get_data(as_text=True).count('href="/sensors/sensor-') == 3


HOSTILE = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">'


def test_hostile_sensor_strings_are_inert(es: Elasticsearch, elasticsearch: Any, kafka: Any,
                                          indices: dict[str, str], topic: str,
                                          apps: list[Flask]) -> None:
    evil = alert(HOSTILE, NOW, site=HOSTILE)
    evil["message"] = HOSTILE
    index_alerts(es, indices["ALERTS_INDEX"], [evil])
    index_aggregates(es, indices["AGGREGATES_INDEX"], [{**aggregate(HOSTILE, NOW, 21.0),
                                                        "site": HOSTILE}])
    apps.append(make_app(elasticsearch, kafka, indices, topic))
    client = apps[0].test_client()
    for page in ("/", "/sensors"):
        html = client.get(page).get_data(as_text=True)
        assert "<script>window.pwned" not in html and "<img src=x" not in html
        assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in html
    # The id travels in the URL path too: the sensor page must find it and escape it.
    sensor = client.get("/sensors/" + HOSTILE.replace("/", "%2F"))
    assert sensor.status_code == 200
    html = sensor.get_data(as_text=True)
    assert "<script>window.pwned" not in html and "&lt;img src=x" in html
    # The API returns the data faithfully (JSON, nosniff): it is the renderer's job to escape.
    body = client.get("/api/alerts").get_json()
    assert body["alerts"][0]["sensor_id"] == HOSTILE
    svg = client.get("/chart.svg", query_string={"sensor_id": HOSTILE}).get_data(as_text=True)
    assert "<script>" not in svg and "&lt;script&gt;" in svg


def test_health_reports_both_reachable(elasticsearch: Any, kafka: Any, indices: dict[str, str],
                                       topic: str, apps: list[Flask]) -> None:
    apps.append(make_app(elasticsearch, kafka, indices, topic))
    wait_live(apps[0])
    body = apps[0].test_client().get("/healthz").get_json()
    assert body["status"] == "ok"
    assert body["elasticsearch"]["reachable"] is True
    assert body["elasticsearch"]["detail"].startswith("version 8.19.")
    assert body["kafka"]["reachable"] is True
    assert body["kafka"]["live"]["state"] == "live"


# --- Live stream from the real alerts topic -------------------------------------------------
def test_live_alert_then_resume_after_reconnect(elasticsearch: Any, kafka: Any,
                                                indices: dict[str, str], topic: str,
                                                apps: list[Flask], prod: KafkaProducer) -> None:
    apps.append(make_app(elasticsearch, kafka, indices, topic))
    wait_live(apps[0])
    stream = Stream(apps[0])
    ready = stream.reader.next_event()
    assert ready.event == "ready" and ready.id == "0:0,1:0"
    first = alert("sensor-0100", NOW)
    produce(prod, topic, first, partition=1)
    got = stream.reader.next_event()
    assert (got.event, got.json(), got.id) == ("alert", first, "0:0,1:1")
    stream.close()

    # While disconnected, two more alerts arrive on both partitions.
    missed = [alert("sensor-0101", NOW + 1), alert("sensor-0102", NOW + 2, status="resolved")]
    produce(prod, topic, missed[0], partition=0)
    produce(prod, topic, missed[1], partition=1)
    time.sleep(1.0)  # let the hub buffer them before the reconnect
    again = Stream(apps[0], since="0:0,1:0", header=got.id)  # the header wins over `since`
    assert again.reader.next_event().event == "ready"
    replay = again.reader.events_until_idle()
    assert sorted(e.json()["alert_id"] for e in replay) == [a["alert_id"] for a in missed]
    assert replay[-1].id == "0:1,1:2"
    again.close()

    # A new process has an empty buffer: the same id is served by reading Kafka back.
    apps.append(make_app(elasticsearch, kafka, indices, topic))
    wait_live(apps[1])
    fresh = Stream(apps[1], header=got.id)
    assert fresh.reader.next_event().event == "ready"
    replay = fresh.reader.events_until_idle()
    assert sorted(e.json()["alert_id"] for e in replay) == [a["alert_id"] for a in missed]
    assert replay[-1].id == "0:1,1:2"
    fresh.close()


def test_overview_position_covers_alerts_before_the_stream_opens(
        elasticsearch: Any, kafka: Any, indices: dict[str, str], topic: str,
        apps: list[Flask], prod: KafkaProducer) -> None:
    apps.append(make_app(elasticsearch, kafka, indices, topic))
    wait_live(apps[0])
    html = apps[0].test_client().get("/").get_data(as_text=True)
    since = re.search(r'data-since="([^"]*)"', html)
    assert since is not None and since.group(1) == "0:0,1:0"
    late = alert("sensor-0200", NOW)
    produce(prod, topic, late, partition=0)
    time.sleep(1.0)
    stream = Stream(apps[0], since=since.group(1))
    assert stream.reader.next_event().event == "ready"
    assert stream.reader.next_event().json() == late
    stream.close()


def test_small_buffer_falls_back_to_reading_kafka(elasticsearch: Any, kafka: Any,
                                                  indices: dict[str, str], topic: str,
                                                  apps: list[Flask],
                                                  prod: KafkaProducer) -> None:
    apps.append(make_app(elasticsearch, kafka, indices, topic, DASHBOARD_BUFFER_EVENTS="10"))
    wait_live(apps[0])
    sent = [alert("sensor-0300", NOW + i) for i in range(25)]
    for i, a in enumerate(sent):
        produce(prod, topic, a, partition=i % 2)
    time.sleep(1.5)
    assert apps[0].extensions["dashboard.live"].status()["buffered_events"] == 10
    stream = Stream(apps[0], header="0:0,1:0")
    assert stream.reader.next_event().event == "ready"
    got = stream.reader.events_until_idle()
    assert sorted(e.json()["alert_id"] for e in got) == sorted(a["alert_id"] for a in sent)
    assert got[-1].id == "0:13,1:12"
    stream.close()


def test_malformed_events_are_skipped_and_counted(elasticsearch: Any, kafka: Any,
                                                  indices: dict[str, str], topic: str,
                                                  apps: list[Flask],
                                                  prod: KafkaProducer) -> None:
    apps.append(make_app(elasticsearch, kafka, indices, topic))
    wait_live(apps[0])
    stream = Stream(apps[0])
    assert stream.reader.next_event().event == "ready"
    produce(prod, topic, b"{not json", partition=0)
    produce(prod, topic, {**alert("sensor-0400", NOW), "severity": "apocalyptic"}, partition=0)
    good = alert("sensor-0401", NOW)
    produce(prod, topic, good, partition=0)
    got = stream.reader.next_event()
    assert got.json() == good and got.id == "0:3,1:0"
    stream.close()
    live = apps[0].test_client().get("/healthz").get_json()["kafka"]["live"]
    assert live["malformed_events"] == 2
    assert "severity" in live["last_malformed"] and "offset 1" in live["last_malformed"]


def test_deleted_events_lead_to_a_reset(elasticsearch: Any, kafka: Any,
                                        indices: dict[str, str], topic: str,
                                        apps: list[Flask], prod: KafkaProducer) -> None:
    from kafka import TopicPartition

    for i in range(3):
        produce(prod, topic, alert("sensor-0500", NOW + i), partition=0)
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    try:
        admin.delete_records({TopicPartition(topic, 0): 2})  # what retention would do
    finally:
        admin.close()
    apps.append(make_app(elasticsearch, kafka, indices, topic))
    wait_live(apps[0])
    stream = Stream(apps[0], header="0:0,1:0")
    assert stream.reader.next_event().event == "ready"
    reset = stream.reader.next_event()
    assert reset.event == "reset"
    assert "deleted by Kafka retention" in reset.json()["reason"]
    assert reset.id == "0:3,1:0"
    stream.close()


def test_topic_created_after_start_is_read_from_its_beginning(
        elasticsearch: Any, kafka: Any, indices: dict[str, str], apps: list[Flask],
        prod: KafkaProducer) -> None:
    late_topic = f"alerts-late-{uuid.uuid4().hex[:8]}"
    apps.append(make_app(elasticsearch, kafka, indices, late_topic))
    deadline = time.monotonic() + 30
    while apps[0].extensions["dashboard.live"].status()["state"] != "waiting for topic":
        assert time.monotonic() < deadline, apps[0].extensions["dashboard.live"].status()
        time.sleep(0.1)
    stream = Stream(apps[0])
    assert stream.reader.next_event().event == "ready"
    create_topic(kafka.bootstrap, late_topic, partitions=1)
    first = alert("sensor-0600", NOW)
    produce(prod, late_topic, first, partition=0)
    got = stream.reader.next_event(timeout=30)
    while got.event == "status":
        got = stream.reader.next_event(timeout=30)
    assert (got.event, got.json(), got.id) == ("alert", first, "0:1")
    stream.close()
