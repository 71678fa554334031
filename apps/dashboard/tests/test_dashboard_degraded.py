"""Both backends down (closed local ports): pages render with a banner, the API answers 503."""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import pytest
from flask import Flask

PAGES = ["/", "/sensors", "/sensors/sensor-0001"]
API = ["/api/alerts", "/api/alerts/summary", "/api/sensors", "/api/sensors/sensor-0001/series"]


@pytest.mark.parametrize("path", PAGES)
def test_pages_render_with_degraded_banner(degraded_app: Flask, path: str) -> None:
    resp = degraded_app.test_client().get(path)
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert 'id="degraded"' in html
    assert "Elasticsearch at http://127.0.0.1:" in html
    assert "unreachable" in html
    assert "Traceback" not in html


@pytest.mark.parametrize("path", API)
def test_api_answers_503_with_reason(degraded_app: Flask, path: str) -> None:
    resp = degraded_app.test_client().get(path)
    assert resp.status_code == 503
    body = resp.get_json()
    assert body["status"] == 503
    assert body["error"].startswith("Elasticsearch at http://127.0.0.1:")
    assert "unreachable" in body["error"]
    assert "Traceback" not in resp.get_data(as_text=True)


def test_health_reports_both_unreachable(degraded_app: Flask) -> None:
    resp = degraded_app.test_client().get("/healthz")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "degraded"
    assert body["elasticsearch"]["reachable"] is False
    assert body["kafka"]["reachable"] is False
    assert "refused" in body["kafka"]["detail"].lower()
    assert body["kafka"]["live"]["live"] is False


def test_overview_without_kafka_has_no_resume_position(degraded_app: Flask) -> None:
    html = degraded_app.test_client().get("/").get_data(as_text=True)
    assert 'data-since=""' in html


def test_stream_reports_live_feed_unavailable(degraded_app: Flask) -> None:
    degraded_app.extensions["dashboard.live"].start()
    resp = degraded_app.test_client().get("/stream/alerts", buffered=False)
    try:
        assert resp.status_code == 200
        assert resp.mimetype == "text/event-stream"
        chunks = iter(cast(Iterable[bytes], resp.response))
        assert next(chunks).decode() == "retry: 3000\n\n: connected\n\n"
        status = next(chunks).decode()
        assert status.startswith("event: status\ndata: ")
        assert '"live":false' in status
    finally:
        resp.close()


def test_overview_shows_unknown_not_zero_counts(degraded_app: Flask) -> None:
    html = degraded_app.test_client().get("/").get_data(as_text=True)
    assert '<div class="num" id="open-count">—</div>' in html
    assert '<div class="num" id="open-count">0</div>' not in html
    assert "Open alerts are unknown while Elasticsearch is unreachable." in html
