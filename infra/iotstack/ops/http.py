"""A tiny JSON-over-HTTP helper (standard library) for Elasticsearch and Kibana calls."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any


class HttpError(RuntimeError):
    """A request failed; the message names method, URL path, status and the server's reason."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Request:
    """One HTTP request, built by a pure function so tests can inspect it."""

    method: str
    path: str
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def basic_auth(user: str, password: str) -> dict[str, str]:
    """An Authorization header for HTTP basic auth."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def send(
    base_url: str, req: Request, auth: dict[str, str] | None = None, timeout_s: float = 30.0
) -> tuple[int, Any]:
    """Send ``req``; return (status, parsed JSON or None). 404 is returned, not raised."""
    data = None if req.body is None else json.dumps(req.body).encode()
    headers = {"Accept": "application/json", **req.headers, **(auth or {})}
    if data is not None:
        headers["Content-Type"] = "application/json"
    http_req = urllib.request.Request(
        base_url.rstrip("/") + req.path, data=data, method=req.method, headers=headers
    )
    try:
        with urllib.request.urlopen(http_req, timeout=timeout_s) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        raw = err.read()
        if err.code == 404:
            return 404, json.loads(raw) if raw.startswith(b"{") else None
        raise HttpError(
            f"{req.method} {req.path} -> HTTP {err.code}: {raw.decode(errors='replace')[:300]}",
            err.code,
        ) from None
    except (urllib.error.URLError, OSError) as err:
        raise HttpError(f"{req.method} {base_url}{req.path} failed: {err}") from None
