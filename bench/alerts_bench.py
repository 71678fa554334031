"""Alerts benchmark (issue 16): readings/s through the PyFlink job with the default rules at
1,000 and at 100,000 sensors, the same threshold rule in a plain kafka-python consumer
(the baseline) in the same run, event -> alert latencies under an offered load, the
TaskManager's memory and the checkpoints. One table, goal lines, one summary line.

    .venv/bin/python bench/alerts_bench.py            # the full run (starts the harness stack)
    .venv/bin/python bench/alerts_bench.py --quick    # a short run (under 10 minutes)

Rows: the baseline at 1,000 sensors, the job at 1,000 sensors, the job at 1,000 sensors
with its state on the heap (``STATE_BACKEND=hashmap``: drain and checkpoint only, no
probes; not a goal row, the summary line is the default's, RocksDB), the job at 100,000
sensors.
Each job row runs on its own fresh Flink session cluster (harness, local processes), so
its TaskManager's memory and its checkpoints are its own; Kafka and Elasticsearch are shared.

* readings/s: a backlog of readings (1 s apart per sensor) is produced first, then the
  consumer drains it; the rate is the steady one between 10 % and 90 % of the backlog, from
  the record counters in the Flink REST API (refreshed every second by the harness's
  Flink), so job start-up and the tail are excluded (start-up is its own column). The job's
  count is the ``read-records`` of the job's per-reading stage: its
  ``ProcessTableFunction`` vertex (the process table function ``SENSOR_RULES``: the rules
  and the one-minute aggregates, in arrival order); the run prints the vertex it read. If the job
  restarted during the drain (its counters start again from 0) or did not drain in time,
  the rate is the furthest attempt's, from 10 % of the backlog to its peak, marked ``*``.
  The baseline's count is its own. Each drained row's notes give its rate in each tenth of
  the backlog too: the job's climbs while its JVM compiles (on 2 cores, the JIT compilers
  took about a third of the TaskManager's CPU in a 2,000,000-reading drain; README of
  apps/alerts, "Benchmark"), the baseline's does not.
* latency: after the drain, a producer thread offers ``--offered-rate`` (10,000) normal
  readings/s for ``--warmup`` (10) + ``--window`` seconds; ``--probes`` probe readings
  above the threshold (new sensors, ts = now) are spread over the window, none in the
  warm-up. The warm-up is the backlog's: its readings' ts are of 2023, so when the first
  offered readings (ts = now) reach the job its watermark jumps by years, and every backlog
  sensor's last minute and silence fire at once (for the job at 1,000 sensors, 1,000
  aggregates and 1,000 ``sensor_silent`` opens through the alerts path and the indexer); a
  probe sent into that one-off burst measured it, not the offered load. Per probe: seconds
  from its send to its alert on the Kafka ``alerts`` topic (a consumer from the topic's
  end) and to the alert being searchable in Elasticsearch (the job's alerts go job -> Kafka
  -> indexer, ``python -m indexer`` run here as a process, as the stack runs it; the
  baseline writes Elasticsearch itself and has no alerts topic). The indices are created
  before the row as the stack's index templates create them, from apps/dashboard's mapping
  files (``alerts.json``: one shard, ``refresh_interval`` 200 ms); the baseline's index
  gets the same settings with dynamic mappings. A probe not seen ``--grace`` seconds after
  the window ends counts as missing (a percentile it decides prints as ``>N``). The run
  prints the rate actually offered, the rate the consumer kept up with (its counter over
  warm-up and window) and the backlog left (for the job: the Kafka source's ``pendingRecords``). If
  the consumer cannot keep up, the backlog grows and so do the latencies: that is the
  measurement, not an error. Probes run on the 1,000-sensor rows only.
* TM RSS peak: the TaskManager's process group (the JVM and its Python workers), sampled
  every second from /proc during the row; the JVM's own VmHWM is printed too.
* checkpoint: the newest completed checkpoint after the drain (state size, end-to-end
  duration; ``(before drain)`` if none completed after it in time), and over the job's
  life the failed checkpoints and restarts (``numRestarts``).

Sizes: the full run offers backlogs of 6,000,000 readings (1,000 sensors: the job's rate
climbs for its first ~2,400,000 while its JVM compiles, see ``FULL``) and 2,000,000
(100,000 sensors: 20 per sensor), 30 probes over 60 s (+ 60 s grace), and waits at most
900 s for a drain; ``--quick`` 600,000 readings in both (see ``QUICK``), 10 probes over
20 s (+ 30 s), at most 180 s per drain. A row whose backlog did not drain in time reports
its rate up to then, marked ``*``; a row whose backlog's 10-90 % went by between two
samples of its counter has no rate (``-`` in the table, ``nan`` in the summary line) and a
note saying so. The flags below override either plan.

Everything shares the machine's CPUs with Kafka, Elasticsearch and Flink (and whatever
else runs). Asserts nothing: goals print as met / not met. The last line is the summary
``alerts-bench: job N readings/s, baseline M readings/s, ratio R`` (at 1,000 sensors).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "apps" / "alerts" / "src"), str(REPO / "apps" / "alerts" / "tests"),
                str(REPO / "tests"), str(REPO / "infra")]

from alerts_helpers import job_settings, prepare, start_job  # noqa: E402
from dashboard.indices import ensure_index, mapping  # noqa: E402
from elasticsearch import ApiError, Elasticsearch, helpers  # noqa: E402
from harness import flink as flink_mod  # noqa: E402
from harness.procs import free_port, status_mib  # noqa: E402
from kafka import KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from pipeline_probes import rules_stage_reads  # noqa: E402

HIGH = 80.0
RULES_STAGES = 1  # alerts.sql_rules: one process table function (SENSOR_RULES)


@dataclass
class Plan:
    """What one run does (the defaults, or ``--quick``)."""

    readings: int
    readings_many: int
    sensors: int
    many_sensors: int
    probes: int
    offered_rate: int
    window_s: float
    grace_s: float
    warmup_s: float
    drain_timeout_s: float


# 6,000,000 readings at 1,000 sensors: a shorter drain measures the job's JIT warm-up, not
# its sustained rate. The job's rate climbs for its first ~2,400,000 readings (its JIT
# compilers took a third of the TaskManager's CPU in a 2,000,000-reading drain), so a
# 2,000,000-reading row's 10-90 % window was all warm-up: 0.91x the baseline in run 10,
# 1.32x and 1.39x with 6,000,000 (apps/alerts/README.md, "Benchmark"). The backlog was
# raised from 600,000 to 2,000,000 for the same reason when the job drained ~60,000/s.
FULL = Plan(readings=6_000_000, readings_many=2_000_000, sensors=1000, many_sensors=100_000,
            probes=30, offered_rate=10_000, window_s=60, grace_s=60, warmup_s=10,
            drain_timeout_s=900)
# --quick: 600,000 readings. With 50,000 (and 200,000) the job drained its 1,000-sensor
# backlog's 10-90 % between two refreshes of Flink's counters (every second), so that row,
# and the summary line, had no rate ("nan"). A quick run's job rows are its JVM's warm-up
# (0.54x and 0.72x the baseline in two quick runs; the full runs: 1.40x and 1.41x): a smoke
# test of the bench, not a measurement of the goals.
QUICK = Plan(readings=600_000, readings_many=600_000, sensors=1000, many_sensors=100_000,
             probes=10, offered_rate=10_000, window_s=20, grace_s=30, warmup_s=10,
             drain_timeout_s=180)


@dataclass
class Row:
    """One line of the table."""

    name: str
    sensors: int
    readings: int
    rate: float = math.nan
    partial: bool = False  # not drained: the rate up to the last sample
    startup_s: float = math.nan
    kafka_lat: list[float] | None = None   # None: not measured; inf: missing probe
    search_lat: list[float] | None = None
    load: dict[str, float] = field(default_factory=dict)
    rss_peak_mib: float = math.nan
    vm_hwm_mib: float = math.nan
    checkpoint: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# --- readings -------------------------------------------------------------------------------

def reading_bytes(sensor: str, ts: int, temp: float, seq: int) -> bytes:
    """A contract reading (docs/contracts.md), encoded (json.dumps' own layout)."""
    return (f'{{"schema_version": 1, "sensor_id": "{sensor}", "site": "plant-a", "ts": {ts}, '
            f'"temperature_c": {temp}, "seq": {seq}}}').encode()


def produce_backlog(bootstrap: str, topic: str, readings: int, sensors: int) -> float:
    """Send ``readings`` normal readings (1 s apart per sensor); return seconds taken."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20,
                             batch_size=256 * 1024)
    start, t0 = time.monotonic(), 1_700_000_000_000
    for k in range(readings):
        sensor, i = f"b-{k % sensors:05d}", k // sensors
        producer.send(topic, key=sensor.encode(),
                      value=reading_bytes(sensor, t0 + i * 1000, 20.0 + (k % 7) * 0.1, i))
    producer.flush()
    producer.close()
    return time.monotonic() - start


class LoadProducer(threading.Thread):
    """Offers ``rate`` normal readings/s (``sensors`` load sensors, ts = now) until stopped."""

    def __init__(self, bootstrap: str, topic: str, rate: int, sensors: int) -> None:
        super().__init__(daemon=True)
        self.producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5,
                                      batch_size=256 * 1024)
        self.topic, self.rate, self.sensors = topic, rate, sensors
        self.keys = [f"l-{n:05d}" for n in range(sensors)]
        self.stop_event = threading.Event()
        self.sent = 0
        self.started = self.ended = 0.0

    def run(self) -> None:
        self.started = time.monotonic()
        tick = 0.01
        while not self.stop_event.is_set():
            due = int((time.monotonic() - self.started) * self.rate)
            ts = int(time.time() * 1000)
            while self.sent < due:  # behind: send what is due (as fast as it can)
                k = self.sent
                sensor = self.keys[k % self.sensors]
                self.producer.send(self.topic, key=sensor.encode(), value=reading_bytes(
                    sensor, ts, 20.0 + (k % 7) * 0.1, k // self.sensors))
                self.sent += 1
            time.sleep(tick)
        self.ended = time.monotonic()
        self.producer.flush()
        self.producer.close()

    def offered(self) -> float:
        """Readings/s actually sent."""
        return self.sent / max(1e-9, (self.ended or time.monotonic()) - self.started)


# --- Flink REST -----------------------------------------------------------------------------

def _short(name: str) -> str:
    """A vertex's first operator, e.g. ``ProcessTableFunction[7]``."""
    return name.split(" -> ", 1)[0]


def vertex_input(flink_get: Any, job_id: str, prefix: str) -> tuple[int, str]:
    """Records read by the job vertex whose name starts with ``prefix``, and its name."""
    for vertex in flink_get(f"/jobs/{job_id}")["vertices"]:
        if vertex["name"].startswith(prefix):
            return int(vertex["metrics"]["read-records"]), _short(vertex["name"])
    return 0, f"({prefix}: no such vertex)"


def rules_input(flink_get: Any, job_id: str) -> tuple[int, list[str]]:
    """Readings through the SQL rules: the least read by any of their per-reading stages,
    the job's first ``RULES_STAGES`` process table function vertices (named
    ``ProcessTableFunction[<id>] -> ...``, in plan order; each sees every on-time reading);
    and those vertices' names."""
    stages = rules_stage_reads(flink_get(f"/jobs/{job_id}"))[:RULES_STAGES]
    return (min((n for _, n in stages), default=0),
            [f"ProcessTableFunction[{i}]" for i, _ in stages])


def source_metric(flink_get: Any, job_id: str, metric: str) -> float:
    """A metric of the Kafka source operator (e.g. ``pendingRecords``; NaN if absent)."""
    vertex = flink_get(f"/jobs/{job_id}")["vertices"][0]
    path = f"/jobs/{job_id}/vertices/{vertex['id']}/metrics"
    names = [m["id"] for m in flink_get(path)
             if m["id"].endswith(f".{metric}") and "Source__" in m["id"]]
    if not names:
        return math.nan
    values = flink_get(f"{path}?get={urllib.parse.quote(names[0])}")
    return float(values[0]["value"]) if values and values[0].get("value") else math.nan


def job_metric(flink_get: Any, job_id: str, metric: str) -> float:
    """A job-level metric (``numRestarts``, ...), NaN if not reported yet. Read twice,
    1.5 s apart: the first read after a quiet spell returns the previous fetch's value."""
    flink_get(f"/jobs/{job_id}/metrics?get={metric}")
    time.sleep(1.5)
    values = flink_get(f"/jobs/{job_id}/metrics?get={metric}")
    return float(values[0]["value"]) if values and values[0].get("value") else math.nan


def checkpoint_stats(flink_get: Any, job_id: str) -> dict[str, Any]:
    """The newest completed checkpoint (state size in bytes, end-to-end ms, when it
    completed) and the job's checkpoint counts so far."""
    body = flink_get(f"/jobs/{job_id}/checkpoints")
    latest = body["latest"]["completed"] or {}
    counts = body["counts"]
    return {"size": latest.get("state_size"), "ms": latest.get("end_to_end_duration"),
            "acked_at": latest.get("latest_ack_timestamp", 0),
            "completed": counts.get("completed"), "failed": counts.get("failed")}


def failure_notes(flink_get: Any, job_id: str, checkpoint: dict[str, Any]) -> list[str]:
    """Why checkpoints failed (the distinct messages in the REST history, which keeps the
    newest few) and the job's newest exceptions, if it restarted."""
    notes = [f"checkpoints: {checkpoint.get('completed')} completed, "
             f"{checkpoint.get('failed')} failed; newest completed after the drain: "
             f"{'no' if checkpoint.get('before_drain') else 'yes'}"]
    body = flink_get(f"/jobs/{job_id}/checkpoints")
    history = body.get("history", [])
    latest_failed = (body.get("latest") or {}).get("failed")
    if latest_failed and all(e.get("id") != latest_failed.get("id") for e in history):
        history = [*history, latest_failed]
    reasons: dict[str, int] = {}
    for entry in history:
        if entry.get("status") == "FAILED":
            reason = str(entry.get("failure_message") or "?").splitlines()[0][:160]
            reasons[reason] = reasons.get(reason, 0) + 1
    notes += [f"failed checkpoint ({n}x in the REST history, which keeps the newest few): "
              f"{r}" for r, n in reasons.items()]
    if checkpoint.get("restarts"):
        causes: dict[str, int] = {}
        for entry in flink_get(f"/jobs/{job_id}/exceptions")["exceptionHistory"]["entries"]:
            first = str(entry.get("stacktrace") or entry.get("exceptionName") or "?")
            cause = ": ".join(first.splitlines()[0].split(": ")[-2:])[:200]  # innermost
            causes[cause] = causes.get(cause, 0) + 1
        notes += [f"job exception ({n}x in the REST history): {c}" for c, n in causes.items()]
    return notes


def jm_log_notes(log_path: Path) -> list[str]:
    """Why checkpoints failed, from the JobManager's log: a checkpoint that failed before it
    started (e.g. a task not running yet) is counted as failed by the REST API but has no
    entry in its history."""
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    reasons: dict[str, int] = {}
    for k, line in enumerate(lines):
        if "Failed to trigger checkpoint for job" in line:
            reason = line.split(" since ", 1)[-1]
            reason = re.sub(r"task .* (is|was) not", r"task ... \1 not", reason)
        elif "Failed to trigger or complete checkpoint" in line and k + 1 < len(lines):
            reason = lines[k + 1]
        else:
            continue
        reason = reason.strip()[:200]
        reasons[reason] = reasons.get(reason, 0) + 1
    return [f"JobManager log: checkpoint failed {n}x: {r}" for r, n in reasons.items()]


def tm_log_notes(log_path: Path) -> list[str]:
    """Out-of-memory errors in the TaskManager's log (a TaskManager that ran out of heap
    stops answering heartbeats: the job restarts and cannot get its slots back)."""
    try:
        lines = [line for line in log_path.read_text(errors="replace").splitlines()
                 if "OutOfMemoryError" in line]
    except OSError:
        return []
    if not lines:
        return []
    return [f"TaskManager log ({log_path.name}): {len(lines)} lines with OutOfMemoryError, "
            f"first: {lines[0].strip()[:200]}"]


Sample = tuple[float, int]  # (time.monotonic(), records counted by then)


def reached(samples: list[Sample], count: float) -> Sample | None:
    """The first sample that had counted at least ``count`` records (None: none had)."""
    return next(((t, n) for t, n in samples if n >= count), None)


def rate(lo: Sample | None, hi: Sample | None) -> float:
    """Records/s from sample ``lo`` to the later sample ``hi`` (nan if either is missing or
    ``hi`` is not later)."""
    if lo is None or hi is None or hi[0] <= lo[0]:
        return float("nan")
    return (hi[1] - lo[1]) / (hi[0] - lo[0])


def steady_rate(row: Row, samples: list[Sample], total: int) -> None:
    """``row``'s rate: records/s between 10 % and 90 % of ``total`` (start-up and the tail
    excluded), and its notes: why it has none, if the samples do not span that window, and
    its rate per tenth of ``total``."""
    row.rate = rate(reached(samples, total * 0.1), reached(samples, total * 0.9))
    if math.isnan(row.rate):
        row.notes.append(f"readings/s: none, the backlog's 10-90 % ({total * 0.8:,.0f} "
                         "readings) went by between two samples of the counter; a larger "
                         "backlog (--readings, --readings-many) measures it")
    row.notes.append(f"readings/s per tenth of the backlog: {tenths(samples, total)}")


def tenths(samples: list[Sample], total: int) -> str:
    """Records/s in each tenth of ``total``, in order ("-" where the samples do not span
    one): a rate that climbs over the first tenths is a JVM still compiling (README of
    apps/alerts, "Benchmark")."""
    marks = [reached(samples, total * k / 10) for k in range(11)]
    rates = (rate(lo, hi) for lo, hi in itertools.pairwise(marks))
    return ", ".join("-" if math.isnan(r) else f"{r:,.0f}" for r in rates)


def attempts(samples: list[Sample]) -> list[list[Sample]]:
    """The samples split where the counter went down (a restart resets the counters)."""
    runs = [samples[:1]]
    for prev, cur in itertools.pairwise(samples):
        if cur[1] < prev[1]:
            runs.append([])
        runs[-1].append(cur)
    return runs


class RssSampler(threading.Thread):
    """The peak RSS (MiB) of a managed process's group, sampled every second."""

    def __init__(self, process: Any) -> None:
        super().__init__(daemon=True)
        self.process, self.peak = process, 0.0
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.wait(1.0):
            self.peak = max(self.peak, self.process.rss_mb())

    def finish(self) -> float:
        self.stop_event.set()
        self.join()
        self.peak = max(self.peak, self.process.rss_mb())
        return self.peak


def vm_hwm_mib(pid: int) -> float:
    """A process's own peak resident set (VmHWM), MiB; NaN when it is gone."""
    hwm = status_mib(pid, "VmHWM")
    return math.nan if hwm is None else hwm


# --- latency under an offered load ----------------------------------------------------------

class AlertsWatcher(threading.Thread):
    """Records when each probe's ``open`` alert arrives on the alerts topic (from its end)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(daemon=True)
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                      enable_auto_commit=False, fetch_max_wait_ms=50)
        parts = [TopicPartition(topic, p) for p in sorted(
            self.consumer.partitions_for_topic(topic) or {0, 1})]  # prepare(): 2 partitions
        self.consumer.assign(parts)
        self.consumer.seek_to_end()
        for tp in parts:  # resolve the end offsets now, before any probe is sent
            self.consumer.position(tp)
        self.seen: dict[str, float] = {}
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            for records in self.consumer.poll(timeout_ms=100).values():
                now = time.monotonic()
                for record in records:
                    try:
                        value = json.loads(record.value)
                    except (TypeError, ValueError):
                        continue
                    if value.get("status") == "open" and value.get("alert_id"):
                        self.seen.setdefault(value["alert_id"], now)
        self.consumer.close()


class SearchWatcher(threading.Thread):
    """Records when each wanted document id first shows up in a search (every 0.1 s)."""

    def __init__(self, es: Elasticsearch, index: str) -> None:
        super().__init__(daemon=True)
        self.es, self.index = es, index
        self.wanted: set[str] = set()
        self.seen: dict[str, float] = {}
        self.lock = threading.Lock()
        self.stop_event = threading.Event()

    def want(self, doc_id: str) -> None:
        with self.lock:
            self.wanted.add(doc_id)

    def run(self) -> None:
        while not self.stop_event.wait(0.1):
            with self.lock:
                ids = sorted(self.wanted - self.seen.keys())
            if not ids:
                continue
            try:
                hits = self.es.search(index=self.index, query={"ids": {"values": ids}},
                                      size=len(ids), source=False,
                                      ignore_unavailable=True)["hits"]["hits"]
            except ApiError as exc:  # 503 while a just-created index's shard starts
                if exc.meta.status != 503:
                    raise
                continue
            now = time.monotonic()
            for hit in hits:
                self.seen.setdefault(hit["_id"], now)


def latency_under_load(bootstrap: str, readings_topic: str, alerts_topic: str | None,
                       es: Elasticsearch, index: str, plan: Plan,
                       counter: Any, pending: Any) -> dict[str, Any]:
    """Probe latencies while ``plan.offered_rate`` readings/s are offered (see the module
    docstring). ``counter()``: readings the consumer has processed; ``pending()``: its
    backlog as it sees it (NaN if unknown)."""
    kafka_watch = AlertsWatcher(bootstrap, alerts_topic) if alerts_topic else None
    search_watch = SearchWatcher(es, index)
    for watcher in (kafka_watch, search_watch):
        if watcher:
            watcher.start()
    load = LoadProducer(bootstrap, readings_topic, plan.offered_rate, plan.sensors)
    probe_producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=0)
    sent: dict[str, float] = {}
    # The counter is sampled all through the window: the REST API's metrics are fetched
    # when asked for, so a first read after a quiet spell returns the previous fetch's values.
    counts: list[tuple[float, int]] = []
    counting = threading.Event()

    def count_loop() -> None:
        while not counting.wait(0.5):
            counts.append((time.monotonic(), counter()))

    counter_thread = threading.Thread(target=count_loop, daemon=True)
    counter()
    time.sleep(1.5)
    counts.append((time.monotonic(), counter()))
    counter_thread.start()
    load.start()
    time.sleep(plan.warmup_s)  # the backlog's burst at the watermark's jump (module docstring)
    t0 = time.monotonic()
    for n in range(plan.probes):
        time.sleep(max(0.0, t0 + (n + 0.5) * plan.window_s / plan.probes - time.monotonic()))
        sensor, ts = f"probe-{uuid.uuid4().hex[:8]}", int(time.time() * 1000)
        doc_id = f"{sensor}:high_temperature:{ts}"
        search_watch.want(doc_id)
        sent[doc_id] = time.monotonic()
        probe_producer.send(readings_topic, key=sensor.encode(),
                            value=reading_bytes(sensor, ts, 95.0, 0))
        probe_producer.flush()
    time.sleep(max(0.0, t0 + plan.window_s - time.monotonic()))
    window = time.monotonic() - load.started  # the offered load's: warm-up and window
    load.stop_event.set()
    backlog = pending()  # fresh: the counter thread keeps the metrics fetched
    counting.set()
    counter_thread.join()
    load.join()
    (ta, count0), (tb, count1) = counts[0], counts[-1]
    # readings offered in the window (load and probes) the consumer had not processed
    behind = load.sent + len(sent) - (count1 - count0)
    deadline = time.monotonic() + plan.grace_s
    while time.monotonic() < deadline:
        if (len(search_watch.seen) >= len(sent)
                and (kafka_watch is None or sent.keys() <= kafka_watch.seen.keys())):
            break
        time.sleep(0.2)
    for watcher in (kafka_watch, search_watch):
        if watcher:
            watcher.stop_event.set()
            watcher.join()
    probe_producer.close()

    def lat(seen: dict[str, float]) -> list[float]:
        return [seen[d] - t if d in seen else math.inf for d, t in sent.items()]

    return {"kafka": lat(kafka_watch.seen) if kafka_watch else None,
            "search": lat(search_watch.seen),
            "load": {"offered": load.offered(), "offered_n": load.sent,
                     "kept_up": (count1 - count0) / max(1e-9, tb - ta), "window": window,
                     "behind": behind, "pending": backlog}}


# --- the job --------------------------------------------------------------------------------

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


def drain_job(flink: Any, job_id: str, readings: int, submitted: float,
              timeout_s: float, row: Row) -> tuple[bool, float]:
    """Poll the counters until the job has put every reading of the backlog through its
    rules (or ``timeout_s`` after submission); fill ``row``'s rate, start-up and notes.
    Returns (drained, when)."""
    first_at = None
    samples: list[Sample] = []
    stages: list[str] = []
    drained = False
    while True:
        n, stages = rules_input(flink.get, job_id)
        now = time.monotonic()
        samples.append((now, n))
        if n and first_at is None:
            first_at = now
        if n >= readings:
            drained = True
            break
        if len(attempts(samples)) > 1 and n:
            # restarted: the new attempt reads from the last checkpoint's offsets, so
            # drained = nothing pending in the source and the rules caught up with it
            pending = source_metric(flink.get, job_id, "pendingRecords")
            read, _ = vertex_input(flink.get, job_id, "Source:")
            if pending == 0 and n >= read > 0:
                drained = True
                break
        if now - submitted > timeout_s:
            break
        time.sleep(0.5)
    runs = attempts(samples)
    restarted = len(runs) > 1
    if drained and not restarted:
        steady_rate(row, samples, readings)
    else:  # the attempt that got furthest: from 10 % of the backlog to its peak
        best = max(runs, key=lambda run: max(k for _, k in run))
        peak = max(k for _, k in best)
        furthest = rate(reached(best, readings * 0.1), reached(best, peak))
        if not math.isnan(furthest):
            row.rate, row.partial = furthest, True
    row.startup_s = (first_at or now) - submitted
    row.notes.append(
        f"readings/s from the least read-records of {', '.join(stages)} (the rules' and "
        f"aggregates' per-reading stage{'s' if RULES_STAGES > 1 else ''})"
        + (f"; drained {now - submitted:.1f} s after submission" if drained else ""))
    if restarted:
        row.notes.append(
            f"restarted during the drain (the counters went back to 0: {len(runs) - 1}x); "
            "readings through the rules per attempt: "
            + ", ".join(f"{max(k for _, k in run):,}" for run in runs)
            + "; readings/s (marked *) is the furthest attempt's, from 10 % of the backlog "
            "to its peak")
    if not drained:
        row.notes.append(f"NOT DRAINED: {samples[-1][1]:,} of {readings:,} readings through the "
                         f"rules {timeout_s:.0f} s after submission; readings/s (marked *) is "
                         "from 10 % of the backlog to the furthest count")
    return drained, now


def bench_job(stack: Any, es_url: str, plan: Plan, sensors: int, readings: int,
              probes: bool, backend: str = "rocksdb") -> Row:
    """The job with the default rules on a fresh Flink cluster: drain, checkpoint, probes.
    ``backend``: its STATE_BACKEND (apps/alerts/README.md, Settings)."""
    name = f"job @{sensors:,} sensors" + ("" if backend == "rocksdb" else f", {backend}")
    row = Row(name, sensors, readings)
    kafka = stack.kafka()
    # one directory per row: the harness appends to its logs, read below for this row's notes
    flink = flink_mod.start(stack.run_dir / f"flink-{sensors}-{backend}")
    sampler = RssSampler(flink.processes[0])  # processes[0]: the TaskManager
    sampler.start()
    settings = job_settings(kafka.bootstrap, flink.rest_url,
                            CHECKPOINT_INTERVAL_MS="10000", STATE_TTL_S="600",
                            STATE_BACKEND=backend)
    alerts_index = f"bench-alerts-{uuid.uuid4().hex[:8]}"
    prepare(settings, partitions=2)
    es = Elasticsearch(es_url)
    if probes:  # as the stack's index templates would (infra/iotstack/catalog.py)
        ensure_index(es, alerts_index, "alerts")
        ensure_index(es, f"{alerts_index}-aggs", "aggregates")
    indexer = start_indexer(settings, es_url, alerts_index) if probes else None
    job_id = None
    try:
        produce_backlog(kafka.bootstrap, settings["READINGS_TOPIC"], readings, sensors)
        submitted = time.monotonic()
        job_id = start_job(flink, settings)
        drained, _ = drain_job(flink, job_id, readings, submitted, plan.drain_timeout_s, row)
        drained_ms = time.time() * 1000
        # a checkpoint completed after the drain holds every sensor's state
        wait_s = 60 if sensors <= plan.sensors else 120
        deadline = time.monotonic() + (wait_s if drained else 0)
        checkpoint = checkpoint_stats(flink.get, job_id)
        while checkpoint["acked_at"] <= drained_ms and time.monotonic() < deadline:
            time.sleep(1)
            checkpoint = checkpoint_stats(flink.get, job_id)
        checkpoint["before_drain"] = checkpoint["acked_at"] <= drained_ms
        if probes:
            res = latency_under_load(
                kafka.bootstrap, settings["READINGS_TOPIC"], settings["ALERTS_TOPIC"],
                es, alerts_index, plan,
                counter=lambda: rules_input(flink.get, job_id)[0],
                pending=lambda: source_metric(flink.get, job_id, "pendingRecords"))
            row.kafka_lat, row.search_lat, row.load = res["kafka"], res["search"], res["load"]
        counts = checkpoint_stats(flink.get, job_id)  # over the job's whole life
        checkpoint.update(failed=counts["failed"], completed=counts["completed"],
                          restarts=job_metric(flink.get, job_id, "numRestarts"))
        row.notes.extend(failure_notes(flink.get, job_id, checkpoint))
        row.notes.extend(jm_log_notes(flink.processes[-1].log_path))  # [-1]: the JobManager
        row.notes.extend(tm_log_notes(flink.processes[0].log_path))
        row.checkpoint = checkpoint
        row.rss_peak_mib = sampler.finish()
        tm = flink.processes[0].proc
        row.vm_hwm_mib = vm_hwm_mib(tm.pid) if tm else math.nan
        if tm and tm.poll() is not None:
            row.notes.append(f"the TaskManager process exited (code {tm.returncode}) "
                             "during the row")
    finally:
        sampler.stop_event.set()
        if job_id:
            try:
                flink.cancel(job_id)
            except OSError as exc:
                print(f"cancel failed: {exc}", file=sys.stderr)
        if indexer:
            indexer.terminate()
            indexer.wait(timeout=30)
        flink.stop()
    return row


# --- the baseline ---------------------------------------------------------------------------

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


def bench_baseline(stack: Any, es_url: str, plan: Plan) -> Row:
    """The same threshold rule in a plain kafka-python consumer with bulk writes to ES."""
    row = Row(f"baseline @{plan.sensors:,} sensors", plan.sensors, plan.readings)
    kafka = stack.kafka()
    settings = job_settings(kafka.bootstrap, "http://127.0.0.1:1")
    index = f"baseline-alerts-{uuid.uuid4().hex[:8]}"
    prepare(settings, partitions=2)
    produce_backlog(kafka.bootstrap, settings["READINGS_TOPIC"], plan.readings, plan.sensors)
    es = Elasticsearch(es_url)
    # the job's alerts index settings (one shard, refresh every 200 ms), dynamic mappings
    es.indices.create(index=index, settings=mapping("alerts")["settings"])
    stop, seen = threading.Event(), [0]
    worker = threading.Thread(target=_baseline_worker, args=(
        kafka.bootstrap, settings["READINGS_TOPIC"], es, index, stop, seen))
    started = time.monotonic()
    worker.start()
    first_at = None
    samples: list[Sample] = []
    while seen[0] < plan.readings:
        if seen[0] and first_at is None:
            first_at = time.monotonic()
        samples.append((time.monotonic(), seen[0]))
        time.sleep(0.05)
    samples.append((time.monotonic(), seen[0]))
    row.startup_s = (first_at or started) - started
    row.notes.append("readings/s from the consumer's own count of records polled")
    steady_rate(row, samples, plan.readings)
    try:
        res = latency_under_load(kafka.bootstrap, settings["READINGS_TOPIC"], None, es, index,
                                 plan, counter=lambda: seen[0],
                                 pending=lambda: math.nan)
        row.search_lat, row.load = res["search"], res["load"]
    finally:
        stop.set()
        worker.join()
    return row


# --- output ---------------------------------------------------------------------------------

def _pct(values: list[float] | None, q: float) -> float:
    """The q-quantile (nearest rank; a missing probe is inf), NaN without values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def _secs(x: float, grace: float) -> str:
    if math.isnan(x):
        return "-"
    return f">{grace:.0f}" if math.isinf(x) else f"{x:.2f}"


def _lat(values: list[float] | None, grace: float) -> str:
    if values is None:
        return "-"
    return f"{_secs(_pct(values, 0.5), grace)} / {_secs(_pct(values, 0.99), grace)}"


def _num(x: Any, fmt: str = ",.0f") -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def print_report(rows: list[Row], plan: Plan, wall_s: float) -> None:
    """The table, the notes, the goal lines and, last, the summary line."""
    print(f"\nalerts-bench: {os.cpu_count()} CPUs shared with Kafka, Elasticsearch and Flink; "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}; {wall_s:.0f} s")
    print(f"latency: {plan.probes} probes over {plan.window_s:.0f} s while "
          f"{plan.offered_rate:,} readings/s are offered (after {plan.warmup_s:.0f} s of it "
          f"without probes); a probe unseen {plan.grace_s:.0f} s after the window is "
          "missing (>N)\n")
    head = ("| row | backlog | readings/s | start-up s | alert on Kafka p50 / p99 s | "
            "searchable p50 / p99 s | offered / kept up /s | TM RSS peak MiB | "
            "checkpoint size MB / s / failed / restarts |")
    print(head)
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        c = r.checkpoint
        ckpt = "-" if not c else (
            f"{_num(c['size'] / 1e6 if c.get('size') else None, '.1f')} / "
            f"{_num(c['ms'] / 1000 if c.get('ms') is not None else None, '.1f')} / "
            f"{_num(c.get('failed'), 'd')} / {_num(c.get('restarts'), '.0f')}"
            + (" (before drain)" if c.get("before_drain") else ""))
        load = (f"{_num(r.load['offered'])} / {_num(r.load['kept_up'])}" if r.load else "-")
        print(f"| {r.name} | {r.readings:,} | {_num(r.rate)}{'*' if r.partial else ''} | "
              f"{_num(r.startup_s, '.1f')} | "
              f"{_lat(r.kafka_lat, plan.grace_s)} | {_lat(r.search_lat, plan.grace_s)} | "
              f"{load} | {_num(r.rss_peak_mib)} | {ckpt} |")
    print()
    for r in rows:
        for note in r.notes:
            print(f"{r.name}: {note}")
        if r.load:
            lost = sum(math.isinf(x) for x in (r.search_lat or []))
            lost_k = ("" if r.kafka_lat is None else
                      f"{sum(math.isinf(x) for x in r.kafka_lat)} not on Kafka and ")
            print(f"{r.name}: under load: offered {r.load['offered']:,.0f} readings/s "
                  f"({r.load['offered_n']:,} in {r.load['window']:.0f} s), kept up with "
                  f"{r.load['kept_up']:,.0f}/s; at the window's end "
                  f"{r.load['behind']:,} of the readings offered in it not yet processed"
                  + (f" (the Kafka source's pendingRecords: {r.load['pending']:,.0f})"
                     if not math.isnan(r.load["pending"]) else "")
                  + f"; of {len(r.search_lat or [])} probes {lost_k}{lost} not searchable "
                  "in time")
        if not math.isnan(r.vm_hwm_mib):
            print(f"{r.name}: TaskManager JVM VmHWM {r.vm_hwm_mib:,.0f} MiB (peak RSS of the "
                  f"process group, JVM + Python workers, sampled: {r.rss_peak_mib:,.0f} MiB)")
    base = next((r for r in rows if r.name.startswith("baseline")), None)
    job = next((r for r in rows if r.name.startswith("job") and r.sensors == plan.sensors),
               None)
    many = next((r for r in rows if r.sensors == plan.many_sensors), None)
    job_rate = job.rate if job else math.nan
    base_rate = base.rate if base else math.nan
    ratio = job_rate / base_rate if base_rate else math.nan

    def goal(text: str, ok: bool, got: str) -> None:
        print(f"goal: {text}: {'met' if ok else 'NOT MET'} ({got})")

    print()
    for each in (job, many):
        if each:
            goal(f"{each.name} >= 50,000 readings/s sustained", each.rate >= 50_000,
                 f"{_num(each.rate)}/s")
    goal("job >= 1.0x the baseline in the same run (1,000 sensors)", ratio >= 1.0,
         f"{ratio:.2f}x")
    for other in rows:
        if other.name.startswith("job") and other is not job and other is not many:
            print(f"not a goal: {other.name}: {_num(other.rate)} readings/s, "
                  f"{other.rate / base_rate if base_rate else math.nan:.2f}x the baseline")
    if job:
        offered = job.load.get("offered", math.nan) if job.load else math.nan
        note = (f" at {offered:,.0f} readings/s offered"
                + (" (below the 10,000 asked)" if offered < 10_000 * 0.98 else ""))
        p99k = _pct(job.kafka_lat, 0.99)
        goal("alert on Kafka p99 <= 0.5 s", p99k <= 0.5, f"{_secs(p99k, plan.grace_s)} s{note}")
        p99s = _pct(job.search_lat, 0.99)
        goal("searchable p99 <= 1 s", p99s <= 1.0, f"{_secs(p99s, plan.grace_s)} s{note}")
    print(f"alerts-bench: job {job_rate:.0f} readings/s, baseline {base_rate:.0f} readings/s, "
          f"ratio {ratio:.2f}")


def main(argv: list[str] | None = None) -> int:
    """Run the baseline and both job rows on one harness stack and print the report."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a short run (under 10 minutes): smaller backlogs, shorter window")
    parser.add_argument("--readings", type=int, help="backlog at 1,000 sensors")
    parser.add_argument("--readings-many", type=int, help="backlog at 100,000 sensors")
    parser.add_argument("--probes", type=int)
    parser.add_argument("--offered-rate", type=int, help="readings/s offered while probing")
    parser.add_argument("--window", type=float, help="seconds of offered load (probe window)")
    parser.add_argument("--grace", type=float, help="seconds a probe may arrive after it")
    parser.add_argument("--warmup", type=float,
                        help="seconds of offered load before the probe window")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--no-many", action="store_true", help="skip the 100,000-sensor row")
    parser.add_argument("--no-hashmap", action="store_true",
                        help="skip the row with STATE_BACKEND=hashmap")
    args = parser.parse_args(argv)
    plan = dataclasses.replace(QUICK if args.quick else FULL)
    for name, attr in (("readings", "readings"), ("readings_many", "readings_many"),
                       ("probes", "probes"), ("offered_rate", "offered_rate"),
                       ("window", "window_s"), ("grace", "grace_s"),
                       ("warmup", "warmup_s")):
        if getattr(args, name) is not None:
            setattr(plan, attr, getattr(args, name))
    from harness.stack import Stack

    started = time.monotonic()
    stack = Stack()
    rows: list[Row] = []
    try:
        es_url = stack.elasticsearch().url
        if not args.no_baseline:
            rows.append(bench_baseline(stack, es_url, plan))
            print(f"[{time.monotonic() - started:.0f} s] baseline done", flush=True)
        rows.append(bench_job(stack, es_url, plan, plan.sensors, plan.readings, probes=True))
        print(f"[{time.monotonic() - started:.0f} s] job @{plan.sensors:,} done", flush=True)
        if not args.no_hashmap:
            rows.append(bench_job(stack, es_url, plan, plan.sensors, plan.readings,
                                  probes=False, backend="hashmap"))
            print(f"[{time.monotonic() - started:.0f} s] job @{plan.sensors:,}, hashmap done",
                  flush=True)
        if not args.no_many:
            rows.append(bench_job(stack, es_url, plan, plan.many_sensors, plan.readings_many,
                                  probes=False))
            print(f"[{time.monotonic() - started:.0f} s] job @{plan.many_sensors:,} done",
                  flush=True)
    finally:
        stack.stop()
    print_report(rows, plan, time.monotonic() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
