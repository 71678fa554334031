"""The one target-neutral description of every service in the stack.

Plain dataclasses and the standard library only: the Docker and kind renderers
(``iotstack.targets``) translate these objects into resources, and the end-to-end tests
import :func:`describe` to run the very same containers with the very same environment,
without a Pulumi engine::

    from iotstack.config import StackConfig
    from iotstack.services import describe
    stack = describe(StackConfig())
    stack.services["dashboard"].resolved_env({})   # {"KAFKA_BOOTSTRAP_SERVERS": "kafka:9092", ...}

Host names are the service names: Docker network aliases and Kubernetes Service names
in one namespace resolve the same way, so nothing here depends on the target.
"""

from __future__ import annotations

import base64
import inspect
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from iotstack import versions
from iotstack.config import StackConfig
from iotstack.ops import flink_jobs


@dataclass(frozen=True)
class Secret:
    """An environment value holding a generated secret, filled in by the renderer.

    ``template`` contains ``{}`` where the secret goes (e.g. a URL with credentials).
    """

    name: str
    template: str = "{}"


EnvValue = str | Secret


@dataclass(frozen=True)
class Port:
    """A container port; ``host`` set means published (Docker) / mapped by kind (node_port)."""

    name: str
    container: int
    host: int | None = None
    node_port: int | None = None


@dataclass(frozen=True)
class HealthCheck:
    """A shell command run inside the container; exit 0 means healthy."""

    shell: str
    interval_s: int = 10
    timeout_s: int = 8
    retries: int = 12
    start_period_s: int = 30


@dataclass(frozen=True)
class Volume:
    """A named data volume (Docker volume / PersistentVolumeClaim).

    ``shared``: every service that lists this volume mounts the same storage, created once
    per stack (Flink's checkpoints: the TaskManager writes them, the JobManager reads them
    back on restore). Otherwise a volume belongs to its one service.
    """

    name: str
    path: str
    size_gib: int = 5
    shared: bool = False


@dataclass(frozen=True)
class Build:
    """An image built from ``apps/<app>/Dockerfile`` with ``BASE_IMAGE`` passed in."""

    app: str
    base_image: str


@dataclass(frozen=True)
class Service:
    """Everything both targets need to run one container.

    ``entrypoint`` set replaces the image's ENTRYPOINT (Docker's entrypoint, a Kubernetes
    container's ``command``), and the image's CMD with it; ``command`` is the arguments
    (Docker's cmd, a Kubernetes container's ``args``), given to ``entrypoint`` when it is set
    and to the image's own ENTRYPOINT otherwise.
    """

    name: str
    image: str | None = None  # a pinned upstream image, or None when ``build`` is set
    build: Build | None = None
    entrypoint: tuple[str, ...] = ()
    command: tuple[str, ...] = ()
    env: Mapping[str, EnvValue] = field(default_factory=dict)
    ports: tuple[Port, ...] = ()
    health: HealthCheck | None = None
    volumes: tuple[Volume, ...] = ()
    memory_mib: int = 256
    depends_on: tuple[str, ...] = ()
    one_shot: bool = False  # runs to completion (a job), never restarted
    user: str | None = None  # "uid:gid"; None keeps the image's own non-root USER

    def resolved_env(self, secrets: Mapping[str, str]) -> dict[str, str]:
        """The environment with every :class:`Secret` replaced from ``secrets``."""
        out: dict[str, str] = {}
        for key, value in self.env.items():
            if isinstance(value, Secret):
                out[key] = value.template.format(secrets[value.name])
            else:
                out[key] = value
        return out

    def secret_names(self) -> tuple[str, ...]:
        """Names of the secrets this service's environment needs."""
        return tuple(sorted({v.name for v in self.env.values() if isinstance(v, Secret)}))


@dataclass(frozen=True)
class Stack:
    """The described services plus the addresses the host uses to reach them."""

    services: Mapping[str, Service]
    kafka_host_bootstrap: str
    elasticsearch_host_url: str
    kibana_host_url: str
    flink_host_url: str
    dashboard_host_url: str


# Memory limit (MiB) per service and profile. The laptop profile sums to exactly 6 GiB
# with ZooKeeper (tests check the sum); KRaft mode drops ZooKeeper's share.
PROFILES: dict[str, dict[str, int]] = {
    "laptop": {
        "zookeeper": 256,
        "kafka": 640,
        "elasticsearch": 1280,
        "kibana": 896,
        "jobmanager": 768,
        # Flink refuses a TaskManager process under ~1.1 GiB (metaspace, JVM overhead,
        # framework, managed and network memory); 1536 MiB also leaves the Python worker
        # managed memory (seen failing at 1024 MiB in tests/docker_e2e).
        "taskmanager": 1536,
        "alerts-submit": 384,
        "simulator": 128,
        # The dashboard's process measured 40 MiB idle and 75 MiB with 1000 live clients
        # (apps/dashboard/README.md); the indexer is one consumer loop with bounded batches,
        # in the same image. 128 MiB each keeps the laptop total at 6 GiB.
        "dashboard": 128,
        "indexer": 128,
    },
    "demo": {
        "zookeeper": 512,
        "kafka": 1536,
        "elasticsearch": 3072,
        "kibana": 1536,
        "jobmanager": 1280,
        "taskmanager": 2560,
        "alerts-submit": 768,
        "simulator": 256,
        "dashboard": 512,
        "indexer": 256,
    },
}

# Fixed node ports; infra/kind/cluster.yaml maps each to the same host port as Docker.
NODE_PORTS = {
    "kafka": 30094,
    "elasticsearch": 30920,
    "kibana": 30561,
    "jobmanager": 30081,
    "dashboard": 30800,
}

TOPICS = {
    "readings": "readings",
    "alerts": "alerts",
    "dead_letter": "readings-dlq",
    "late": "readings-late",
    "aggregates": "readings-1m",
}
INDICES = {"alerts": "alerts", "aggregates": "readings-1m"}

ELASTIC_PASSWORD = "elastic-password"
KIBANA_SYSTEM_PASSWORD = "kibana-system-password"

ALERTS_JOB_NAME = "iot-alerts"
# A stable KRaft cluster id (16 bytes, URL-safe base64) so a re-created broker keeps its data.
KRAFT_CLUSTER_ID = (
    base64.urlsafe_b64encode(uuid.uuid5(uuid.NAMESPACE_DNS, "iotstack.kafka").bytes)
    .decode()
    .rstrip("=")
)

_INTERNAL_KAFKA = "kafka:9092"


def _mib(fraction: float, total: int) -> int:
    return int(total * fraction)


def _es_url(cfg: StackConfig) -> EnvValue:
    if cfg.elasticsearch_security:
        return Secret(ELASTIC_PASSWORD, "http://elastic:{}@elasticsearch:9200")
    return "http://elasticsearch:9200"


def zookeeper(cfg: StackConfig, mem: int) -> Service:
    """ZooKeeper for Kafka 3.9 (zookeeper mode only)."""
    return Service(
        name="zookeeper",
        image=versions.IMAGES["zookeeper"],
        env={
            "ZOO_4LW_COMMANDS_WHITELIST": "srvr,ruok",  # zkServer.sh status uses srvr
            "ZOO_ADMINSERVER_ENABLED": "false",
            "JVMFLAGS": f"-Xmx{_mib(0.5, mem)}m",
        },
        ports=(Port("client", 2181),),
        health=HealthCheck("zkServer.sh status"),
        volumes=(Volume("zookeeper-data", "/data", 1), Volume("zookeeper-datalog", "/datalog", 1)),
        memory_mib=mem,
        user="1000:1000",  # the image's zookeeper user, owner of /data and /datalog
    )


def kafka_env(cfg: StackConfig, mem: int) -> dict[str, str]:
    """Broker settings: an INTERNAL listener for the stack, an EXTERNAL one for the host.

    Containers reach ``kafka:9092``; the host reaches ``<advertised host>:<kafkaHostPort>``,
    which Docker publishes (or kind maps through a node port) to the container's 9094.
    Each listener advertises the address that works from its own side.
    """
    advertised = (
        f"INTERNAL://{_INTERNAL_KAFKA},EXTERNAL://{cfg.kafka_advertised_host}:{cfg.kafka_host_port}"
    )
    env = {
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": (
            "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT"
        ),
        "KAFKA_INTER_BROKER_LISTENER_NAME": "INTERNAL",
        "KAFKA_ADVERTISED_LISTENERS": advertised,
        "KAFKA_LOG_DIRS": "/var/lib/kafka/data/logs",
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",  # topics are Pulumi resources
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        "KAFKA_HEAP_OPTS": f"-Xms{_mib(0.5, mem)}m -Xmx{_mib(0.5, mem)}m",
    }
    if cfg.kafka_mode == "zookeeper":
        env |= {
            "KAFKA_BROKER_ID": "1",
            "KAFKA_ZOOKEEPER_CONNECT": "zookeeper:2181",
            "KAFKA_LISTENERS": "INTERNAL://0.0.0.0:9092,EXTERNAL://0.0.0.0:9094",
        }
    else:
        env |= {
            "CLUSTER_ID": KRAFT_CLUSTER_ID,
            "KAFKA_NODE_ID": "1",
            "KAFKA_PROCESS_ROLES": "broker,controller",
            "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
            "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
            "KAFKA_LISTENERS": "INTERNAL://0.0.0.0:9092,EXTERNAL://0.0.0.0:9094,CONTROLLER://0.0.0.0:9093",
        }
    return env


# The broker-API probe as each Kafka image ships it (versions.IMAGE_FACTS): Confluent's
# packages put the tools on PATH without ".sh"; apache/kafka has them only in /opt/kafka/bin.
KAFKA_API_VERSIONS_TOOL = {
    "kafka-zookeeper-mode": "kafka-broker-api-versions",
    "kafka-kraft-mode": "/opt/kafka/bin/kafka-broker-api-versions.sh",
}


def kafka(cfg: StackConfig, mem: int) -> Service:
    """One Kafka broker: 3.9 with ZooKeeper in Confluent's cp-kafka (the ASF image runs KRaft
    only), or 4.x KRaft combined broker+controller in apache/kafka."""
    image_key = "kafka-zookeeper-mode" if cfg.kafka_mode == "zookeeper" else "kafka-kraft-mode"
    return Service(
        name="kafka",
        image=versions.IMAGES[image_key],
        env=kafka_env(cfg, mem),
        ports=(
            Port("internal", 9092),
            Port("external", 9094, cfg.kafka_host_port, NODE_PORTS["kafka"]),
        ),
        # The tool is a JVM too: give it a small heap, not the broker's KAFKA_HEAP_OPTS.
        health=HealthCheck(
            f"KAFKA_HEAP_OPTS=-Xmx64m {KAFKA_API_VERSIONS_TOOL[image_key]} "
            "--bootstrap-server 127.0.0.1:9092 >/dev/null",
            interval_s=15,
            timeout_s=14,
            start_period_s=30,
        ),
        volumes=(Volume("kafka-data", "/var/lib/kafka/data", 10),),
        memory_mib=mem,
        depends_on=("zookeeper",) if cfg.kafka_mode == "zookeeper" else (),
        user="1000:1000",  # appuser in both images, owner of /var/lib/kafka/data
    )


def elasticsearch(cfg: StackConfig, mem: int) -> Service:
    """A single-node Elasticsearch; security off unless ``elasticsearchSecurity``.

    8.x turns security on by default and, on a first start without security settings,
    auto-configures TLS and generates passwords. So ``xpack.security.enabled`` is set both
    ways: ``false`` when the switch is off; when on, the ``elastic`` password comes from
    ``ELASTIC_PASSWORD`` (the bootstrap password) and TLS is set off explicitly on HTTP and
    transport, which also skips the auto-configuration: plain HTTP with basic auth inside the
    stack's network, published on ``bindAddress`` (127.0.0.1) only. A single node
    (``discovery.type=single-node``) needs no transport TLS.
    """
    heap = _mib(0.5, mem)
    env: dict[str, EnvValue] = {
        "discovery.type": "single-node",  # also turns bootstrap checks into warnings
        "cluster.name": "iotstack",
        # Explicit both ways: 8.x would otherwise enable security and TLS by itself.
        "xpack.security.enabled": "true" if cfg.elasticsearch_security else "false",
        "xpack.ml.enabled": "false",  # saves ~300 MiB and needs no extra native processes
        "node.store.allow_mmap": "false",  # kind nodes keep the default vm.max_map_count
        "ES_JAVA_OPTS": f"-Xms{heap}m -Xmx{heap}m",
    }
    auth = ""
    if cfg.elasticsearch_security:
        env["ELASTIC_PASSWORD"] = Secret(ELASTIC_PASSWORD)
        env["xpack.security.http.ssl.enabled"] = "false"  # plain HTTP, inside the stack only
        env["xpack.security.transport.ssl.enabled"] = "false"
        auth = '-u "elastic:$ELASTIC_PASSWORD" '
    return Service(
        name="elasticsearch",
        image=versions.IMAGES["elasticsearch"],
        env=env,
        ports=(Port("http", 9200, cfg.elasticsearch_port, NODE_PORTS["elasticsearch"]),),
        health=HealthCheck(
            f"curl -fsS {auth}'http://127.0.0.1:9200/_cluster/health"
            "?wait_for_status=yellow&timeout=5s' >/dev/null",
            start_period_s=60,
        ),
        volumes=(Volume("elasticsearch-data", "/usr/share/elasticsearch/data", 10),),
        memory_mib=mem,
        user="1000:0",
    )


def kibana(cfg: StackConfig, mem: int) -> Service:
    """Kibana of exactly the Elasticsearch version, talking to it inside the stack."""
    env: dict[str, EnvValue] = {
        "ELASTICSEARCH_HOSTS": "http://elasticsearch:9200",
        "SERVER_HOST": "0.0.0.0",  # inside the container; the host side binds to bindAddress
        "TELEMETRY_OPTIN": "false",
        "NODE_OPTIONS": f"--max-old-space-size={_mib(0.6, mem)}",
    }
    if cfg.elasticsearch_security:
        env["ELASTICSEARCH_USERNAME"] = "kibana_system"
        env["ELASTICSEARCH_PASSWORD"] = Secret(KIBANA_SYSTEM_PASSWORD)
    return Service(
        name="kibana",
        image=versions.IMAGES["kibana"],
        env=env,
        ports=(Port("http", 5601, cfg.kibana_port, NODE_PORTS["kibana"]),),
        health=HealthCheck(
            # 8.x reports "overall":{"level":"available",...}; since 8.9 an unauthenticated
            # request (security on) gets the redacted {"status":{"overall":{"level":...}}}
            # with the same level (elastic/kibana#159768), so no credentials are needed.
            "curl -fsS http://127.0.0.1:5601/api/status "
            '| grep -Eq \'"overall":\\{[^}]*"level":"available"\'',
            interval_s=15,
            retries=20,
            start_period_s=90,
        ),
        memory_mib=mem,
        depends_on=("elasticsearch",),
        user="1000:0",
    )


# Checkpoints and savepoints of the alerts job, on storage both Flink services mount. Without
# a directory Flink keeps checkpoints in the JobManager's memory, capped at 5 MiB of state:
# about 2,000 sensors, after which every checkpoint fails and the job restarts forever.
FLINK_DATA = Volume("flink-data", "/opt/flink/data", 5, shared=True)
FLINK_CHECKPOINTS_DIR = f"file://{FLINK_DATA.path}/checkpoints"
FLINK_SAVEPOINTS_DIR = f"file://{FLINK_DATA.path}/savepoints"


def flink_properties(jm_mib: int, tm_mib: int) -> str:
    """The FLINK_PROPERTIES block the official image appends to its configuration."""
    return "\n".join(
        (
            # Flink 2 names (1.x: state.checkpoints.dir, state.savepoints.dir).
            f"execution.checkpointing.dir: {FLINK_CHECKPOINTS_DIR}",
            f"execution.checkpointing.savepoint-dir: {FLINK_SAVEPOINTS_DIR}",
            "jobmanager.rpc.address: jobmanager",
            "jobmanager.bind-host: 0.0.0.0",
            "taskmanager.bind-host: 0.0.0.0",
            "rest.address: jobmanager",
            "rest.bind-address: 0.0.0.0",
            "blob.server.port: 6124",
            "taskmanager.rpc.port: 6122",
            "taskmanager.numberOfTaskSlots: 2",
            "parallelism.default: 1",
            # A killed TaskManager is noticed by heartbeat timeout: 15 s instead of the
            # default 50 s, so the job restarts from its checkpoint sooner (e2e fault test).
            "heartbeat.interval: 3000",
            "heartbeat.timeout: 15000",
            # Flink's process size must stay under the container limit (JVM overhead included).
            f"jobmanager.memory.process.size: {_mib(0.9, jm_mib)}m",
            f"taskmanager.memory.process.size: {_mib(0.9, tm_mib)}m",
        )
    )


def _alerts_build() -> Build:
    # One image is the JobManager, the TaskManager and the job submitter. apps/alerts builds
    # it on the pinned Python base and runs the Flink distribution inside the pinned PyFlink
    # wheel plus the checksummed connector jars (apps/alerts/Dockerfile, connectors.lock).
    return Build("alerts", versions.PYTHON_BASE_IMAGE)


_PY_HTTP_OK = "python3 -c \"import urllib.request as u; u.urlopen('{}', timeout=5)\""
_PY_TCP_OK = "python3 -c \"import socket; socket.create_connection(('127.0.0.1', {}), 5)\""


def jobmanager(cfg: StackConfig, jm: int, tm: int) -> Service:
    """Flink JobManager of the session cluster (web UI and REST on 8081)."""
    return Service(
        name="jobmanager",
        build=_alerts_build(),
        command=("jobmanager",),
        env={"FLINK_PROPERTIES": flink_properties(jm, tm)},
        ports=(
            Port("rest", 8081, cfg.flink_ui_port, NODE_PORTS["jobmanager"]),
            Port("rpc", 6123),
            Port("blob", 6124),
        ),
        health=HealthCheck(_PY_HTTP_OK.format("http://127.0.0.1:8081/overview")),
        volumes=(FLINK_DATA,),
        memory_mib=jm,
        user="9999:9999",  # the official image's flink user
    )


def taskmanager(cfg: StackConfig, jm: int, tm: int) -> Service:
    """Flink TaskManager; runs the PyFlink workers of the alerts job."""
    return Service(
        name="taskmanager",
        build=_alerts_build(),
        command=("taskmanager",),
        env={"FLINK_PROPERTIES": flink_properties(jm, tm)},
        ports=(Port("rpc", 6122),),
        health=HealthCheck(_PY_TCP_OK.format(6122)),
        volumes=(FLINK_DATA,),
        memory_mib=tm,
        depends_on=("jobmanager",),
        user="9999:9999",
    )


def submit_command(retained: int) -> tuple[str, ...]:
    """The alerts job's keeper: :mod:`iotstack.ops.flink_jobs`' own source run with
    ``python -c`` (so the code the tests exercise is the code that runs; nothing is installed
    in the image), keeping the newest ``retained`` savepoints and checkpoints.

    On start it stops a running job of the same name with a savepoint; then, for as long as
    it runs, it starts the job (the image's ``python -m alerts.submit``) from the newest
    state on the volume whenever none is active: after a deploy, a reboot, a restarted
    JobManager.
    """
    source = inspect.getsource(flink_jobs) + "\nraise SystemExit(main())\n"
    return ("python", "-c", source, str(retained))


def alerts_env(cfg: StackConfig) -> dict[str, EnvValue]:
    """The alerts job's settings (names: apps/alerts/src/alerts/config.py SETTINGS).

    The job writes Kafka only (alerts, one-minute aggregates, dead letters, late readings);
    the :func:`indexer` ships alerts and aggregates into Elasticsearch.
    """
    return {
        "KAFKA_BOOTSTRAP_SERVERS": _INTERNAL_KAFKA,
        "READINGS_TOPIC": TOPICS["readings"],
        "ALERTS_TOPIC": TOPICS["alerts"],
        "DEAD_LETTER_TOPIC": TOPICS["dead_letter"],
        "LATE_TOPIC": TOPICS["late"],
        "AGGREGATES_TOPIC": TOPICS["aggregates"],
        "FLINK_REST_URL": "http://jobmanager:8081",
        "KAFKA_GROUP_ID": "alerts-job",
        "JOB_NAME": ALERTS_JOB_NAME,
        "JOB_PARALLELISM": "1",  # the laptop profile's TaskManager has 2 slots
        "HIGH_THRESHOLD_C": "80.0",
        "LOW_THRESHOLD_C": "-10.0",
        "HYSTERESIS_C": "2.0",
        "RATE_OF_CHANGE_C_PER_MIN": "10.0",
        "SILENCE_SECONDS": "60",
        "SENSOR_RULES": "",
        "WATERMARK_OUT_OF_ORDERNESS_MS": "5000",
        "ALLOWED_LATENESS_MS": "60000",
        "MAX_TS_AHEAD_MS": "300000",
        "SOURCE_IDLE_TIMEOUT_MS": "10000",
        "CHECKPOINT_INTERVAL_MS": "10000",
        # on disk, incremental checkpoints: any number of sensors (hashmap: apps/alerts README)
        "STATE_BACKEND": "rocksdb",
        "STATE_TTL_S": "3600",
        "SUBMIT_TIMEOUT_S": "180",
        "RESTORE_FROM": "",  # set by the keeper (submit_command), per submission
    }


def alerts_submit(cfg: StackConfig, mem: int) -> Service:
    """The keeper of the alerts job: long-running and restarted like every other service, so
    after a reboot the job comes back by itself (:func:`submit_command`).

    Healthy while its last check (every ``KEEP_INTERVAL_S``) found exactly one active job, so
    a deploy returns once the job runs. One keeper at a time: Docker deletes the old
    container before it creates the new one, kind's Recreate strategy stops the old pod first.
    """
    return Service(
        name="alerts-submit",
        build=_alerts_build(),
        command=submit_command(cfg.flink_state_retained),
        env=alerts_env(cfg),
        health=HealthCheck(
            'python3 -c "import os, sys, time; sys.exit(time.time() - os.stat('
            f"'{flink_jobs.HEALTH_FILE}').st_mtime > {flink_jobs.HEALTH_MAX_AGE_S})\"",
            # The first submission waits for the cluster and for the job to run.
            start_period_s=120,
            retries=30,  # kind's liveness: a JobManager down for minutes is not the keeper's fault
        ),
        # Read by the keeper: a restarted or replaced JobManager's job left its state here,
        # and it deletes the states beyond the newest ``flinkStateRetained``.
        volumes=(FLINK_DATA,),
        memory_mib=mem,
        # Kafka, not only the broker: the job's topics exist before it starts.
        depends_on=("jobmanager", "taskmanager", "kafka"),
        user="9999:9999",
    )


def simulator_env(cfg: StackConfig) -> dict[str, EnvValue]:
    """The simulator's settings (names: apps/simulator/src/simulator/config.py SETTINGS)."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": _INTERNAL_KAFKA,
        "READINGS_TOPIC": TOPICS["readings"],
        "SIMULATOR_SENSORS": str(cfg.sensor_count),
        "SIMULATOR_SITES": "4",
        "SIMULATOR_FIRST_SENSOR": "0",
        "SIMULATOR_RATE": "50",
        "SIMULATOR_REALTIME": "true",  # a live demo: readings arrive in wall-clock time
        "SIMULATOR_SEED": "",
        "SIMULATOR_START_TS": "",
        "SIMULATOR_DURATION_S": "0",  # run until the stack is destroyed
        "SIMULATOR_COUNT": "0",
        "SIMULATOR_SCENARIO": "",
        "SIMULATOR_ANOMALY_LOG": "",
        # Anomaly rates: enough for alerts to show within minutes in the demo.
        "SIMULATOR_SPIKE_RATE": "0.001",
        "SIMULATOR_DRIFT_RATE": "0.0001",
        "SIMULATOR_STUCK_RATE": "0.0001",
        "SIMULATOR_DROPOUT_RATE": "0.0001",
        "SIMULATOR_OUT_OF_ORDER_RATE": "0.001",
        "SIMULATOR_LATE_RATE": "0.0002",
        "SIMULATOR_DUPLICATE_RATE": "0.001",
        "SIMULATOR_MALFORMED_RATE": "0.0002",  # feeds the dead-letter topic
        "SIMULATOR_SPIKE_C": "40",
        "SIMULATOR_DRIFT_C_PER_MIN": "5",
        "SIMULATOR_EPISODE_S": "120",
        "SIMULATOR_DROPOUT_S": "90",
        "SIMULATOR_LATE_S": "120",
        "SIMULATOR_BATCH_SIZE": "65536",
        "SIMULATOR_LINGER_MS": "10",
        "SIMULATOR_COMPRESSION": "lz4",
        "SIMULATOR_CONNECT_TIMEOUT_S": "120",  # the broker may still be electing on first up
        "SIMULATOR_PROGRESS_S": "10",
        "SIMULATOR_LOG_LEVEL": "INFO",
    }


def simulator(cfg: StackConfig, mem: int) -> Service:
    """Temperature sensors producing readings to Kafka."""
    return Service(
        name="simulator",
        build=Build("simulator", versions.PYTHON_BASE_IMAGE),
        env=simulator_env(cfg),
        # No port to probe: healthy while PID 1 (the producer loop) is alive and not a zombie.
        health=HealthCheck("test \"$(cut -d' ' -f3 /proc/1/stat)\" != Z"),
        memory_mib=mem,
        depends_on=("kafka",),
    )


def _dashboard_build() -> Build:
    # One image runs the dashboard (its ENTRYPOINT) and the indexer (entrypoint replaced).
    return Build("dashboard", versions.PYTHON_BASE_IMAGE)


def dashboard_env(cfg: StackConfig) -> dict[str, EnvValue]:
    """The dashboard's settings (names: apps/dashboard/src/dashboard/config.py SETTINGS)."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": _INTERNAL_KAFKA,
        "ELASTICSEARCH_URL": _es_url(cfg),
        "ALERTS_TOPIC": TOPICS["alerts"],
        "ALERTS_INDEX": INDICES["alerts"],
        "AGGREGATES_INDEX": INDICES["aggregates"],
        "DASHBOARD_BIND": "0.0.0.0:8000",  # inside the container; the host side is bound
        "DASHBOARD_THREADS": "64",
        "DASHBOARD_MAX_STREAMS": "56",
        "DASHBOARD_ES_TIMEOUT_S": "3",
        "DASHBOARD_HEARTBEAT_S": "15",
        "DASHBOARD_BUFFER_EVENTS": "10000",
        "DASHBOARD_LOG_LEVEL": "INFO",
    }


def dashboard(cfg: StackConfig, mem: int) -> Service:
    """The Flask dashboard with the live alert stream on :8000."""
    return Service(
        name="dashboard",
        build=_dashboard_build(),
        env=dashboard_env(cfg),
        ports=(Port("http", 8000, cfg.dashboard_port, NODE_PORTS["dashboard"]),),
        health=HealthCheck(_PY_HTTP_OK.format("http://127.0.0.1:8000/healthz")),
        memory_mib=mem,
        depends_on=("kafka", "elasticsearch"),
    )


def indexer_env(cfg: StackConfig) -> dict[str, EnvValue]:
    """The indexer's settings (names: apps/dashboard/src/indexer/config.py SETTINGS)."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": _INTERNAL_KAFKA,
        "ELASTICSEARCH_URL": _es_url(cfg),
        "ALERTS_TOPIC": TOPICS["alerts"],
        "ALERTS_INDEX": INDICES["alerts"],
        "AGGREGATES_TOPIC": TOPICS["aggregates"],
        "AGGREGATES_INDEX": INDICES["aggregates"],
        "DEAD_LETTER_TOPIC": TOPICS["dead_letter"],
        "INDEXER_GROUP_ID": "iotstack-indexer",
        "INDEXER_BATCH_MAX": "2000",
        "INDEXER_FLUSH_MS": "200",
        "INDEXER_HEALTH_BIND": "0.0.0.0:8001",  # probed inside the container, never published
        "INDEXER_LOG_INTERVAL_S": "10",
        "INDEXER_LOG_LEVEL": "INFO",
    }


# The indexer runs from the dashboard's image, whose ENTRYPOINT is ``python -m dashboard``.
INDEXER_ENTRYPOINT = ("python", "-m", "indexer")


def indexer(cfg: StackConfig, mem: int) -> Service:
    """Ships the ``alerts`` and ``readings-1m`` topics into their Elasticsearch indices.

    Runs from the dashboard's image (no image of its own) with the entrypoint replaced, as
    that image's user. Its health endpoint on :8001 is probed inside the container only.
    """
    return Service(
        name="indexer",
        build=_dashboard_build(),
        entrypoint=INDEXER_ENTRYPOINT,
        env=indexer_env(cfg),
        health=HealthCheck(
            'python -c "import urllib.request as u; '
            "u.urlopen('http://127.0.0.1:8001/healthz', timeout=4)\""
        ),
        memory_mib=mem,
        # Kafka and Elasticsearch as components: its topics and index templates exist first.
        depends_on=("kafka", "elasticsearch"),
    )


def app_env(cfg: StackConfig) -> dict[str, Mapping[str, EnvValue]]:
    """The environment the stack gives each app, keyed by app name (the contract test)."""
    return {
        "simulator": simulator_env(cfg),
        "dashboard": dashboard_env(cfg),
        "indexer": indexer_env(cfg),
        "alerts": alerts_env(cfg),
    }


def check_volumes(services: list[Service]) -> None:
    """A volume name means one storage: listed by one service, or ``shared`` and the same
    everywhere it is listed (the renderers create each name once)."""
    seen: dict[str, tuple[str, Volume]] = {}
    for service in services:
        for vol in service.volumes:
            if vol.name not in seen:
                seen[vol.name] = (service.name, vol)
                continue
            owner, first = seen[vol.name]
            if not (vol.shared and first.shared):
                raise ValueError(
                    f"volume {vol.name!r} is listed by {owner!r} and {service.name!r}: "
                    "mark it shared=True in both, or give each its own name"
                )
            if vol != first:
                raise ValueError(
                    f"shared volume {vol.name!r} differs between {owner!r} ({first}) and "
                    f"{service.name!r} ({vol})"
                )


def describe(cfg: StackConfig) -> Stack:
    """Describe every service for ``cfg``; no service is described anywhere else."""
    mem = PROFILES[cfg.profile]
    services = [
        kafka(cfg, mem["kafka"]),
        elasticsearch(cfg, mem["elasticsearch"]),
        kibana(cfg, mem["kibana"]),
        jobmanager(cfg, mem["jobmanager"], mem["taskmanager"]),
        taskmanager(cfg, mem["jobmanager"], mem["taskmanager"]),
        alerts_submit(cfg, mem["alerts-submit"]),
        simulator(cfg, mem["simulator"]),
        dashboard(cfg, mem["dashboard"]),
        indexer(cfg, mem["indexer"]),
    ]
    if cfg.kafka_mode == "zookeeper":
        services.insert(0, zookeeper(cfg, mem["zookeeper"]))
    check_volumes(services)
    host = "127.0.0.1" if cfg.bind_address == "0.0.0.0" else cfg.bind_address
    return Stack(
        services={s.name: s for s in services},
        kafka_host_bootstrap=f"{cfg.kafka_advertised_host}:{cfg.kafka_host_port}",
        elasticsearch_host_url=f"http://{host}:{cfg.elasticsearch_port}",
        kibana_host_url=f"http://{host}:{cfg.kibana_port}",
        flink_host_url=f"http://{host}:{cfg.flink_ui_port}",
        dashboard_host_url=f"http://{host}:{cfg.dashboard_port}",
    )
