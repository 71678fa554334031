"""Pulumi dynamic resources for the stack's data objects (topics, templates, Kibana objects).

Each provider is a thin adapter: its create/diff/update/delete call the plain functions in
:mod:`iotstack.ops`, which the tests exercise against a real Kafka and Elasticsearch.
Pulumi runs the providers in a separate process started in the program directory
(``infra/``), where ``iotstack`` is importable just as it is for ``__main__.py``.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult

from iotstack.ops import elasticsearch as es_ops
from iotstack.ops import kafka_topics as topic_ops
from iotstack.ops import kibana as kibana_ops
from iotstack.ops.http import basic_auth


def _whole_numbers(value: Any) -> Any:
    """``value`` with every integral float turned back into an int, recursively.

    The engine hands a dynamic provider its properties as protobuf Struct values, where
    every number is a double: an index template's ``number_of_shards: 1`` arrives as
    ``1.0``, and Elasticsearch refuses it ("Failed to parse value [1.0] for setting
    [index.number_of_shards]"; found by the real-engine test, tests/engine/).
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(v) for v in value]
    return value


def _auth(props: dict[str, Any]) -> dict[str, str] | None:
    password = props.get("elastic_password")
    return basic_auth("elastic", password) if password else None


def _diff(change: Any) -> DiffResult:
    return DiffResult(
        changes=change.any, replaces=list(change.replaces), delete_before_replace=True
    )


class KafkaTopicProvider(ResourceProvider):
    """Kafka topic: id = topic name."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        state = topic_ops.create_topic(
            props["bootstrap"],
            props["name"],
            int(props["partitions"]),
            props["configs"],
            int(props["replication_factor"]),
        )
        return CreateResult(props["name"], {**props, "partitions": state.partitions})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return _diff(topic_ops.diff_topic(olds, news))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        state = topic_ops.update_topic(news["bootstrap"], news["name"], olds, news)
        return UpdateResult({**news, "partitions": state.partitions})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        topic_ops.delete_topic(props["bootstrap"], props["name"])


class IndexTemplateProvider(ResourceProvider):
    """Elasticsearch composable index template: id = template name."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        body = _whole_numbers(props["body"])
        es_ops.put_template(props["url"], props["name"], body, _auth(props))
        return CreateResult(props["name"], props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return _diff(es_ops.diff_template(olds, news))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        body = _whole_numbers(news["body"])
        es_ops.put_template(news["url"], news["name"], body, _auth(news))
        return UpdateResult(news)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        es_ops.delete_template(props["url"], props["name"], _auth(props))


class UserPasswordProvider(ResourceProvider):
    """The password of a built-in Elasticsearch user (kibana_system); id = user name."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        es_ops.set_password(props["url"], props["user"], props["password"], _auth(props))
        return CreateResult(props["user"], props)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        es_ops.set_password(news["url"], news["user"], news["password"], _auth(news))
        return UpdateResult(news)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """Nothing to undo: the built-in user goes away with the cluster's data."""


class KibanaObjectsProvider(ResourceProvider):
    """Kibana data view + saved search + dashboard, applied as one unit; id = dashboard id."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        kibana_ops.apply(props["url"], _whole_numbers(props["spec"]), _auth(props))
        return CreateResult(props["spec"]["dashboard_id"], props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return _diff(kibana_ops.diff_objects(olds["spec"], news["spec"]))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        kibana_ops.apply(news["url"], _whole_numbers(news["spec"]), _auth(news))
        return UpdateResult(news)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        kibana_ops.remove(props["url"], props["spec"], _auth(props))


class KafkaTopic(Resource):
    """A Kafka topic that shows in ``pulumi preview --diff``."""

    partitions: pulumi.Output[int]

    def __init__(
        self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(
            KafkaTopicProvider(), name, {**props, "partitions": props["partitions"]}, opts
        )


class IndexTemplate(Resource):
    """An Elasticsearch index template."""

    def __init__(
        self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(IndexTemplateProvider(), name, props, opts)


class UserPassword(Resource):
    """A built-in Elasticsearch user's password (secret)."""

    def __init__(
        self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(UserPasswordProvider(), name, props, opts)


class KibanaObjects(Resource):
    """The Kibana data view and dashboard."""

    def __init__(
        self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(KibanaObjectsProvider(), name, props, opts)
