"""Stack configuration: read once, validated first, frozen.

Pure standard library on purpose: the end-to-end tests build a :class:`StackConfig`
from a plain mapping (``StackConfig.from_mapping({})`` gives the defaults) without a
Pulumi engine. The Pulumi program reads the same keys through
:func:`iotstack.program.read_config`, which only adapts ``pulumi.Config`` to a mapping.

Every key is declared (type, default, description) in ``infra/Pulumi.yaml``; the test
``tests/infra/test_config.py`` checks that the declarations and :data:`KEYS` agree.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from iotstack.versions import BUILD_PLATFORMS

TARGETS = ("docker", "kind")
KAFKA_MODES = ("zookeeper", "kraft")
PROFILES = ("laptop", "demo")


class ConfigError(ValueError):
    """A stack setting is invalid; the message names the key, the value and the fix."""


@dataclass(frozen=True)
class Key:
    """One declared configuration key."""

    name: str
    type: str  # "string" | "integer" | "boolean", as in Pulumi.yaml
    default: Any
    description: str


KEYS: tuple[Key, ...] = (
    Key("target", "string", "docker", "Where the stack runs: docker (local daemon) or kind."),
    Key(
        "kafkaMode",
        "string",
        "zookeeper",
        "zookeeper: Kafka 3.9 with a ZooKeeper; kraft: Kafka 4 without one.",
    ),
    Key(
        "profile",
        "string",
        "laptop",
        "Memory profile: laptop (whole stack <= 6 GiB) or demo (more headroom).",
    ),
    Key(
        "imagePlatform",
        "string",
        "linux/amd64",
        "Platform the app images are built for, the same on every machine (reproducible"
        " previews); only linux/amd64: PyFlink 2.2 has no Linux arm64 wheel.",
    ),
    Key(
        "bindAddress",
        "string",
        "127.0.0.1",
        "Host address the published ports bind to (docker target).",
    ),
    Key(
        "kafkaAdvertisedHost",
        "string",
        "127.0.0.1",
        "Host name that host-side Kafka clients use; advertised on the EXTERNAL listener.",
    ),
    Key("kafkaHostPort", "integer", 9094, "Host port of Kafka's EXTERNAL listener."),
    Key("elasticsearchPort", "integer", 9200, "Host port of Elasticsearch."),
    Key("kibanaPort", "integer", 5601, "Host port of Kibana."),
    Key("flinkUiPort", "integer", 8081, "Host port of the Flink web UI / REST API."),
    Key("dashboardPort", "integer", 8000, "Host port of the dashboard."),
    Key("topicPartitions", "integer", 3, "Partitions of the readings and alerts topics."),
    Key("retentionHours", "integer", 168, "Retention of the readings and alerts topics."),
    Key(
        "deadLetterRetentionHours",
        "integer",
        336,
        "Retention of the dead-letter and late-readings topics.",
    ),
    Key("sensorCount", "integer", 100, "Number of simulated sensors (SIMULATOR_SENSORS)."),
    Key(
        "elasticsearchSecurity",
        "boolean",
        False,
        "Enable Elasticsearch security; passwords are generated and kept as secrets.",
    ),
    Key("retainData", "boolean", False, "Keep (and protect) the data volumes on destroy."),
    Key("namespace", "string", "iotstack", "Kubernetes namespace (kind target)."),
    Key("kindClusterName", "string", "iotstack", "Name of the kind cluster (kind target)."),
    Key(
        "flinkStateRetained",
        "integer",
        3,
        "Savepoints and checkpoints of the alerts job kept on the flink-data volume (newest N,"
        " N >= 1); older ones are deleted once the running job has completed a checkpoint.",
    ),
    *(
        Key(
            f"{app}Image",
            "string",
            "",
            f"Prebuilt {app} image (registry/name:tag or @sha256 digest; not 'latest') used as"
            f" it is; empty: built from apps/{app} and, on kind, loaded into the nodes.",
        )
        for app in ("alerts", "dashboard", "simulator")
    ),
)
KEY_NAMES = tuple(k.name for k in KEYS)
_DEFAULTS = {k.name: k.default for k in KEYS}
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_HOST = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9.]{0,251}[A-Za-z0-9])?$")
# An image reference pinned by a tag or a digest (Docker's reference grammar, lower case
# repository path, optional registry host:port).
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE_ALLOWED = "an image reference with a tag other than latest, or an @sha256 digest, or empty"
_PINNED_IMAGE = re.compile(
    rf"^(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::(?!latest$)[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})$"
)


@dataclass(frozen=True)
class StackConfig:
    """Every setting the program uses, typed and validated."""

    target: str = "docker"
    kafka_mode: str = "zookeeper"
    profile: str = "laptop"
    image_platform: str = "linux/amd64"
    bind_address: str = "127.0.0.1"
    kafka_advertised_host: str = "127.0.0.1"
    kafka_host_port: int = 9094
    elasticsearch_port: int = 9200
    kibana_port: int = 5601
    flink_ui_port: int = 8081
    dashboard_port: int = 8000
    topic_partitions: int = 3
    retention_hours: int = 168
    dead_letter_retention_hours: int = 336
    sensor_count: int = 100
    elasticsearch_security: bool = False
    retain_data: bool = False
    namespace: str = "iotstack"
    kind_cluster_name: str = "iotstack"
    flink_state_retained: int = 3
    # App -> prebuilt image reference; an app not in it is built from apps/<app>.
    prebuilt_images: tuple[tuple[str, str], ...] = ()

    def prebuilt_image(self, app: str) -> str | None:
        """The configured prebuilt reference of ``app``, or None to build it."""
        return dict(self.prebuilt_images).get(app)

    @staticmethod
    def from_mapping(raw: Mapping[str, str]) -> StackConfig:
        """Parse raw string values (as Pulumi stores them) keyed by declared key name."""
        unknown = sorted(set(raw) - set(KEY_NAMES))
        if unknown:
            raise ConfigError(
                f"unknown config key iotstack:{unknown[0]}; known keys: {', '.join(KEY_NAMES)}"
            )
        get = _Reader(raw)
        cfg = StackConfig(
            target=get.choice("target", TARGETS),
            kafka_mode=get.choice("kafkaMode", KAFKA_MODES),
            profile=get.choice("profile", PROFILES),
            image_platform=get.choice("imagePlatform", BUILD_PLATFORMS),
            bind_address=get.ip("bindAddress"),
            kafka_advertised_host=get.text("kafkaAdvertisedHost", _HOST, "a host name or IP"),
            kafka_host_port=get.port("kafkaHostPort"),
            elasticsearch_port=get.port("elasticsearchPort"),
            kibana_port=get.port("kibanaPort"),
            flink_ui_port=get.port("flinkUiPort"),
            dashboard_port=get.port("dashboardPort"),
            topic_partitions=get.integer("topicPartitions", 1, 64),
            retention_hours=get.integer("retentionHours", 1, 24 * 365),
            dead_letter_retention_hours=get.integer("deadLetterRetentionHours", 1, 24 * 365),
            sensor_count=get.integer("sensorCount", 1, 10_000),
            elasticsearch_security=get.boolean("elasticsearchSecurity"),
            retain_data=get.boolean("retainData"),
            namespace=get.text("namespace", _DNS_LABEL, "a DNS label (a-z, 0-9, '-')"),
            kind_cluster_name=get.text("kindClusterName", _DNS_LABEL, "a DNS label"),
            flink_state_retained=get.integer("flinkStateRetained", 1, 1000),
            prebuilt_images=tuple(
                (app, ref)
                for app in ("alerts", "dashboard", "simulator")
                if (ref := get.optional_text(f"{app}Image", _PINNED_IMAGE, _IMAGE_ALLOWED))
            ),
        )
        cfg.check_ports_distinct()
        return cfg

    def host_ports(self) -> dict[str, int]:
        """Published host ports by config key."""
        return {
            "kafkaHostPort": self.kafka_host_port,
            "elasticsearchPort": self.elasticsearch_port,
            "kibanaPort": self.kibana_port,
            "flinkUiPort": self.flink_ui_port,
            "dashboardPort": self.dashboard_port,
        }

    def check_ports_distinct(self) -> None:
        """Two services cannot publish the same host port."""
        seen: dict[int, str] = {}
        for key, port in self.host_ports().items():
            if port in seen:
                raise ConfigError(
                    f"iotstack:{key}={port} is already used by iotstack:{seen[port]}; "
                    "give each published port its own number"
                )
            seen[port] = key


class _Reader:
    """Typed access to the raw mapping; every failure names key, value and what is allowed."""

    def __init__(self, raw: Mapping[str, str]) -> None:
        self._raw = raw

    def _get(self, key: str) -> str | None:
        value = self._raw.get(key)
        return None if value is None else str(value).strip()

    def _fail(self, key: str, value: object, allowed: str) -> ConfigError:
        return ConfigError(
            f"iotstack:{key}={value!r} is invalid; allowed: {allowed} "
            f"(fix: pulumi config set {key} <value>)"
        )

    def choice(self, key: str, allowed: tuple[str, ...]) -> str:
        value = self._get(key)
        if value is None:
            return str(_DEFAULTS[key])
        if value not in allowed:
            raise self._fail(key, value, " | ".join(allowed))
        return value

    def integer(self, key: str, low: int, high: int) -> int:
        value = self._get(key)
        if value is None:
            return int(_DEFAULTS[key])
        try:
            number = int(value)
        except ValueError:
            raise self._fail(key, value, f"an integer from {low} to {high}") from None
        if not low <= number <= high:
            raise self._fail(key, value, f"an integer from {low} to {high}")
        return number

    def port(self, key: str) -> int:
        return self.integer(key, 1024, 65535)

    def boolean(self, key: str) -> bool:
        value = self._get(key)
        if value is None:
            return bool(_DEFAULTS[key])
        lowered = value.lower()
        if lowered not in ("true", "false"):
            raise self._fail(key, value, "true | false")
        return lowered == "true"

    def ip(self, key: str) -> str:
        value = self._get(key)
        if value is None:
            return str(_DEFAULTS[key])
        try:
            return str(ipaddress.IPv4Address(value))
        except ValueError:
            raise self._fail(key, value, "an IPv4 address such as 127.0.0.1") from None

    def optional_text(self, key: str, pattern: re.Pattern[str], allowed: str) -> str:
        """Empty or unset: "" (the default); otherwise it must match ``pattern``."""
        value = self._get(key)
        if not value:
            return ""
        if not pattern.match(value):
            raise self._fail(key, value, allowed)
        return value

    def text(self, key: str, pattern: re.Pattern[str], allowed: str) -> str:
        value = self._get(key)
        if value is None:
            return str(_DEFAULTS[key])
        if not pattern.match(value):
            raise self._fail(key, value, allowed)
        return value
