"""The indexer's main loop: Kafka batch -> Elasticsearch bulk -> dead letters -> commit.

One thread owns the Kafka consumer, the dead-letter producer and the Elasticsearch client; a
second one only serves GET /healthz from numbers the main loop publishes. INDEXER.md describes
every boundary; the comments here say why the code is shaped the way it is.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

from elasticsearch import Elasticsearch
from elasticsearch import exceptions as es_errors
from elasticsearch.helpers import streaming_bulk
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import (
    CommitFailedError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    NoBrokersAvailable,
)
from kafka.structs import OffsetAndMetadata

from .config import Config

log = logging.getLogger("indexer")

ALIVE_WINDOW_S = 60.0  # /healthz answers 503 when the loop neither progressed nor waited so long
BACKOFF_FIRST_S = 0.5  # first wait after a failed attempt; doubles per failure...
BACKOFF_CAP_S = 8.0  # ...up to this
POLL_SLICE_MS = 250  # while waiting, poll() at least this often so the group membership holds
ES_TIMEOUT_S = 30.0  # one bulk request
DLQ_TIMEOUT_S = 30.0  # dead letters of one batch acknowledged by Kafka (acks=all)
COMMIT_TIMEOUT_MS = 30_000  # without one kafka-python retries a commit forever
LAG_REFRESH_S = 1.0
MAX_ID_BYTES = 512  # Elasticsearch refuses longer _ids for the whole bulk request, not per item
# Per-item errors that say nothing about the document: retried like a 429/5xx.
RETRYABLE_ERROR_TYPES = frozenset({
    "index_not_found_exception",  # index not created yet (auto-create off): wait for it
    "cluster_block_exception",  # read-only block (disk flood stage): wait for it to lift
    "es_rejected_execution_exception",
    "circuit_breaking_exception",
    "unavailable_shards_exception",
    "process_cluster_event_timeout_exception",
})

ES = "es"  # still to be sent to Elasticsearch
DLQ = "dlq"  # still to be written to the dead-letter topic
DONE = "done"

# A dead letter carries at most this many characters of the original record, as the alerts
# job's do (docs/contracts.md, "Dead-letter record"): at most 12 bytes per character in JSON,
# so a letter always fits Kafka's 1 MiB limit, whatever the record was.
MAX_PAYLOAD_CHARS = 32768


def dead_letter_value(
    reason: str | None, value: bytes | None, topic: str, failed_at: int
) -> dict[str, Any]:
    """The dead-letter record of docs/contracts.md for one record Elasticsearch refused or
    the indexer could not read: the payload as text (UTF-8, invalid bytes replaced), cut to
    its first MAX_PAYLOAD_CHARS characters, with the original length."""
    if value is None:
        return {"reason": reason, "payload": None, "payload_truncated": False,
                "payload_chars": None, "source_topic": topic, "failed_at": failed_at}
    text = value.decode("utf-8", errors="replace")
    return {"reason": reason, "payload": text[:MAX_PAYLOAD_CHARS],
            "payload_truncated": len(text) > MAX_PAYLOAD_CHARS, "payload_chars": len(text),
            "source_topic": topic, "failed_at": failed_at}


@dataclass
class Item:
    """One consumed record and what is left to do for it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    action: dict[str, Any] | None = None
    reason: str | None = None
    state: str = ES
    failed_at: int = 0


@dataclass
class Batch:
    """Records of one poll round; committed as a whole once every item is DONE."""

    items: list[Item]
    offsets: dict[TopicPartition, int]  # next offset to commit per partition
    superseded: int = 0
    retry_why: str | None = None
    attempts: int = 0
    started: float = field(default_factory=time.monotonic)

    def pending(self, state: str) -> list[Item]:
        return [it for it in self.items if it.state == state]


def _now_ms() -> int:
    return int(time.time() * 1000)


def _json_object(value: bytes) -> tuple[dict[str, Any] | None, str]:
    """The value parsed as a JSON object and the text to index, or (None, "")."""
    try:
        text = value.decode("utf-8")
        parsed = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        return None, ""
    if not isinstance(parsed, dict):
        return None, ""
    # The bulk body is NDJSON: the raw text is sent as the source (no re-serialisation) unless
    # it spans lines.
    if "\n" in text or "\r" in text:
        text = json.dumps(parsed, separators=(",", ":"), ensure_ascii=False)
    return parsed, text


def _id_problem(doc_id: str, what: str) -> str | None:
    if not doc_id:
        return f"{what} is empty"
    if len(doc_id.encode("utf-8")) > MAX_ID_BYTES:
        return f"{what} is longer than {MAX_ID_BYTES} bytes"
    return None


def plan(cfg: Config, item: Item) -> None:
    """Set the item's bulk action, or its dead-letter reason when the record is malformed."""
    if item.topic == cfg.aggregates_topic:
        if item.key is None:
            item.reason = "missing record key (the document id <sensor_id>:<window_start>)"
        else:
            try:
                doc_id = item.key.decode("utf-8")
            except UnicodeDecodeError:
                doc_id, item.reason = "", "record key is not UTF-8"
            item.reason = item.reason or _id_problem(doc_id, "record key")
            if item.reason is None:
                if item.value is None:
                    item.action = {"_op_type": "delete", "_index": cfg.aggregates_index,
                                   "_id": doc_id}
                else:
                    parsed, text = _json_object(item.value)
                    if parsed is None:
                        item.reason = "not a JSON object"
                    else:
                        item.action = {"_op_type": "index", "_index": cfg.aggregates_index,
                                       "_id": doc_id, "_source": text}
    else:  # the alerts topic
        if item.value is None:
            item.reason = "null value (tombstone): alerts are updated, never deleted"
        else:
            parsed, text = _json_object(item.value)
            if parsed is None:
                item.reason = "not a JSON object"
            elif "alert_id" not in parsed:
                item.reason = "missing field 'alert_id'"
            elif not isinstance(parsed["alert_id"], str):
                item.reason = "field 'alert_id' is not a string"
            else:
                item.reason = _id_problem(parsed["alert_id"], "field 'alert_id'")
                if item.reason is None:
                    item.action = {"_op_type": "index", "_index": cfg.alerts_index,
                                   "_id": parsed["alert_id"], "_source": text}
    if item.reason is not None:
        item.state, item.failed_at = DLQ, _now_ms()


def make_batch(cfg: Config, records: Iterable[Any]) -> Batch:
    """Plan every record; of several actions on one document only the last is sent.

    Records of one document id are in one partition, in order, so the last one is the state
    the document must end in; sending only it keeps a per-item retry from reordering writes.
    """
    items: list[Item] = []
    offsets: dict[TopicPartition, int] = {}
    for r in records:
        item = Item(r.topic, r.partition, r.offset, r.key, r.value)
        plan(cfg, item)
        items.append(item)
        tp = TopicPartition(r.topic, r.partition)
        offsets[tp] = max(offsets.get(tp, 0), r.offset + 1)
    batch = Batch(items, offsets)
    last: dict[tuple[str, str], Item] = {}
    for item in items:
        if item.action is not None:
            doc = (item.action["_index"], item.action["_id"])
            earlier = last.get(doc)
            if earlier is not None:
                earlier.state = DONE
                batch.superseded += 1
            last[doc] = item
    return batch


def rejection(op: str, info: dict[str, Any]) -> tuple[str, str | None]:
    """Classify one bulk item result: (DONE, None) | (ES = retry, why) | (DLQ, reason)."""
    status = int(info.get("status", 500))
    error = info.get("error")
    if isinstance(error, dict):
        etype, ereason = str(error.get("type", "unknown")), str(error.get("reason", ""))
    else:
        etype, ereason = "unknown", str(error or "")
    if 200 <= status < 300:
        return DONE, None
    if op == "delete" and status == 404:
        return DONE, None  # nothing to delete (document or whole index missing): same end state
    if status == 429 or status >= 500 or etype in RETRYABLE_ERROR_TYPES:
        return ES, f"{status} {etype}: {ereason}"  # why it is retried, for the log
    return DLQ, f"elasticsearch rejected: {etype}: {ereason}"


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, indexer: Indexer) -> None:
        self.indexer = indexer

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.indexer.on_revoked(set(revoked))

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.indexer.on_assigned(set(assigned))


class Indexer:
    """The service; `run()` returns the process exit code."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.stopping = threading.Event()
        self.consumer: Any = None
        self.producer: Any = None
        self.es: Elasticsearch | None = None
        self.batch: Batch | None = None
        self.carry: list[Any] = []
        self.generation = 0  # bumped on every rebalance: records polled before it are stale
        self.paused = False
        self.backoff = BACKOFF_FIRST_S
        self.committed: dict[TopicPartition, int] = {}
        self._ends: dict[TopicPartition, int] = {}
        # Published for /healthz (read by the HTTP thread; plain assignments are atomic).
        self.last_alive = time.monotonic()
        self.es_state = "up"
        self._bulk_failing = False  # for logging the start and end of an outage once
        self.lag = 0
        self.docs_per_s = 0.0
        # Counters and their samples for rates.
        self.docs_total = 0
        self.dead_total = 0
        self._rate_samples: deque[tuple[float, int]] = deque(maxlen=64)
        self._next_lag = 0.0
        self._next_log = time.monotonic() + cfg.log_interval_s
        self._logged = (time.monotonic(), 0, 0)
        self._http: ThreadingHTTPServer | None = None

    # ---- health -------------------------------------------------------------------------

    def alive(self) -> None:
        self.last_alive = time.monotonic()

    def health(self) -> tuple[int, dict[str, Any]]:
        """HTTP status and body of GET /healthz."""
        ok = time.monotonic() - self.last_alive <= ALIVE_WINDOW_S and not self.stopping.is_set()
        body = {"status": "ok" if ok else "stalled", "elasticsearch": self.es_state,
                "lag": int(self.lag), "docs_per_s": round(self.docs_per_s, 1)}
        return (200 if ok else 503), body

    def start_health_server(self) -> None:
        indexer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server names it so
                if self.path.split("?", 1)[0] != "/healthz":
                    code, body = 404, {"error": "not found; GET /healthz"}
                else:
                    code, body = indexer.health()
                data = json.dumps(body).encode("utf-8")
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("healthz: " + format, *args)

        self._http = ThreadingHTTPServer((self.cfg.health_host, self.cfg.health_port), Handler)
        self._http.daemon_threads = True
        threading.Thread(target=self._http.serve_forever, name="healthz", daemon=True).start()

    # ---- clients ------------------------------------------------------------------------

    def _connect(self) -> bool:
        """Create the Kafka clients (the brokers may not be up yet); False when stopping."""
        servers = list(self.cfg.kafka_bootstrap_servers)
        while not self.stopping.is_set():
            try:
                self.producer = KafkaProducer(
                    bootstrap_servers=servers, client_id="iot-indexer-dlq", acks="all",
                    enable_idempotence=True, max_in_flight_requests_per_connection=1,
                    linger_ms=5, max_block_ms=10_000, request_timeout_ms=15_000,
                    delivery_timeout_ms=int(DLQ_TIMEOUT_S * 1000))
                self.consumer = KafkaConsumer(
                    bootstrap_servers=servers, client_id="iot-indexer", group_id=self.cfg.group_id,
                    enable_auto_commit=False, auto_offset_reset="earliest",
                    max_poll_records=self.cfg.batch_max)
                self.consumer.subscribe([self.cfg.alerts_topic, self.cfg.aggregates_topic],
                                        listener=_Listener(self))
                return True
            except (NoBrokersAvailable, KafkaConnectionError, KafkaTimeoutError) as exc:
                self._close_clients()
                log.warning("Kafka at %s not reachable (%s); retrying in %.1f s",
                            ",".join(servers), _describe(exc), self.backoff)
                self.alive()
                self.stopping.wait(self._next_backoff())
        return False

    def _close_clients(self) -> None:
        if self.consumer is not None:
            try:
                self.consumer.close(autocommit=False)
            except Exception as exc:  # closing is best effort
                log.warning("closing the consumer: %s: %s", type(exc).__name__, exc)
            self.consumer = None
        if self.producer is not None:
            try:
                self.producer.close(timeout=10)
            except Exception as exc:
                log.warning("closing the producer: %s: %s", type(exc).__name__, exc)
            self.producer = None

    # ---- rebalance ----------------------------------------------------------------------

    def on_revoked(self, revoked: set[TopicPartition]) -> None:
        self.generation += 1
        if self.batch is not None:
            log.warning("partitions revoked with an uncommitted batch of %d records: dropped; "
                        "they are read again from the committed offsets",
                        len(self.batch.items))
            self.batch = None
        self.carry = []
        for tp in revoked:
            self.committed.pop(tp, None)
            self._ends.pop(tp, None)

    def on_assigned(self, assigned: set[TopicPartition]) -> None:
        self.generation += 1
        log.info("assigned partitions: %s",
                 ", ".join(sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned)) or "none")

    # ---- the loop -----------------------------------------------------------------------

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        if self._http is None:
            self.start_health_server()
        log.info("indexer starting: %s -> %s (%s -> %s, %s -> %s), dead letters -> %s, "
                 "group %s, batch %d, flush %d ms, health on %s:%d",
                 ",".join(self.cfg.kafka_bootstrap_servers), self.cfg.redacted_url(),
                 self.cfg.alerts_topic, self.cfg.alerts_index, self.cfg.aggregates_topic,
                 self.cfg.aggregates_index, self.cfg.dead_letter_topic, self.cfg.group_id,
                 self.cfg.batch_max, self.cfg.flush_ms, self.cfg.health_host,
                 self.cfg.health_port)
        self.es = Elasticsearch(self.cfg.elasticsearch_url, request_timeout=ES_TIMEOUT_S,
                                max_retries=0, retry_on_timeout=False)
        self.es_state = "up" if _es_answers(self.es) else "down"
        try:
            if self._connect():
                self._loop()
        finally:
            if self.batch is not None:
                log.info("stopping: %d records of the in-flight batch not committed; they are "
                         "read again on the next start", len(self.batch.items))
            self._close_clients()
            self.es.close()
            if self._http is not None:
                self._http.shutdown()
                self._http.server_close()
            log.info("indexer stopped: %d documents written, %d records dead-lettered",
                     self.docs_total, self.dead_total)
        return 0

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        log.info("%s received: stopping", signal.Signals(signum).name)
        self.stopping.set()

    def _loop(self) -> None:
        while not self.stopping.is_set():
            self._tick()
            if self.batch is None:
                self.batch = self._fill()
                self.alive()
                if self.batch is None:
                    continue
            batch = self.batch
            if self._attempt(batch):
                if self.batch is batch:
                    self.batch = None
                self.backoff = BACKOFF_FIRST_S
                self.alive()
            elif not self.stopping.is_set():
                self._wait()

    def _fill(self) -> Batch | None:
        """Poll until the batch is full or INDEXER_FLUSH_MS passed; None when nothing came."""
        self._resume()
        records, self.carry = self.carry, []
        deadline = time.monotonic() + self.cfg.flush_ms / 1000
        while len(records) < self.cfg.batch_max and not self.stopping.is_set():
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                break
            generation = self.generation
            polled = self.consumer.poll(timeout_ms=remaining_ms,
                                        max_records=self.cfg.batch_max - len(records))
            if self.generation != generation:
                records = []  # a rebalance reset the positions to the committed offsets
            for recs in polled.values():
                records.extend(recs)
        if not records:
            return None
        return make_batch(self.cfg, records)

    def _wait(self) -> None:
        """Capped back-off with the partitions paused, polling so the group membership holds."""
        delay = self._next_backoff()
        if not self.paused and self.consumer.assignment():
            self.consumer.pause(*self.consumer.assignment())
            self.paused = True
        end = time.monotonic() + delay
        while not self.stopping.is_set() and self.batch is not None:
            remaining_ms = int((end - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                break
            generation = self.generation
            polled = self.consumer.poll(timeout_ms=min(POLL_SLICE_MS, remaining_ms))
            for recs in polled.values():
                # Only partitions assigned by a rebalance in this poll (unpaused) can deliver;
                # the rebalance dropped the batch, so these records start the next one.
                self.carry.extend(recs)
            if self.generation != generation and self.batch is not None:
                self.batch = None
            self.alive()
            self._tick()

    def _next_backoff(self) -> float:
        delay = self.backoff
        self.backoff = min(BACKOFF_CAP_S, self.backoff * 2)
        return delay

    def _resume(self) -> None:
        # Asks the consumer rather than trusting the flag: whatever is paused gets resumed.
        paused = self.consumer.paused()
        if paused:
            self.consumer.resume(*paused)
        self.paused = False

    # ---- one attempt at a batch ---------------------------------------------------------

    def _attempt(self, batch: Batch) -> bool:
        """Advance the batch as far as possible; True once its offsets are committed."""
        batch.attempts += 1
        if batch.pending(ES) and not self._bulk(batch):
            return False
        if batch.pending(DLQ) and not self._dead_letter(batch):
            return False
        retry = batch.pending(ES)
        if retry:
            log.warning("%d documents answered 429/5xx or a transient error by Elasticsearch "
                        "(e.g. %s); retrying them (attempt %d)", len(retry), batch.retry_why,
                        batch.attempts)
            return False
        if self.stopping.is_set():
            return False  # a stopping indexer does not commit; the batch is read again
        return self._commit(batch)

    def _bulk(self, batch: Batch) -> bool:
        """Send the pending documents; False when Elasticsearch failed the request as a whole."""
        assert self.es is not None
        pending = batch.pending(ES)
        actions = [it.action for it in pending if it.action is not None]
        assert len(actions) == len(pending)  # only items with an action are sent to ES
        try:
            results = streaming_bulk(
                self.es, actions, chunk_size=max(1, len(actions)), raise_on_error=False,
                raise_on_exception=True, max_retries=0, yield_ok=True)
            for item, (_ok, result) in zip(pending, results, strict=True):
                op, info = next(iter(result.items()))
                state, reason = rejection(op, info)
                item.state = state
                if state == DONE:
                    self.docs_total += 1
                elif state == DLQ:
                    item.reason, item.failed_at = reason, _now_ms()
                else:
                    batch.retry_why = reason
        # 8.x: ApiError (an HTTP error answer to the whole request) is no TransportError
        # (connection refused, timeout, unparsable answer); both mean "Elasticsearch down".
        except (es_errors.ApiError, es_errors.TransportError) as exc:
            if not self._bulk_failing:
                self._bulk_failing = True
                log.error("Elasticsearch at %s failed the bulk request (%s); keeping the batch "
                          "of %d records, partitions paused, retrying with back-off",
                          self.cfg.redacted_url(), _describe(exc), len(batch.items))
            self.es_state = "down"
            return False
        if self._bulk_failing:
            log.info("Elasticsearch at %s answers again; resuming", self.cfg.redacted_url())
        self._bulk_failing = False
        self.es_state = "up"
        return True

    def _dead_letter(self, batch: Batch) -> bool:
        """Write the batch's dead letters; True when Kafka acknowledged every one (acks=all)."""
        pending = batch.pending(DLQ)
        sent: list[tuple[Item, Any]] = []
        error: str | None = None
        for item in pending:
            letter = dead_letter_value(item.reason, item.value, item.topic, item.failed_at)
            try:
                future = self.producer.send(self.cfg.dead_letter_topic, key=item.key,
                                            value=json.dumps(letter).encode("utf-8"))
            except KafkaError as exc:
                error = _describe(exc)
                break
            sent.append((item, future))
        try:
            self.producer.flush(timeout=DLQ_TIMEOUT_S)
        except KafkaError as exc:
            error = error or _describe(exc)
        acked = 0
        for item, future in sent:
            try:
                future.get(timeout=0.001)
            except Exception as exc:  # any failure keeps the letter pending
                error = error or _describe(exc)
                continue
            item.state = DONE
            acked += 1
        self.dead_total += acked
        if acked:
            log.info("dead-lettered %d records to %s", acked, self.cfg.dead_letter_topic)
        if error is not None or acked != len(pending):
            log.error("writing %d dead letters to %s failed (%s); offsets not committed, "
                      "retrying with back-off", len(pending) - acked,
                      self.cfg.dead_letter_topic, error or "not acknowledged")
            return False
        return True

    def _commit(self, batch: Batch) -> bool:
        offsets = {tp: OffsetAndMetadata(off, "", -1) for tp, off in batch.offsets.items()}
        try:
            self.commit_offsets(offsets)
        except CommitFailedError as exc:
            log.warning("commit refused after a rebalance (%s); the batch's %d records are read "
                        "again and overwrite the same documents", _describe(exc),
                        len(batch.items))
            return True
        except KafkaError as exc:
            log.error("committing offsets failed (%s); retrying with back-off", _describe(exc))
            return False
        for tp, off in batch.offsets.items():
            self.committed[tp] = off
        return True

    def commit_offsets(self, offsets: dict[TopicPartition, Any]) -> None:
        """Commit synchronously (one seam, so a test can crash the process exactly here)."""
        self.consumer.commit(offsets, timeout_ms=COMMIT_TIMEOUT_MS)

    # ---- lag, rates, the periodic log line ----------------------------------------------

    def _tick(self) -> None:
        now = time.monotonic()
        if now >= self._next_lag:
            self._next_lag = now + LAG_REFRESH_S
            self._rate_samples.append((now, self.docs_total))
            old_t, old_docs = next((s for s in self._rate_samples if now - s[0] <= 10.5),
                                   self._rate_samples[-1])
            self.docs_per_s = (self.docs_total - old_docs) / (now - old_t) if now > old_t else 0.0
            self._refresh_lag()
        if now >= self._next_log:
            self._next_log = now + self.cfg.log_interval_s
            t0, docs0, dead0 = self._logged
            rate = (self.docs_total - docs0) / (now - t0) if now > t0 else 0.0
            log.info("lag %d, %.1f docs/s indexed, %d dead-lettered (last %.0f s); "
                     "elasticsearch %s", self.lag, rate, self.dead_total - dead0, now - t0,
                     self.es_state)
            self._logged = (now, self.docs_total, self.dead_total)

    def _refresh_lag(self) -> None:
        """Sum over assigned partitions of (log end offset - committed offset)."""
        assigned = list(self.consumer.assignment())
        if not assigned:
            self.lag = 0
            return
        ends: dict[TopicPartition, int] = {}
        for tp in assigned:
            high = self.consumer.highwater(tp)
            if high is not None:
                ends[tp] = high
        try:
            if self.paused or len(ends) < len(assigned):
                # While paused nothing is fetched, so the high watermarks go stale. The
                # fetcher's own call takes a timeout; the public one blocks for request_timeout.
                ends = self.consumer._fetcher.end_offsets(assigned, 2000)
            for tp, end in ends.items():
                # A high watermark is only as fresh as the last fetch (stale right after a
                # resume); end offsets never move backwards, so the largest one seen is right.
                self._ends[tp] = max(end, self._ends.get(tp, 0))
            lag = 0
            for tp in assigned:
                if tp not in self.committed:
                    got = self.consumer.committed(tp, timeout_ms=2000)
                    if got is None:
                        got = self.consumer._fetcher.beginning_offsets([tp], 2000)[tp]
                    self.committed[tp] = got
                lag += max(0, self._ends[tp] - self.committed[tp])
            self.lag = lag
        except (KafkaError, KeyError) as exc:
            log.debug("lag not refreshed: %s", _describe(exc))


def _es_answers(es: Elasticsearch) -> bool:
    """Whether Elasticsearch answers. Not ping() (HEAD /): Elasticsearch 8 serves / from its
    rest-root module, which a minimal distribution (the harness's integ-test zip) lacks."""
    try:
        es.cluster.health()
    except (es_errors.ApiError, es_errors.TransportError):
        return False
    return True


def _describe(exc: BaseException) -> str:
    text = str(exc)
    if len(text) > 300:
        text = text[:300] + "..."
    return f"{type(exc).__name__}: {text}"
