"""Settings: defaults load, every bad value is one line naming the variable."""

from __future__ import annotations

import pytest

from simulator import cli
from simulator.config import ANOMALY_KINDS, SETTINGS, ConfigError, load
from simulator_helpers import run_simulator


def test_defaults_load_and_are_safe() -> None:
    config = load({})
    assert config.bootstrap_servers == "127.0.0.1:9092"
    assert config.topic == "readings"
    assert config.realtime is True
    assert config.seed is None and config.start_ts is None
    assert config.compression == "lz4"
    assert sum(config.rates.as_dict().values()) <= 1


def test_settings_are_declared_once_with_help() -> None:
    names = [s.env for s in SETTINGS]
    assert len(names) == len(set(names))
    assert all(s.help for s in SETTINGS)
    for kind in ANOMALY_KINDS:
        assert f"SIMULATOR_{kind.upper()}_RATE" in names


def test_values_are_parsed() -> None:
    config = load(
        {
            "KAFKA_BOOTSTRAP_SERVERS": "a:1, b:2",
            "SIMULATOR_SENSORS": "7",
            "SIMULATOR_RATE": "2.5",
            "SIMULATOR_REALTIME": "no",
            "SIMULATOR_SEED": "42",
            "SIMULATOR_START_TS": "1732250000000",
            "SIMULATOR_SPIKE_RATE": "0.5",
            "SIMULATOR_COMPRESSION": "ZSTD",
        }
    )
    assert config.bootstrap_servers == "a:1,b:2"
    assert (config.sensors, config.rate, config.realtime) == (7, 2.5, False)
    assert (config.seed, config.start_ts) == (42, 1732250000000)
    assert config.rates.spike == 0.5 and config.compression == "zstd"


@pytest.mark.parametrize(
    ("env", "value", "fragment"),
    [
        ("SIMULATOR_SENSORS", "many", "not a whole number"),
        ("SIMULATOR_SENSORS", "0", "out of range"),
        ("SIMULATOR_RATE", "0", "must be > 0.0"),
        ("SIMULATOR_RATE", "nan", "out of range"),
        ("SIMULATOR_REALTIME", "maybe", "not a boolean"),
        ("SIMULATOR_SEED", "x1", "not a whole number"),
        ("SIMULATOR_SPIKE_RATE", "1.5", "out of range"),
        ("SIMULATOR_COMPRESSION", "snappy", "use one of none, gzip, lz4, zstd"),
        ("KAFKA_BOOTSTRAP_SERVERS", "localhost", "host:port"),
        ("KAFKA_BOOTSTRAP_SERVERS", "h:99999", "host:port"),
        ("READINGS_TOPIC", "bad topic!", "valid Kafka topic name"),
        ("SIMULATOR_LOG_LEVEL", "LOUD", "not a level"),
        ("SIMULATOR_LINGER_MS", "-1", "out of range"),
    ],
)
def test_bad_value_names_the_variable(env: str, value: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load({env: value})
    message = str(caught.value)
    assert message.startswith(f"{env}=") and fragment in message
    assert "\n" not in message


def test_rates_must_sum_to_at_most_one() -> None:
    with pytest.raises(ConfigError, match=r"add up to 1\.2"):
        load({"SIMULATOR_SPIKE_RATE": "0.6", "SIMULATOR_DUPLICATE_RATE": "0.6"})


def test_scenario_and_count_exclude_each_other() -> None:
    with pytest.raises(ConfigError, match="SIMULATOR_COUNT cannot be combined"):
        load({"SIMULATOR_SCENARIO": "x.jsonl", "SIMULATOR_COUNT": "5"})


def test_flags_mirror_settings_and_win_over_environment() -> None:
    assert cli.flag("SIMULATOR_RATE") == "--rate"
    assert cli.flag("KAFKA_BOOTSTRAP_SERVERS") == "--kafka-bootstrap-servers"
    merged = cli.parse_args(
        ["--rate", "9", "--topic", "t1", "--bootstrap-servers", "h:1"],
        {"SIMULATOR_RATE": "3", "SIMULATOR_SEED": "5"},
    )
    config = load(merged)
    assert (config.rate, config.seed, config.topic) == (9.0, 5, "t1")
    assert config.bootstrap_servers == "h:1"


def test_cli_bad_config_is_one_line_without_traceback() -> None:
    result = run_simulator("--sensors", "lots", timeout=60)
    assert result.returncode == 2
    assert result.stderr == (
        "simulator: error: SIMULATOR_SENSORS='lots' is not a whole number; "
        "e.g. SIMULATOR_SENSORS=100\n"
    )
    result = run_simulator(timeout=60, SIMULATOR_COMPRESSION="brotli")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "SIMULATOR_COMPRESSION" in result.stderr
