"""The environment each container gets: the infra's own service description, re-pointed.

The values come from ``iotstack.services.describe`` (the same description the Pulumi
program renders), never re-typed here. Only addresses change, because the harness's
services listen on free 127.0.0.1 ports instead of the stack's ``kafka:9092`` etc.; each
override must replace a key the description really has, so a rename in infra fails here.
"""

from __future__ import annotations

from harness.procs import free_port
from iotstack.config import StackConfig
from iotstack.services import HealthCheck, Service, describe


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
    from docker_e2e import engine

    volumes = _service("jobmanager").volumes
    assert volumes == _service("taskmanager").volumes and all(v.shared for v in volumes)
    return tuple(f"{engine.create_volume(f'{prefix}-{v.name}')}:{v.path}" for v in volumes)


def service_command(service: str) -> tuple[str, ...]:
    """The command the description runs ``service`` with (arguments to the entrypoint)."""
    return tuple(_service(service).command)


def service_health(service: str) -> HealthCheck | None:
    """The health check the description gives ``service`` (None: it has none)."""
    return _service(service).health
