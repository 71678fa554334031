"""Faults on the running pipeline from the images, each followed by the same accounting.

The pipeline is the one ``test_pipeline.py`` proves (Flink JobManager + TaskManager and the
submitter from the alerts image, the simulator image streaming into Kafka, the job writing
alerts and one-minute aggregates to Kafka, the indexer from the dashboard image shipping
both into Elasticsearch), on a Kafka and an Elasticsearch of its own (started here with the
harness, in their own directory) so that stopping them disturbs no other test. Four phases,
each a simulator run in rate mode (real-time pacing, its own sensor range, so every
``(sensor_id, seq)`` is unique) with one fault in the middle of it:

* Kafka's broker stopped and started again (same port, same data directory);
* the TaskManager container killed (``docker kill``) and a new one started (on its own RPC
  port, as a new container would have its own address): the job must come back from its
  last checkpoint;
* Elasticsearch stopped for 30 s and started again (same port, same data directory): the
  job does not notice (it writes only Kafka), the indexer pauses and resumes; its /healthz
  is watched throughout (it must stay "ok", and say Elasticsearch is "down" whenever it
  failed a bulk request during the outage);
* 10,000 malformed messages of several kinds.

After each phase one marker reading per partition (a "closer", far enough ahead in event
time) moves the watermark past every minute of the phase, so the one-minute aggregates of
every reading are emitted; the closers of the latest phase are the only readings still in an
open minute. Then, once the outputs reach the produced count (polled, bounded), the alerts
index and topic hold the same alert ids, and the aggregates index holds exactly the latest
aggregate of every key of the aggregates topic (id = key), the accounting (an overshoot
fails too):

    produced (simulator acks + closers + malformed, = the topic's end offsets)
      == sum of aggregate ``count`` (in Elasticsearch, = on the topic) + dead letters
         + late readings + open closers

and no duplicate alert: Elasticsearch ids are deterministic, so a duplicate would be a second
document for the same episode; the alerts topic is at-least-once, so repeats of an identical
event are counted and reported, but two different events for one (alert, status) fail.
The table (one row per fault) is printed and written to the test's tmp dir.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch as EsClient
from harness import elasticsearch as es_mod
from harness import kafka as kafka_mod
from harness.procs import free_port
from harness.stack import Stack
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from docker_e2e import engine
from docker_e2e.wiring import (
    RunningIndexer,
    aggregates_mismatch,
    app_env,
    apply_index_templates,
    create_stack_topics,
    flink_mounts,
    flink_properties,
    read_topic,
    service_command,
    start_indexer,
)

pytestmark = pytest.mark.services

RATE = 200  # readings per second (event time advances with wall time, an hour behind it)
SENSORS = 40  # per phase; each phase has its own range, so (sensor_id, seq) stays unique
PHASE_SLOTS = 2_400  # 12 s of stream per phase
MALFORMED = 10_000
ES_DOWN_S = 30.0
DRAIN_TIMEOUT_S = 300.0
RUNNING_TIMEOUT_S = 240.0
WINDOW_MS = 60_000
# What the indexer logs when Elasticsearch fails a bulk request (once per outage).
BULK_FAILED = "failed the bulk request"


def _json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.load(resp)


def _poll(what: str, check: Callable[[], Any], timeout: float, logs: Any = None) -> Any:
    # Any error counts as "not yet" here: services are down or restarting on purpose.
    return engine.poll_until(what, check, timeout, logs, tolerate=(Exception,))


def _health(url: str) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of the indexer's /healthz (a 503 has a body too)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


class HealthWatch:
    """Polls the indexer's /healthz twice a second in the background; keeps what it saw."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seen: list[tuple[float, int, dict[str, Any]]] = []  # (monotonic s, status, body)
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                code, body = _health(self.url)
                self.seen.append((time.monotonic(), code, body))
            except (OSError, ValueError) as err:
                self.errors.append(f"{type(err).__name__}: {err}")
            self._stop.wait(0.5)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def between(self, start: float, end: float) -> list[tuple[int, dict[str, Any]]]:
        return [(code, body) for t, code, body in self.seen if start <= t <= end]


def _end_total(bootstrap: str, topic: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return sum(consumer.end_offsets(parts).values())
    finally:
        consumer.close()


@dataclass
class Row:
    """One fault's accounting."""

    fault: str
    produced: int = 0
    topic_total: int = 0
    aggregated: int = 0
    dead: int = 0
    dead_records: int = 0
    late: int = 0
    late_records: int = 0
    open_closers: int = 0
    alerts: int = 0
    dup_es: int = 0
    dup_topic: int = 0
    restarts: int = 0
    to_running_s: float = 0.0
    drain_s: float = 0.0


HEADER = (
    f"{'fault':<22}{'produced':>9}{'aggregated':>11}{'dead-letter':>12}{'late':>6}"
    f"{'open':>6}{'alerts':>7}{'dup ES':>7}{'dup topic':>10}{'restarts':>9}"
    f"{'to RUNNING s':>13}{'drain s':>8}"
)


def _line(r: Row) -> str:
    return (
        f"{r.fault:<22}{r.produced:>9}{r.aggregated:>11}{r.dead:>12}{r.late:>6}"
        f"{r.open_closers:>6}{r.alerts:>7}{r.dup_es:>7}{r.dup_topic:>10}{r.restarts:>9}"
        f"{r.to_running_s:>13.1f}{r.drain_s:>8.1f}"
    )


class Pipeline:
    """The running pipeline of this test and what has been sent into it so far."""

    def __init__(
        self,
        kafka: kafka_mod.Kafka,
        es: es_mod.Elasticsearch,
        containers: engine.Containers,
        images: engine.AppImages,
        out_dir: Path,
    ) -> None:
        self.kafka = kafka
        self.es = es
        self.containers = containers
        self.images = images
        self.out_dir = out_dir
        sfx = uuid.uuid4().hex[:6]
        self.names = {
            "READINGS_TOPIC": f"faults-readings-{sfx}",
            "ALERTS_TOPIC": f"faults-alerts-{sfx}",
            "DEAD_LETTER_TOPIC": f"faults-dlq-{sfx}",
            "LATE_TOPIC": f"faults-late-{sfx}",
            "AGGREGATES_TOPIC": f"faults-aggs-{sfx}",
        }
        self.indices = {
            "ALERTS_INDEX": f"faults-alerts-{sfx}",
            "AGGREGATES_INDEX": f"faults-aggs-{sfx}",
        }
        self.sfx = sfx
        self.rest_port = free_port()
        self.rest_url = f"http://127.0.0.1:{self.rest_port}"
        self.env = app_env(
            "alerts-submit",
            KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap,
            FLINK_REST_URL=self.rest_url,
            JOB_NAME=f"iot-alerts-faults-{sfx}",
            KAFKA_GROUP_ID=f"alerts-faults-{sfx}",
            **self.names,
        )
        self.props = flink_properties(self.rest_port)
        self.jid = ""
        self.jm = ""
        self.tm = ""
        self.tm_generation = 0
        self.flink_mounts: tuple[str, ...] = ()
        self.indexer: RunningIndexer | None = None
        self.partitions = 0
        self.produced = 0  # acknowledged by Kafka: simulator readings, closers, malformed
        self.closers_open = 0
        self.phase = 0
        # An hour behind the wall clock: each phase's closers jump event time past its
        # minute, so the phases advance event time faster than wall time, and the job's
        # watermark never passes a record's Kafka timestamp (apps/alerts/README.md, "Event
        # time"); a closer ahead of the clock would not close its minutes.
        self.event_ts = ((int(time.time() * 1000) - 3_600_000) // WINDOW_MS) * WINDOW_MS
        self.sim_sent = 0

    # -- set-up ---------------------------------------------------------------------------

    def create_topics(self) -> None:
        """The stack's topics (partitions as infra creates them), under this test's names."""
        partitions = create_stack_topics(self.kafka.bootstrap, self.names)
        self.partitions = partitions["READINGS_TOPIC"]
        assert self.partitions > 1, "the fault test wants several readings partitions"

    def start_indexer(self) -> None:
        """The indexer from the dashboard image (the described entrypoint and health check),
        shipping this test's alerts and aggregates topics into its indices."""
        overrides = {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap,
            "ELASTICSEARCH_URL": self.es.url,
            "ALERTS_TOPIC": self.names["ALERTS_TOPIC"],
            "AGGREGATES_TOPIC": self.names["AGGREGATES_TOPIC"],
            "DEAD_LETTER_TOPIC": self.names["DEAD_LETTER_TOPIC"],
            "INDEXER_GROUP_ID": f"indexer-faults-{self.sfx}",
        }
        self.indexer = start_indexer(
            self.containers, self.images["dashboard"].tag, overrides | self.indices
        )

    def start_taskmanager(self) -> None:
        """A TaskManager container from the alerts image (a new one after each kill).

        A replacement gets its own RPC port: in the stack it would be a new container with
        its own address, and the JobManager's RPC layer keeps the dead TaskManager's
        address quarantined for a while (a replacement on the same host:port is ignored).
        """
        self.tm_generation += 1
        props = self.props
        if self.tm_generation > 1:
            props = "\n".join(
                f"taskmanager.rpc.port: {free_port()}"
                if line.startswith("taskmanager.rpc.port:")
                else line
                for line in props.splitlines()
            )
        self.tm = self.containers.run(
            f"taskmanager-{self.tm_generation}",
            self.images["alerts"].tag,
            app_env("taskmanager", FLINK_PROPERTIES=props),
            args=service_command("taskmanager"),
            volumes=self.flink_mounts,
        )

    def logs(self) -> str:
        """The tails of the Flink containers' and the indexer's logs, for failure messages."""
        indexer = self.containers.logs(self.indexer.container) if self.indexer else ""
        return (
            "--- jobmanager ---\n"
            + self.containers.logs(self.jm)[-3000:]
            + "\n--- taskmanager ---\n"
            + self.containers.logs(self.tm)[-4000:]
            + "\n--- indexer ---\n"
            + indexer[-3000:]
        )

    def start_flink_and_submit(self) -> None:
        """JobManager + TaskManager from the alerts image, then the submitter container."""
        image = self.images["alerts"].tag
        # Checkpoints on a volume both mount, as in the stack: a replacement TaskManager
        # restores the state its killed predecessor checkpointed.
        self.flink_mounts = flink_mounts(self.containers.prefix)
        self.jm = self.containers.run(
            "jobmanager",
            image,
            app_env("jobmanager", FLINK_PROPERTIES=self.props),
            args=service_command("jobmanager"),
            volumes=self.flink_mounts,
        )
        self.start_taskmanager()
        _poll(
            "a TaskManager registered",
            lambda: _json(f"{self.rest_url}/overview").get("slots-total", 0) > 0,
            240,
            self.logs,
        )
        # The job's keeper: it submits the job, then stays to keep it running.
        submit = self.containers.run(
            "alerts-submit", image, self.env, args=service_command("alerts-submit")
        )
        self.jid = engine.wait_job_running(
            self.rest_url,
            self.env["JOB_NAME"],
            400,
            lambda: self.logs() + self.containers.logs(submit)[-4000:],
            tolerate=(Exception,),
        )
        assert self.containers.state(submit)["Running"], self.containers.logs(submit)[-5000:]
        self.wait_running()

    # -- the job --------------------------------------------------------------------------

    def running(self) -> bool:
        """The job and every one of its tasks RUNNING (Flink REST)."""
        job = _json(f"{self.rest_url}/jobs/{self.jid}")
        return job["state"] == "RUNNING" and all(v["status"] == "RUNNING" for v in job["vertices"])

    def wait_running(self) -> float:
        """Seconds until the job and all its tasks are RUNNING."""
        started = time.monotonic()
        _poll("the job RUNNING with all its tasks", self.running, RUNNING_TIMEOUT_S, self.logs)
        return time.monotonic() - started

    def failovers(self) -> int:
        """Job restarts so far: the ``numRestarts`` metric, or the exception history if it
        is ahead (the REST metrics are refreshed only every few seconds)."""
        metric = _json(f"{self.rest_url}/jobs/{self.jid}/metrics?get=numRestarts")
        counted = int(float(metric[0]["value"])) if metric else 0
        history = _json(f"{self.rest_url}/jobs/{self.jid}/exceptions")["exceptionHistory"]
        return max(counted, len(history["entries"]))

    # -- input ----------------------------------------------------------------------------

    def start_simulator(self) -> tuple[str, Path]:
        """A simulator container streaming this phase's sensors in rate mode."""
        log_dir = self.out_dir / f"phase-{self.phase}"
        log_dir.mkdir(parents=True)
        log_dir.chmod(0o777)  # the simulator runs as an unprivileged user
        env = app_env(
            "simulator",
            KAFKA_BOOTSTRAP_SERVERS=self.kafka.bootstrap,
            READINGS_TOPIC=self.names["READINGS_TOPIC"],
            SIMULATOR_SENSORS=str(SENSORS),
            SIMULATOR_FIRST_SENSOR=str(self.phase * SENSORS),
            SIMULATOR_RATE=str(RATE),
            SIMULATOR_REALTIME="true",
            SIMULATOR_SEED=str(7 + self.phase),
            SIMULATOR_START_TS=str(self.event_ts),
            SIMULATOR_COUNT=str(PHASE_SLOTS),
            SIMULATOR_ANOMALY_LOG="/out/anomalies.jsonl",
            SIMULATOR_PROGRESS_S="2",
            # Spikes and drifts make alerts; nothing that repeats a (sensor, seq), sends a
            # reading beyond the allowed lateness or malformed (that is its own fault).
            SIMULATOR_SPIKE_RATE="0.004",
            SIMULATOR_DRIFT_RATE="0.001",
            SIMULATOR_STUCK_RATE="0.001",
            SIMULATOR_DROPOUT_RATE="0",
            SIMULATOR_OUT_OF_ORDER_RATE="0.002",
            SIMULATOR_LATE_RATE="0",
            SIMULATOR_DUPLICATE_RATE="0",
            SIMULATOR_MALFORMED_RATE="0",
        )
        self.out_dir.chmod(0o755)
        name = self.containers.run(
            f"simulator-{self.phase}",
            self.images["simulator"].tag,
            env,
            volumes=(f"{log_dir}:/out",),
        )
        return name, log_dir / "anomalies.jsonl"

    def wait_streaming(self, at_least: int) -> None:
        """Until the readings topic grew by ``at_least`` records in this phase (mid-stream)."""
        target = self.produced + at_least
        _poll(
            f"{at_least} readings on the topic",
            lambda: _end_total(self.kafka.bootstrap, self.names["READINGS_TOPIC"]) >= target,
            120,
        )

    def finish_simulator(self, name: str, side_log: Path) -> int:
        """Wait for the simulator's exit; return the readings it reports as acknowledged."""
        code = self.containers.wait(name, timeout=300)
        assert code == 0, self.containers.logs(name)[-4000:]
        summary = json.loads(side_log.read_text().splitlines()[-1])
        assert summary["kind"] == "summary", summary
        assert summary["errors"] == 0 and summary["acked"] == summary["sent"], summary
        assert summary["readings"] == summary["sent"] == PHASE_SLOTS, summary
        last_ts = self.event_ts + (PHASE_SLOTS - 1) * 1000 // RATE
        self.produced += summary["acked"]
        self.sim_sent = summary["acked"]
        return last_ts

    def send_closers(self, last_ts: int) -> None:
        """One reading per partition far enough ahead to close every minute of the phase."""
        window_end = (last_ts // WINDOW_MS + 1) * WINDOW_MS
        ooo = int(self.env["WATERMARK_OUT_OF_ORDERNESS_MS"])
        ts = window_end + ooo + 1_000
        producer = KafkaProducer(bootstrap_servers=self.kafka.bootstrap, acks="all")
        try:
            futures = [
                producer.send(
                    self.names["READINGS_TOPIC"],
                    key=f"closer-{p}".encode(),
                    value=json.dumps(
                        {
                            "schema_version": 1,
                            "sensor_id": f"closer-{p}",
                            "site": "plant-z",
                            "ts": ts,
                            "temperature_c": 20.0,
                            "seq": self.phase,
                        }
                    ).encode(),
                    partition=p,
                )
                for p in range(self.partitions)
            ]
            producer.flush()
            for future in futures:
                future.get(timeout=30)
        finally:
            producer.close()
        self.produced += self.partitions
        self.closers_open = self.partitions  # the previous phase's closers are now closed
        self.event_ts = ts + 1_000

    def send_malformed(self, count: int) -> Counter[str]:
        """``count`` malformed messages, each unique (its key), of several kinds."""
        kinds: Counter[str] = Counter()
        producer = KafkaProducer(bootstrap_servers=self.kafka.bootstrap, acks="all", linger_ms=20)
        try:
            futures = []
            for i in range(count):
                kind, value = _malformed(i, self.event_ts)
                kinds[kind] += 1
                futures.append(
                    producer.send(
                        self.names["READINGS_TOPIC"], key=f"bad-{i}".encode(), value=value
                    )
                )
            producer.flush()
            for future in futures:
                future.get(timeout=60)
        finally:
            producer.close()
        self.produced += count
        return kinds

    # -- output ---------------------------------------------------------------------------

    def aggregated(self) -> int:
        """Readings reflected in the aggregates: the sum of ``count`` over every minute."""
        es = EsClient(self.es.url, timeout=10)
        index = self.indices["AGGREGATES_INDEX"]
        if not es.indices.exists(index=index):
            return 0
        es.indices.refresh(index=index)
        result = es.search(
            index=index, size=0, aggs={"n": {"sum": {"field": "count"}}}, track_total_hits=True
        )
        return int(result["aggregations"]["n"]["value"])

    def dead_letters(self) -> tuple[int, int, Counter[str]]:
        """(distinct dead letters by original key, records on the topic, reasons)."""
        records = read_topic(self.kafka.bootstrap, self.names["DEAD_LETTER_TOPIC"])
        reasons = Counter(json.loads(v or b"{}").get("reason", "") for _, v in records)
        return len({k for k, _ in records}), len(records), reasons

    def late(self) -> tuple[int, int]:
        """(distinct late readings by (sensor_id, seq), records on the late topic)."""
        records = read_topic(self.kafka.bootstrap, self.names["LATE_TOPIC"])
        distinct = {
            (d["sensor_id"], d["seq"]) for d in (json.loads(v or b"{}") for _, v in records)
        }
        return len(distinct), len(records)

    def alerts_in_es(self) -> dict[str, dict[str, Any]]:
        """Every alert document, by id."""
        es = EsClient(self.es.url, timeout=10)
        index = self.indices["ALERTS_INDEX"]
        if not es.indices.exists(index=index):
            return {}
        es.indices.refresh(index=index)
        hits = es.search(index=index, size=10_000, track_total_hits=True)["hits"]["hits"]
        return {h["_id"]: h["_source"] for h in hits}

    def alert_events(self) -> list[dict[str, Any]]:
        """Every event on the alerts topic."""
        return [
            json.loads(v or b"{}")
            for _, v in read_topic(self.kafka.bootstrap, self.names["ALERTS_TOPIC"])
        ]

    def aggregates_mismatch(self) -> tuple[dict[str, dict[str, Any]], str]:
        """(the aggregates topic's latest values by key, "" or how the index differs)."""
        return aggregates_mismatch(
            self.kafka.bootstrap,
            self.names["AGGREGATES_TOPIC"],
            self.es.url,
            self.indices["AGGREGATES_INDEX"],
        )


def _malformed(i: int, ts: int) -> tuple[str, bytes]:
    """The i-th malformed message: broken JSON, a missing field, a wrong type, and so on."""
    good = {
        "schema_version": 1,
        "sensor_id": f"bad-{i}",
        "site": "plant-x",
        "ts": ts,
        "temperature_c": 21.5,
        "seq": i,
    }
    kind = ("broken_json", "missing_field", "wrong_type", "unknown_version", "not_object")[i % 5]
    if kind == "broken_json":
        return kind, json.dumps(good)[: -(i % 7) - 2].encode()
    if kind == "missing_field":
        field_name = ("ts", "sensor_id", "temperature_c", "seq", "site")[(i // 5) % 5]
        return kind, json.dumps({k: v for k, v in good.items() if k != field_name}).encode()
    if kind == "wrong_type":
        wrong = {"temperature_c": f"hot-{i}", "ts": str(ts), "seq": 1.5, "sensor_id": i}
        name = list(wrong)[(i // 5) % len(wrong)]
        return kind, json.dumps(good | {name: wrong[name]}).encode()
    if kind == "unknown_version":
        return kind, json.dumps(good | {"schema_version": 99}).encode()
    return kind, f"bad-{i};21.5".encode() if i % 2 else json.dumps([i, 21.5]).encode()


def _alert_duplicates(docs: dict[str, dict[str, Any]]) -> list[str]:
    """Documents that duplicate an episode: an id not derived from its episode, or two
    episodes of one (sensor, rule) overlapping (the earlier one open, or resolved late)."""
    problems = [
        k for k, d in docs.items() if k != f"{d['sensor_id']}:{d['rule']}:{d['started_at']}"
    ]
    episodes: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for doc in docs.values():
        episodes.setdefault((doc["sensor_id"], doc["rule"]), []).append(doc)
    for found in episodes.values():
        found.sort(key=lambda d: d["started_at"])
        for earlier, later in itertools.pairwise(found):
            if earlier["status"] != "resolved" or earlier["resolved_at"] > later["started_at"]:
                problems.append(later["alert_id"])
    return problems


def _account(p: Pipeline, row: Row, input_done: float) -> None:
    """Wait for the pipeline to drain, then fill ``row`` and assert the accounting."""
    target = p.produced - p.closers_open
    seen: dict[str, Any] = {}

    def drained() -> bool:
        seen["aggregated"] = p.aggregated()
        seen["dead"] = p.dead_letters()[0]
        seen["late"] = p.late()[0]
        outputs = seen["aggregated"] + seen["dead"] + seen["late"]
        if outputs < target:
            return False
        # alerts: the index holds the latest event of every alert on the topic (the
        # indexer caught up)
        latest = {e["alert_id"]: e for e in p.alert_events()}
        seen["alerts"] = (len(latest), len(in_es := p.alerts_in_es()))
        if latest != in_es:
            return False
        # aggregates: the index holds exactly the topic's latest value of every key
        _, mismatch = p.aggregates_mismatch()
        seen["aggregates"] = mismatch
        return not mismatch

    _poll(
        f"{row.fault}: the outputs accounting for {target} readings",
        drained,
        DRAIN_TIMEOUT_S,
        lambda: f"{seen}\n{p.logs()}",
    )
    row.drain_s = time.monotonic() - input_done
    row.produced = p.produced
    row.topic_total = _end_total(p.kafka.bootstrap, p.names["READINGS_TOPIC"])
    row.aggregated = p.aggregated()
    row.dead, row.dead_records, _ = p.dead_letters()
    row.late, row.late_records = p.late()
    row.open_closers = p.closers_open
    docs = p.alerts_in_es()
    events = p.alert_events()
    row.alerts = len(docs)
    latest = {e["alert_id"]: e for e in events}
    on_topic, mismatch = p.aggregates_mismatch()
    row.dup_es = len(_alert_duplicates(docs))
    keys = Counter((e["alert_id"], e["status"], e["updated_at"]) for e in events)
    row.dup_topic = sum(n - 1 for n in keys.values())
    row.restarts = p.failovers() - row.restarts

    # Kafka holds exactly what was acknowledged: no reading lost or written twice.
    assert row.topic_total == row.produced, row
    # Every reading is accounted for, once.
    assert row.produced == row.aggregated + row.dead + row.late + row.open_closers, row
    # The aggregates topic (keys = document ids) holds what the index holds.
    assert not mismatch, mismatch
    assert sum(a["count"] for a in on_topic.values()) == row.aggregated, row
    assert all(k == f"{a['sensor_id']}:{a['window_start']}" for k, a in on_topic.items())
    # The alerts index holds the latest event of every alert on the topic, nothing else.
    assert docs == latest, {k: (docs.get(k), latest.get(k)) for k in set(docs) ^ set(latest)}
    # No second document for one alert episode.
    assert row.dup_es == 0, _alert_duplicates(docs)
    # At-least-once on the topic: repeats must be identical events, and none is missing.
    by_status: dict[tuple[str, str], set[str]] = {}
    for e in events:
        by_status.setdefault((e["alert_id"], e["status"]), set()).add(json.dumps(e, sort_keys=True))
    conflicting = {k: v for k, v in by_status.items() if len(v) > 1}
    assert not conflicting, conflicting
    for alert_id, doc in docs.items():
        assert (alert_id, doc["status"]) in by_status, (alert_id, doc)
    assert p.running(), p.logs()


def _fault_phase(
    p: Pipeline, name: str, fault: Callable[[], float], mid_stream: bool = True
) -> Row:
    """A simulator run with ``fault`` in its middle, closers, then the accounting."""
    row = Row(name)
    sim, side_log = p.start_simulator()
    if mid_stream:
        p.wait_streaming(PHASE_SLOTS // 4)
    row.restarts = p.failovers()  # before the fault; _account makes it this phase's count
    row.to_running_s = fault()
    last_ts = p.finish_simulator(sim, side_log)
    p.send_closers(last_ts)
    _account(p, row, time.monotonic())
    p.phase += 1
    return row


def test_faults_with_accounting(
    app_images: engine.AppImages,
    containers: engine.Containers,
    service_stack: Stack,
    tmp_path: Path,
) -> None:
    work = service_stack.run_dir / f"faults-{uuid.uuid4().hex[:6]}"
    work.mkdir()
    work.chmod(0o755)
    # The images build in threads; the services start in this thread, because the harness
    # ties each server's life to the thread that started it (Linux parent-death signal).
    with ThreadPoolExecutor(2) as pool:
        images_f = [
            pool.submit(app_images.__getitem__, app) for app in ("alerts", "simulator", "dashboard")
        ]
        kafka = kafka_mod.start_zookeeper_mode(work / "kafka")
        try:
            es = es_mod.start(work / "elasticsearch")
        except BaseException:
            kafka.stop()
            raise
        try:
            for f in images_f:
                f.result()
        except BaseException:
            kafka.stop()
            es.stop()
            raise
    try:
        p = Pipeline(kafka, es, containers, app_images, tmp_path)
        p.create_topics()
        apply_index_templates(es.url, p.indices["ALERTS_INDEX"], p.indices["AGGREGATES_INDEX"])
        p.start_indexer()
        p.start_flink_and_submit()
        rows, outage = _run_faults(p)
    finally:
        kafka.stop()
        es.stop()

    table = "\n".join([HEADER, *(_line(r) for r in rows)])
    notes = [
        f"dead-letter records on the topic: {[r.dead_records for r in rows]} "
        f"(distinct: {[r.dead for r in rows]}); late records: {[r.late_records for r in rows]}",
        f"readings/s {RATE}, sensors per phase {SENSORS}, {PHASE_SLOTS} readings per phase, "
        f"{p.partitions} partitions; 'open' = closers of the last phase (minute still open)",
        "produced .. dup topic are cumulative; restarts = job failovers during the phase; "
        "to RUNNING = from the service back (taskmanager: from the kill) to every task "
        "RUNNING; drain = from the last input to the accounting holding",
        outage,
    ]
    text = table + "\n" + "\n".join(notes) + "\n"
    print("\n" + text)
    (tmp_path / "faults.txt").write_text(text)


def _run_faults(p: Pipeline) -> tuple[list[Row], str]:
    """The four faults; returns their rows and what the indexer's /healthz said during the
    Elasticsearch outage."""
    rows: list[Row] = []
    assert p.indexer is not None
    indexer = p.indexer

    def kafka_restart() -> float:
        p.kafka.restart_broker()
        return p.wait_running()

    rows.append(_fault_phase(p, "kafka broker restart", kafka_restart))

    def kill_taskmanager() -> float:
        before = p.failovers()
        engine.docker("kill", p.tm)
        killed = time.monotonic()
        p.start_taskmanager()  # a replacement, as an orchestrator would start one
        # The JobManager has to notice first (until then the job still reads RUNNING).
        _poll(
            "the job failing over",
            lambda: p.failovers() > before or not p.running(),
            RUNNING_TIMEOUT_S,
            p.logs,
        )
        p.wait_running()
        return time.monotonic() - killed

    rows.append(_fault_phase(p, "taskmanager killed", kill_taskmanager))

    watch = HealthWatch(indexer.health_url)
    window: dict[str, float] = {}
    failures: dict[str, int] = {}  # the indexer's "bulk request failed" log lines so far

    def bulk_failures() -> int:
        return p.containers.logs(indexer.container).count(BULK_FAILED)

    def es_outage() -> float:
        failures["before"] = bulk_failures()
        window["stopped"] = time.monotonic()
        p.es.stop()
        time.sleep(ES_DOWN_S)  # the fault itself: Elasticsearch away for this long
        failures["during"] = bulk_failures() - failures["before"]
        p.es.start_again()
        back = time.monotonic()
        window["back"] = back
        p.wait_running()
        return time.monotonic() - back

    try:
        rows.append(_fault_phase(p, f"elasticsearch {ES_DOWN_S:.0f}s down", es_outage))
    finally:
        watch.stop()
    outage = _check_outage(p, indexer, watch, window, failures["during"])

    reasons: Counter[str] = Counter()

    def malformed() -> float:
        kinds = p.send_malformed(MALFORMED)
        assert len(kinds) == 5, kinds
        return p.wait_running()

    rows.append(_fault_phase(p, f"{MALFORMED} malformed", malformed))
    _, _, reasons = p.dead_letters()
    # Several distinct reasons, each named: the dead letters say why.
    assert len(reasons) >= 8 and "" not in reasons, reasons
    assert sum(reasons.values()) >= MALFORMED, reasons
    return rows, outage


def _check_outage(
    p: Pipeline,
    indexer: RunningIndexer,
    watch: HealthWatch,
    window: dict[str, float],
    failed_bulks: int,
) -> str:
    """What the indexer's /healthz said while Elasticsearch was away, checked; a note line.

    Throughout, the indexer is alive (200, "ok": it waits, it does not stall or exit); if it
    failed a bulk request in the outage (its log says so) it reported Elasticsearch "down"
    until a bulk request went through again; after the phase it reports "up", lag 0, and
    Docker still finds it healthy by its described health check.
    """
    during = watch.between(window["stopped"], window["back"])
    after = watch.between(window["back"], float("inf"))
    assert during, f"no /healthz answer during the outage: {watch.errors[-5:]}"
    assert all(code == 200 and b["status"] == "ok" for code, b in during + after), [
        (code, b) for code, b in during + after if code != 200 or b["status"] != "ok"
    ]
    states = [b["elasticsearch"] for _, b in during]
    if failed_bulks:
        # It logs the failure when it turns "down", before its next /healthz answer.
        assert "down" in states, (states, p.containers.logs(indexer.container)[-3000:])

    # (its lag is refreshed every second, so it may trail the accounting by a moment)
    def up_and_idle() -> bool:
        code, body = _health(indexer.health_url)
        return code == 200 and body["elasticsearch"] == "up" and body["lag"] == 0

    _poll(
        "the indexer reporting Elasticsearch up and lag 0",
        up_and_idle,
        30,
        lambda: p.containers.logs(indexer.container)[-3000:],
    )
    assert p.containers.state(indexer.container)["Health"]["Status"] == "healthy"  # type: ignore[index]
    counts = Counter(states)
    return (
        f"indexer /healthz during the {ES_DOWN_S:.0f} s outage: {len(during)} answers, all "
        f"200 ok; elasticsearch {dict(counts)} "
        f"({failed_bulks} failed bulk request(s) logged in the outage); "
        f"after: up, lag 0, container healthy"
    )
