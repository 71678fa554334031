"""Kafka topics as declarative objects: create, read, diff, update, delete.

Uses kafka-python's admin client. Partitions can only grow in Kafka, so a smaller
partition count is a replacement (the topic is deleted and created again, losing data);
a config change is applied in place with AlterConfigs (the full declared set).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import (
    ConfigResource,
    ConfigResourceType,
    NewPartitions,
    NewTopic,
)
from kafka.errors import KafkaError, NoBrokersAvailable

from iotstack.ops.diffs import Change, compare


class TopicError(RuntimeError):
    """A topic operation failed; the message names the topic and the broker."""


@dataclass(frozen=True)
class TopicState:
    """What the broker reports for a topic (only the configs we manage)."""

    name: str
    partitions: int
    configs: Mapping[str, str]


@contextmanager
def admin(bootstrap: str, timeout_ms: int = 15_000) -> Iterator[Any]:
    """An admin client for ``bootstrap``, closed afterwards; unreachable -> TopicError."""
    try:
        client = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            client_id="iotstack-pulumi",
            request_timeout_ms=timeout_ms,
        )
    except NoBrokersAvailable:
        raise TopicError(
            f"no Kafka broker answers at {bootstrap}; is the stack's Kafka up and "
            "iotstack:kafkaHostPort/kafkaAdvertisedHost right?"
        ) from None
    try:
        yield client
    finally:
        client.close()


def _converge(
    bootstrap: str,
    name: str,
    partitions: int | None,
    configs: Mapping[str, str],
    timeout_s: float = 30.0,
) -> TopicState | None:
    """Poll until the broker reports the wanted state (``partitions=None``: topic gone).

    Metadata reaches the broker asynchronously (in KRaft it is replayed from the
    controller's log), so a read right after a write can still show the old state.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        state = read_topic(bootstrap, name, configs.keys())
        if partitions is None and state is None:
            return None
        if (
            state is not None
            and state.partitions == partitions
            and all(state.configs.get(k) == v for k, v in configs.items())
        ):
            return state
        if time.monotonic() > deadline:
            raise TopicError(
                f"topic {name!r} on {bootstrap} did not reach partitions={partitions} "
                f"configs={dict(configs)} within {timeout_s:.0f}s; last seen: {state}"
            )
        time.sleep(0.2)


def create_topic(
    bootstrap: str,
    name: str,
    partitions: int,
    configs: Mapping[str, str],
    replication_factor: int = 1,
) -> TopicState:
    """Create the topic and return what the broker reports."""
    with admin(bootstrap) as client:
        try:
            client.create_topics(
                [
                    NewTopic(
                        name=name,
                        num_partitions=partitions,
                        replication_factor=replication_factor,
                        topic_configs=dict(configs),
                    )
                ]
            )
        except KafkaError as err:
            raise TopicError(f"cannot create topic {name!r} on {bootstrap}: {err}") from None
    state = _converge(bootstrap, name, partitions, configs)
    assert state is not None  # _converge returns a state whenever partitions is given
    return state


def read_topic(bootstrap: str, name: str, config_names: Any = ()) -> TopicState | None:
    """The topic's partition count and the named configs; None when it does not exist."""
    with admin(bootstrap) as client:
        found = [
            t for t in client.describe_topics([name]) if t["topic"] == name and t["error_code"] == 0
        ]
        if not found:
            return None
        configs: dict[str, str] = {}
        wanted = set(config_names)
        if wanted:
            resource = ConfigResource(ConfigResourceType.TOPIC, name)
            for response in client.describe_configs([resource]):
                for entry in response.resources[0][4]:
                    if entry[0] in wanted:
                        configs[entry[0]] = entry[1]
        return TopicState(name, len(found[0]["partitions"]), configs)


def diff_topic(olds: Mapping[str, Any], news: Mapping[str, Any]) -> Change:
    """Name change or fewer partitions -> replace; more partitions or configs -> update."""
    change = compare(
        olds,
        news,
        ("name", "partitions", "configs", "replication_factor"),
        ("name", "replication_factor"),
    )
    if "partitions" in change.changed and int(news["partitions"]) < int(olds["partitions"]):
        return Change(change.changed, (*change.replaces, "partitions"))
    return change


def update_topic(
    bootstrap: str, name: str, olds: Mapping[str, Any], news: Mapping[str, Any]
) -> TopicState:
    """Grow partitions and set the declared configs (replacing the previous set)."""
    with admin(bootstrap) as client:
        try:
            if int(news["partitions"]) > int(olds["partitions"]):
                client.create_partitions({name: NewPartitions(total_count=int(news["partitions"]))})
            if dict(news["configs"]) != dict(olds["configs"]):
                response = client.alter_configs(
                    [ConfigResource(ConfigResourceType.TOPIC, name, configs=dict(news["configs"]))]
                )
                for error_code, message, *_ in response.resources:
                    if error_code:
                        raise TopicError(f"cannot change configs of topic {name!r}: {message}")
        except KafkaError as err:
            raise TopicError(f"cannot update topic {name!r} on {bootstrap}: {err}") from None
    state = _converge(bootstrap, name, int(news["partitions"]), dict(news["configs"]))
    assert state is not None
    return state


def delete_topic(bootstrap: str, name: str) -> None:
    """Delete the topic; an already missing topic is fine."""
    with admin(bootstrap) as client:
        if not any(
            t["topic"] == name and t["error_code"] == 0 for t in client.describe_topics([name])
        ):
            return
        try:
            client.delete_topics([name])
        except KafkaError as err:
            raise TopicError(f"cannot delete topic {name!r} on {bootstrap}: {err}") from None
    _converge(bootstrap, name, None, {})
