"""Kafka 3.9 with ZooKeeper (the project's default mode) and Kafka 4 in KRaft mode."""

from __future__ import annotations

import base64
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from harness import artifacts
from harness.procs import ManagedProcess, free_port, run_checked

READY_TIMEOUT_S = 120.0

_LOG4J1 = """\
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
"""

_LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.stdout.ref = STDOUT
"""

_BROKER_COMMON = {
    "offsets.topic.replication.factor": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
    "num.partitions": "1",
    "auto.create.topics.enable": "true",
}


@dataclass
class Kafka:
    """A running single-broker cluster; ``bootstrap`` is what clients connect to."""

    mode: str
    version: str
    bootstrap: str
    processes: list[ManagedProcess] = field(default_factory=list)
    startup_s: float = 0.0

    def stop(self) -> None:
        """Stop the broker, then ZooKeeper."""
        for proc in self.processes:
            proc.stop()

    @property
    def broker(self) -> ManagedProcess:
        """The broker process (ZooKeeper, if any, comes after it in ``processes``)."""
        return self.processes[0]

    def stop_broker(self) -> None:
        """Stop only the broker (SIGTERM: a controlled shutdown); ZooKeeper keeps running."""
        self.broker.stop()

    def start_broker(self, timeout: float = READY_TIMEOUT_S) -> float:
        """Start the stopped broker again on the same port and data directory; wait until ready.

        Returns the seconds from start until it answered.
        """
        self.broker.start()
        return self.broker.wait_ready(lambda: broker_ready(self.bootstrap), timeout)

    def restart_broker(self, timeout: float = READY_TIMEOUT_S) -> float:
        """Stop the broker and start it again (same port, same data); seconds until ready."""
        self.stop_broker()
        return self.start_broker(timeout)


def _write_properties(path: Path, props: dict[str, str]) -> None:
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))


def _jvm(heap: str) -> list[str]:
    return [
        artifacts.java(),
        f"-Xmx{heap}",
        f"-Xms{heap}",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
    ]


def broker_ready(bootstrap: str) -> bool:
    """True when the broker answers a metadata request and reports itself in the cluster."""
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap, request_timeout_ms=3000, api_version_auto_timeout_ms=3000
        )
    except KafkaError:
        return False
    try:
        return len(admin.describe_cluster().get("brokers", [])) >= 1
    except KafkaError:
        return False
    finally:
        admin.close()


def zookeeper_ready(port: int) -> bool:
    """True when ZooKeeper answers the ``srvr`` four-letter word as a serving node."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(b"srvr")
        reply = sock.recv(4096).decode(errors="replace")
    return "Mode: standalone" in reply


def start_zookeeper_mode(workdir: Path) -> Kafka:
    """ZooKeeper plus a Kafka 3.9 broker using it, both on free 127.0.0.1 ports."""
    from iotstack import versions

    workdir.mkdir(parents=True, exist_ok=True)
    cp = artifacts.classpath("kafka-zk")
    (workdir / "log4j.properties").write_text(_LOG4J1)
    log4j = f"-Dlog4j.configuration=file:{workdir / 'log4j.properties'}"

    zk_port = free_port()
    _write_properties(
        workdir / "zoo.cfg",
        {
            "dataDir": str(workdir / "zookeeper-data"),
            "clientPort": str(zk_port),
            "clientPortAddress": "127.0.0.1",
            "admin.enableServer": "false",
            "4lw.commands.whitelist": "srvr,ruok",
            "tickTime": "2000",
            "maxClientCnxns": "0",
        },
    )
    zookeeper = ManagedProcess(
        "ZooKeeper",
        [
            *_jvm("128m"),
            log4j,
            "-cp",
            cp,
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            str(workdir / "zoo.cfg"),
        ],
        workdir / "zookeeper.log",
    ).start()
    kafka = Kafka("zookeeper", versions.KAFKA_ZK_VERSION, "", [zookeeper])
    try:
        zk_s = zookeeper.wait_ready(lambda: zookeeper_ready(zk_port), READY_TIMEOUT_S)
        port = free_port()
        _write_properties(
            workdir / "server.properties",
            {
                "broker.id": "0",
                "listeners": f"PLAINTEXT://127.0.0.1:{port}",
                "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
                "zookeeper.connect": f"127.0.0.1:{zk_port}",
                "log.dirs": str(workdir / "kafka-data"),
                **_BROKER_COMMON,
            },
        )
        broker = ManagedProcess(
            f"Kafka {versions.KAFKA_ZK_VERSION} (ZooKeeper mode)",
            [*_jvm("512m"), log4j, "-cp", cp, "kafka.Kafka", str(workdir / "server.properties")],
            workdir / "kafka.log",
        ).start()
        kafka.processes.insert(0, broker)
        kafka.bootstrap = f"127.0.0.1:{port}"
        kafka.startup_s = zk_s + broker.wait_ready(
            lambda: broker_ready(kafka.bootstrap), READY_TIMEOUT_S
        )
    except BaseException:
        kafka.stop()
        raise
    return kafka


def start_kraft_mode(workdir: Path) -> Kafka:
    """A Kafka 4 node acting as broker and controller, no ZooKeeper."""
    from iotstack import versions

    workdir.mkdir(parents=True, exist_ok=True)
    cp = artifacts.classpath("kafka-kraft")
    (workdir / "log4j2.properties").write_text(_LOG4J2)
    log4j = f"-Dlog4j2.configurationFile={workdir / 'log4j2.properties'}"
    port, controller_port = free_port(), free_port()
    config = workdir / "server.properties"
    _write_properties(
        config,
        {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(workdir / "kafka-data"),
            **_BROKER_COMMON,
        },
    )
    run_checked(
        [
            *_jvm("256m"),
            log4j,
            "-cp",
            cp,
            "kafka.tools.StorageTool",
            "format",
            # "=" form: a random id can start with "-", which the tool would read as a flag
            f"--cluster-id={base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip('=')}",
            "-c",
            str(config),
        ],
        "formatting KRaft storage",
        workdir / "kafka-format.log",
    )
    broker = ManagedProcess(
        f"Kafka {versions.KAFKA_KRAFT_VERSION} (KRaft mode)",
        [*_jvm("512m"), log4j, "-cp", cp, "kafka.Kafka", str(config)],
        workdir / "kafka.log",
    ).start()
    kafka = Kafka("kraft", versions.KAFKA_KRAFT_VERSION, f"127.0.0.1:{port}", [broker])
    try:
        kafka.startup_s = broker.wait_ready(lambda: broker_ready(kafka.bootstrap), READY_TIMEOUT_S)
    except BaseException:
        kafka.stop()
        raise
    return kafka
