"""Alerts benchmark: readings/s through the PyFlink job, event -> searchable alert latency,
and the same threshold rule done by a plain kafka-python consumer writing to Elasticsearch.

The job writes only Kafka; its alerts become searchable through the indexer (``python -m
indexer``, run here as a process next to the job, as the stack runs it next to Flink), so the
job's latency counts job -> Kafka -> indexer -> Elasticsearch.

    .venv/bin/python bench/alerts_bench.py                        # starts the harness stack
    .venv/bin/python bench/alerts_bench.py --readings 300000 --sensors 1000 --probes 40

Throughput: a backlog of readings is produced first, then the consumer (the job, or the
baseline) drains it; readings/s is the steady rate between 10 % and 90 % of the backlog, from
the operator's record counter in the Flink REST API (refreshed every second by the harness's
Flink), so job start-up and the tail are excluded (start-up is printed separately).
Latency: with the consumer idle, a probe reading above the threshold is sent with ts = now,
and the alert is polled for with a search (so it counts the sink flush and the index
refresh); p50/p99 over the probes.
Everything shares the machine's CPUs with Kafka, Elasticsearch and Flink. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "apps" / "alerts" / "src"), str(REPO / "apps" / "alerts" / "tests"),
                str(REPO / "tests"), str(REPO / "infra")]

from alerts_helpers import job_settings, prepare, start_job  # noqa: E402
from elasticsearch import ApiError, Elasticsearch, helpers  # noqa: E402
from harness.procs import free_port  # noqa: E402
from kafka import KafkaConsumer, KafkaProducer  # noqa: E402

HIGH = 80.0


def produce_backlog(bootstrap: str, topic: str, readings: int, sensors: int) -> float:
    """Send ``readings`` normal readings (1 s apart per sensor); return seconds taken."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20,
                             batch_size=256 * 1024)
    start, t0 = time.monotonic(), 1_700_000_000_000
    for k in range(readings):
        sensor, i = f"b-{k % sensors:05d}", k // sensors
        value = json.dumps({"schema_version": 1, "sensor_id": sensor, "site": "plant-a",
                            "ts": t0 + i * 1000, "temperature_c": 20.0 + (k % 7) * 0.1,
                            "seq": i}).encode()
        producer.send(topic, key=sensor.encode(), value=value)
    producer.flush()
    producer.close()
    return time.monotonic() - start


def probe_latencies(bootstrap: str, topic: str, es: Elasticsearch, index: str, probes: int,
                    id_of: Any) -> list[float]:
    """Send probe readings above the threshold; seconds until each alert is searchable."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=0)
    out = []
    for n in range(probes):
        sensor = f"probe-{uuid.uuid4().hex[:8]}"
        ts = int(time.time() * 1000)
        sent = time.monotonic()
        producer.send(topic, key=sensor.encode(), value=json.dumps({
            "schema_version": 1, "sensor_id": sensor, "site": "plant-a", "ts": ts,
            "temperature_c": 95.0, "seq": n}).encode())
        producer.flush()
        doc_id = id_of(sensor, ts)
        deadline = sent + 30
        while time.monotonic() < deadline:
            # The index exists once the first alert was written (by the indexer or baseline).
            try:
                hits = es.search(index=index, query={"ids": {"values": [doc_id]}},
                                 ignore_unavailable=True)["hits"]["hits"]
            except ApiError as exc:  # 503 while a just-created index's shard starts
                if exc.meta.status != 503:
                    raise
                hits = []
            if hits:
                out.append(time.monotonic() - sent)
                break
            time.sleep(0.01)
        time.sleep(0.2)
    producer.close()
    return out


def vertex_input(flink_get: Any, job_id: str, prefix: str) -> int:
    """Records read by the job vertex whose name starts with ``prefix``."""
    for vertex in flink_get(f"/jobs/{job_id}")["vertices"]:
        if vertex["name"].startswith(prefix):
            return int(vertex["metrics"]["read-records"])
    return 0


RULES_STAGES = 6  # alerts.sql_rules: 5 OVER windows in arrival order, then the rate window


def rules_input(flink_get: Any, job_id: str) -> int:
    """Readings through the SQL rules: the least read by any of their per-reading stages,
    the job's first ``RULES_STAGES`` OverAggregate vertices (named ``OverAggregate[<id>]
    -> ...``, in plan order; in the bench every reading is applied, so each sees all)."""
    stages = sorted(
        (int(v["name"].split("[", 1)[1].split("]", 1)[0]), int(v["metrics"]["read-records"]))
        for v in flink_get(f"/jobs/{job_id}")["vertices"]
        if v["name"].startswith("OverAggregate["))
    return min((n for _, n in stages[:RULES_STAGES]), default=0)


def checkpoint_stats(flink_get: Any, job_id: str) -> dict[str, Any]:
    """The newest completed checkpoint: full state size (bytes) and end-to-end ms."""
    latest = flink_get(f"/jobs/{job_id}/checkpoints")["latest"]["completed"] or {}
    return {"size": latest.get("state_size"), "ms": latest.get("end_to_end_duration")}


def steady_rate(samples: list[tuple[float, int]], total: int) -> float:
    """Records/s between 10 % and 90 % of ``total`` (start-up and the tail excluded)."""
    lo = next(((t, n) for t, n in samples if n >= total * 0.1), None)
    hi = next(((t, n) for t, n in samples if n >= total * 0.9), None)
    if lo is None or hi is None or hi[0] <= lo[0]:
        return float("nan")
    return (hi[1] - lo[1]) / (hi[0] - lo[0])


def start_indexer(
    settings: dict[str, str], es_url: str, alerts_index: str
) -> subprocess.Popen[bytes]:
    """The stack's indexer for the job's alerts and aggregates topics (apps/dashboard)."""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings["KAFKA_BOOTSTRAP_SERVERS"],
        "ELASTICSEARCH_URL": es_url,
        "ALERTS_TOPIC": settings["ALERTS_TOPIC"],
        "ALERTS_INDEX": alerts_index,
        "AGGREGATES_TOPIC": settings["AGGREGATES_TOPIC"],
        "AGGREGATES_INDEX": f"{alerts_index}-aggs",
        "DEAD_LETTER_TOPIC": settings["DEAD_LETTER_TOPIC"],
        "INDEXER_GROUP_ID": f"{alerts_index}-indexer",
        "INDEXER_HEALTH_BIND": f"127.0.0.1:{free_port()}",
        "INDEXER_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen([sys.executable, "-m", "indexer"], env=env)


def bench_flink(stack: Any, readings: int, sensors: int, probes: int) -> dict[str, Any]:
    """Throughput and latency of the PyFlink job with the default rules."""
    flink, kafka, es_url = stack.flink(), stack.kafka(), stack.elasticsearch().url
    settings = job_settings(kafka.bootstrap, flink.rest_url,
                            CHECKPOINT_INTERVAL_MS="10000", STATE_TTL_S="600")
    alerts_index = f"bench-alerts-{uuid.uuid4().hex[:8]}"
    prepare(settings, partitions=2)
    indexer = start_indexer(settings, es_url, alerts_index)
    produced_s = produce_backlog(kafka.bootstrap, settings["READINGS_TOPIC"], readings, sensors)
    submitted = time.monotonic()
    job_id = start_job(flink, settings)
    try:
        first_at = sql_done = None
        py_samples: list[tuple[float, int]] = []
        sql_samples: list[tuple[float, int]] = []
        while True:
            # the rules' OVER windows; "Deduplicate": the SQL aggregate path
            n = rules_input(flink.get, job_id)
            sql_n = vertex_input(flink.get, job_id, "Deduplicate")
            now = time.monotonic()
            py_samples.append((now, n))
            sql_samples.append((now, sql_n))
            if sql_done is None and sql_n >= readings:
                sql_done = now
            if n and first_at is None:
                first_at = now
            if n >= readings:
                break
            if now - submitted > 900:
                raise RuntimeError(f"the job processed only {n} of {readings} readings")
            time.sleep(0.5)
        drained_ms = time.time() * 1000
        for _ in range(60):  # a checkpoint completed after the drain: every sensor's state
            time.sleep(1)
            latest = flink.get(f"/jobs/{job_id}/checkpoints")["latest"]["completed"] or {}
            if latest.get("latest_ack_timestamp", 0) > drained_ms:
                break
        checkpoint = checkpoint_stats(flink.get, job_id)
        es = Elasticsearch(es_url)
        lat = probe_latencies(kafka.bootstrap, settings["READINGS_TOPIC"], es,
                              alerts_index, probes,
                              lambda s, ts: f"{s}:high_temperature:{ts}")
        return {"name": "PyFlink job (default rules) + indexer", "produce_s": produced_s,
                "startup_s": (first_at or now) - submitted,
                "rate": steady_rate(py_samples, readings),
                "sql_rate": steady_rate(sql_samples, readings),
                "sql_s": (sql_done or now) - submitted, "rules_s": now - submitted,
                "lat": lat, "checkpoint": checkpoint}
    finally:
        flink.cancel(job_id)
        indexer.terminate()
        indexer.wait(timeout=30)


def _baseline_worker(bootstrap: str, topic: str, es: Elasticsearch, index: str,
                     stop: threading.Event, seen: list[int]) -> None:
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             group_id=f"baseline-{uuid.uuid4().hex[:6]}",
                             max_poll_records=5000, fetch_max_bytes=8 * 1024 * 1024)
    while not stop.is_set():
        batch = consumer.poll(timeout_ms=100)
        actions = []
        for records in batch.values():
            for record in records:
                seen[0] += 1
                try:
                    r = json.loads(record.value)
                except ValueError:
                    continue
                if r["temperature_c"] > HIGH:  # the seed's rule: one alert per bad reading
                    actions.append({"_index": index,
                                    "_id": f"{r['sensor_id']}:high_temperature:{r['ts']}",
                                    "_source": {**r, "rule": "high_temperature"}})
        if actions:
            helpers.bulk(es, actions)
    consumer.close()


def bench_baseline(stack: Any, readings: int, sensors: int, probes: int) -> dict[str, Any]:
    """The same threshold rule in a plain kafka-python consumer with bulk writes to ES."""
    kafka, es_url = stack.kafka(), stack.elasticsearch().url
    settings = job_settings(kafka.bootstrap, "http://127.0.0.1:1")
    index = f"baseline-alerts-{uuid.uuid4().hex[:8]}"
    prepare(settings, partitions=2)
    produced_s = produce_backlog(kafka.bootstrap, settings["READINGS_TOPIC"], readings, sensors)
    es = Elasticsearch(es_url)
    stop, seen = threading.Event(), [0]
    worker = threading.Thread(target=_baseline_worker, args=(
        kafka.bootstrap, settings["READINGS_TOPIC"], es, index, stop, seen))
    started = time.monotonic()
    worker.start()
    first_at = None
    samples: list[tuple[float, int]] = []
    while seen[0] < readings:
        if seen[0] and first_at is None:
            first_at = time.monotonic()
        samples.append((time.monotonic(), seen[0]))
        time.sleep(0.05)
    samples.append((time.monotonic(), seen[0]))
    lat = probe_latencies(kafka.bootstrap, settings["READINGS_TOPIC"], es,
                          index, probes,
                          lambda s, ts: f"{s}:high_temperature:{ts}")
    stop.set()
    worker.join()
    return {"name": "kafka-python consumer -> ES (baseline)", "produce_s": produced_s,
            "startup_s": (first_at or started) - started,
            "rate": steady_rate(samples, readings), "lat": lat}


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    """Run both benchmarks on one harness stack and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readings", type=int, default=200_000)
    parser.add_argument("--sensors", type=int, default=1000)
    parser.add_argument("--probes", type=int, default=30)
    parser.add_argument("--no-baseline", action="store_true",
                        help="run only the job (e.g. for its checkpoint at many sensors)")
    args = parser.parse_args(argv)
    from harness.stack import Stack

    stack = Stack()
    try:
        rows = [] if args.no_baseline else [
            bench_baseline(stack, args.readings, args.sensors, args.probes)]
        rows.append(bench_flink(stack, args.readings, args.sensors, args.probes))
    finally:
        stack.stop()
    print(f"\n{args.readings} readings, {args.sensors} sensors, {args.probes} latency probes, "
          f"{os.cpu_count()} CPUs shared with Kafka, Elasticsearch and Flink\n")
    print(f"| {'consumer':40} | readings/s | start-up s | latency p50 s | p99 s | probes |")
    print(f"|{'-' * 42}|-----------:|-----------:|--------------:|------:|-------:|")
    for row in rows:
        lat = row["lat"]
        print(f"| {row['name']:40} | {row['rate']:10,.0f} | {row['startup_s']:10.1f} | "
              f"{statistics.median(lat) if lat else float('nan'):13.2f} | "
              f"{_pct(lat, 0.99):5.2f} | {len(lat):6} |")
    for row in rows:
        if "sql_s" in row:
            print(f"\nPyFlink job, from submission: SQL aggregate path had all readings after "
                  f"{row['sql_s']:.1f} s, the SQL rules after {row['rules_s']:.1f} s; "
                  f"checkpoint after the drain: {row['checkpoint']['size']} bytes, "
                  f"{row['checkpoint']['ms']} ms ({args.sensors} sensors)")
    job = rows[-1]["rate"]
    base = rows[0]["rate"] if len(rows) > 1 else float("nan")
    print(f"alerts-bench: job {job:.0f} readings/s, baseline {base:.0f} readings/s, "
          f"ratio {job / base:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
