"""Kibana objects: the requests the provider sends, checked as built.

Kibana cannot run on the build machine, so these tests check the request paths, headers
and bodies only; creating the objects in a live Kibana is proven by users' `pulumi up`.
"""

from __future__ import annotations

import json

from iotstack import catalog
from iotstack.ops import kibana

SPEC = {"data_view": catalog.data_view(), "search_id": catalog.SEARCH_ID,
        "search": catalog.saved_search(), "dashboard_id": catalog.DASHBOARD_ID,
        "dashboard": catalog.dashboard()}


def test_apply_creates_view_then_search_then_dashboard_with_xsrf() -> None:
    reqs = kibana.apply_requests(SPEC)
    assert [(r.method, r.path) for r in reqs] == [
        ("POST", "/api/data_views/data_view"),
        ("POST", "/api/saved_objects/search/iotstack-open-alerts?overwrite=true"),
        ("POST", "/api/saved_objects/dashboard/iotstack-overview?overwrite=true"),
    ]
    assert all(r.headers == {"kbn-xsrf": "true"} for r in reqs)


def test_data_view_targets_the_alerts_index_timed_by_started_at() -> None:
    body = kibana.apply_requests(SPEC)[0].body
    assert body == {"data_view": {"id": "iotstack-alerts", "title": "alerts",
                                  "name": "IoT alerts", "timeFieldName": "started_at"},
                    "override": True}


def test_saved_search_references_the_data_view_and_filters_open_alerts() -> None:
    body = kibana.apply_requests(SPEC)[1].body
    source = json.loads(body["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
    assert source["query"] == {"query": "status:open", "language": "kuery"}
    assert body["references"] == [{"name": source["indexRefName"], "type": "index-pattern",
                                   "id": "iotstack-alerts"}]
    assert body["attributes"]["sort"] == [["started_at", "desc"]]


def test_dashboard_panels_are_valid_json_and_reference_the_search() -> None:
    body = kibana.apply_requests(SPEC)[2].body
    panels = json.loads(body["attributes"]["panelsJSON"])
    assert [p["type"] for p in panels] == ["visualization", "search"]
    assert panels[1]["panelRefName"] == "panel_search"
    assert body["references"] == [{"name": "panel_search", "type": "search",
                                   "id": "iotstack-open-alerts"}]
    assert body["attributes"]["title"] == "IoT stack overview"
    assert "readings" in panels[0]["embeddableConfig"]["savedVis"]["params"]["markdown"]


def test_delete_removes_dependents_first() -> None:
    assert [(r.method, r.path) for r in kibana.delete_requests(SPEC)] == [
        ("DELETE", "/api/saved_objects/dashboard/iotstack-overview"),
        ("DELETE", "/api/saved_objects/search/iotstack-open-alerts"),
        ("DELETE", "/api/data_views/data_view/iotstack-alerts"),
    ]


def test_diff_updates_content_in_place_and_replaces_on_new_ids() -> None:
    same = kibana.diff_objects(SPEC, dict(SPEC))
    assert not same.any
    retitled = {**SPEC, "dashboard": {**SPEC["dashboard"], "title": "Other"}}
    change = kibana.diff_objects(SPEC, retitled)
    assert change.changed == ("dashboard",) and change.replaces == ()
    moved = {**SPEC, "dashboard_id": "new-id"}
    assert kibana.diff_objects(SPEC, moved).replaces == ("dashboard_id",)
