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
        ("MAX_TS_AHEAD_MS", "-1", "MAX_TS_AHEAD_MS"),
        ("MAX_TS_AHEAD_MS", "86400001", "MAX_TS_AHEAD_MS"),
        ("STATE_BACKEND", "RocksDB", "STATE_BACKEND"),
        ("STATE_BACKEND", "", "STATE_BACKEND"),
        ("STATE_BACKEND", "memory", "STATE_BACKEND"),
    ],
)
def test_bad_values_name_the_variable(env: str, value: str, named: str) -> None:
    with pytest.raises(ConfigError) as err:
        load({env: value})
    assert named in str(err.value) and "\n" not in str(err.value)


def test_max_ts_ahead_defaults_to_five_minutes_and_takes_zero_to_a_day() -> None:
    assert load({}).max_ts_ahead_ms == 300_000
    assert load({"MAX_TS_AHEAD_MS": "0"}).max_ts_ahead_ms == 0
    assert load({"MAX_TS_AHEAD_MS": "86400000"}).max_ts_ahead_ms == 86_400_000


def test_restore_from_is_empty_or_a_savepoint_path() -> None:
    assert load({}).restore_from == ""
    path = "file:/opt/flink/data/savepoints/savepoint-0a1b2c-3d4e5f6a7b8c"
    assert load({"RESTORE_FROM": path}).restore_from == path


@pytest.mark.parametrize(
    ("env", "accepted"),
    [
        # defaults: silence 60 s + lateness 60 s + 1 ms = 120.001 s
        ({"STATE_TTL_S": "120"}, False),
        ({"STATE_TTL_S": "121"}, True),
        ({"STATE_TTL_S": "121", "ALLOWED_LATENESS_MS": "1000"}, True),
        ({"STATE_TTL_S": "61", "ALLOWED_LATENESS_MS": "0"}, True),
        ({"STATE_TTL_S": "60", "ALLOWED_LATENESS_MS": "0"}, False),
        # a per-sensor silence counts too
        ({"STATE_TTL_S": "121", "SENSOR_RULES": '{"s-1": {"silence_s": 61}}'}, False),
        ({"STATE_TTL_S": "122", "SENSOR_RULES": '{"s-1": {"silence_s": 61}}'}, True),
    ],
)
def test_state_ttl_must_outlive_the_silence_timer(env: dict[str, str], accepted: bool) -> None:
    """A sensor forgotten as its silence alert opens would leave that alert open for good."""
    if accepted:
        assert load(env).state_ttl_s == int(env["STATE_TTL_S"])
        return
    with pytest.raises(ConfigError) as err:
        load(env)
    message = str(err.value)
    assert message.startswith(f"STATE_TTL_S={env['STATE_TTL_S']} must be more than")
    assert "\n" not in message and "e.g. STATE_TTL_S=3600" in message


@pytest.mark.parametrize(
    ("value", "backend", "incremental"),
    [(None, "rocksdb", "true"), ("rocksdb", "rocksdb", "true"), (" hashmap ", "hashmap", "false")],
)
def test_state_backend_sets_flinks_backend_and_incremental_checkpoints(
    value: str | None, backend: str, incremental: str
) -> None:
    from alerts.job import job_configuration

    cfg = load({} if value is None else {"STATE_BACKEND": value})
    assert cfg.state_backend == backend
    conf = job_configuration(cfg).to_dict()
    assert conf["state.backend.type"] == backend
    assert conf["execution.checkpointing.incremental"] == incremental


@pytest.mark.parametrize("value", [None, "hashmap"])
def test_flink_reads_the_rocksdb_timer_cache_and_keeps_the_timers_in_rocksdb(
    value: str | None,
) -> None:
    # Flink ignores a key it does not know: parse the job's configuration with the pinned
    # Flink's own RocksDB priority-queue settings, as its RocksDB backend does.
    from pyflink.java_gateway import get_gateway

    from alerts.job import ROCKSDB_TIMER_CACHE, job_configuration

    conf = job_configuration(load({} if value is None else {"STATE_BACKEND": value}))
    rocksdb = get_gateway().jvm.org.apache.flink.state.rocksdb
    parsed = rocksdb.RocksDBPriorityQueueConfig.fromOtherAndConfiguration(
        rocksdb.RocksDBPriorityQueueConfig(), conf._j_configuration
    )
    assert parsed.getRocksDBPriorityQueueSetCacheSize() == ROCKSDB_TIMER_CACHE > 128
    assert parsed.getPriorityQueueStateType().name() == "ROCKSDB"
