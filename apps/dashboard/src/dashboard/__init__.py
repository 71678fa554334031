"""IoT dashboard: open alerts, counts and per-sensor trends, updated live over SSE.

Build the WSGI app with :func:`create_app`; serve it with ``python -m dashboard`` (gunicorn,
threaded workers, because every live client holds a connection and a thread).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from elasticsearch import Elasticsearch
from flask import Flask

from .config import Config, load
from .live import KafkaHub, LiveSource
from .store import Store

log = logging.getLogger(__name__)

__all__ = ["create_app"]


class StreamSlots:
    """Counts live clients so they can never take the threads that pages and the API need."""

    def __init__(self, limit: int) -> None:
        import threading

        self.limit = limit
        self.in_use = 0
        self._lock = threading.Lock()

    def acquire(self) -> bool:
        """Take a slot if one is free."""
        with self._lock:
            if self.in_use >= self.limit:
                return False
            self.in_use += 1
            return True

    def release(self) -> None:
        """Give a slot back."""
        with self._lock:
            self.in_use = max(0, self.in_use - 1)


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app; `test_config` overrides environment variables by name.

    The key ``LIVE_SOURCE`` may carry any object with the :class:`LiveSource` methods, so a
    test can stream a fixed sequence instead of reading Kafka.
    """
    overrides = dict(test_config or {})
    live_source: LiveSource | None = overrides.pop("LIVE_SOURCE", None)
    cfg: Config = load({**os.environ, **{k: str(v) for k, v in overrides.items()}})
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("dashboard").setLevel(cfg.log_level)
    if cfg.log_level != "DEBUG":
        # The clients log every failed connection attempt; our own one-line warnings say the
        # same thing once per retry, with the address and the fix.
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
        logging.getLogger("elasticsearch").setLevel(logging.ERROR)

    app = Flask(__name__)
    app.config.from_mapping(DASHBOARD=cfg, MAX_CONTENT_LENGTH=64 * 1024)
    # A single URL uses one connection without dead-node back-off, so a recovered
    # Elasticsearch is used again on the very next request.
    es = Elasticsearch(cfg.elasticsearch_url, request_timeout=cfg.es_timeout_s, max_retries=0,
                       retry_on_timeout=False)
    app.extensions["dashboard.store"] = Store(
        es, cfg.alerts_index, cfg.aggregates_index, str(cfg.redacted()["elasticsearch_url"]))
    app.extensions["dashboard.live"] = live_source or KafkaHub(
        cfg.kafka_bootstrap_servers, cfg.alerts_topic, cfg.buffer_events)
    app.extensions["dashboard.slots"] = StreamSlots(cfg.max_streams)

    from . import api, errors, pages, stream

    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(stream.bp)
    errors.init_app(app)
    pages.init_app(app)
    log.info("dashboard settings: %s", cfg.redacted())
    return app
