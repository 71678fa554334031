"""Kafka topic create/read/diff/update/delete against the harness's real brokers."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from iotstack.ops import kafka_topics as ops

pytestmark = pytest.mark.services


def _props(name: str, partitions: int, retention_ms: int) -> dict[str, Any]:
    return {
        "name": name,
        "partitions": partitions,
        "replication_factor": 1,
        "configs": {"retention.ms": str(retention_ms)},
    }


@pytest.fixture(params=["kafka", "kafka_kraft"])
def bootstrap(request: pytest.FixtureRequest) -> str:
    """Both Kafka lines the stack can run: 3.9 with ZooKeeper and 4.x KRaft."""
    return str(request.getfixturevalue(request.param).bootstrap)


def test_topic_lifecycle(bootstrap: str) -> None:
    name = f"iotstack-test-{uuid.uuid4().hex[:8]}"
    first = _props(name, 2, 3_600_000)
    state = ops.create_topic(bootstrap, name, 2, first["configs"])
    assert (state.name, state.partitions) == (name, 2)
    assert state.configs == {"retention.ms": "3600000"}

    grown = _props(name, 4, 7_200_000)
    change = ops.diff_topic(first, grown)
    assert change.changed == ("partitions", "configs") and change.replaces == ()
    state = ops.update_topic(bootstrap, name, first, grown)
    assert state.partitions == 4
    assert state.configs == {"retention.ms": "7200000"}
    read = ops.read_topic(bootstrap, name, ["retention.ms"])
    assert read is not None and read.partitions == 4

    ops.delete_topic(bootstrap, name)
    assert ops.read_topic(bootstrap, name) is None
    ops.delete_topic(bootstrap, name)  # deleting again is fine


def test_creating_an_existing_topic_fails_with_its_name(bootstrap: str) -> None:
    name = f"iotstack-test-{uuid.uuid4().hex[:8]}"
    ops.create_topic(bootstrap, name, 1, {})
    try:
        with pytest.raises(ops.TopicError, match=rf"cannot create topic '{name}' on {bootstrap}"):
            ops.create_topic(bootstrap, name, 1, {})
    finally:
        ops.delete_topic(bootstrap, name)


def test_unreachable_broker_names_the_address() -> None:
    with pytest.raises(ops.TopicError, match=r"no Kafka broker answers at 127\.0\.0\.1:1;"):
        ops.read_topic("127.0.0.1:1", "readings")


def test_fewer_partitions_or_a_new_name_means_replace() -> None:
    base = _props("readings", 3, 1)
    assert ops.diff_topic(base, _props("readings", 2, 1)).replaces == ("partitions",)
    assert ops.diff_topic(base, _props("readings2", 3, 1)).replaces == ("name",)
    assert not ops.diff_topic(base, dict(base)).any


def test_the_aggregates_topics_declared_configs_read_back_as_declared(bootstrap: str) -> None:
    # create/update wait until the broker reports exactly the declared configs: a value the
    # broker normalised (a list policy reordered, say) would never converge.
    from iotstack import catalog
    from iotstack.config import StackConfig

    (spec,) = [t for t in catalog.topics(StackConfig()) if t.name == "readings-1m"]
    name = f"iotstack-test-{uuid.uuid4().hex[:8]}"
    state = ops.create_topic(bootstrap, name, spec.partitions, spec.configs)
    try:
        assert state.configs == dict(spec.configs)
        assert state.configs["cleanup.policy"] == "compact,delete"
        read = ops.read_topic(bootstrap, name, spec.configs.keys())
        assert read is not None and read.configs == dict(spec.configs)
    finally:
        ops.delete_topic(bootstrap, name)
