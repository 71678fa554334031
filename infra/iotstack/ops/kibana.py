"""Kibana data view, saved search and dashboard: the requests, built as pure functions.

Kibana cannot run on the build machine, so tests check the requests these functions
build (paths, headers, bodies), not a live Kibana. The APIs are Kibana 8.x's
``/api/data_views`` and ``/api/saved_objects`` (``overwrite=true`` makes create idempotent).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from iotstack.ops.diffs import Change, compare
from iotstack.ops.http import Request, send

XSRF = {"kbn-xsrf": "true"}  # Kibana rejects writes without it


def create_data_view_request(view: Mapping[str, Any]) -> Request:
    """POST /api/data_views/data_view with override, so re-creating is safe."""
    return Request("POST", "/api/data_views/data_view",
                   {"data_view": dict(view), "override": True}, dict(XSRF))


def delete_data_view_request(view_id: str) -> Request:
    """DELETE /api/data_views/data_view/<id>."""
    return Request("DELETE", f"/api/data_views/data_view/{view_id}", None, dict(XSRF))


def saved_search_request(search_id: str, search: Mapping[str, Any],
                         data_view_id: str) -> Request:
    """A saved search (type ``search``) over the data view."""
    source = {
        "query": {"query": search["query"], "language": "kuery"},
        "filter": [],
        "indexRefName": "kibanaSavedObjectMeta.searchSourceJSON.index",
    }
    attributes = {
        "title": search["title"],
        "columns": list(search["columns"]),
        "sort": [list(s) for s in search["sort"]],
        "kibanaSavedObjectMeta": {"searchSourceJSON": json.dumps(source)},
    }
    references = [{"name": "kibanaSavedObjectMeta.searchSourceJSON.index",
                   "type": "index-pattern", "id": data_view_id}]
    return Request("POST", f"/api/saved_objects/search/{search_id}?overwrite=true",
                   {"attributes": attributes, "references": references}, dict(XSRF))


def dashboard_request(dashboard_id: str, board: Mapping[str, Any], search_id: str) -> Request:
    """A dashboard with a markdown note (by value) and the saved search (by reference)."""
    panels = [
        {"panelIndex": "note", "gridData": {"x": 0, "y": 0, "w": 48, "h": 6, "i": "note"},
         "type": "visualization",
         "embeddableConfig": {"savedVis": {
             "title": "", "description": "", "type": "markdown",
             "params": {"markdown": board["markdown"], "fontSize": 12, "openLinksInNewTab": False},
             "data": {"aggs": [], "searchSource": {}}}}},
        {"panelIndex": "search", "gridData": {"x": 0, "y": 6, "w": 48, "h": 20, "i": "search"},
         "type": "search", "panelRefName": "panel_search", "embeddableConfig": {}},
    ]
    attributes = {
        "title": board["title"],
        "description": board["description"],
        "panelsJSON": json.dumps(panels),
        "optionsJSON": json.dumps({"useMargins": True, "hidePanelTitles": False}),
        "timeRestore": True, "timeFrom": "now-24h", "timeTo": "now",
        "kibanaSavedObjectMeta": {"searchSourceJSON": json.dumps(
            {"query": {"query": "", "language": "kuery"}, "filter": []})},
    }
    references = [{"name": "panel_search", "type": "search", "id": search_id}]
    return Request("POST", f"/api/saved_objects/dashboard/{dashboard_id}?overwrite=true",
                   {"attributes": attributes, "references": references}, dict(XSRF))


def delete_saved_object_request(kind: str, object_id: str) -> Request:
    """DELETE /api/saved_objects/<kind>/<id>."""
    return Request("DELETE", f"/api/saved_objects/{kind}/{object_id}", None, dict(XSRF))


def apply_requests(spec: Mapping[str, Any]) -> list[Request]:
    """The requests that create (or overwrite) the data view, search and dashboard."""
    view = spec["data_view"]
    return [
        create_data_view_request(view),
        saved_search_request(spec["search_id"], spec["search"], view["id"]),
        dashboard_request(spec["dashboard_id"], spec["dashboard"], spec["search_id"]),
    ]


def delete_requests(spec: Mapping[str, Any]) -> list[Request]:
    """The requests that remove them again, dependents first."""
    return [
        delete_saved_object_request("dashboard", spec["dashboard_id"]),
        delete_saved_object_request("search", spec["search_id"]),
        delete_data_view_request(spec["data_view"]["id"]),
    ]


def diff_objects(olds: Mapping[str, Any], news: Mapping[str, Any]) -> Change:
    """Changed ids replace (delete old, create new); changed content overwrites in place."""
    return compare(olds, news, ("data_view", "search_id", "search", "dashboard_id", "dashboard"),
                   ("search_id", "dashboard_id"))


def apply(url: str, spec: Mapping[str, Any], auth: dict[str, str] | None = None) -> None:
    """Send the create/overwrite requests in order."""
    for req in apply_requests(spec):
        send(url, req, auth)


def remove(url: str, spec: Mapping[str, Any], auth: dict[str, str] | None = None) -> None:
    """Send the delete requests; already missing objects are fine (404 is not raised)."""
    for req in delete_requests(spec):
        send(url, req, auth)
