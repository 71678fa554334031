"""HTML pages: overview of open alerts, sensor list, one sensor's trend chart."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Flask, Response, abort, render_template, request

from .alerts import RULES
from .api import live, store
from .charts import series_svg
from .params import MAX_MINUTES, int_param, reject_unknown, sensor_id_param, text_param
from .sse import format_position
from .store import AlertQuery, BackendUnavailable

bp = Blueprint("pages", __name__)

OVERVIEW_ROWS = 100


def utc(ms: Any) -> str:
    """Epoch milliseconds as an ISO-like UTC time, or '—'."""
    if not isinstance(ms, (int, float)):
        return "—"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ms / 1000))


def ago(ms: Any) -> str:
    """Epoch milliseconds as a rough 'how long ago' (the page's script keeps it current)."""
    if not isinstance(ms, (int, float)):
        return "—"
    seconds = max(0, int(time.time() - ms / 1000))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def init_app(app: Flask) -> None:
    """Register the template filters."""
    app.add_template_filter(utc)
    app.add_template_filter(ago)


@bp.get("/")
def overview() -> str:
    """Open alerts, counts per rule and per site; new alerts arrive over SSE."""
    reject_unknown(request.args, ())
    # Take the stream position before reading Elasticsearch: anything after it is replayed,
    # so an alert landing between this render and the stream connecting is not lost.
    position = live().current_position()
    degraded = None
    summary: dict[str, Any] | None = None  # unknown, not zero, while Elasticsearch is down
    alerts: list[dict[str, Any]] = []
    try:
        summary = store().summary()
        alerts = store().alerts(AlertQuery(status="open", size=OVERVIEW_ROWS))["alerts"]
    except BackendUnavailable as exc:
        degraded = str(exc)
    return render_template("overview.html", summary=summary, alerts=alerts, rules=RULES,
                           degraded=degraded, rows=OVERVIEW_ROWS,
                           since=format_position(position) if position else "")


@bp.get("/favicon.ico")
def favicon() -> Response:
    """No icon; answer quietly instead of logging a 404 for every page view."""
    return Response(status=204)


@bp.get("/sensors")
def sensors() -> str:
    """Every sensor with its latest average and open alert count."""
    reject_unknown(request.args, ("site",))
    site = text_param(request.args, "site")
    degraded, found = None, []
    try:
        found = store().sensors(site)
    except BackendUnavailable as exc:
        degraded = str(exc)
    return render_template("sensors.html", sensors=found, site=site, degraded=degraded)


@bp.get("/sensors/<path:sensor_id>")
def sensor(sensor_id: str) -> str:
    """One sensor: its temperature chart and its recent alerts."""
    reject_unknown(request.args, ("minutes",))
    minutes = int_param(request.args, "minutes", 60, 1, MAX_MINUTES)
    sensor_id = sensor_id_param(sensor_id)
    degraded, series, alerts = None, None, []
    try:
        series = store().series(sensor_id, minutes)
        if series is None:
            abort(404, description=f"unknown sensor {sensor_id!r}: no aggregates and no alerts")
        alerts = store().alerts(AlertQuery(status=None, sensor_id=sensor_id, size=20))["alerts"]
    except BackendUnavailable as exc:
        degraded = str(exc)
    return render_template("sensor.html", sensor_id=sensor_id, series=series, alerts=alerts,
                           minutes=minutes, degraded=degraded)


@bp.get("/chart.svg")
def chart() -> Response:
    """The sensor's trend as an SVG image: `?sensor_id=...&minutes=60` (`v` busts caches)."""
    reject_unknown(request.args, ("sensor_id", "minutes", "v"))
    sensor_id = text_param(request.args, "sensor_id")
    if sensor_id is None:
        abort(400, description="query parameter 'sensor_id' is required")
    minutes = int_param(request.args, "minutes", 60, 1, MAX_MINUTES)
    series = store().series(sensor_id, minutes)
    if series is None:
        abort(404, description=f"unknown sensor {sensor_id!r}")
    svg = series_svg(series["points"], f"{sensor_id}: last {minutes} min")
    resp = Response(svg, mimetype="image/svg+xml")
    resp.headers["Cache-Control"] = "no-store"
    return resp
