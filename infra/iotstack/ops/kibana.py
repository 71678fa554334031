"""Kibana index pattern (data view), saved search, note and dashboard, as pure requests.

Kibana cannot run on the build machine, so tests check the requests these functions
build (paths, headers, bodies), not a live Kibana. Everything goes through the saved
objects API (``/api/saved_objects/<type>/<id>?overwrite=true``), which Kibana 8.19 still
serves (deprecated since 8.7, not removed:
https://www.elastic.co/guide/en/kibana/8.19/saved-objects-api.html), so re-creating by id is
idempotent. The data view is written as what 8.x stores it as, an ``index-pattern`` saved
object. 8.x also documents ``POST /api/data_views/data_view``
(https://www.elastic.co/guide/en/kibana/8.19/data-views-api-create.html), but in technical
preview, and its ``override`` replaces a view *by title*, not by id; the saved objects API
keeps one id-addressed path for all four objects (create, overwrite, delete).

The dashboard's panels are in the form Kibana 8.x itself saves: each by-reference panel has
``panelRefName`` ``panel_<panelIndex>`` and its reference is named
``<panelIndex>:panel_<panelIndex>`` (the 8.x dashboard's reference extraction).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from iotstack.ops.diffs import Change, compare
from iotstack.ops.http import Request, send

XSRF = {"kbn-xsrf": "true"}  # Kibana rejects writes without it


def _saved(
    kind: str,
    object_id: str,
    attributes: Mapping[str, Any],
    references: list[dict[str, str]] | None = None,
) -> Request:
    return Request(
        "POST",
        f"/api/saved_objects/{kind}/{object_id}?overwrite=true",
        {"attributes": dict(attributes), "references": references or []},
        dict(XSRF),
    )


_EMPTY_SOURCE = json.dumps({"query": {"query": "", "language": "kuery"}, "filter": []})


def create_data_view_request(view: Mapping[str, Any]) -> Request:
    """The index pattern (a data view in 8.x) over the alerts index, with its time field."""
    return _saved(
        "index-pattern",
        view["id"],
        {"title": view["title"], "timeFieldName": view["timeFieldName"]},
    )


def note_request(note_id: str, board: Mapping[str, Any]) -> Request:
    """A markdown visualization explaining where the data comes from."""
    vis_state = {
        "title": board["note_title"],
        "type": "markdown",
        "aggs": [],
        "params": {"markdown": board["markdown"], "fontSize": 12, "openLinksInNewTab": False},
    }
    return _saved(
        "visualization",
        note_id,
        {
            "title": board["note_title"],
            "description": "",
            "version": 1,
            "visState": json.dumps(vis_state),
            "uiStateJSON": "{}",
            "kibanaSavedObjectMeta": {"searchSourceJSON": _EMPTY_SOURCE},
        },
    )


def saved_search_request(search_id: str, search: Mapping[str, Any], data_view_id: str) -> Request:
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
    references = [
        {
            "name": "kibanaSavedObjectMeta.searchSourceJSON.index",
            "type": "index-pattern",
            "id": data_view_id,
        }
    ]
    return _saved("search", search_id, attributes, references)


def dashboard_request(
    dashboard_id: str, board: Mapping[str, Any], note_id: str, search_id: str
) -> Request:
    """A dashboard: the note on top, the open-alerts search below (both by reference)."""
    panels = [
        {
            "panelIndex": "1",
            "gridData": {"x": 0, "y": 0, "w": 48, "h": 6, "i": "1"},
            "type": "visualization",
            "panelRefName": "panel_1",
            "embeddableConfig": {},
        },
        {
            "panelIndex": "2",
            "gridData": {"x": 0, "y": 6, "w": 48, "h": 20, "i": "2"},
            "type": "search",
            "panelRefName": "panel_2",
            "embeddableConfig": {},
        },
    ]
    attributes = {
        "title": board["title"],
        "description": board["description"],
        "panelsJSON": json.dumps(panels),
        "optionsJSON": json.dumps({"useMargins": True, "hidePanelTitles": False}),
        "timeRestore": True,
        "timeFrom": "now-24h",
        "timeTo": "now",
        "version": 1,
        "kibanaSavedObjectMeta": {"searchSourceJSON": _EMPTY_SOURCE},
    }
    references = [
        {"name": "1:panel_1", "type": "visualization", "id": note_id},
        {"name": "2:panel_2", "type": "search", "id": search_id},
    ]
    return _saved("dashboard", dashboard_id, attributes, references)


def delete_saved_object_request(kind: str, object_id: str) -> Request:
    """DELETE /api/saved_objects/<kind>/<id>."""
    return Request("DELETE", f"/api/saved_objects/{kind}/{object_id}", None, dict(XSRF))


def apply_requests(spec: Mapping[str, Any]) -> list[Request]:
    """The requests that create (or overwrite) the data view, search, note and dashboard."""
    view = spec["data_view"]
    return [
        create_data_view_request(view),
        saved_search_request(spec["search_id"], spec["search"], view["id"]),
        note_request(spec["note_id"], spec["dashboard"]),
        dashboard_request(
            spec["dashboard_id"], spec["dashboard"], spec["note_id"], spec["search_id"]
        ),
    ]


def delete_requests(spec: Mapping[str, Any]) -> list[Request]:
    """The requests that remove them again, dependents first."""
    return [
        delete_saved_object_request("dashboard", spec["dashboard_id"]),
        delete_saved_object_request("visualization", spec["note_id"]),
        delete_saved_object_request("search", spec["search_id"]),
        delete_saved_object_request("index-pattern", spec["data_view"]["id"]),
    ]


def diff_objects(olds: Mapping[str, Any], news: Mapping[str, Any]) -> Change:
    """Changed ids replace (delete old, create new); changed content overwrites in place."""
    return compare(
        olds,
        news,
        ("data_view", "search_id", "search", "note_id", "dashboard_id", "dashboard"),
        ("search_id", "note_id", "dashboard_id"),
    )


def apply(url: str, spec: Mapping[str, Any], auth: dict[str, str] | None = None) -> None:
    """Send the create/overwrite requests in order."""
    for req in apply_requests(spec):
        send(url, req, auth)


def remove(url: str, spec: Mapping[str, Any], auth: dict[str, str] | None = None) -> None:
    """Send the delete requests; already missing objects are fine (404 is not raised)."""
    for req in delete_requests(spec):
        send(url, req, auth)
