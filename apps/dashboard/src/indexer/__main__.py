"""`python -m indexer` / `iot-indexer`: validate the settings, then run until SIGTERM."""

from __future__ import annotations

import logging
import os
import sys

from .config import Config, ConfigError, load


class _Redact(logging.Filter):
    """Masks the Elasticsearch URL's user and password in every log line, libraries' too."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(s in message for s in self.secrets):
            for secret in self.secrets:
                message = message.replace(secret, "***")
            record.msg, record.args = message, None
        return True


def setup_logging(cfg: Config) -> None:
    """One line per event on stderr; library chatter only when DEBUG."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_Redact(cfg.secrets()))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("indexer").setLevel(cfg.log_level)
    if cfg.log_level != "DEBUG":
        # kafka-python logs every refused connection; the indexer reports outages itself.
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
        logging.getLogger("elasticsearch").setLevel(logging.CRITICAL)
        logging.getLogger("urllib3").setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (2 = bad settings)."""
    if argv:
        sys.stderr.write("iot-indexer takes no arguments; it is configured by environment "
                         "variables (see INDEXER.md)\n")
        return 2
    try:
        cfg = load(os.environ)
    except ConfigError as exc:
        sys.stderr.write(f"iot-indexer: error: {exc}\n")
        return 2
    setup_logging(cfg)
    from .service import Indexer

    indexer = Indexer(cfg)
    try:
        indexer.start_health_server()
    except OSError as exc:
        sys.stderr.write(f"iot-indexer: error: INDEXER_HEALTH_BIND={cfg.health_host}:"
                         f"{cfg.health_port} cannot be listened on: {exc.strerror or exc}\n")
        return 2
    return indexer.run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
