"""Elasticsearch index templates and user passwords as declarative objects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iotstack.ops.diffs import Change, compare
from iotstack.ops.http import HttpError, Request, send


def put_template_request(name: str, body: Mapping[str, Any]) -> Request:
    """PUT _index_template/<name> (create or overwrite)."""
    return Request("PUT", f"/_index_template/{name}", dict(body))


def put_template(
    url: str, name: str, body: Mapping[str, Any], auth: dict[str, str] | None = None
) -> dict[str, Any]:
    """Create or overwrite the template; return it as stored."""
    send(url, put_template_request(name, body), auth)
    stored = get_template(url, name, auth)
    if stored is None:
        raise HttpError(f"index template {name!r} is missing right after PUT on {url}")
    return stored


def get_template(url: str, name: str, auth: dict[str, str] | None = None) -> dict[str, Any] | None:
    """The stored template body, or None when there is none."""
    status, body = send(url, Request("GET", f"/_index_template/{name}"), auth)
    if status == 404 or not body:
        return None
    for item in body.get("index_templates", []):
        if item["name"] == name:
            return dict(item["index_template"])
    return None


def delete_template(url: str, name: str, auth: dict[str, str] | None = None) -> None:
    """Delete the template; an already missing one is fine."""
    send(url, Request("DELETE", f"/_index_template/{name}"), auth)


def diff_template(olds: Mapping[str, Any], news: Mapping[str, Any]) -> Change:
    """A renamed template is a replacement; a changed body is an in-place update."""
    return compare(olds, news, ("name", "body"), ("name",))


def set_password_request(user: str, password: str) -> Request:
    """POST _security/user/<user>/_password (e.g. for the built-in kibana_system user)."""
    return Request("POST", f"/_security/user/{user}/_password", {"password": password})


def set_password(url: str, user: str, password: str, auth: dict[str, str] | None) -> None:
    """Set a built-in user's password with the elastic superuser's credentials."""
    send(url, set_password_request(user, password), auth)
