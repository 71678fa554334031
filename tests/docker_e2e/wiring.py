"""The environment each container gets: the infra's own service description, re-pointed.

The values come from ``iotstack.services.describe`` (the same description the Pulumi
program renders), never re-typed here. Only addresses change, because the harness's
services listen on free 127.0.0.1 ports instead of the stack's ``kafka:9092`` etc.; each
override must replace a key the description really has, so a rename in infra fails here.
:func:`start_indexer` runs the indexer as described (entrypoint, command, health check, memory)
with only its health port moved; :func:`aggregates_mismatch` compares the aggregates topic
(an upsert stream) with the index the indexer fills from it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from typing import Any

from harness.procs import free_port
from iotstack.config import StackConfig
from iotstack.services import HealthCheck, Service, describe

from docker_e2e import engine


def _service(name: str) -> Service:
    """The stack's default description of one service."""
    return describe(StackConfig()).services[name]


def app_env(service: str, **overrides: str) -> dict[str, str]:
    """The description's environment for ``service`` with the named keys replaced."""
    env = _service(service).resolved_env({})
    unknown = sorted(set(overrides) - set(env))
    if unknown:
        raise KeyError(f"{service} has no setting(s) {unknown} in the infra description")
    return env | overrides


# The catalog's topic names and the environment keys that carry a per-test name for them.
TOPIC_ENV_KEYS = {
    "readings": "READINGS_TOPIC",
    "alerts": "ALERTS_TOPIC",
    "readings-dlq": "DEAD_LETTER_TOPIC",
    "readings-late": "LATE_TOPIC",
    "readings-1m": "AGGREGATES_TOPIC",
}


def create_stack_topics(bootstrap: str, names: dict[str, str]) -> dict[str, int]:
    """Create the stack's topics (iotstack.catalog, with infra's own create_topic) under the
    per-test names in ``names`` (env key -> topic); return the partitions per env key.

    The stack creates its topics before any job or app starts (components/kafka.py); a
    test must too: the alerts job's Kafka source fails on a topic that does not exist yet.
    """
    from iotstack import catalog
    from iotstack.ops.kafka_topics import create_topic

    partitions = {}
    for spec in catalog.topics(StackConfig()):
        key = TOPIC_ENV_KEYS[spec.name]
        create_topic(bootstrap, names[key], spec.partitions, spec.configs)
        partitions[key] = spec.partitions
    return partitions


def apply_index_templates(es_url: str, alerts_index: str, aggregates_index: str) -> None:
    """Install the stack's own index templates (iotstack.catalog), aimed at test indices.

    The stack's templates match the fixed index names; tests use per-test names, so only
    ``index_patterns`` is changed and the suffix keeps parallel sessions apart.
    """
    from iotstack import catalog
    from iotstack.ops.elasticsearch import put_template

    names = {"iotstack-alerts": alerts_index, "iotstack-aggregates": aggregates_index}
    for template, body in catalog.index_templates().items():
        index = names[template]
        put_template(es_url, f"{template}-{index}", dict(body, index_patterns=[index]))


def described_flink_properties() -> dict[str, str]:
    """The description's FLINK_PROPERTIES (the same for JobManager and TaskManager), parsed."""
    described = _service("jobmanager").resolved_env({})["FLINK_PROPERTIES"]
    return dict(line.split(": ", 1) for line in described.splitlines() if line.strip())


def flink_properties(rest_port: int) -> str:
    """The description's FLINK_PROPERTIES with loopback addresses and a free REST port.

    The containers share the host's network (to reach the harness on 127.0.0.1), so the
    stack's ``jobmanager`` host name and fixed ports are replaced; everything else (memory,
    slots, parallelism) stays as the description says.
    """
    props = described_flink_properties()
    props |= {
        "jobmanager.rpc.address": "127.0.0.1",
        "jobmanager.rpc.port": str(free_port()),
        "jobmanager.bind-host": "127.0.0.1",
        "taskmanager.bind-host": "127.0.0.1",
        "taskmanager.host": "127.0.0.1",
        "rest.address": "127.0.0.1",
        "rest.bind-address": "127.0.0.1",
        "rest.port": str(rest_port),
        "blob.server.port": str(free_port()),
        "taskmanager.rpc.port": str(free_port()),
    }
    return "\n".join(f"{k}: {v}" for k, v in props.items())


def flink_mounts(prefix: str) -> tuple[str, ...]:
    """``docker run -v`` specs for the JobManager and TaskManager: a fresh labelled volume
    (removed at clean-up) for each volume the description gives them, at its path.

    Those volumes are ``shared`` (checkpoints written by the TaskManager are read by the
    JobManager), so both containers get the same specs; call once per Flink cluster.
    """
    volumes = _service("jobmanager").volumes
    assert volumes == _service("taskmanager").volumes and all(v.shared for v in volumes)
    return tuple(f"{engine.create_volume(f'{prefix}-{v.name}')}:{v.path}" for v in volumes)


def service_command(service: str) -> tuple[str, ...]:
    """The command the description runs ``service`` with (arguments to the entrypoint)."""
    return tuple(_service(service).command)


def service_entrypoint(service: str) -> tuple[str, ...]:
    """The entrypoint the description replaces the image's with (empty: the image's own)."""
    return tuple(_service(service).entrypoint)


def service_health(service: str) -> HealthCheck | None:
    """The health check the description gives ``service`` (None: it has none)."""
    return _service(service).health


def indexer_health(port: int) -> HealthCheck:
    """The indexer's described health check, probing ``port`` instead of the described one.

    The containers share the host's network, so the indexer listens on a free loopback port
    (INDEXER_HEALTH_BIND) and its probe must follow; everything else stays as described.
    """
    check = service_health("indexer")
    assert check is not None, "the description gives the indexer no health check"
    described_port = _service("indexer").resolved_env({})["INDEXER_HEALTH_BIND"].rsplit(":", 1)[1]
    probed = f"127.0.0.1:{described_port}/healthz"
    assert probed in check.shell, (probed, check.shell)
    return replace(check, shell=check.shell.replace(probed, f"127.0.0.1:{port}/healthz"))


@dataclass(frozen=True)
class RunningIndexer:
    """An indexer container and the host URL of its /healthz."""

    container: str
    health_url: str
    env: dict[str, str]


def start_indexer(
    containers: engine.Containers,
    image: str,
    overrides: dict[str, str],
    *,
    name: str = "indexer",
    timeout: float = 120,
) -> RunningIndexer:
    """Run the indexer as the description does (the dashboard image, the described
    entrypoint, command, memory limit and health check) with the environment
    ``app_env("indexer", **overrides)`` and INDEXER_HEALTH_BIND on a free loopback port;
    return once Docker reports it healthy by that health check."""
    port = free_port()
    env = app_env("indexer", **overrides, INDEXER_HEALTH_BIND=f"127.0.0.1:{port}")
    service = _service("indexer")
    entrypoint = service_entrypoint("indexer")
    assert entrypoint, "the description gives the indexer no entrypoint"
    full = containers.run(
        name,
        image,
        env,
        entrypoint=entrypoint[0],
        args=entrypoint[1:] + service_command("indexer"),
        user=service.user,
        health=indexer_health(port),
        memory_mib=service.memory_mib,
    )

    def healthy() -> bool:
        health = containers.state(full).get("Health")
        return isinstance(health, dict) and health.get("Status") == "healthy"

    engine.poll_until(
        "the indexer healthy by its described health check",
        healthy,
        timeout,
        lambda: f"state: {containers.state(full)}\n{containers.logs(full)[-4000:]}",
    )
    return RunningIndexer(full, f"http://127.0.0.1:{port}/healthz", env)


def read_topic(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes | None]]:
    """Every record of ``topic`` up to its end offsets now, as (key, value)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        out: list[tuple[bytes | None, bytes | None]] = []
        deadline = time.monotonic() + 120
        while any(consumer.position(p) < ends[p] for p in parts):
            if time.monotonic() > deadline:
                raise AssertionError(f"could not read {topic} to its end in 120 s")
            for records in consumer.poll(timeout_ms=1000, max_records=50_000).values():
                out.extend((r.key, r.value) for r in records)
        return out
    finally:
        consumer.close()


def latest_aggregates(bootstrap: str, topic: str) -> dict[str, dict[str, Any] | None]:
    """The aggregates topic as its consumers must read it (an upsert stream): record key
    (UTF-8, the document id) -> its latest value, parsed (None: a tombstone)."""
    latest: dict[str, dict[str, Any] | None] = {}
    for key, value in read_topic(bootstrap, topic):
        assert key is not None, f"a record without a key on {topic}: {value!r}"
        latest[key.decode("utf-8")] = None if value is None else json.loads(value)
    return latest


def es_documents(es_url: str, index: str) -> dict[str, dict[str, Any]]:
    """Every document of ``index`` (refreshed first), by id; {} while it does not exist."""
    from elasticsearch import Elasticsearch

    es = Elasticsearch(es_url, timeout=10)
    if not es.indices.exists(index=index):
        return {}
    es.indices.refresh(index=index)
    found = es.search(index=index, size=10_000, track_total_hits=True)["hits"]
    assert found["total"]["value"] <= 10_000, f"{index} holds more than one page"
    return {h["_id"]: h["_source"] for h in found["hits"]}


def aggregates_mismatch(
    bootstrap: str, topic: str, es_url: str, index: str
) -> tuple[dict[str, dict[str, Any]], str]:
    """(the aggregates on the topic, "" when the index holds exactly them, else what differs).

    The index must hold one document per live key of the topic, id = the record key,
    source = the key's latest value (a tombstoned key has no document).
    """
    on_topic = {k: v for k, v in latest_aggregates(bootstrap, topic).items() if v is not None}
    in_es = es_documents(es_url, index)
    if on_topic == in_es:
        return on_topic, ""
    missing = sorted(set(on_topic) - set(in_es))
    extra = sorted(set(in_es) - set(on_topic))
    differ = sorted(k for k in set(on_topic) & set(in_es) if on_topic[k] != in_es[k])
    return on_topic, (
        f"{len(on_topic)} aggregates on {topic}, {len(in_es)} documents in {index}; "
        f"missing from the index: {missing[:10]}, not on the topic: {extra[:10]}, "
        f"different: {[(k, on_topic[k], in_es[k]) for k in differ[:5]]}"
    )
