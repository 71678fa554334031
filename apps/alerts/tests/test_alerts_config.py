"""Settings: defaults load, bad values fail with one line naming the variable."""

from __future__ import annotations

import pytest

from alerts.config import SETTINGS, ConfigError, Rules, load


def test_defaults_load() -> None:
    cfg = load({})
    assert cfg.readings_topic == "readings" and cfg.alerts_topic == "alerts"
    assert cfg.aggregates_topic == "readings-1m"
    assert cfg.rules == Rules(high=80.0, low=-10.0, hysteresis=2.0, rate=10.0, silence_s=60.0)
    assert len({s.env for s in SETTINGS}) == len(SETTINGS)


def test_the_job_has_no_elasticsearch_settings() -> None:
    # It writes only Kafka; the indexer (apps/dashboard) ships the topics into Elasticsearch.
    names = {s.env for s in SETTINGS}
    assert not {n for n in names if "ELASTICSEARCH" in n or "INDEX" in n or n.startswith("ES_")}
    assert not [f for f in vars(load({})) if "elasticsearch" in f or "index" in f]


def test_sensor_rules_override_the_defaults() -> None:
    cfg = load({"SENSOR_RULES": '{"s-1": {"high": 90, "silence_s": 10}}'})
    assert cfg.rules_for("s-1") == Rules(90.0, -10.0, 2.0, 10.0, 10.0)
    assert cfg.rules_for("s-2") == cfg.rules


@pytest.mark.parametrize(
    ("env", "value", "named"),
    [
        ("HIGH_THRESHOLD_C", "hot", "HIGH_THRESHOLD_C"),
        ("LOW_THRESHOLD_C", "90", "LOW_THRESHOLD_C"),
        ("SILENCE_SECONDS", "0", "SILENCE_SECONDS"),
        ("KAFKA_BOOTSTRAP_SERVERS", "kafka", "KAFKA_BOOTSTRAP_SERVERS"),
        ("FLINK_REST_URL", "flink:8081", "FLINK_REST_URL"),
        ("READINGS_TOPIC", "bad topic", "READINGS_TOPIC"),
        ("AGGREGATES_TOPIC", "readings 1m", "AGGREGATES_TOPIC"),
        ("SENSOR_RULES", "{", "SENSOR_RULES"),
        ("RESTORE_FROM", "savepoint-1", "RESTORE_FROM"),
        ("RESTORE_FROM", "file:/a b", "RESTORE_FROM"),
        ("SENSOR_RULES", '{"s": {"hgih": 1}}', "SENSOR_RULES"),
        ("JOB_PARALLELISM", "0", "JOB_PARALLELISM"),
        ("CHECKPOINT_INTERVAL_MS", "soon", "CHECKPOINT_INTERVAL_MS"),
    ],
)
def test_bad_values_name_the_variable(env: str, value: str, named: str) -> None:
    with pytest.raises(ConfigError) as err:
        load({env: value})
    assert named in str(err.value) and "\n" not in str(err.value)


def test_restore_from_is_empty_or_a_savepoint_path() -> None:
    assert load({}).restore_from == ""
    path = "file:/opt/flink/data/savepoints/savepoint-0a1b2c-3d4e5f6a7b8c"
    assert load({"RESTORE_FROM": path}).restore_from == path
