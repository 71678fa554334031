"""Dashboard settings, read once from environment variables (standard library only)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit


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
            "Kafka brokers as host:port[,host:port]; the live stream reads the alerts topic"),
    Setting("ELASTICSEARCH_URL", "http://127.0.0.1:9200",
            "Elasticsearch base URL (http or https) holding the alerts and aggregates indices"),
    Setting("ALERTS_TOPIC", "alerts", "Kafka topic the alerts job writes alert events to"),
    Setting("ALERTS_INDEX", "alerts", "Elasticsearch index of alerts (doc id = alert_id)"),
    Setting("AGGREGATES_INDEX", "readings-1m", "Elasticsearch index of one-minute aggregates"),
    Setting("DASHBOARD_BIND", "127.0.0.1:8000",
            "host:port gunicorn listens on; the image sets 0.0.0.0:8000 inside the container"),
    Setting("DASHBOARD_THREADS", "64",
            "gunicorn threads per worker; each live (SSE) client holds one while connected"),
    Setting("DASHBOARD_MAX_STREAMS", "56",
            "live clients allowed at once, below DASHBOARD_THREADS so pages and API stay served"),
    Setting("DASHBOARD_ES_TIMEOUT_S", "3", "seconds to wait for Elasticsearch before degrading"),
    Setting("DASHBOARD_HEARTBEAT_S", "15",
            "seconds between SSE keep-alive comments (also how fast dead clients are noticed)"),
    Setting("DASHBOARD_BUFFER_EVENTS", "10000",
            "alert events kept in memory so reconnecting clients resume without Kafka reads"),
    Setting("DASHBOARD_LOG_LEVEL", "INFO", "log level: DEBUG, INFO, WARNING or ERROR"),
)

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class Config:
    """Validated dashboard settings."""

    kafka_bootstrap_servers: tuple[str, ...]
    elasticsearch_url: str
    alerts_topic: str
    alerts_index: str
    aggregates_index: str
    bind: str
    threads: int
    max_streams: int
    es_timeout_s: float
    heartbeat_s: float
    buffer_events: int
    log_level: str

    def redacted(self) -> dict[str, object]:
        """Settings safe to log: any user:password in the Elasticsearch URL is masked."""
        parts = urlsplit(self.elasticsearch_url)
        url = self.elasticsearch_url
        if parts.password is not None or parts.username is not None:
            host = parts.hostname or ""
            port = f":{parts.port}" if parts.port else ""
            url = parts._replace(netloc=f"***@{host}{port}").geturl()
        return {**self.__dict__, "elasticsearch_url": url}


def _value(environ: Mapping[str, str], name: str) -> str:
    setting = next(s for s in SETTINGS if s.env == name)
    raw = environ.get(name, setting.default)
    if raw is None or not raw.strip():
        raise ConfigError(f"{name} is required: {setting.help}")
    return raw.strip()


def _int(environ: Mapping[str, str], name: str, low: int, high: int) -> int:
    raw = _value(environ, name)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer; set a whole number "
                          f"between {low} and {high}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={value} is out of range; set it between {low} and {high}")
    return value


def _float(environ: Mapping[str, str], name: str, low: float, high: float) -> float:
    raw = _value(environ, name)
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number; set seconds between "
                          f"{low} and {high}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={value} is out of range; set it between {low} and {high}")
    return value


def _host_port(name: str, raw: str) -> str:
    host, sep, port = raw.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{name}: {raw!r} is not host:port; write e.g. 127.0.0.1:9092")
    return raw


def _name(environ: Mapping[str, str], name: str) -> str:
    raw = _value(environ, name)
    if any(c.isspace() or c in ',/\\*?"<>|#' for c in raw):
        raise ConfigError(f"{name}={raw!r} contains spaces or one of ,/\\*?\"<>|#; "
                          "use a plain topic or index name such as 'alerts'")
    return raw


def load(environ: Mapping[str, str]) -> Config:
    """Parse and validate every setting; raise ConfigError naming the first bad variable."""
    bootstrap = tuple(
        _host_port("KAFKA_BOOTSTRAP_SERVERS", part.strip())
        for part in _value(environ, "KAFKA_BOOTSTRAP_SERVERS").split(",")
    )
    es_url = _value(environ, "ELASTICSEARCH_URL").rstrip("/")
    parts = urlsplit(es_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"ELASTICSEARCH_URL={es_url!r} is not an http(s) URL; "
                          "write e.g. http://127.0.0.1:9200")
    bind = _host_port("DASHBOARD_BIND", _value(environ, "DASHBOARD_BIND"))
    threads = _int(environ, "DASHBOARD_THREADS", 2, 4096)
    max_streams = _int(environ, "DASHBOARD_MAX_STREAMS", 1, 4096)
    if max_streams >= threads:
        raise ConfigError(
            f"DASHBOARD_MAX_STREAMS={max_streams} must be below DASHBOARD_THREADS={threads} "
            "so pages and the API keep a thread; lower it or raise DASHBOARD_THREADS")
    level = _value(environ, "DASHBOARD_LOG_LEVEL").upper()
    if level not in _LOG_LEVELS:
        raise ConfigError(f"DASHBOARD_LOG_LEVEL={level!r} is not one of {', '.join(_LOG_LEVELS)}")
    return Config(
        kafka_bootstrap_servers=bootstrap,
        elasticsearch_url=es_url,
        alerts_topic=_name(environ, "ALERTS_TOPIC"),
        alerts_index=_name(environ, "ALERTS_INDEX"),
        aggregates_index=_name(environ, "AGGREGATES_INDEX"),
        bind=bind,
        threads=threads,
        max_streams=max_streams,
        es_timeout_s=_float(environ, "DASHBOARD_ES_TIMEOUT_S", 0.1, 60.0),
        heartbeat_s=_float(environ, "DASHBOARD_HEARTBEAT_S", 0.05, 300.0),
        buffer_events=_int(environ, "DASHBOARD_BUFFER_EVENTS", 10, 1_000_000),
        log_level=level,
    )
