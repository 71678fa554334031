"""HTTP behaviour that needs no backend: validation, errors, headers, the SSE body, limits."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from dashboard import create_app
from dashboard.charts import series_svg
from dashboard.errors import CSP
from dashboard.live import Message
from dashboard.sse import Position

ALERT = {"alert_id": "s-1:high_temperature:1000", "sensor_id": "s-1", "site": "plant-a",
         "rule": "high_temperature", "severity": "critical", "status": "open", "value": 81.2,
         "threshold": 80.0, "started_at": 1000, "resolved_at": None, "updated_at": 1000,
         "message": "hot"}


class ListSource:
    """A finite live source: records what it was asked for and replays a fixed list."""

    def __init__(self, messages: list[Message | None]) -> None:
        self.items = messages
        self.asked: list[Position | None] = []

    def messages(self, since: Position | None, wait_s: float) -> Iterator[Message | None]:
        self.asked.append(since)
        yield from self.items

    def current_position(self) -> Position | None:
        return {0: 3}

    def status(self) -> dict[str, Any]:
        return {"live": True, "state": "test"}

    def stop(self) -> None:
        pass


def app_with(source: ListSource, unreachable: dict[str, str], **extra: str) -> Flask:
    return create_app({**unreachable, **extra, "LIVE_SOURCE": source})


def test_stream_body_is_exact(unreachable: dict[str, str]) -> None:
    source = ListSource([Message("ready", {"live": True}, {0: 3}), None,
                         Message("alert", ALERT, {0: 4, 1: 0}),
                         Message("status", {"live": False, "reason": "x"})])
    resp = app_with(source, unreachable).test_client().get("/stream/alerts")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    assert resp.headers["Cache-Control"] == "no-cache"
    assert resp.get_data(as_text=True) == (
        "retry: 3000\n\n: connected\n\n"
        'event: ready\nid: 0:3\ndata: {"live":true}\n\n'
        ": keep-alive\n\n"
        f"event: alert\nid: 0:4,1:0\ndata: {json.dumps(ALERT, separators=(',', ':'))}\n\n"
        'event: status\ndata: {"live":false,"reason":"x"}\n\n')


def test_last_event_id_wins_over_since(unreachable: dict[str, str]) -> None:
    source = ListSource([])
    client = app_with(source, unreachable).test_client()
    client.get("/stream/alerts?since=0:3").get_data()
    client.get("/stream/alerts?since=0:3", headers={"Last-Event-ID": "0:9,1:2"}).get_data()
    client.get("/stream/alerts").get_data()
    assert source.asked == [{0: 3}, {0: 9, 1: 2}, None]


@pytest.mark.parametrize(("url", "headers", "name"), [
    ("/stream/alerts?since=zero", {}, "since"),
    ("/stream/alerts", {"Last-Event-ID": "0:1;1:x"}, "Last-Event-ID"),
    ("/stream/alerts?from=1", {}, "from"),
])
def test_bad_stream_parameters_are_400(unreachable: dict[str, str], url: str,
                                       headers: dict[str, str], name: str) -> None:
    resp = app_with(ListSource([]), unreachable).test_client().get(url, headers=headers)
    assert resp.status_code == 400
    assert name in resp.get_json()["error"]


def test_stream_limit_answers_503_and_frees_slots(unreachable: dict[str, str]) -> None:
    release = threading.Event()

    class Blocking(ListSource):
        def messages(self, since: Position | None, wait_s: float) -> Iterator[Message | None]:
            yield Message("ready", {"live": True}, {0: 0})
            release.wait(10)

    app = create_app({**unreachable, "DASHBOARD_THREADS": "3", "DASHBOARD_MAX_STREAMS": "2",
                      "LIVE_SOURCE": Blocking([])})
    client = app.test_client()
    held = [client.get("/stream/alerts", buffered=False) for _ in range(2)]
    for resp in held:
        next(iter(resp.response))  # the generators are running: slots are taken
    refused = client.get("/stream/alerts")
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "10"
    assert "limit 2" in refused.get_json()["error"]
    release.set()
    for resp in held:
        resp.close()
    assert app.extensions["dashboard.slots"].in_use == 0


@pytest.mark.parametrize(("url", "name"), [
    ("/api/alerts?size=501", "size"),
    ("/api/alerts?size=-1", "size"),
    ("/api/alerts?offset=abc", "offset"),
    ("/api/alerts?offset=9990&size=50", "offset"),
    ("/api/alerts?severity=fatal", "severity"),
    ("/api/alerts?status=closed", "status"),
    ("/api/alerts?rule=hot", "rule"),
    ("/api/alerts?sensor_id=", "sensor_id"),
    ("/api/alerts?colour=red", "colour"),
    ("/api/sensors/s-1/series?minutes=0", "minutes"),
    ("/api/sensors/s-1/series?minutes=99999", "minutes"),
    ("/api/alerts/summary?x=1", "x"),
    ("/healthz?verbose=1", "verbose"),
])
def test_bad_api_parameters_are_400_naming_the_parameter(
        degraded_app: Flask, url: str, name: str) -> None:
    resp = degraded_app.test_client().get(url)
    assert resp.status_code == 400
    assert f"'{name}'" in resp.get_json()["error"]


def test_bad_page_parameter_is_a_400_page(degraded_app: Flask) -> None:
    resp = degraded_app.test_client().get("/sensors/s-1?minutes=lots")
    assert resp.status_code == 400
    assert "minutes" in resp.get_data(as_text=True)
    assert resp.mimetype == "text/html"


def test_unknown_routes_and_methods(degraded_app: Flask) -> None:
    client = degraded_app.test_client()
    assert client.get("/api/nothing").get_json()["status"] == 404
    assert client.post("/api/alerts").get_json()["status"] == 405
    assert client.get("/nothing").mimetype == "text/html"


def test_security_headers_on_every_response(degraded_app: Flask) -> None:
    for path in ("/", "/api/alerts", "/nothing"):
        resp = degraded_app.test_client().get(path)
        assert resp.headers["Content-Security-Policy"] == CSP
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "'unsafe-inline'" not in CSP


def test_pages_carry_no_inline_script(degraded_app: Flask) -> None:
    for path in ("/", "/sensors", "/sensors/s-1"):
        html = degraded_app.test_client().get(path).get_data(as_text=True)
        for tag in re.findall(r"<script[^>]*>", html):
            assert "src=" in tag
        assert not re.search(r"<script[^>]*>[^<]+</script>", html)
        assert " on" + "load=" not in html and "javascript:" not in html


def test_unexpected_errors_are_one_line(unreachable: dict[str, str]) -> None:
    class Broken(ListSource):
        def status(self) -> dict[str, Any]:
            raise RuntimeError("boom in a secret place")

    resp = app_with(Broken([]), unreachable).test_client().get("/healthz")
    assert resp.status_code == 500
    assert resp.get_json() == {"error": "internal error; the server log has the details",
                               "status": 500}


def test_chart_escapes_text_and_draws_points() -> None:
    points = [{"window_start": 60_000 * i, "window_end": 60_000 * (i + 1), "count": 60,
               "min": 20.0 + i, "avg": 21.0 + i, "max": 22.0 + i} for i in range(5)]
    svg = series_svg(points, '<script>alert(1)</script>&"')
    assert "<script>" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&amp;" in svg
    assert svg.count("<polyline") == 1
    assert len(re.search(r'<polyline points="([^"]+)"', svg).group(1).split()) == 5  # type: ignore[union-attr]


def test_chart_without_points_says_so() -> None:
    assert "no one-minute aggregates" in series_svg([], "s")
