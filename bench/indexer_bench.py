"""Indexer benchmark: documents/s shipped from Kafka into Elasticsearch, per batch size.

    .venv/bin/python bench/indexer_bench.py                      # starts ES + Kafka (harness)
    .venv/bin/python bench/indexer_bench.py --records 200000 --batches 500,2000,5000 \
        --es-url http://127.0.0.1:9200 --kafka 127.0.0.1:9092

One topic of contract-shaped one-minute aggregates (distinct ids, two partitions) is written
once; for each batch size `python -m indexer` runs exactly as in its image, with a fresh
consumer group and a fresh index (the dashboard's mapping), until the group's committed offsets
reach the end of the topic. Kafka, Elasticsearch, the producer and the indexer share this
machine's CPUs, so the numbers are a floor. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "apps" / "dashboard" / "src"
sys.path[:0] = [str(SRC), str(REPO / "tests"), str(REPO / "infra")]

from dashboard.indices import ensure_index  # noqa: E402
from elasticsearch import Elasticsearch  # noqa: E402
from harness.procs import free_port, status_mib  # noqa: E402
from kafka import KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka.admin import KafkaAdminClient, NewTopic  # noqa: E402
from kafka.errors import KafkaError  # noqa: E402


@contextlib.contextmanager
def services(args: argparse.Namespace) -> Iterator[tuple[str, str]]:
    """The given ES and Kafka, or ones started by the test harness for this run."""
    if args.es_url and args.kafka:
        yield args.es_url, args.kafka
        return
    from harness.stack import Stack

    stack = Stack()
    try:
        es = args.es_url or stack.elasticsearch().url
        kafka = args.kafka or stack.kafka().bootstrap
        yield es, kafka
    finally:
        stack.stop()


def fill_topic(kafka: str, topic: str, records: int) -> float:
    """Write `records` aggregates with distinct keys; seconds it took."""
    admin = KafkaAdminClient(bootstrap_servers=kafka)
    admin.create_topics([NewTopic(topic, 2, 1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=kafka, acks=1, linger_ms=20,
                             batch_size=256 * 1024)
    t0 = time.monotonic()
    base = (int(time.time() * 1000) // 60_000) * 60_000
    for i in range(records):
        sensor = f"sensor-{i % 1000:04d}"
        start = base - (i // 1000) * 60_000
        avg = 20.0 + (i % 97) / 10
        doc = {"sensor_id": sensor, "site": f"plant-{'abc'[i % 3]}", "window_start": start,
               "window_end": start + 60_000, "count": 60, "min": avg - 1.0, "avg": avg,
               "max": avg + 1.0}
        producer.send(topic, key=f"{sensor}:{start}".encode(), value=json.dumps(doc).encode())
    producer.flush()
    producer.close()
    return time.monotonic() - t0


def end_offsets(kafka: str, topic: str) -> dict[TopicPartition, int]:
    consumer = KafkaConsumer(bootstrap_servers=kafka)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        return dict(consumer.end_offsets(tps))
    finally:
        consumer.close()


def run_one(es_url: str, kafka: str, topic: str, ends: dict[TopicPartition, int], batch: int,
            timeout: float) -> dict[str, Any]:
    """One `python -m indexer` run from an empty group to the end of the topic."""
    suffix = uuid.uuid4().hex[:8]
    index, group = f"bench-readings-1m-{suffix}", f"bench-indexer-{suffix}"
    es = Elasticsearch(es_url, request_timeout=60)
    ensure_index(es, index, "aggregates")
    total = sum(ends.values())
    env = {**os.environ, "PYTHONPATH": str(SRC), "KAFKA_BOOTSTRAP_SERVERS": kafka,
           "ELASTICSEARCH_URL": es_url, "AGGREGATES_TOPIC": topic, "AGGREGATES_INDEX": index,
           "ALERTS_TOPIC": f"bench-alerts-{suffix}", "ALERTS_INDEX": f"bench-alerts-{suffix}",
           "DEAD_LETTER_TOPIC": f"bench-dlq-{suffix}", "INDEXER_GROUP_ID": group,
           "INDEXER_BATCH_MAX": str(batch), "INDEXER_HEALTH_BIND": f"127.0.0.1:{free_port()}",
           "INDEXER_LOG_LEVEL": "WARNING"}
    admin = KafkaAdminClient(bootstrap_servers=kafka)
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "indexer"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first: tuple[float, int] | None = None
    done_at = None
    peak_rss = 0.0
    try:
        while time.monotonic() - t0 < timeout:
            try:
                offsets = admin.list_consumer_group_offsets(group)
            except KafkaError:  # no coordinator yet on a fresh broker
                offsets = {}
            done = sum(max(0, om.offset) for tp, om in offsets.items() if tp in ends)
            now = time.monotonic()
            if first is None and done > 0:
                first = (now, done)
            peak_rss = max(peak_rss, rss_mib(proc.pid))
            if done >= total:
                done_at = now
                break
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        admin.close()
    es.indices.refresh(index=index)
    count = int(es.count(index=index)["count"])
    es.indices.delete(index=index)
    if done_at is None or first is None:
        return {"batch": batch, "error": f"not caught up within {timeout:.0f} s"}
    wall = done_at - t0
    steady = (total - first[1]) / (done_at - first[0]) if done_at > first[0] else 0.0
    return {"batch": batch, "docs": count, "wall": wall, "startup": first[0] - t0,
            "overall": total / wall, "steady": steady, "rss": peak_rss}


def rss_mib(pid: int) -> float:
    """Resident memory of a process in MiB (0 when it is gone)."""
    return status_mib(pid, "VmRSS") or 0.0


def table(title: str, header: list[str], rows: list[list[Any]]) -> str:
    """A plain-text table."""
    cells = [header] + [[f"{c:,.1f}" if isinstance(c, float) else str(c) for c in r]
                        for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = "+".join("-" * (w + 2) for w in widths)
    out = [title, line]
    for i, r in enumerate(cells):
        out.append(" | ".join(c.rjust(w) if j else c.ljust(w)
                              for j, (c, w) in enumerate(zip(r, widths, strict=True))))
        if i == 0:
            out.append(line)
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Fill the topic once, index it once per batch size, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--es-url", help="Elasticsearch URL (default: start one)")
    parser.add_argument("--kafka", help="Kafka bootstrap host:port (default: start one)")
    parser.add_argument("--records", type=int, default=200_000, help="aggregates to ship")
    parser.add_argument("--batches", default="500,2000,5000",
                        help="comma-separated INDEXER_BATCH_MAX values")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per run, at most")
    args = parser.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",")]

    with services(args) as (es_url, kafka):
        topic = f"bench-readings-1m-{uuid.uuid4().hex[:8]}"
        fill_s = fill_topic(kafka, topic, args.records)
        ends = end_offsets(kafka, topic)
        rows: list[list[Any]] = []
        for batch in batches:
            r = run_one(es_url, kafka, topic, ends, batch, args.timeout)
            if "error" in r:
                rows.append([batch, r["error"], "", "", "", "", ""])
            else:
                rows.append([batch, r["docs"], r["wall"], r["startup"], r["overall"],
                             r["steady"], r["rss"]])
            print(f"batch {batch}: {r}", file=sys.stderr)

    print()
    print(f"topic filled with {args.records:,} aggregates in {fill_s:.1f} s "
          f"({args.records / fill_s:,.0f} records/s, kafka-python producer)")
    print(table(f"python -m indexer, {args.records:,} one-minute aggregates (distinct ids, "
                "2 partitions), fresh group and index per row",
                ["INDEXER_BATCH_MAX", "docs in ES", "wall s", "to 1st commit s",
                 "docs/s overall", "docs/s steady", "peak RSS MiB"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
