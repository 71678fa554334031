"""Indexer settings, read once from environment variables (standard library only)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names the variable and the fix."""


@dataclass(frozen=True)
class Setting:
    """One environment variable: its name, default (None = required) and meaning."""

    env: str
    default: str | None
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092",
            "Kafka brokers as host:port[,host:port]; the topics are read from there"),
    Setting("ELASTICSEARCH_URL", "http://127.0.0.1:9200",
            "Elasticsearch base URL (http or https, credentials may be in it) to index into"),
    Setting("ALERTS_TOPIC", "alerts", "Kafka topic of alert events (value = Alert JSON)"),
    Setting("ALERTS_INDEX", "alerts", "Elasticsearch index of alerts (doc id = alert_id)"),
    Setting("AGGREGATES_TOPIC", "readings-1m",
            "Kafka topic of one-minute aggregates (key = <sensor_id>:<window_start>)"),
    Setting("AGGREGATES_INDEX", "readings-1m",
            "Elasticsearch index of one-minute aggregates (doc id = the record key)"),
    Setting("DEAD_LETTER_TOPIC", "readings-dlq",
            "Kafka topic records Elasticsearch rejects (or that are malformed) are written to"),
    Setting("INDEXER_GROUP_ID", "iotstack-indexer",
            "Kafka consumer group; offsets are committed only after Elasticsearch acknowledged"),
    Setting("INDEXER_BATCH_MAX", "2000", "records per Elasticsearch bulk request, at most"),
    Setting("INDEXER_FLUSH_MS", "200", "longest wait in milliseconds to fill a batch"),
    Setting("INDEXER_HEALTH_BIND", "127.0.0.1:8001",
            "host:port of the GET /healthz endpoint; the image sets 0.0.0.0:8001"),
    Setting("INDEXER_LOG_INTERVAL_S", "10",
            "seconds between progress log lines (lag, docs/s, dead-lettered)"),
    Setting("INDEXER_LOG_LEVEL", "INFO", "log level: DEBUG, INFO, WARNING or ERROR"),
)

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class Config:
    """Validated indexer settings."""

    kafka_bootstrap_servers: tuple[str, ...]
    elasticsearch_url: str
    alerts_topic: str
    alerts_index: str
    aggregates_topic: str
    aggregates_index: str
    dead_letter_topic: str
    group_id: str
    batch_max: int
    flush_ms: int
    health_host: str
    health_port: int
    log_interval_s: float
    log_level: str

    def redacted_url(self) -> str:
        """The Elasticsearch URL with any user:password masked, safe to log."""
        parts = urlsplit(self.elasticsearch_url)
        if parts.password is None and parts.username is None:
            return self.elasticsearch_url
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return parts._replace(netloc=f"***@{host}{port}").geturl()

    def secrets(self) -> tuple[str, ...]:
        """Strings that must never appear in a log line: the URL's user:password@ and password.

        The user name alone is not masked: "elastic" is also part of "elasticsearch".
        """
        parts = urlsplit(self.elasticsearch_url)
        if not parts.password:
            return ()
        found = (f"{parts.username}:{parts.password}@", parts.password, unquote(parts.password))
        return tuple(dict.fromkeys(found))  # percent-decoded too: the client decodes it

    def redacted(self) -> dict[str, object]:
        """Settings safe to log."""
        return {**self.__dict__, "elasticsearch_url": self.redacted_url()}


def _setting(name: str) -> Setting:
    return next(s for s in SETTINGS if s.env == name)


def _value(environ: Mapping[str, str], name: str) -> str:
    setting = _setting(name)
    raw = environ.get(name, setting.default)
    if raw is None or not raw.strip():
        raise ConfigError(f"{name} is required: {setting.help}")
    return raw.strip()


def _number(environ: Mapping[str, str], name: str, low: float, high: float,
            integer: bool) -> float:
    raw = _value(environ, name)
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise ConfigError(f"{name}={raw!r} is not {kind}; set a value between "
                          f"{low:g} and {high:g}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={raw} is out of range; set it between {low:g} and {high:g}")
    return value


def _host_port(name: str, raw: str, example: str) -> tuple[str, int]:
    host, sep, port = raw.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{name}: {raw!r} is not host:port; write e.g. {example}")
    return host, int(port)


def _name(environ: Mapping[str, str], name: str, example: str) -> str:
    raw = _value(environ, name)
    if any(c.isspace() or c in ',/\\*?"<>|#' for c in raw):
        raise ConfigError(f"{name}={raw!r} contains spaces or one of ,/\\*?\"<>|#; "
                          f"use a plain name such as {example!r}")
    return raw


def load(environ: Mapping[str, str]) -> Config:
    """Parse and validate every setting; raise ConfigError naming the first bad variable."""
    bootstrap = tuple(
        part.strip() for part in _value(environ, "KAFKA_BOOTSTRAP_SERVERS").split(",")
    )
    for part in bootstrap:
        _host_port("KAFKA_BOOTSTRAP_SERVERS", part, "127.0.0.1:9092")
    es_url = _value(environ, "ELASTICSEARCH_URL").rstrip("/")
    try:
        parts = urlsplit(es_url)
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError:
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # Never echo the value: it may carry a password.
        raise ConfigError("ELASTICSEARCH_URL is not an http(s) URL with a host; "
                          "write e.g. http://127.0.0.1:9200 or https://user:password@host:9200")
    names = {
        "ALERTS_TOPIC": _name(environ, "ALERTS_TOPIC", "alerts"),
        "ALERTS_INDEX": _name(environ, "ALERTS_INDEX", "alerts"),
        "AGGREGATES_TOPIC": _name(environ, "AGGREGATES_TOPIC", "readings-1m"),
        "AGGREGATES_INDEX": _name(environ, "AGGREGATES_INDEX", "readings-1m"),
        "DEAD_LETTER_TOPIC": _name(environ, "DEAD_LETTER_TOPIC", "readings-dlq"),
        "INDEXER_GROUP_ID": _name(environ, "INDEXER_GROUP_ID", "iotstack-indexer"),
    }
    if names["ALERTS_TOPIC"] == names["AGGREGATES_TOPIC"]:
        raise ConfigError(f"AGGREGATES_TOPIC={names['AGGREGATES_TOPIC']!r} equals ALERTS_TOPIC; "
                          "the two topics go to different indices, name them differently")
    for topic in ("ALERTS_TOPIC", "AGGREGATES_TOPIC"):
        if names[topic] == names["DEAD_LETTER_TOPIC"]:
            raise ConfigError(f"DEAD_LETTER_TOPIC={names['DEAD_LETTER_TOPIC']!r} equals {topic}; "
                              "dead letters would be read back, name it differently")
    if names["ALERTS_INDEX"] == names["AGGREGATES_INDEX"]:
        raise ConfigError(f"AGGREGATES_INDEX={names['AGGREGATES_INDEX']!r} equals ALERTS_INDEX; "
                          "name the two indices differently")
    health_host, health_port = _host_port(
        "INDEXER_HEALTH_BIND", _value(environ, "INDEXER_HEALTH_BIND"), "127.0.0.1:8001")
    level = _value(environ, "INDEXER_LOG_LEVEL").upper()
    if level not in _LOG_LEVELS:
        raise ConfigError(f"INDEXER_LOG_LEVEL={level!r} is not one of {', '.join(_LOG_LEVELS)}")
    return Config(
        kafka_bootstrap_servers=bootstrap,
        elasticsearch_url=es_url,
        alerts_topic=names["ALERTS_TOPIC"],
        alerts_index=names["ALERTS_INDEX"],
        aggregates_topic=names["AGGREGATES_TOPIC"],
        aggregates_index=names["AGGREGATES_INDEX"],
        dead_letter_topic=names["DEAD_LETTER_TOPIC"],
        group_id=names["INDEXER_GROUP_ID"],
        batch_max=int(_number(environ, "INDEXER_BATCH_MAX", 1, 100_000, integer=True)),
        flush_ms=int(_number(environ, "INDEXER_FLUSH_MS", 1, 60_000, integer=True)),
        health_host=health_host,
        health_port=health_port,
        log_interval_s=_number(environ, "INDEXER_LOG_INTERVAL_S", 0.1, 3600, integer=False),
        log_level=level,
    )
