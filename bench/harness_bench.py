"""Harness start-up times and resident memory of each real service, as a table.

    .venv/bin/python bench/harness_bench.py            # warm: artifacts already cached
    .venv/bin/python bench/harness_bench.py --cold     # cold: a fresh cache, downloads included

Peak memory is sampled every 0.2 s while the smoke traffic of the test suite runs
(keyed Kafka round trips, an Elasticsearch index + search, the PyFlink smoke job).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "infra")]

import test_harness_smoke as smoke  # noqa: E402
from harness import artifacts  # noqa: E402
from harness.procs import ManagedProcess  # noqa: E402
from harness.stack import Stack  # noqa: E402


def _sample_peaks(procs: dict[str, ManagedProcess], stop: threading.Event) -> dict[str, float]:
    peaks = dict.fromkeys(procs, 0.0)
    while not stop.wait(0.2):
        for name, proc in procs.items():
            peaks[name] = max(peaks[name], proc.rss_mb())
    return peaks


def main() -> int:
    """Start every service, exercise it, print start-up seconds and peak RSS."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cold", action="store_true", help="use an empty artifact cache")
    args = parser.parse_args()
    if args.cold:
        cold = tempfile.mkdtemp(prefix="iotstack-cold-")
        os.chmod(cold, 0o755)  # Elasticsearch runs as an unprivileged user and must enter it
        os.environ["IOTSTACK_CACHE"] = cold
    started = time.monotonic()
    artifacts.fetch_all()
    fetch_s = time.monotonic() - started

    stack = Stack()
    rows: list[tuple[str, float]] = []
    try:
        t = time.monotonic()
        kafka = stack.kafka()
        rows.append(("Kafka 3.9 + ZooKeeper", time.monotonic() - t))
        t = time.monotonic()
        kraft = stack.kafka_kraft()
        rows.append(("Kafka 4 (KRaft)", time.monotonic() - t))
        t = time.monotonic()
        es = stack.elasticsearch()
        rows.append(("Elasticsearch", time.monotonic() - t))
        t = time.monotonic()
        flink = stack.flink()
        rows.append(("Flink JM + TM", time.monotonic() - t))
        procs = {p.name: p for svc in (kafka, kraft, flink) for p in svc.processes}
        procs[es.process.name] = es.process
        stop = threading.Event()
        result: dict[str, float] = {}
        sampler = threading.Thread(target=lambda: result.update(_sample_peaks(procs, stop)))
        sampler.start()
        try:
            smoke._roundtrip(kafka.bootstrap)
            smoke._roundtrip(kraft.bootstrap)
            smoke.test_elasticsearch_index_and_search(es)
            smoke.test_flink_job_reads_kafka_and_writes_kafka(flink, kafka)
        finally:
            stop.set()
        sampler.join()
    finally:
        stack.stop()

    mode = "cold" if args.cold else "warm"
    print(f"\nharness start-up ({mode} cache), artifacts ready in {fetch_s:.1f} s")
    print(f"{'service':28} {'start s':>8}")
    for name, seconds in rows:
        print(f"{name:28} {seconds:8.1f}")
    print(f"\n{'process (smoke traffic)':34} {'peak RSS MiB':>12}")
    for name, peak in result.items():
        print(f"{name:34} {peak:12.0f}")
    print(f"{'total':34} {sum(result.values()):12.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
