"""The simulator's settings: declared once in ``SETTINGS``, parsed and validated by ``load``.

Standard library only, so the infra contract test can import it without Kafka installed.
Every setting is an environment variable; the command line offers the same names as flags
(``SIMULATOR_RATE`` -> ``--rate``), see :mod:`simulator.cli`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass


class ConfigError(ValueError):
    """A setting is missing or invalid; the message is one line naming the variable."""


@dataclass(frozen=True)
class Setting:
    """One environment variable: its name, default (None = required) and meaning."""

    env: str
    default: str | None
    help: str


COMPRESSIONS = ("none", "gzip", "lz4", "zstd")

ANOMALY_KINDS = (
    "spike",
    "drift",
    "stuck",
    "dropout",
    "out_of_order",
    "late",
    "duplicate",
    "malformed",
)

SETTINGS: tuple[Setting, ...] = (
    Setting("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092", "Kafka brokers, host:port[,...]"),
    Setting("READINGS_TOPIC", "readings", "topic the readings are written to"),
    Setting("SIMULATOR_SENSORS", "100", "number of sensors"),
    Setting("SIMULATOR_SITES", "4", "number of sites (plant-a, ...)"),
    Setting("SIMULATOR_FIRST_SENSOR", "0", "index of the first sensor (one range per process)"),
    Setting("SIMULATOR_RATE", "50", "total readings per second over all sensors (event time)"),
    Setting(
        "SIMULATOR_REALTIME",
        "true",
        "true: send at the rate in wall-clock time; false: as fast as possible",
    ),
    Setting("SIMULATOR_SEED", "", "random seed (same seed => same stream); empty = random, logged"),
    Setting("SIMULATOR_START_TS", "", "event time of the first reading, epoch ms; empty = now"),
    Setting("SIMULATOR_DURATION_S", "0", "stop after this many seconds of wall time; 0 = forever"),
    Setting("SIMULATOR_COUNT", "0", "stop after this many reading slots; 0 = no limit"),
    Setting("SIMULATOR_SCENARIO", "", "replay this scenario file (JSON lines) instead of sensors"),
    Setting("SIMULATOR_ANOMALY_LOG", "", "write injected anomalies to this file (JSON lines)"),
    Setting("SIMULATOR_SPIKE_RATE", "0.001", "probability per reading of a one-reading spike"),
    Setting("SIMULATOR_DRIFT_RATE", "0.0001", "probability per reading of a drift start"),
    Setting("SIMULATOR_STUCK_RATE", "0.0001", "probability per reading of a stuck start"),
    Setting("SIMULATOR_DROPOUT_RATE", "0.0001", "probability per reading of a dropout"),
    Setting(
        "SIMULATOR_OUT_OF_ORDER_RATE",
        "0.001",
        "probability per reading of it being sent after the sensor's next 1-3 readings",
    ),
    Setting(
        "SIMULATOR_LATE_RATE",
        "0.0002",
        "probability per reading of it being sent SIMULATOR_LATE_S seconds late",
    ),
    Setting("SIMULATOR_DUPLICATE_RATE", "0.001", "probability per reading of it being sent twice"),
    Setting(
        "SIMULATOR_MALFORMED_RATE",
        "0.0002",
        "probability per reading of a malformed message following it",
    ),
    Setting("SIMULATOR_SPIKE_C", "40", "a spike moves the value by 1 to 1.5 times this many °C"),
    Setting("SIMULATOR_DRIFT_C_PER_MIN", "5", "drift speed in °C per minute of event time"),
    Setting("SIMULATOR_EPISODE_S", "120", "drift and stuck length, s of event time"),
    Setting("SIMULATOR_DROPOUT_S", "90", "length of a dropout (silence), seconds of event time"),
    Setting(
        "SIMULATOR_LATE_S",
        "120",
        "how far behind the stream a late reading is sent, seconds of event time",
    ),
    Setting("SIMULATOR_BATCH_SIZE", "65536", "producer batch size in bytes per partition"),
    Setting("SIMULATOR_LINGER_MS", "10", "producer linger in ms (wait to fill a batch)"),
    Setting("SIMULATOR_COMPRESSION", "lz4", "producer compression: " + ", ".join(COMPRESSIONS)),
    Setting("SIMULATOR_CONNECT_TIMEOUT_S", "60", "how long to wait for the broker at start-up"),
    Setting("SIMULATOR_PROGRESS_S", "10", "seconds between progress log lines"),
    Setting("SIMULATOR_LOG_LEVEL", "INFO", "logging level: DEBUG, INFO, WARNING or ERROR"),
)

_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class AnomalyRates:
    """Per-reading probabilities of each injected anomaly (they are mutually exclusive)."""

    spike: float
    drift: float
    stuck: float
    dropout: float
    out_of_order: float
    late: float
    duplicate: float
    malformed: float

    def as_dict(self) -> dict[str, float]:
        """The rates by anomaly kind, in ``ANOMALY_KINDS`` order."""
        return {kind: float(getattr(self, kind)) for kind in ANOMALY_KINDS}


@dataclass(frozen=True)
class Config:
    """Validated simulator settings."""

    bootstrap_servers: str
    topic: str
    sensors: int
    sites: int
    first_sensor: int
    rate: float
    realtime: bool
    seed: int | None
    start_ts: int | None
    duration_s: float
    count: int
    scenario: str
    anomaly_log: str
    rates: AnomalyRates
    spike_c: float
    drift_c_per_min: float
    episode_s: float
    dropout_s: float
    late_s: float
    batch_size: int
    linger_ms: int
    compression: str
    connect_timeout_s: float
    progress_s: float
    log_level: str


def _default(env: str) -> str | None:
    return next(setting.default for setting in SETTINGS if setting.env == env)


def _get(environ: Mapping[str, str], env: str) -> str:
    for setting in SETTINGS:
        if setting.env == env:
            value = environ.get(env, setting.default)
            if value is None:
                raise ConfigError(f"{env} is required: {setting.help}")
            return value.strip()
    raise KeyError(env)  # a programming error: every name used here is declared above


def _int(environ: Mapping[str, str], env: str, minimum: int, maximum: int | None = None) -> int:
    raw = _get(environ, env)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(
            f"{env}={raw!r} is not a whole number; e.g. {env}={_default(env)}"
        ) from None
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise ConfigError(f"{env}={raw!r} is out of range; it must be {bounds}")
    return value


def _float(
    environ: Mapping[str, str],
    env: str,
    minimum: float,
    maximum: float | None = None,
    *,
    exclusive_min: bool = False,
) -> float:
    raw = _get(environ, env)
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{env}={raw!r} is not a number; e.g. {env}={_default(env)}") from None
    too_low = value <= minimum if exclusive_min else value < minimum
    if value != value or too_low or (maximum is not None and value > maximum):  # NaN fails too
        low = f"> {minimum}" if exclusive_min else f">= {minimum}"
        bounds = low if maximum is None else f"{low} and <= {maximum}"
        raise ConfigError(f"{env}={raw!r} is out of range; it must be {bounds}")
    return value


def _bool(environ: Mapping[str, str], env: str) -> bool:
    raw = _get(environ, env).lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{env}={raw!r} is not a boolean; use true or false")


def _bootstrap(environ: Mapping[str, str]) -> str:
    env = "KAFKA_BOOTSTRAP_SERVERS"
    raw = _get(environ, env)
    hosts = [part.strip() for part in raw.split(",")]
    for host in hosts:
        name, _, port = host.rpartition(":")
        if not name or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(
                f"{env}={raw!r} is not a list of host:port; set e.g. {env}=127.0.0.1:9092"
            )
    return ",".join(hosts)


def _optional_int(environ: Mapping[str, str], env: str) -> int | None:
    if not _get(environ, env):
        return None
    return _int(environ, env, 0)


def load(environ: Mapping[str, str]) -> Config:
    """Parse and validate the settings from ``environ``; raise ConfigError naming the variable."""
    topic = _get(environ, "READINGS_TOPIC")
    if not _TOPIC.match(topic):
        raise ConfigError(
            f"READINGS_TOPIC={topic!r} is not a valid Kafka topic name; "
            "use letters, digits, '.', '_' and '-' (at most 249)"
        )
    compression = _get(environ, "SIMULATOR_COMPRESSION").lower()
    if compression not in COMPRESSIONS:
        raise ConfigError(
            f"SIMULATOR_COMPRESSION={compression!r} is not supported; "
            f"use one of {', '.join(COMPRESSIONS)}"
        )
    log_level = _get(environ, "SIMULATOR_LOG_LEVEL").upper()
    if log_level not in _LOG_LEVELS:
        raise ConfigError(
            f"SIMULATOR_LOG_LEVEL={log_level!r} is not a level; use one of {', '.join(_LOG_LEVELS)}"
        )
    rates = AnomalyRates(
        **{
            kind: _float(environ, f"SIMULATOR_{kind.upper()}_RATE", 0.0, 1.0)
            for kind in ANOMALY_KINDS
        }
    )
    total = sum(rates.as_dict().values())
    if total > 1.0:
        raise ConfigError(
            f"the SIMULATOR_*_RATE settings add up to {total:g}; "
            "they are exclusive probabilities per reading, so their sum must be <= 1"
        )
    sensors = _int(environ, "SIMULATOR_SENSORS", 1, 10_000_000)
    scenario = _get(environ, "SIMULATOR_SCENARIO")
    if scenario and _get(environ, "SIMULATOR_COUNT") not in ("", "0"):
        raise ConfigError(
            "SIMULATOR_COUNT cannot be combined with SIMULATOR_SCENARIO (a scenario replays "
            "every line); unset one of them"
        )
    return Config(
        bootstrap_servers=_bootstrap(environ),
        topic=topic,
        sensors=sensors,
        sites=_int(environ, "SIMULATOR_SITES", 1, 26 * 26),
        first_sensor=_int(environ, "SIMULATOR_FIRST_SENSOR", 0),
        rate=_float(environ, "SIMULATOR_RATE", 0.0, exclusive_min=True),
        realtime=_bool(environ, "SIMULATOR_REALTIME"),
        seed=_optional_int(environ, "SIMULATOR_SEED"),
        start_ts=_optional_int(environ, "SIMULATOR_START_TS"),
        duration_s=_float(environ, "SIMULATOR_DURATION_S", 0.0),
        count=_int(environ, "SIMULATOR_COUNT", 0),
        scenario=scenario,
        anomaly_log=_get(environ, "SIMULATOR_ANOMALY_LOG"),
        rates=rates,
        spike_c=_float(environ, "SIMULATOR_SPIKE_C", 0.0),
        drift_c_per_min=_float(environ, "SIMULATOR_DRIFT_C_PER_MIN", 0.0),
        episode_s=_float(environ, "SIMULATOR_EPISODE_S", 0.0, exclusive_min=True),
        dropout_s=_float(environ, "SIMULATOR_DROPOUT_S", 0.0, exclusive_min=True),
        late_s=_float(environ, "SIMULATOR_LATE_S", 0.0, exclusive_min=True),
        batch_size=_int(environ, "SIMULATOR_BATCH_SIZE", 1024, 16 * 1024 * 1024),
        linger_ms=_int(environ, "SIMULATOR_LINGER_MS", 0, 60_000),
        compression=compression,
        connect_timeout_s=_float(environ, "SIMULATOR_CONNECT_TIMEOUT_S", 0.0, exclusive_min=True),
        progress_s=_float(environ, "SIMULATOR_PROGRESS_S", 0.0, exclusive_min=True),
        log_level=log_level,
    )
