"""Dashboard benchmark: alerts API requests/s, and how many live (SSE) clients one process holds.

    /tmp/v-app/bin/python bench/dashboard_bench.py                  # starts ES + Kafka (harness)
    /tmp/v-app/bin/python bench/dashboard_bench.py --es-url http://127.0.0.1:9200 \
        --kafka 127.0.0.1:9092 --duration 10 --concurrency 8

The dashboard runs exactly as in its image (`python -m dashboard`: gunicorn, one process,
gthread). The load generator runs on the same machine and shares its CPUs, so the requests/s
are a floor for what the server alone could do. Prints tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import selectors
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "apps" / "dashboard" / "src"
sys.path[:0] = [str(SRC), str(REPO / "tests"), str(REPO / "infra")]

from dashboard.indices import ensure_index  # noqa: E402
from elasticsearch import Elasticsearch, helpers  # noqa: E402
from harness.procs import free_port, status_mib  # noqa: E402
from kafka import KafkaProducer  # noqa: E402
from kafka.admin import KafkaAdminClient, NewTopic  # noqa: E402

RULES = ("high_temperature", "low_temperature", "rate_of_change", "sensor_silent")


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


def seed(es_url: str, kafka: str, n_alerts: int) -> dict[str, str]:
    """Fresh indices filled with contract-shaped alerts, and a fresh topic."""
    es = Elasticsearch(es_url, request_timeout=60)
    suffix = uuid.uuid4().hex[:8]
    names = {"ALERTS_INDEX": f"bench-alerts-{suffix}",
             "AGGREGATES_INDEX": f"bench-readings-1m-{suffix}",
             "ALERTS_TOPIC": f"bench-alerts-{suffix}"}
    ensure_index(es, names["ALERTS_INDEX"], "alerts")
    ensure_index(es, names["AGGREGATES_INDEX"], "aggregates")
    now = int(time.time() * 1000)
    docs = []
    for i in range(n_alerts):
        started = now - i * 1000
        sensor = f"sensor-{i % 200:04d}"
        rule = RULES[i % 4]
        docs.append({"_index": names["ALERTS_INDEX"], "_id": f"{sensor}:{rule}:{started}",
                     "_source": {"alert_id": f"{sensor}:{rule}:{started}", "sensor_id": sensor,
                                 "site": f"plant-{'abc'[i % 3]}", "rule": rule,
                                 "severity": "critical" if i % 5 == 0 else "warning",
                                 "status": "open" if i % 3 else "resolved", "value": 81.0,
                                 "threshold": 80.0, "started_at": started, "resolved_at": None,
                                 "updated_at": started, "message": "bench"}})
    helpers.bulk(es, docs, refresh=True)
    admin = KafkaAdminClient(bootstrap_servers=kafka)
    admin.create_topics([NewTopic(names["ALERTS_TOPIC"], 1, 1)])
    admin.close()
    return names


class Server:
    """`python -m dashboard` on a free port, with its worker's memory readable."""

    def __init__(self, settings: dict[str, str]) -> None:
        self.port = free_port()
        env = {**os.environ, "PYTHONPATH": str(SRC), "DASHBOARD_LOG_LEVEL": "WARNING",
               "DASHBOARD_BIND": f"127.0.0.1:{self.port}", **settings}
        self.proc = subprocess.Popen([sys.executable, "-m", "dashboard"], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                body = self.get_json("/healthz")
                if body["kafka"]["live"]["state"] == "live":
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit("the dashboard did not become live within 60 s")
            time.sleep(0.2)

    def get_json(self, path: str) -> Any:
        """GET a JSON endpoint."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", path)
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def worker_rss_mib(self) -> float:
        """Resident memory of the gunicorn worker (the process that holds the clients)."""
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                rss = status_mib(int(pid), "VmRSS") if ppid == self.proc.pid else None
                if rss is not None:
                    return rss
            except (OSError, ValueError, IndexError):
                continue
        raise RuntimeError("gunicorn worker not found")

    def stop(self) -> None:
        """SIGTERM, as Docker does."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def load_test(port: int, path: str, concurrency: int, duration: float) -> dict[str, Any]:
    """Keep-alive clients hammering one path; requests/s and latency percentiles."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + duration

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        bad = 0
        while time.monotonic() < stop_at:
            t0 = time.perf_counter()
            try:
                conn.request("GET", path)
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    bad += 1
            except (OSError, http.client.HTTPException):
                bad += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                continue
            mine.append(time.perf_counter() - t0)
        conn.close()
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    latencies.sort()

    def pct(q: float) -> float:
        if not latencies:
            return float("nan")
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    return {"requests": len(latencies), "rps": len(latencies) / elapsed, "p50": pct(0.50),
            "p99": pct(0.99), "errors": errors[0]}


def open_streams(port: int, count: int) -> tuple[list[socket.socket], int, int]:
    """Open up to `count` SSE clients; returns (accepted sockets, refused, failed)."""
    accepted: list[socket.socket] = []
    refused = failed = 0
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"GET /stream/alerts HTTP/1.1\r\nHost: bench\r\n"
                  b"Accept: text/event-stream\r\n\r\n")
        data = b""
        try:
            while b"event: ready" not in data and b" 503 " not in data[:20]:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except TimeoutError:
            pass
        if b"event: ready" in data:
            accepted.append(s)
        else:
            refused += b" 503 " in data[:20]
            failed += b" 503 " not in data[:20]
            s.close()
    return accepted, refused, failed


def fan_out_latency(sockets: list[socket.socket], kafka: str, topic: str
                    ) -> tuple[float, float, int]:
    """Produce one alert; seconds until the median and the last client received it."""
    sel = selectors.DefaultSelector()
    for s in sockets:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, bytearray())
    producer = KafkaProducer(bootstrap_servers=kafka, acks="all")
    now = int(time.time() * 1000)
    alert = {"alert_id": f"bench:high_temperature:{now}", "sensor_id": "bench",
             "site": "plant-a", "rule": "high_temperature", "severity": "critical",
             "status": "open", "value": 90.0, "threshold": 80.0, "started_at": now,
             "resolved_at": None, "updated_at": now, "message": "fan-out"}
    t0 = time.perf_counter()
    producer.send(topic, key=b"bench", value=json.dumps(alert).encode()).get(timeout=30)
    producer.close()
    arrivals: list[float] = []
    waiting = len(sockets)
    deadline = time.monotonic() + 30
    while waiting and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                chunk = sock.recv(65536)
            except BlockingIOError:
                continue
            buf: bytearray = key.data
            buf += chunk
            if b"event: alert" in buf:
                arrivals.append(time.perf_counter() - t0)
                sel.unregister(sock)
                waiting -= 1
    sel.close()
    if not arrivals:
        return float("nan"), float("nan"), 0
    return statistics.median(arrivals), max(arrivals), len(arrivals)


def close_all(sockets: list[socket.socket]) -> None:
    """Hang up every client."""
    for s in sockets:
        s.close()


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
    """Run both benchmarks and print their tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--es-url", help="Elasticsearch URL (default: start one)")
    parser.add_argument("--kafka", help="Kafka bootstrap host:port (default: start one)")
    parser.add_argument("--alerts", type=int, default=5000, help="alerts to index")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per API run")
    parser.add_argument("--concurrency", type=int, default=8, help="API clients")
    parser.add_argument("--big-threads", type=int, default=1024,
                        help="DASHBOARD_THREADS of the high-capacity configuration")
    args = parser.parse_args(argv)

    with services(args) as (es_url, kafka):
        names = seed(es_url, kafka, args.alerts)
        base = {"ELASTICSEARCH_URL": es_url, "KAFKA_BOOTSTRAP_SERVERS": kafka, **names}
        api_rows: list[list[Any]] = []
        sse_rows: list[list[Any]] = []
        configs = [("default", {}, 64), ("big", {"DASHBOARD_THREADS": str(args.big_threads),
                                                  "DASHBOARD_MAX_STREAMS":
                                                  str(args.big_threads - 24)},
                                         args.big_threads)]
        for label, extra, threads in configs:
            server = Server({**base, **extra})
            try:
                limit = server.get_json("/healthz")["streams"]["limit"]
                idle_rss = server.worker_rss_mib()
                # Warm both the app and Elasticsearch's caches before measuring anything.
                load_test(server.port, "/api/alerts?size=50", args.concurrency, 3.0)
                if label == "default":
                    for path in ("/api/alerts?size=50", "/api/alerts?severity=critical&size=10",
                                 "/api/alerts/summary", "/healthz"):
                        r = load_test(server.port, path, args.concurrency, args.duration)
                        api_rows.append([path, args.concurrency, r["requests"], r["rps"],
                                         r["p50"], r["p99"], r["errors"]])
                attempt = limit + 16
                t0 = time.monotonic()
                held, refused, failed = open_streams(server.port, attempt)
                open_s = time.monotonic() - t0
                rss = server.worker_rss_mib()
                busy = load_test(server.port, "/api/alerts?size=50", args.concurrency,
                                 args.duration / 2)
                api_rows.append([f"/api/alerts?size=50 while {len(held)} streams open",
                                 args.concurrency, busy["requests"], busy["rps"], busy["p50"],
                                 busy["p99"], busy["errors"]])
                median_s, max_s, got = fan_out_latency(held, kafka, names["ALERTS_TOPIC"])
                sse_rows.append([f"{label} (threads {threads}, limit {limit})", attempt,
                                 len(held), refused, failed, open_s, idle_rss, rss,
                                 (rss - idle_rss) * 1024 / max(1, len(held)),
                                 f"{got}/{len(held)}", median_s * 1000, max_s * 1000])
                close_all(held)
            finally:
                server.stop()
        es = Elasticsearch(es_url)
        es.indices.delete(index=[names["ALERTS_INDEX"], names["AGGREGATES_INDEX"]],
                          ignore_unavailable=True)

    print()
    print(table(f"Alerts API, one gunicorn process (gthread), {args.alerts} alerts indexed, "
                f"{args.duration:.0f} s per row",
                ["endpoint", "clients", "requests", "req/s", "p50 ms", "p99 ms", "errors"],
                api_rows))
    print()
    print(table("Concurrent SSE clients held by one process (clients beyond the limit get 503)",
                ["configuration", "tried", "held", "503", "failed", "open s", "idle RSS MiB",
                 "RSS MiB", "KiB/client", "got alert", "fan-out p50 ms", "fan-out max ms"],
                sse_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
