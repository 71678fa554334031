"""The version pins agree with each other and with what is actually installed/downloaded."""

from __future__ import annotations

import dataclasses
import re
import sys
import tomllib
from importlib.metadata import version as installed_version
from pathlib import Path

import pytest
from harness import artifacts
from iotstack import versions

ROOT = Path(__file__).resolve().parents[1]


def test_pinned_versions_are_compatible() -> None:
    assert versions.compatibility_errors() == []
    versions.check_compatibility()  # does not raise


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"flink": "1.19.3", "pyflink_package": "apache-flink==1.19.3"},
            "cannot load the Kafka connector 5.0.0-2.2",
        ),
        ({"java": 8}, "Flink 2.2.1 does not run on Java 8"),
        ({"pyflink_package": "apache-flink==2.2.0"}, "PyFlink 2.2.0 must equal the Flink"),
        ({"python": (3, 13)}, "PyFlink 2.2 has no wheels for Python 3.13"),
        ({"kibana": "8.19.20"}, "Kibana 8.19.20 must equal Elasticsearch 8.19.21"),
        (
            {"elasticsearch_client": "7.17.13"},
            "client 7.17.13 must have the server's major version 8",
        ),
        (
            {"elasticsearch": "8.18.8", "kibana": "8.18.8"},
            "client 8.19.3 is newer than the server 8.18.8: clients are forward compatible only",
        ),
        (
            {"elasticsearch": "9.1.0", "kibana": "9.1.0", "elasticsearch_client": "9.1.0"},
            "needs Java 21",
        ),
        ({"kafka_zk": "4.1.2"}, "Kafka 4.1.2 cannot run with ZooKeeper"),
        ({"kafka_kraft": "2.8.2"}, "Kafka 2.8.2 has no production KRaft mode"),
        (
            {"kafka_zk": "3.8.1"},
            "cp-kafka 7.9.6 runs Kafka 3.9.2, not the 3.8 line of KAFKA_ZK_VERSION 3.8.1",
        ),
        ({"confluent_platform": "7.8.0"}, "Confluent Platform 7.8.0 is not in CONFLUENT_KAFKA"),
        # 7.9.5 carries 3.9.2-SNAPSHOT commits, not the 3.9.2 release
        (
            {"confluent_platform": "7.9.5"},
            "cp-kafka 7.9.5 does not contain Kafka 3.9.2 (its newest Kafka is 3.9.2-SNAPSHOT)",
        ),
        (
            {"kafka_zk": "3.9.1", "confluent_platform": "7.9.2"},
            "Kafka 3.9.1 (ZooKeeper mode) lacks the fix for KAFKA-19012",
        ),
        ({"kafka_kraft": "4.1.1"}, "Kafka 4.1.1 (KRaft mode) lacks the fix for KAFKA-19012"),
        ({"kafka_kraft": "4.0.1"}, "the 4.0 line has it from 4.0.2"),
        ({"kafka_kraft": "3.8.1"}, "Kafka 3.8.1 (KRaft mode) has no release with the fix"),
        ({"zookeeper": "3.9.2"}, "ZooKeeper 3.9.2 is not the ZooKeeper Kafka 3.9 is built with"),
    ],
)
def test_each_broken_rule_is_named(change: dict[str, object], message: str) -> None:
    pins = dataclasses.replace(versions.Pins(), **change)  # type: ignore[arg-type]
    errors = versions.compatibility_errors(pins)
    assert any(message in e for e in errors), errors
    with pytest.raises(ValueError, match="incompatible pins"):
        versions.check_compatibility(pins)


@pytest.mark.parametrize(
    "change",
    [
        {"confluent_platform": "7.9.9"},  # contains 3.9.2 as well (and later 3.9 commits)
        {"kafka_kraft": "4.1.2"},  # the first 4.1 patch with the KAFKA-19012 fix
        {"kafka_kraft": "4.2.0"},  # 4.2 had the fix from its first release
        {"kafka_kraft": "4.4.0"},  # lines branched after the fix: not listed, fixed from .0
    ],
)
def test_kafka_pins_that_contain_the_release_and_the_fix_are_allowed(
    change: dict[str, object],
) -> None:
    pins = dataclasses.replace(versions.Pins(), **change)  # type: ignore[arg-type]
    assert versions.compatibility_errors(pins) == []


def test_a_snapshot_precedes_its_release() -> None:
    key = versions._release_key
    assert key("3.9.1") < key("3.9.2-SNAPSHOT") < key("3.9.2") < key("3.9.3-SNAPSHOT")


def test_an_older_client_minor_of_the_same_major_is_allowed() -> None:
    # Elastic: clients are forward compatible (a client talks to servers of its major with an
    # equal or greater minor), so 8.18 against 8.19 breaks no rule; 8.19 against 8.18 does.
    pins = dataclasses.replace(versions.Pins(), elasticsearch_client="8.18.2")
    assert versions.compatibility_errors(pins) == []


def test_the_zookeeper_mode_image_runs_the_kafka_release_the_harness_tests() -> None:
    # The harness runs KAFKA_ZK_VERSION from Maven; cp-kafka must contain that release (the
    # pinned patch's newest Kafka release is exactly it), and the zookeeper image must be the
    # ZooKeeper that release is built with.
    assert versions.IMAGES["kafka-zookeeper-mode"] == (
        f"confluentinc/cp-kafka:{versions.CONFLUENT_PLATFORM_VERSION}"
    )
    assert versions.CONFLUENT_KAFKA[versions.CONFLUENT_PLATFORM_VERSION] == (
        versions.KAFKA_ZK_VERSION
    ), "pick a Confluent Platform patch whose newest Kafka is KAFKA_ZK_VERSION (CONFLUENT_KAFKA)"
    assert versions.IMAGES["zookeeper"] == f"zookeeper:{versions.ZOOKEEPER_VERSION}"
    assert versions.KAFKA_BUILT_WITH_ZOOKEEPER["3.9"] == versions.ZOOKEEPER_VERSION
    assert versions.IMAGES["kafka-kraft-mode"] == f"apache/kafka:{versions.KAFKA_KRAFT_VERSION}"


def test_installed_pyflink_and_python_match_the_pins() -> None:
    assert installed_version("apache-flink") == versions.FLINK_VERSION
    assert sys.version_info[:2] == versions.PYTHON_VERSION


def test_installed_clients_match_the_pins() -> None:
    assert installed_version("elasticsearch") == versions.ELASTICSEARCH_CLIENT_VERSION
    assert installed_version("kafka-python") == versions.KAFKA_PYTHON_VERSION


def test_pom_takes_every_version_from_versions_py() -> None:
    pom = (ROOT / "tests/harness/pom.xml").read_text()
    body = pom[pom.index("<project") :]
    literal = re.findall(r"<version>(?!\$\{)([^<]+)</version>", body)
    assert literal == ["0"], f"versions written in pom.xml instead of versions.py: {literal}"
    used = set(re.findall(r"\$\{([a-z0-9.]+)\}", body))
    assert used == set(versions.maven_properties())


def test_no_rule_ties_elasticsearch_to_a_flink_connector() -> None:
    # Flink has no Elasticsearch connector any more (the job writes only Kafka): an 8.x
    # server with Kibana and the Python client of the same major breaks no rule.
    pins = dataclasses.replace(
        versions.Pins(), elasticsearch="8.19.21", kibana="8.19.21", elasticsearch_client="8.19.3"
    )
    assert versions.compatibility_errors(pins) == []


def test_harness_flink_loads_only_the_kafka_connector() -> None:
    jars = sorted(p.name for p in artifacts.resolve("flink-connectors").glob("*.jar"))
    assert jars == [f"flink-sql-connector-kafka-{versions.FLINK_KAFKA_CONNECTOR_VERSION}.jar"]


@pytest.mark.parametrize("app", sorted(p.parent.name for p in ROOT.glob("apps/*/pyproject.toml")))
def test_apps_pin_the_clients_the_servers_need(app: str) -> None:
    project = tomllib.loads((ROOT / "apps" / app / "pyproject.toml").read_text())["project"]
    assert all("==" in dep for dep in project["dependencies"]), "exact pins only"
    pins = dict(dep.split("==", 1) for dep in project["dependencies"])
    wanted = {
        "kafka-python": versions.KAFKA_PYTHON_VERSION,
        "elasticsearch": versions.ELASTICSEARCH_CLIENT_VERSION,
        "apache-flink": versions.FLINK_VERSION,
    }
    for name, pinned in pins.items():
        if name in wanted:
            assert pinned == wanted[name], (
                f"apps/{app} pins {name}=={pinned}, versions.py says {wanted[name]}"
            )
