"""Every version the stack depends on, and the rules that tie them together.

This module is the single list of pins for images, Java artifacts (resolved by
``tests/harness/pom.xml``) and the Python packages that must agree with the
servers. It imports nothing outside the standard library, so the Pulumi
program, the test harness and the app builds can all read it.

Why these versions fit together (checked by :func:`check_compatibility`):

* Flink 1.19 is the newest Flink line for which *both* connectors are published:
  ``flink-sql-connector-kafka`` 3.2.0-1.19 and ``flink-sql-connector-elasticsearch7``
  3.0.1-1.17 (the Elasticsearch connector's last release, built against the Flink 1.17
  API that 1.18 and 1.19 keep; proven by the harness smoke test). Flink 2.x has a
  Kafka connector but no Elasticsearch one.
* PyFlink 1.19 supports CPython 3.8-3.11; our images and CI use 3.11.
* Elasticsearch is 7.17, because the only Flink Elasticsearch connector published
  (``flink-sql-connector-elasticsearch7``) shades the 7.10 REST high-level client,
  which cannot parse an 8.x server's bulk responses (they lack ``_type``; the sink
  fails with "Unable to parse response body ... NullPointerException", seen with
  8.19.21 in the harness) and has no compatibility-header switch. The Kibana image
  and the Python ``elasticsearch`` client must share the server's major version (an
  8.x client sends ``compatible-with=8``, which a 7.x server rejects). 7.17 runs on
  Java 17. Move to 8.x/9.x when a Flink connector with an 8.x client is published.
* Kafka 3.9 is the last line that runs with ZooKeeper (the default mode); 4.x is
  KRaft only. Both run on Java 17.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

# --- Servers ---------------------------------------------------------------
FLINK_VERSION = "1.19.3"
FLINK_SCALA_VERSION = "2.12"
FLINK_KAFKA_CONNECTOR_VERSION = "3.2.0-1.19"
FLINK_ELASTICSEARCH_CONNECTOR_VERSION = "3.0.1-1.17"
# The Elasticsearch REST client shaded inside that connector (its META-INF/DEPENDENCIES).
FLINK_ELASTICSEARCH_CONNECTOR_CLIENT_VERSION = "7.10.2"

KAFKA_ZK_VERSION = "3.9.1"  # mode "zookeeper": the last Kafka line with ZooKeeper
KAFKA_KRAFT_VERSION = "4.1.1"  # mode "kraft"
ZOOKEEPER_VERSION = "3.8.4"  # the ZooKeeper that Kafka 3.9 is built and tested with

ELASTICSEARCH_VERSION = "7.17.29"
KIBANA_VERSION = ELASTICSEARCH_VERSION  # Kibana must equal Elasticsearch, always

JAVA_VERSION = 17  # the JDK the harness uses; every server above runs on it

# Logging back-ends Kafka needs on its class path when run from Maven jars.
RELOAD4J_VERSION = "1.2.25"
SLF4J_VERSION = "1.7.36"
LOG4J2_VERSION = "2.24.3"

# --- Python packages that must agree with the servers ----------------------
PYTHON_VERSION = (3, 11)
PYFLINK_PACKAGE = f"apache-flink=={FLINK_VERSION}"
ELASTICSEARCH_CLIENT_VERSION = "7.17.13"
KAFKA_PYTHON_VERSION = "2.3.0"

# --- Images (official bases; users pull these, tests build their own) -------
PYTHON_BASE_IMAGE = "python:3.11.14-slim-bookworm"
IMAGES = {
    "zookeeper": f"zookeeper:{ZOOKEEPER_VERSION}",
    "kafka-zookeeper-mode": f"apache/kafka:{KAFKA_ZK_VERSION}",
    "kafka-kraft-mode": f"apache/kafka:{KAFKA_KRAFT_VERSION}",
    "flink": f"flink:{FLINK_VERSION}-scala_{FLINK_SCALA_VERSION}-java{JAVA_VERSION}",
    "elasticsearch": f"docker.elastic.co/elasticsearch/elasticsearch:{ELASTICSEARCH_VERSION}",
    "kibana": f"docker.elastic.co/kibana/kibana:{KIBANA_VERSION}",
    "python": PYTHON_BASE_IMAGE,
}


def maven_properties() -> dict[str, str]:
    """The -D properties that tests/harness/pom.xml resolves its artifacts with."""
    return {
        "kafka.zk.version": KAFKA_ZK_VERSION,
        "kafka.kraft.version": KAFKA_KRAFT_VERSION,
        "elasticsearch.version": ELASTICSEARCH_VERSION,
        "flink.kafka.connector.version": FLINK_KAFKA_CONNECTOR_VERSION,
        "flink.elasticsearch.connector.version": FLINK_ELASTICSEARCH_CONNECTOR_VERSION,
        "reload4j.version": RELOAD4J_VERSION,
        "slf4j.version": SLF4J_VERSION,
        "log4j2.version": LOG4J2_VERSION,
    }


# --- Compatibility rules -----------------------------------------------------
@dataclass(frozen=True)
class Pins:
    """The subset of pins the compatibility rules look at (overridable in tests)."""

    flink: str = FLINK_VERSION
    flink_kafka_connector: str = FLINK_KAFKA_CONNECTOR_VERSION
    flink_elasticsearch_connector: str = FLINK_ELASTICSEARCH_CONNECTOR_VERSION
    flink_elasticsearch_connector_client: str = FLINK_ELASTICSEARCH_CONNECTOR_CLIENT_VERSION
    pyflink_package: str = PYFLINK_PACKAGE
    python: tuple[int, int] = PYTHON_VERSION
    elasticsearch: str = ELASTICSEARCH_VERSION
    kibana: str = KIBANA_VERSION
    elasticsearch_client: str = ELASTICSEARCH_CLIENT_VERSION
    kafka_zk: str = KAFKA_ZK_VERSION
    kafka_kraft: str = KAFKA_KRAFT_VERSION
    java: int = JAVA_VERSION


# Python versions each PyFlink minor line publishes wheels for.
PYFLINK_PYTHONS: dict[str, tuple[tuple[int, int], ...]] = {
    "1.17": ((3, 7), (3, 8), (3, 9), (3, 10)),
    "1.18": ((3, 8), (3, 9), (3, 10), (3, 11)),
    "1.19": ((3, 8), (3, 9), (3, 10), (3, 11)),
    "1.20": ((3, 8), (3, 9), (3, 10), (3, 11)),
}

# Flink minor lines on which a connector built for a given Flink minor is known to run.
# The Elasticsearch connector's last release targets 1.17; its Sink V2 API is kept in
# 1.18 and 1.19 and removed in 2.0.
CONNECTOR_RUNS_ON: dict[str, tuple[str, ...]] = {
    "1.17": ("1.17", "1.18", "1.19"),
    "1.18": ("1.18",),
    "1.19": ("1.18", "1.19", "1.20"),
    "1.20": ("1.20",),
}


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _major(version: str) -> int:
    return int(version.split(".")[0])


def compatibility_errors(pins: Pins = Pins()) -> list[str]:
    """Every broken compatibility rule, as a sentence naming both sides and the fix."""
    errors: list[str] = []
    flink_minor = _minor(pins.flink)
    for name, connector in (
        ("Kafka", pins.flink_kafka_connector),
        ("Elasticsearch", pins.flink_elasticsearch_connector),
    ):
        built_for = connector.rsplit("-", 1)[-1]
        if flink_minor not in CONNECTOR_RUNS_ON.get(built_for, ()):
            errors.append(
                f"Flink {pins.flink} cannot load the {name} connector {connector} "
                f"(built for Flink {built_for}); pick a connector release for Flink {flink_minor}"
            )
    pyflink_version = pins.pyflink_package.split("==")[-1]
    if pyflink_version != pins.flink:
        errors.append(
            f"PyFlink {pyflink_version} must equal the Flink cluster version {pins.flink}"
        )
    if pins.python not in PYFLINK_PYTHONS.get(flink_minor, ()):
        errors.append(
            f"PyFlink {flink_minor} has no wheels for Python "
            f"{pins.python[0]}.{pins.python[1]}; supported: "
            + ", ".join(f"{a}.{b}" for a, b in PYFLINK_PYTHONS.get(flink_minor, ()))
        )
    if pins.kibana != pins.elasticsearch:
        errors.append(f"Kibana {pins.kibana} must equal Elasticsearch {pins.elasticsearch}")
    if _major(pins.elasticsearch_client) != _major(pins.elasticsearch):
        errors.append(
            f"the Python elasticsearch client {pins.elasticsearch_client} must have the "
            f"server's major version {_major(pins.elasticsearch)} (other majors refuse it)"
        )
    client_major = _major(pins.flink_elasticsearch_connector_client)
    if client_major != _major(pins.elasticsearch):
        errors.append(
            f"the Flink Elasticsearch connector {pins.flink_elasticsearch_connector} embeds the "
            f"{pins.flink_elasticsearch_connector_client} REST client, which cannot talk to "
            f"Elasticsearch {pins.elasticsearch}; use a {client_major}.x server"
        )
    if _major(pins.elasticsearch) >= 9 and pins.java < 21:
        errors.append(f"Elasticsearch {pins.elasticsearch} needs Java 21, not {pins.java}")
    if not pins.kafka_zk.startswith("3."):
        errors.append(
            f"Kafka {pins.kafka_zk} cannot run with ZooKeeper; zookeeper mode needs a 3.x release"
        )
    if _major(pins.kafka_kraft) < 3:
        errors.append(f"Kafka {pins.kafka_kraft} has no production KRaft mode")
    return errors


def check_compatibility(pins: Pins = Pins()) -> None:
    """Raise ValueError listing every broken rule; do nothing when all hold."""
    errors = compatibility_errors(pins)
    if errors:
        raise ValueError("incompatible pins:\n  - " + "\n  - ".join(errors))


if __name__ == "__main__":  # pragma: no cover - convenience for humans
    check_compatibility()
    sys.stdout.write("all version pins are compatible\n")
