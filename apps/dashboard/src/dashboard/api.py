"""JSON API: alerts, counts, sensors, one sensor's series, and health."""

from __future__ import annotations

from typing import Any, cast

from flask import Blueprint, Response, abort, current_app, jsonify, request

from .live import LiveSource, tcp_reachable
from .params import MAX_MINUTES, alert_query, int_param, reject_unknown, sensor_id_param, text_param
from .store import Store

bp = Blueprint("api", __name__)


def store() -> Store:
    """The Elasticsearch queries of the current app."""
    return cast(Store, current_app.extensions["dashboard.store"])


def live() -> LiveSource:
    """The live alert source of the current app."""
    return cast(LiveSource, current_app.extensions["dashboard.live"])


@bp.get("/api/alerts")
def alerts() -> Response:
    """Alerts, newest first: `?status=open|resolved|any&severity=&rule=&site=&sensor_id=`."""
    q = alert_query(request.args)
    result = store().alerts(q)
    return jsonify(total=result["total"], size=q.size, offset=q.offset, alerts=result["alerts"])


@bp.get("/api/alerts/summary")
def summary() -> Response:
    """Open alerts counted per rule, site and severity."""
    reject_unknown(request.args, ())
    return jsonify(store().summary())


@bp.get("/api/sensors")
def sensors() -> Response:
    """Every known sensor with its latest one-minute average and open alerts."""
    reject_unknown(request.args, ("site",))
    found = store().sensors(text_param(request.args, "site"))
    return jsonify(sensors=found, count=len(found))


@bp.get("/api/sensors/<path:sensor_id>/series")
def series(sensor_id: str) -> Response:
    """One sensor's one-minute aggregates: `?minutes=60` (ending at its latest minute)."""
    reject_unknown(request.args, ("minutes",))
    minutes = int_param(request.args, "minutes", 60, 1, MAX_MINUTES)
    result = store().series(sensor_id_param(sensor_id), minutes)
    if result is None:
        abort(404, description=f"unknown sensor {sensor_id!r}: no aggregates and no alerts")
    return jsonify(result)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Whether Elasticsearch and Kafka are reachable; 200 while the process serves at all."""
    reject_unknown(request.args, ())
    cfg = current_app.config["DASHBOARD"]
    es_ok, es_detail = store().ping()
    kafka_ok, kafka_detail = tcp_reachable(cfg.kafka_bootstrap_servers)
    body: dict[str, Any] = {
        "status": "ok" if es_ok and kafka_ok else "degraded",
        "elasticsearch": {"reachable": es_ok, "detail": es_detail},
        "kafka": {"reachable": kafka_ok, "detail": kafka_detail, "live": live().status()},
        "streams": {"open": current_app.extensions["dashboard.slots"].in_use,
                    "limit": cfg.max_streams},
    }
    return jsonify(body), 200
