"""Run the real services by hand: ``python -m harness [fetch|up] [--kraft]`` (``make services``).

``fetch`` downloads and caches every artifact (CI warms its cache with it); ``up`` starts
ZooKeeper + Kafka 3.9 (or Kafka 4 KRaft with ``--kraft``), Elasticsearch and a Flink
session cluster on 127.0.0.1, prints where they are, and stops them all on Ctrl-C.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time

from harness import artifacts
from harness.procs import ServiceError
from harness.stack import Stack


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__)
    parser.add_argument("command", choices=["fetch", "up"])
    parser.add_argument("--kraft", action="store_true", help="Kafka 4 in KRaft mode")
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            started = time.monotonic()
            for name, path in artifacts.fetch_all().items():
                print(f"{name:18} {path}")
            print(f"artifacts ready in {time.monotonic() - started:.1f} s")
            return 0
        return _up(kraft=args.kraft)
    except (ServiceError, artifacts.MissingPrerequisite) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


def _up(kraft: bool) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stack = Stack()
    try:
        kafka = stack.kafka_kraft() if kraft else stack.kafka()
        es = stack.elasticsearch()
        flink = stack.flink()
        kafka_name = f"Kafka {kafka.version} ({kafka.mode})"
        print(f"{kafka_name} bootstrap  {kafka.bootstrap}  ({kafka.startup_s:.1f} s)")
        print(f"Elasticsearch {es.version}          {es.url}  ({es.startup_s:.1f} s)")
        print(
            f"Flink {flink.version} UI/REST           {flink.rest_url}  ({flink.startup_s:.1f} s)"
        )
        print(f"logs and data: {stack.run_dir}\nCtrl-C stops everything.", flush=True)
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
