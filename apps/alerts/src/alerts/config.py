"""The alerts job's settings: declared once in ``SETTINGS``, parsed and validated by ``load``.

Standard library only, so the infra contract test (and the image's submitter) can import it
without PyFlink installed. Every setting is an environment variable read by the job when it
is submitted (the job graph bakes the values in; change one and resubmit).
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal


class ConfigError(ValueError):
    """A setting is missing or invalid; the message is one line naming the variable."""


@dataclass(frozen=True)
class Setting:
    """One environment variable: its name, default (None = required) and meaning."""

    env: str
    default: str | None
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092", "Kafka brokers, host:port[,...]"),
    Setting("READINGS_TOPIC", "readings", "topic the readings are read from"),
    Setting("ALERTS_TOPIC", "alerts", "topic alert open/resolve events are written to"),
    Setting("DEAD_LETTER_TOPIC", "readings-dlq", "topic malformed readings are written to"),
    Setting("LATE_TOPIC", "readings-late", "topic readings later than the allowed lateness go to"),
    Setting(
        "AGGREGATES_TOPIC",
        "readings-1m",
        "topic one-minute aggregates are upserted to (key <sensor_id>:<window_start>)",
    ),
    Setting("FLINK_REST_URL", "http://127.0.0.1:8081", "Flink JobManager REST URL (submitter)"),
    Setting("KAFKA_GROUP_ID", "alerts-job", "Kafka consumer group of the job's source"),
    Setting("JOB_NAME", "iot-alerts", "Flink job name; the submitter skips if one is RUNNING"),
    Setting("JOB_PARALLELISM", "1", "parallelism of the job's operators"),
    Setting("HIGH_THRESHOLD_C", "80.0", "default high temperature threshold, °C"),
    Setting("LOW_THRESHOLD_C", "-10.0", "default low temperature threshold, °C"),
    Setting(
        "HYSTERESIS_C",
        "2.0",
        "an open threshold alert resolves only once the value is this far back inside, °C",
    ),
    Setting(
        "RATE_OF_CHANGE_C_PER_MIN",
        "10.0",
        "default rate-of-change limit: max - min of a sensor's last minute of readings, °C",
    ),
    Setting(
        "SILENCE_SECONDS",
        "60",
        "default: a sensor is silent when its readings are more than this much event time "
        "apart (exactly this much is not silence), s",
    ),
    Setting(
        "SENSOR_RULES",
        "",
        'per-sensor overrides as JSON, e.g. {"sensor-0007": {"high": 90, "silence_s": 30}}; '
        "keys: high, low, hysteresis, rate, silence_s",
    ),
    Setting(
        "WATERMARK_OUT_OF_ORDERNESS_MS",
        "5000",
        "bounded out-of-orderness of event time, ms (watermark = max ts - this)",
    ),
    Setting(
        "ALLOWED_LATENESS_MS",
        "60000",
        "readings up to this far behind the watermark (inclusive) still count; later ones "
        "go to LATE_TOPIC, ms",
    ),
    Setting(
        "MAX_TS_AHEAD_MS",
        "300000",
        "a reading whose ts is more than this after its Kafka record's timestamp is "
        "dead-lettered (field 'ts' is out of range); exactly this much is accepted, ms",
    ),
    Setting(
        "SOURCE_IDLE_TIMEOUT_MS",
        "10000",
        "a Kafka partition quiet this long no longer holds the watermark back, ms",
    ),
    Setting("CHECKPOINT_INTERVAL_MS", "10000", "checkpoint interval (exactly-once state), ms"),
    Setting(
        "STATE_BACKEND",
        "rocksdb",
        "where the job's state lives: rocksdb (local disk, incremental checkpoints, bounded "
        "by disk) or hashmap (the TaskManager's JVM heap, full checkpoints, bounded by the "
        "heap: about twice as fast with 1,000 sensors, slower with 100,000 in the benchmark; "
        "for as many sensors as the heap holds)",
    ),
    Setting(
        "STATE_TTL_S",
        "3600",
        "per-sensor state (rules, silence timer, open aggregates) expires after this idle time;"
        " must be more than SILENCE_SECONDS + ALLOWED_LATENESS_MS",
    ),
    Setting(
        "SUBMIT_TIMEOUT_S",
        "180",
        "how long the submitter waits for the cluster, then for the job to run, before failing",
    ),
    Setting(
        "RESTORE_FROM",
        "",
        "savepoint or retained checkpoint the submitter starts the job from (empty: none); "
        "the stack's replace step sets it to the savepoint it took of the previous job",
    ),
)

# Flink's state.backend.type values the job supports (alerts.job.job_configuration)
STATE_BACKENDS = ("rocksdb", "hashmap")
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_JOB_NAME = re.compile(r"^[A-Za-z0-9._ -]{1,100}$")
RULE_KEYS = ("high", "low", "hysteresis", "rate", "silence_s")


def decimal(x: float) -> Decimal:
    """``x`` as the decimal it is written as: its shortest form (Python's ``repr``, which is
    also what Java's ``Double.toString`` and Flink's DOUBLE -> DECIMAL cast use). The rules
    compare thresholds this way (apps/alerts/README.md, "Numbers")."""
    return Decimal(repr(float(x)))


@dataclass(frozen=True)
class Rules:
    """The rule parameters of one sensor (or the defaults)."""

    high: float
    low: float
    hysteresis: float
    rate: float
    silence_s: float

    @property
    def silence_ms(self) -> int:
        """``silence_s`` in whole milliseconds (truncated), as the rules compare gaps."""
        return int(self.silence_s * 1000)

    @property
    def high_back(self) -> Decimal:
        """``high - hysteresis`` exactly, in decimal: a high episode resolves below it."""
        return decimal(self.high) - decimal(self.hysteresis)

    @property
    def low_back(self) -> Decimal:
        """``low + hysteresis`` exactly, in decimal: a low episode resolves above it."""
        return decimal(self.low) + decimal(self.hysteresis)

    def as_dict(self) -> dict[str, float]:
        """The parameters by name, in ``RULE_KEYS`` order."""
        return {key: float(getattr(self, key)) for key in RULE_KEYS}


@dataclass(frozen=True)
class Config:
    """Validated alerts-job settings."""

    bootstrap_servers: str
    readings_topic: str
    alerts_topic: str
    dead_letter_topic: str
    late_topic: str
    aggregates_topic: str
    flink_rest_url: str
    group_id: str
    job_name: str
    parallelism: int
    rules: Rules
    sensor_rules: Mapping[str, Rules] = field(default_factory=dict)
    out_of_orderness_ms: int = 5000
    allowed_lateness_ms: int = 60000
    max_ts_ahead_ms: int = 300000
    idle_timeout_ms: int = 10000
    checkpoint_interval_ms: int = 10000
    state_backend: str = "rocksdb"
    state_ttl_s: int = 3600
    submit_timeout_s: float = 180.0
    restore_from: str = ""

    def rules_for(self, sensor_id: str) -> Rules:
        """The rules of ``sensor_id``: its override if any, else the defaults."""
        return self.sensor_rules.get(sensor_id, self.rules)


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


def _float(environ: Mapping[str, str], env: str, minimum: float | None = None) -> float:
    raw = _get(environ, env)
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{env}={raw!r} is not a number; e.g. {env}={_default(env)}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ConfigError(f"{env}={raw!r} is not a finite number; e.g. {env}={_default(env)}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{env}={raw!r} is out of range; it must be >= {minimum:g}")
    return value


def _choice(environ: Mapping[str, str], env: str, choices: tuple[str, ...]) -> str:
    value = _get(environ, env)
    if value not in choices:
        raise ConfigError(f"{env}={value!r} is not one of {', '.join(choices)}; "
                          f"e.g. {env}={_default(env)}")
    return value


def _name(environ: Mapping[str, str], env: str, pattern: re.Pattern[str], what: str) -> str:
    value = _get(environ, env)
    if not pattern.match(value):
        raise ConfigError(f"{env}={value!r} is not a valid {what}")
    return value


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


def _http_url(environ: Mapping[str, str], env: str) -> tuple[str, str, str]:
    """(URL without credentials, username, password) of an http(s) URL setting."""
    raw = _get(environ, env)
    parts = urllib.parse.urlsplit(raw)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
        raise ConfigError(f"{env}={raw!r} is not an http(s) URL; e.g. {env}={_default(env)}")
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = host if port is None else f"{host}:{port}"
    clean = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    user = urllib.parse.unquote(parts.username or "")
    password = urllib.parse.unquote(parts.password or "")
    return clean, user, password


def _rules(environ: Mapping[str, str]) -> Rules:
    high = _float(environ, "HIGH_THRESHOLD_C")
    low = _float(environ, "LOW_THRESHOLD_C")
    if low >= high:
        raise ConfigError(
            f"LOW_THRESHOLD_C={low:g} must be below HIGH_THRESHOLD_C={high:g}"
        )
    silence = _float(environ, "SILENCE_SECONDS", 1.0)
    return Rules(
        high=high,
        low=low,
        hysteresis=_float(environ, "HYSTERESIS_C", 0.0),
        rate=_float(environ, "RATE_OF_CHANGE_C_PER_MIN", 0.0),
        silence_s=silence,
    )


def _sensor_rules(environ: Mapping[str, str], defaults: Rules) -> dict[str, Rules]:
    env = "SENSOR_RULES"
    raw = _get(environ, env)
    if not raw:
        return {}
    example = '{"sensor-0007": {"high": 90}}'
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{env} is not valid JSON ({exc.msg}); e.g. {env}='{example}'") from None
    if not isinstance(parsed, dict):
        raise ConfigError(f"{env} must be a JSON object of sensor id -> rules; e.g. {example}")
    out: dict[str, Rules] = {}
    for sensor, overrides in parsed.items():
        if not isinstance(overrides, dict):
            raise ConfigError(f"{env}[{sensor!r}] must be an object such as {{\"high\": 90}}")
        unknown = sorted(set(overrides) - set(RULE_KEYS))
        if unknown:
            raise ConfigError(
                f"{env}[{sensor!r}] has unknown keys {unknown}; use {', '.join(RULE_KEYS)}"
            )
        values = defaults.as_dict()
        for key, value in overrides.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"{env}[{sensor!r}][{key!r}]={value!r} is not a number")
            values[key] = float(value)
        if values["low"] >= values["high"]:
            raise ConfigError(f"{env}[{sensor!r}]: low must be below high")
        if values["hysteresis"] < 0 or values["rate"] < 0 or values["silence_s"] < 1:
            raise ConfigError(
                f"{env}[{sensor!r}]: hysteresis and rate must be >= 0, silence_s >= 1"
            )
        out[str(sensor)] = Rules(**values)
    return out


def load(environ: Mapping[str, str]) -> Config:
    """Parse and validate the settings from ``environ``; raise ConfigError naming the variable."""
    flink_url, _, _ = _http_url(environ, "FLINK_REST_URL")
    rules = _rules(environ)
    sensor_rules = _sensor_rules(environ, rules)
    allowed_lateness_ms = _int(environ, "ALLOWED_LATENESS_MS", 0, 86_400_000)
    state_ttl_s = _int(environ, "STATE_TTL_S", 60, 30 * 86_400)
    _check_ttl_outlives_silence(state_ttl_s, allowed_lateness_ms, [rules, *sensor_rules.values()])
    return Config(
        bootstrap_servers=_bootstrap(environ),
        readings_topic=_name(environ, "READINGS_TOPIC", _TOPIC, "Kafka topic name"),
        alerts_topic=_name(environ, "ALERTS_TOPIC", _TOPIC, "Kafka topic name"),
        dead_letter_topic=_name(environ, "DEAD_LETTER_TOPIC", _TOPIC, "Kafka topic name"),
        late_topic=_name(environ, "LATE_TOPIC", _TOPIC, "Kafka topic name"),
        aggregates_topic=_name(environ, "AGGREGATES_TOPIC", _TOPIC, "Kafka topic name"),
        flink_rest_url=flink_url,
        group_id=_name(environ, "KAFKA_GROUP_ID", _TOPIC, "Kafka consumer group id"),
        job_name=_name(environ, "JOB_NAME", _JOB_NAME, "job name (letters, digits, ._- )"),
        parallelism=_int(environ, "JOB_PARALLELISM", 1, 64),
        rules=rules,
        sensor_rules=sensor_rules,
        out_of_orderness_ms=_int(environ, "WATERMARK_OUT_OF_ORDERNESS_MS", 0, 3_600_000),
        allowed_lateness_ms=allowed_lateness_ms,
        max_ts_ahead_ms=_int(environ, "MAX_TS_AHEAD_MS", 0, 86_400_000),
        idle_timeout_ms=_int(environ, "SOURCE_IDLE_TIMEOUT_MS", 0, 3_600_000),
        checkpoint_interval_ms=_int(environ, "CHECKPOINT_INTERVAL_MS", 100, 3_600_000),
        state_backend=_choice(environ, "STATE_BACKEND", STATE_BACKENDS),
        state_ttl_s=state_ttl_s,
        submit_timeout_s=float(_int(environ, "SUBMIT_TIMEOUT_S", 1, 3600)),
        restore_from=_restore_path(environ),
    )


def _check_ttl_outlives_silence(
    state_ttl_s: int, allowed_lateness_ms: int, all_rules: list[Rules]
) -> None:
    """A sensor's state must outlive the moment its silence alert opens.

    The silence timer opens the alert when the watermark reaches ``last reading +
    SILENCE_SECONDS + ALLOWED_LATENESS_MS + 1 ms``, and the sensor is forgotten ``STATE_TTL_S``
    after its last reading: with a TTL not longer than that, the sensor would be forgotten as
    its alert opens, and the alert could never resolve.
    """
    longest = max(r.silence_ms for r in all_rules) + allowed_lateness_ms + 1
    if state_ttl_s * 1000 <= longest:
        needed = longest // 1000 + 1
        raise ConfigError(
            f"STATE_TTL_S={state_ttl_s} must be more than the longest SILENCE_SECONDS "
            f"(SENSOR_RULES included) + ALLOWED_LATENESS_MS ({longest} ms), or a silent "
            f"sensor is forgotten when its alert opens and the alert never resolves; "
            f"e.g. STATE_TTL_S={max(needed, 3600)}"
        )


def _restore_path(environ: Mapping[str, str]) -> str:
    raw = _get(environ, "RESTORE_FROM")
    if raw and (not re.match(r"^(file:|s3a?:|hdfs:|/)", raw) or re.search(r"\s", raw)):
        raise ConfigError(
            f"RESTORE_FROM={raw!r} is not a savepoint path; e.g. "
            "RESTORE_FROM=file:/opt/flink/data/savepoints/savepoint-0a1b2c-3d4e5f6a7b8c, or empty"
        )
    return raw
