"""Kibana objects: the requests the provider sends, checked as built.

Kibana cannot run on the build machine, so these tests check the request paths, headers
and bodies only; creating the objects in a live Kibana is proven by users' `pulumi up`.
What Kibana 8.19 accepts: the saved objects API with ``?overwrite=true`` (deprecated since
8.7, still served: https://www.elastic.co/guide/en/kibana/8.19/saved-objects-api.html), the
data view stored as an ``index-pattern`` saved object, dashboard panels by reference.
"""

from __future__ import annotations

import json

from iotstack import catalog
from iotstack.ops import kibana

SPEC = catalog.kibana_spec()


def test_apply_creates_view_search_note_then_dashboard_with_xsrf() -> None:
    reqs = kibana.apply_requests(SPEC)
    assert [(r.method, r.path) for r in reqs] == [
        ("POST", "/api/saved_objects/index-pattern/iotstack-alerts?overwrite=true"),
        ("POST", "/api/saved_objects/search/iotstack-open-alerts?overwrite=true"),
        ("POST", "/api/saved_objects/visualization/iotstack-about?overwrite=true"),
        ("POST", "/api/saved_objects/dashboard/iotstack-overview?overwrite=true"),
    ]
    assert all(r.headers == {"kbn-xsrf": "true"} for r in reqs)


def test_data_view_targets_the_alerts_index_timed_by_started_at() -> None:
    body = kibana.apply_requests(SPEC)[0].body
    assert body == {
        "attributes": {"title": "alerts", "timeFieldName": "started_at"},
        "references": [],
    }


def test_saved_search_references_the_data_view_and_filters_open_alerts() -> None:
    body = kibana.apply_requests(SPEC)[1].body
    source = json.loads(body["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
    assert source["query"] == {"query": "status:open", "language": "kuery"}
    assert body["references"] == [
        {"name": source["indexRefName"], "type": "index-pattern", "id": "iotstack-alerts"}
    ]
    assert body["attributes"]["sort"] == [["started_at", "desc"]]
    assert "rule" in body["attributes"]["columns"]


def test_note_is_a_markdown_visualization() -> None:
    body = kibana.apply_requests(SPEC)[2].body
    vis = json.loads(body["attributes"]["visState"])
    assert vis["type"] == "markdown" and vis["aggs"] == []
    assert "readings" in vis["params"]["markdown"]
    assert json.loads(body["attributes"]["uiStateJSON"]) == {}


def test_dashboard_panels_are_valid_json_and_reference_note_and_search() -> None:
    body = kibana.apply_requests(SPEC)[3].body
    panels = json.loads(body["attributes"]["panelsJSON"])
    # The 8.x form, as Kibana 8.x's dashboard saves by-reference panels: panelRefName
    # panel_<panelIndex>, reference name <panelIndex>:panel_<panelIndex>.
    assert [(p["type"], p["panelIndex"], p["panelRefName"]) for p in panels] == [
        ("visualization", "1", "panel_1"),
        ("search", "2", "panel_2"),
    ]
    assert body["references"] == [
        {"name": "1:panel_1", "type": "visualization", "id": "iotstack-about"},
        {"name": "2:panel_2", "type": "search", "id": "iotstack-open-alerts"},
    ]
    assert all(p["gridData"]["i"] == p["panelIndex"] for p in panels)
    assert body["attributes"]["title"] == "IoT stack overview"
    # Panels do not overlap on the grid.
    first, second = (p["gridData"] for p in panels)
    assert first["y"] + first["h"] <= second["y"]


def test_delete_removes_dependents_first() -> None:
    assert [(r.method, r.path) for r in kibana.delete_requests(SPEC)] == [
        ("DELETE", "/api/saved_objects/dashboard/iotstack-overview"),
        ("DELETE", "/api/saved_objects/visualization/iotstack-about"),
        ("DELETE", "/api/saved_objects/search/iotstack-open-alerts"),
        ("DELETE", "/api/saved_objects/index-pattern/iotstack-alerts"),
    ]


def test_diff_updates_content_in_place_and_replaces_on_new_ids() -> None:
    assert not kibana.diff_objects(SPEC, dict(SPEC)).any
    retitled = {**SPEC, "dashboard": {**SPEC["dashboard"], "title": "Other"}}
    change = kibana.diff_objects(SPEC, retitled)
    assert change.changed == ("dashboard",) and change.replaces == ()
    moved = {**SPEC, "dashboard_id": "new-id"}
    assert kibana.diff_objects(SPEC, moved).replaces == ("dashboard_id",)


def test_basic_auth_is_added_only_when_security_is_on() -> None:
    from iotstack.ops.http import basic_auth

    assert basic_auth("elastic", "pw") == {"Authorization": "Basic ZWxhc3RpYzpwdw=="}
