"""Serve the dashboard with gunicorn: `python -m dashboard` (settings from the environment).

One worker process with threads (gthread): every live client holds a connection and a thread
for as long as it is open, and all clients of a process share that process's Kafka reader.
Scale out with more containers, not more workers.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from gunicorn.app.base import BaseApplication

from .config import Config, ConfigError, load


class DashboardServer(BaseApplication):
    """Gunicorn configured from the dashboard's own settings."""

    def __init__(self, cfg: Config) -> None:
        self._dashboard_cfg = cfg
        super().__init__()

    def load_config(self) -> None:
        """Apply bind address, worker model and logging."""
        cfg = self._dashboard_cfg
        for key, value in {
            "bind": [cfg.bind],
            "workers": 1,
            "worker_class": "gthread",
            "threads": cfg.threads,
            # gthread refuses connections beyond this; leave room above the thread count for
            # idle keep-alive connections.
            "worker_connections": max(1000, 2 * cfg.threads),
            # Stream generators never finish on their own; do not wait long for them at exit.
            "graceful_timeout": 5,
            "timeout": 30,
            "keepalive": 5,
            "accesslog": "-",
            "errorlog": "-",
            "loglevel": cfg.log_level.lower(),
            "proc_name": "iot-dashboard",
            # No runtime control socket: nothing to manage, and no writable home in the image.
            "control_socket_disable": True,
        }.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        """Build the app inside the worker, so the Kafka reader thread lives in that process."""
        from . import create_app

        return create_app()


def main(argv: list[str] | None = None) -> int:
    """Validate settings, then run gunicorn until it is stopped."""
    if argv:
        sys.stderr.write("usage: python -m dashboard  (configure with environment variables;"
                         " see dashboard.config.SETTINGS)\n")
        return 2
    try:
        cfg = load(os.environ)
    except ConfigError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    DashboardServer(cfg).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
