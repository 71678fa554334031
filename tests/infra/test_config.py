"""Config validation: defaults, one specific message per bad input, Pulumi.yaml agreement."""

from __future__ import annotations

import pytest
import yaml
from infra_paths import INFRA
from iotstack.config import KEYS, ConfigError, StackConfig


def test_defaults_parse_from_an_empty_mapping() -> None:
    cfg = StackConfig.from_mapping({})
    assert cfg == StackConfig()
    assert (cfg.target, cfg.kafka_mode, cfg.profile) == ("docker", "zookeeper", "laptop")
    assert cfg.bind_address == "127.0.0.1"
    assert cfg.elasticsearch_security is False and cfg.retain_data is False


def test_values_are_parsed_to_their_types() -> None:
    cfg = StackConfig.from_mapping(
        {
            "target": "kind",
            "kafkaMode": "kraft",
            "profile": "demo",
            "kafkaHostPort": "19094",
            "elasticsearchSecurity": "true",
            "retainData": "True",
            "topicPartitions": "6",
        }
    )
    assert cfg.target == "kind" and cfg.kafka_mode == "kraft" and cfg.profile == "demo"
    assert cfg.kafka_host_port == 19094 and cfg.topic_partitions == 6
    assert cfg.elasticsearch_security is True and cfg.retain_data is True


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"target": "k8s"}, "iotstack:target='k8s' is invalid; allowed: docker | kind"),
        ({"kafkaMode": "zk"}, "iotstack:kafkaMode='zk' is invalid; allowed: zookeeper | kraft"),
        ({"profile": "huge"}, "iotstack:profile='huge' is invalid; allowed: laptop | demo"),
        (
            {"bindAddress": "localhost"},
            "iotstack:bindAddress='localhost' is invalid; "
            "allowed: an IPv4 address such as 127.0.0.1",
        ),
        (
            {"kafkaHostPort": "80"},
            "iotstack:kafkaHostPort='80' is invalid; allowed: an integer from 1024 to 65535",
        ),
        (
            {"kibanaPort": "abc"},
            "iotstack:kibanaPort='abc' is invalid; allowed: an integer from 1024 to 65535",
        ),
        (
            {"topicPartitions": "0"},
            "iotstack:topicPartitions='0' is invalid; allowed: an integer from 1 to 64",
        ),
        (
            {"retentionHours": "-5"},
            "iotstack:retentionHours='-5' is invalid; allowed: an integer from 1 to 8760",
        ),
        (
            {"elasticsearchSecurity": "yes"},
            "iotstack:elasticsearchSecurity='yes' is invalid; allowed: true | false",
        ),
        ({"retainData": "1"}, "iotstack:retainData='1' is invalid; allowed: true | false"),
        (
            {"namespace": "Iot_Stack"},
            "iotstack:namespace='Iot_Stack' is invalid; allowed: a DNS label (a-z, 0-9, '-')",
        ),
        (
            {"kafkaAdvertisedHost": "bad host"},
            "iotstack:kafkaAdvertisedHost='bad host' is invalid; allowed: a host name or IP",
        ),
    ],
)
def test_each_bad_value_names_key_value_and_allowed(raw: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        StackConfig.from_mapping(raw)
    message = str(err.value)
    assert message.startswith(expected)
    assert "pulumi config set" in message  # says how to fix it
    assert "\n" not in message


def test_unknown_key_is_rejected_with_the_known_keys() -> None:
    with pytest.raises(
        ConfigError,
        match=r"unknown config key iotstack:kafkamode; known keys: "
        r"target, kafkaMode",
    ):
        StackConfig.from_mapping({"kafkamode": "kraft"})


def test_two_services_cannot_share_a_host_port() -> None:
    with pytest.raises(
        ConfigError,
        match=r"iotstack:kibanaPort=9200 is already used by "
        r"iotstack:elasticsearchPort",
    ):
        StackConfig.from_mapping({"kibanaPort": "9200"})


def _project() -> dict:
    return yaml.safe_load((INFRA / "Pulumi.yaml").read_text())


def test_pulumi_yaml_declares_every_key_with_type_default_and_description() -> None:
    declared = _project()["config"]
    assert list(declared) == [k.name for k in KEYS]
    for key in KEYS:
        entry = declared[key.name]
        assert entry["type"] == key.type, key.name
        assert entry["default"] == key.default, key.name
        assert entry["description"] == key.description, key.name
    # The declared defaults, as the CLI would pass them, parse to the dataclass defaults.
    as_strings = {
        k: str(v).lower() if isinstance(v, bool) else str(v["default"])
        for k, v in ((k, declared[k]) for k in declared)
    }
    assert StackConfig.from_mapping(as_strings) == StackConfig()


def test_runtime_is_python_with_the_venv() -> None:
    runtime = _project()["runtime"]
    assert runtime["name"] == "python"
    assert runtime["options"]["virtualenv"] == "venv"


@pytest.mark.parametrize(("stack", "target"), [("dev", "docker"), ("kind", "kind")])
def test_stack_files_only_override_known_keys_and_parse(stack: str, target: str) -> None:
    overrides = yaml.safe_load((INFRA / "stacks" / f"{stack}.yaml").read_text())["config"]
    raw = {}
    for full_key, value in overrides.items():
        namespace, _, key = full_key.partition(":")
        assert namespace == "iotstack", full_key
        raw[key] = str(value).lower() if isinstance(value, bool) else str(value)
    assert StackConfig.from_mapping(raw).target == target
