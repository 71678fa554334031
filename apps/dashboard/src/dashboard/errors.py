"""Uniform error answers: JSON for machine endpoints, a page for people, never a traceback."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from .params import BadParam
from .store import BackendUnavailable

log = logging.getLogger(__name__)

_MACHINE_PREFIXES = ("/api/", "/stream/", "/healthz")

# Pages hold no inline script or style, so the policy can forbid both: an injected tag is inert.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")


def wants_json() -> bool:
    """Whether the current request is for an API or stream endpoint."""
    return request.path.startswith(_MACHINE_PREFIXES)


def error_response(status: int, message: str) -> tuple[Response | str, int]:
    """A JSON `{"error": ...}` or an error page with the given status."""
    if wants_json():
        return jsonify(error=message, status=status), status
    return render_template("error.html", status=status, message=message), status


def _security_headers(resp: Response) -> Response:
    resp.headers.setdefault("Content-Security-Policy", CSP)
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "no-referrer")
    resp.headers.setdefault("X-Frame-Options", "DENY")
    return resp


def init_app(app: Flask) -> None:
    """Register the error handlers and response headers."""
    app.after_request(_security_headers)

    @app.errorhandler(BadParam)
    def bad_param(exc: BadParam) -> tuple[Response | str, int]:
        return error_response(400, str(exc))

    @app.errorhandler(BackendUnavailable)
    def backend_down(exc: BackendUnavailable) -> tuple[Response | str, int]:
        return error_response(503, str(exc))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response | str, int]:
        return error_response(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[Response | str, int]:
        # The traceback goes to the server log only; the client gets one line.
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal error; the server log has the details")
