"""Settings: defaults, validation messages naming the variable, and the SETTINGS contract."""

from __future__ import annotations

import re

import pytest

from dashboard.config import SETTINGS, ConfigError, load


def test_defaults_are_local_and_complete() -> None:
    cfg = load({})
    assert cfg.kafka_bootstrap_servers == ("127.0.0.1:9092",)
    assert cfg.elasticsearch_url == "http://127.0.0.1:9200"
    assert cfg.bind.startswith("127.0.0.1:")
    assert (cfg.alerts_topic, cfg.alerts_index, cfg.aggregates_index) == (
        "alerts", "alerts", "readings-1m")
    assert cfg.max_streams < cfg.threads


def test_settings_declare_contract_names_with_help() -> None:
    names = [s.env for s in SETTINGS]
    assert len(names) == len(set(names))
    for common in ("KAFKA_BOOTSTRAP_SERVERS", "ELASTICSEARCH_URL", "ALERTS_TOPIC",
                   "ALERTS_INDEX", "AGGREGATES_INDEX"):
        assert common in names
    assert all(s.help and re.fullmatch(r"[A-Z][A-Z0-9_]+", s.env) for s in SETTINGS)


def test_overrides_are_parsed() -> None:
    cfg = load({"KAFKA_BOOTSTRAP_SERVERS": "a:1, b:2", "ELASTICSEARCH_URL": "https://es:9200/",
                "DASHBOARD_THREADS": "200", "DASHBOARD_MAX_STREAMS": "190",
                "DASHBOARD_HEARTBEAT_S": "0.5", "DASHBOARD_LOG_LEVEL": "debug"})
    assert cfg.kafka_bootstrap_servers == ("a:1", "b:2")
    assert cfg.elasticsearch_url == "https://es:9200"
    assert (cfg.threads, cfg.max_streams, cfg.heartbeat_s, cfg.log_level) == (
        200, 190, 0.5, "DEBUG")


@pytest.mark.parametrize(("env", "names"), [
    ({"KAFKA_BOOTSTRAP_SERVERS": "localhost"}, "KAFKA_BOOTSTRAP_SERVERS"),
    ({"KAFKA_BOOTSTRAP_SERVERS": "h:99999"}, "KAFKA_BOOTSTRAP_SERVERS"),
    ({"ELASTICSEARCH_URL": "es:9200"}, "ELASTICSEARCH_URL"),
    ({"ELASTICSEARCH_URL": "  "}, "ELASTICSEARCH_URL"),
    ({"DASHBOARD_THREADS": "many"}, "DASHBOARD_THREADS"),
    ({"DASHBOARD_THREADS": "8", "DASHBOARD_MAX_STREAMS": "8"}, "DASHBOARD_MAX_STREAMS"),
    ({"DASHBOARD_HEARTBEAT_S": "0"}, "DASHBOARD_HEARTBEAT_S"),
    ({"ALERTS_INDEX": "my alerts"}, "ALERTS_INDEX"),
    ({"DASHBOARD_LOG_LEVEL": "LOUD"}, "DASHBOARD_LOG_LEVEL"),
    ({"DASHBOARD_BIND": "8000"}, "DASHBOARD_BIND"),
])
def test_bad_values_name_the_variable_in_one_line(env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(env)
    assert names in str(err.value)
    assert "\n" not in str(err.value)


def test_redacted_hides_credentials() -> None:
    cfg = load({"ELASTICSEARCH_URL": "https://elastic:s3cret@es.example:9200"})
    shown = cfg.redacted()
    assert "s3cret" not in str(shown)
    assert shown["elasticsearch_url"] == "https://***@es.example:9200"
