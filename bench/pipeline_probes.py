"""Measuring helpers for bench/pipeline_bench.py: lag, latency probes, memory, trends."""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition

PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20


def http_json(url: str, body: dict[str, Any] | None = None, timeout: float = 10) -> Any:
    """GET (or POST ``body`` as JSON to) ``url`` and decode the JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.load(resp)


class EndOffsets:
    """The total number of messages ever written to a topic (sum of its end offsets)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._consumer = KafkaConsumer(bootstrap_servers=bootstrap)
        parts = self._consumer.partitions_for_topic(topic) or set()
        self._parts = [TopicPartition(topic, p) for p in sorted(parts)]

    def total(self) -> int:
        """Sum of the end offsets now."""
        return sum(self._consumer.end_offsets(self._parts).values())

    def close(self) -> None:
        """Close the consumer."""
        self._consumer.close()


# The vertex of alerts.sql_rules' per-reading stage: the process table function SENSOR_RULES
# (the job's only one), which every on-time valid reading enters.
RULES_VERTEX = "ProcessTableFunction["


def rules_stage_reads(job: dict[str, Any]) -> list[tuple[int, int]]:
    """``(id, read-records)`` of a job's ``ProcessTableFunction[<id>] -> ...`` vertices
    (``job``: the REST API's ``/jobs/<id>``), in plan order: alerts.sql_rules' per-reading
    stage, ``SENSOR_RULES``."""
    return sorted(
        (int(v["name"].split("[", 1)[1].split("]", 1)[0]), int(v["metrics"]["read-records"]))
        for v in job["vertices"] if v["name"].startswith(RULES_VERTEX))


class JobLag:
    """The alerts job's backlog, from Flink's REST metrics.

    Two parts: ``pending`` is the Kafka lag, the largest ``pendingRecords`` of the job's
    Kafka sources (one since the validation's move to the JVM; the Python-rules job read
    the topic twice); ``in_flight`` is what left one task and has not yet entered the next
    (the sum over the job's edges of upstream ``write-records`` minus downstream
    ``read-records``), i.e. records queued in Flink's network buffers, where a backlog also
    waits once a stage is the bottleneck and backpressure holds the source.
    """

    def __init__(self, rest_url: str, job_id: str) -> None:
        self.rest_url = rest_url
        self.job_id = job_id
        self._sources: dict[str, str] = {}  # vertex id -> metric id of pendingRecords
        self._names: list[str] = []

    def _find_metrics(self) -> None:
        for vertex in http_json(f"{self.rest_url}/jobs/{self.job_id}")["vertices"]:
            if not vertex["name"].startswith("Source"):
                continue
            url = f"{self.rest_url}/jobs/{self.job_id}/vertices/{vertex['id']}/subtasks/metrics"
            for metric in http_json(url):
                if metric["id"].endswith("pendingRecords"):
                    self._sources[vertex["id"]] = metric["id"]

    def pending(self) -> int | None:
        """The slower source's pending records; None until the sources report them."""
        if not self._sources:
            self._find_metrics()
        values = []
        for vid, metric in self._sources.items():
            url = (
                f"{self.rest_url}/jobs/{self.job_id}/vertices/{vid}/subtasks/metrics?"
                + urllib.parse.urlencode({"get": metric, "agg": "sum"})
            )
            got = http_json(url)
            if got and "sum" in got[0]:
                values.append(int(float(got[0]["sum"])))
        return max(values) if values else None

    def in_flight(self) -> int:
        """Records between the job's tasks: written upstream, not yet read downstream.

        Only nodes whose every input vertex feeds that node alone: a vertex's
        ``write-records`` is the sum over all its outputs, so with the SQL rules' fan-out (one
        source feeding several rules stages) upstream minus downstream would count each
        record once per output, a "backlog" that grows with the input even when every task
        keeps up. A stage that falls behind still shows: backpressure then holds the source,
        and the Kafka lag (:meth:`pending`) grows.
        """
        job = http_json(f"{self.rest_url}/jobs/{self.job_id}")
        self._names = [v["name"][:50] for v in job["vertices"]]
        metrics = {v["id"]: v["metrics"] for v in job["vertices"]}
        fan_out: dict[str, int] = {}
        for node in job["plan"]["nodes"]:
            for i in node.get("inputs", []):
                fan_out[i["id"]] = fan_out.get(i["id"], 0) + 1
        total = 0
        for node in job["plan"]["nodes"]:
            inputs = node.get("inputs", [])
            if inputs and all(fan_out[i["id"]] == 1 for i in inputs):
                written = sum(int(metrics[i["id"]]["write-records"]) for i in inputs)
                total += max(0, written - int(metrics[node["id"]]["read-records"]))
        return total

    def rules_read(self) -> int:
        """Records that entered the SQL rules: read by their stage, the job's
        ``ProcessTableFunction[<id>]`` vertex (alerts.sql_rules' ``SENSOR_RULES``, every
        on-time valid reading). It looked for a Python rules task, gone since the rules
        moved to SQL, and so read 0."""
        stages = rules_stage_reads(http_json(f"{self.rest_url}/jobs/{self.job_id}"))
        return stages[0][1] if stages else 0

    def restarts(self) -> int:
        """How often the job has restarted (failovers reset the task metrics)."""
        got = http_json(f"{self.rest_url}/jobs/{self.job_id}/metrics?get=numRestarts")
        return int(float(got[0]["value"])) if got else 0

    def root_exception(self) -> str:
        """The first lines of the job's latest failure, if any."""
        got = http_json(f"{self.rest_url}/jobs/{self.job_id}/exceptions?maxExceptions=1")
        # Flink 2 reports failures only as exceptionHistory entries (no root-exception).
        entries = got.get("exceptionHistory", {}).get("entries") or []
        newest = max(entries, key=lambda e: e.get("timestamp") or 0) if entries else {}
        text = str(newest.get("stacktrace") or "")
        return "\n".join(text.splitlines()[:6])

    def backlog(self) -> tuple[int, int]:
        """(Kafka lag of the slower source, records in flight inside the job)."""
        return self.pending() or 0, self.in_flight()

    def describe(self) -> str:
        """The vertices and the metrics used, for the log."""
        return f"vertices: {self._names}; lag metrics: {sorted(set(self._sources.values()))}"


def slope(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares slope of y over x and its standard error (0, inf if undetermined)."""
    if len(points) < 3:
        return 0.0, math.inf
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    if not den:
        return 0.0, math.inf
    b = sum((x - mx) * (y - my) for x, y in points) / den
    residuals = sum((y - (my + b * (x - mx))) ** 2 for x, y in points)
    return b, math.sqrt(residuals / (len(points) - 2) / den)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class SseWatch:
    """Reads the dashboard's SSE stream in the background; records when each alert_id shows."""

    def __init__(self, url: str) -> None:
        self.seen: dict[str, float] = {}
        self._resp = urllib.request.urlopen(url, timeout=600)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        event = ""
        try:
            for raw in self._resp:
                line = raw.decode().rstrip("\r\n")
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event == "alert":
                    try:
                        alert_id = json.loads(line[5:])["alert_id"]
                    except (ValueError, KeyError, TypeError):
                        continue
                    self.seen.setdefault(alert_id, time.time())
                elif not line:
                    event = ""
        except (OSError, ValueError, AttributeError):
            pass  # closed (from another thread) at the end of the run

    def close(self) -> None:
        """Stop reading."""
        self._resp.close()


def searchable(es_url: str, index: str, doc_id: str) -> bool:
    """True when a search (not a realtime get) finds the document."""
    try:
        got = http_json(
            f"{es_url}/{index}/_search", {"query": {"ids": {"values": [doc_id]}}, "size": 1}
        )
    except OSError:
        return False  # the index is created by the first write
    return bool(got["hits"]["hits"])


@dataclass
class Memory:
    """Peak resident memory per component (MiB) and the peak of their simultaneous total."""

    peak: dict[str, float] = field(default_factory=dict)
    peak_total: float = 0.0

    def add(self, sample: dict[str, float]) -> None:
        """Fold one simultaneous sample in."""
        for name, mb in sample.items():
            self.peak[name] = max(self.peak.get(name, 0.0), mb)
        self.peak_total = max(self.peak_total, sum(sample.values()))


def _rss_of(pids: list[int]) -> float:
    pages = 0
    for pid in pids:
        try:
            pages += int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
    return pages * PAGE_MB


def container_rss_mb(name: str) -> float:
    """Resident memory of every process in a container (as ``docker top`` lists them)."""
    done = subprocess.run(
        ["docker", "top", name, "-eo", "pid"], capture_output=True, text=True, timeout=30
    )
    if done.returncode != 0:
        return 0.0  # the container is gone (a one-shot that finished)
    pids = [int(tok) for tok in done.stdout.split()[1:] if tok.isdigit()]
    return _rss_of(pids)
