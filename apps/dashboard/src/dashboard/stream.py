"""The live alert stream: Server-Sent Events, resumable with Last-Event-ID."""

from __future__ import annotations

import json
from collections.abc import Iterator

from flask import Blueprint, Response, current_app, jsonify, request

from .live import LiveSource
from .params import BadParam, reject_unknown
from .sse import Position, format_comment, format_event, format_position, parse_position

bp = Blueprint("stream", __name__)

RETRY_MS = 3000


def render(source: LiveSource, since: Position | None, wait_s: float) -> Iterator[str]:
    """Turn the source's messages into SSE text, with keep-alive comments while idle."""
    yield format_event(retry_ms=RETRY_MS) + format_comment("connected")
    for msg in source.messages(since, wait_s):
        if msg is None:
            yield format_comment("keep-alive")
            continue
        event_id = format_position(msg.position) if msg.position else None
        yield format_event(json.dumps(msg.data, separators=(",", ":")), event=msg.kind,
                           event_id=event_id)


def _since() -> Position | None:
    # A browser reconnecting on its own sends Last-Event-ID; it is newer than the `since`
    # the page was rendered with, which stays in the URL.
    header = request.headers.get("Last-Event-ID", "").strip()
    if header:
        try:
            return parse_position(header)
        except ValueError as exc:
            raise BadParam(f"header 'Last-Event-ID': {exc}") from None
    raw = request.args.get("since", "").strip()
    if not raw:
        return None
    try:
        return parse_position(raw)
    except ValueError as exc:
        raise BadParam(f"query parameter 'since': {exc}") from None


@bp.get("/stream/alerts")
def alerts() -> Response | tuple[Response, int]:
    """Open an SSE stream of alert events (`event: alert`, JSON data as in the contract)."""
    reject_unknown(request.args, ("since",))
    since = _since()
    slots = current_app.extensions["dashboard.slots"]
    if not slots.acquire():
        resp = jsonify(error=f"too many live clients (limit {slots.limit}); retry shortly",
                       status=503)
        resp.headers["Retry-After"] = "10"
        return resp, 503
    cfg = current_app.config["DASHBOARD"]
    source: LiveSource = current_app.extensions["dashboard.live"]
    resp = Response(render(source, since, cfg.heartbeat_s), mimetype="text/event-stream")
    resp.headers["Cache-Control"] = "no-cache"
    resp.headers["X-Accel-Buffering"] = "no"  # let proxies pass events through at once
    resp.call_on_close(slots.release)
    return resp
