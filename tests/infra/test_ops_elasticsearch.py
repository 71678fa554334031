"""Index template create/read/diff/update/delete against the harness's real Elasticsearch."""

from __future__ import annotations

import copy
import uuid

import pytest
from iotstack import catalog
from iotstack.ops import elasticsearch as ops
from iotstack.ops.http import HttpError, Request, send

pytestmark = pytest.mark.services


def test_template_lifecycle_and_the_alert_document_from_the_contract(elasticsearch) -> None:
    url = elasticsearch.url
    suffix = uuid.uuid4().hex[:8]
    name, index = f"iotstack-test-{suffix}", f"alerts-test-{suffix}"
    body = copy.deepcopy(catalog.index_templates()["iotstack-alerts"])
    body["index_patterns"] = [index]
    stored = ops.put_template(url, name, body)
    assert stored["index_patterns"] == [index]
    assert stored["template"]["mappings"]["properties"]["started_at"]["format"] == "epoch_millis"
    try:
        # The contract's alert document indexes under the strict mapping...
        alert = {
            "alert_id": "sensor-0007:high_temperature:1732250000123",
            "sensor_id": "sensor-0007",
            "site": "plant-a",
            "rule": "high_temperature",
            "severity": "critical",
            "status": "open",
            "value": 81.2,
            "threshold": 80.0,
            "started_at": 1732250000123,
            "resolved_at": None,
            "updated_at": 1732250000123,
            "message": "temperature 81.2 °C above 80.0 °C",
        }
        status, _ = send(
            url, Request("PUT", f"/{index}/_doc/{alert['alert_id']}?refresh=true", alert)
        )
        assert status in (200, 201)
        # ...and a field outside the contract is kept in _source but never mapped.
        send(url, Request("PUT", f"/{index}/_doc/x?refresh=true", {**alert, "surprise": "s"}))
        _, mapping = send(url, Request("GET", f"/{index}/_mapping"))
        props = mapping[index]["mappings"]["properties"]
        assert "surprise" not in props
        assert props["sensor_id"] == {"type": "keyword"}

        changed = copy.deepcopy(body)
        changed["priority"] = 201
        change = ops.diff_template({"name": name, "body": body}, {"name": name, "body": changed})
        assert change.changed == ("body",) and change.replaces == ()
        assert ops.put_template(url, name, changed)["priority"] == 201
    finally:
        send(url, Request("DELETE", f"/{index}"))
        ops.delete_template(url, name)
    assert ops.get_template(url, name) is None
    ops.delete_template(url, name)  # deleting again is fine


def test_aggregate_template_accepts_the_contract_document(elasticsearch) -> None:
    url = elasticsearch.url
    suffix = uuid.uuid4().hex[:8]
    name, index = f"iotstack-test-{suffix}", f"readings-1m-test-{suffix}"
    body = copy.deepcopy(catalog.index_templates()["iotstack-aggregates"])
    body["index_patterns"] = [index]
    ops.put_template(url, name, body)
    try:
        doc = {
            "sensor_id": "sensor-0007",
            "site": "plant-a",
            "window_start": 1732249980000,
            "window_end": 1732250040000,
            "count": 60,
            "min": 20.1,
            "avg": 21.4,
            "max": 23.0,
        }
        status, _ = send(url, Request("PUT", f"/{index}/_doc/sensor-0007:1732249980000", doc))
        assert status in (200, 201)
        _, mapping = send(url, Request("GET", f"/{index}/_mapping"))
        props = mapping[index]["mappings"]["properties"]
        assert props["window_start"] == {"type": "date", "format": "epoch_millis"}
    finally:
        send(url, Request("DELETE", f"/{index}"))
        ops.delete_template(url, name)


def test_a_renamed_template_is_replaced() -> None:
    body = catalog.index_templates()["iotstack-alerts"]
    change = ops.diff_template({"name": "a", "body": body}, {"name": "b", "body": body})
    assert change.replaces == ("name",)


def test_set_password_request_shape() -> None:
    req = ops.set_password_request("kibana_system", "pw")
    assert (req.method, req.path, req.body) == (
        "POST",
        "/_security/user/kibana_system/_password",
        {"password": "pw"},
    )


def test_unreachable_elasticsearch_names_method_and_url() -> None:
    with pytest.raises(HttpError, match=r"GET http://127\.0\.0\.1:1/_index_template/x failed"):
        ops.get_template("http://127.0.0.1:1", "x")


def test_security_on_settings_of_the_stack_on_a_real_8x_node(elasticsearch_security) -> None:
    # The settings services.py gives Elasticsearch when elasticsearchSecurity is true
    # (security on, TLS off on HTTP and transport, elastic's bootstrap password): the node
    # starts on them, refuses anonymous requests, answers elastic over plain HTTP, and the
    # providers' template requests work with basic auth.
    from harness.elasticsearch import TEST_ELASTIC_PASSWORD
    from iotstack.ops.http import basic_auth

    url = elasticsearch_security.url
    with pytest.raises(HttpError, match="HTTP 401"):
        send(url, Request("GET", "/_cluster/health"))
    auth = basic_auth("elastic", TEST_ELASTIC_PASSWORD)
    status, me = send(url, Request("GET", "/_security/_authenticate"), auth)
    assert status == 200 and me["username"] == "elastic"
    name = f"iotstack-secured-{uuid.uuid4().hex[:8]}"
    body = copy.deepcopy(catalog.index_templates()["iotstack-alerts"])
    body["index_patterns"] = [name]
    try:
        assert ops.put_template(url, name, body, auth)["index_patterns"] == [name]
    finally:
        ops.delete_template(url, name, auth)
    assert ops.get_template(url, name, auth) is None
