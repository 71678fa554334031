"""Live alert events: one Kafka reader per process fans the alerts topic out to SSE clients.

Each client carries a position (Kafka partition -> next offset) as its SSE event id. A client
that reconnects with Last-Event-ID resumes from that position: from the in-memory buffer when
it still holds those events, otherwise by reading the gap straight from Kafka, and if Kafka has
deleted them, by telling the browser to reload its state from Elasticsearch (`reset`).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from kafka import KafkaConsumer, TopicPartition

from .alerts import parse_alert
from .sse import Position

log = logging.getLogger(__name__)


def tcp_reachable(servers: tuple[str, ...], timeout: float = 1.0) -> tuple[bool, str]:
    """Whether any host:port accepts a TCP connection, with a reason either way."""
    errors = []
    for server in servers:
        host, _, port = server.rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
                return True, f"{server} accepts connections"
        except OSError as exc:
            errors.append(f"{server}: {exc.strerror or exc}")
    return False, "; ".join(errors)


@dataclass(frozen=True)
class Message:
    """One thing to tell a live client: kind is ready, alert, reset or status."""

    kind: str
    data: dict[str, Any]
    position: Position | None = None


class LiveSource(Protocol):
    """Where the stream blueprint gets messages from (Kafka in production, a list in tests)."""

    def messages(self, since: Position | None, wait_s: float) -> Iterator[Message | None]:
        """Yield messages after `since`; yield None after `wait_s` idle seconds (keep-alive)."""
        ...

    def current_position(self) -> Position | None:
        """The position a page rendered now should resume from, or None if not known yet."""
        ...

    def status(self) -> dict[str, Any]:
        """A JSON-able summary for the health endpoint."""
        ...


@dataclass(frozen=True)
class _Event:
    seq: int
    partition: int
    offset: int
    alert: dict[str, Any]


@dataclass
class _HubState:
    buffer: deque[_Event] = field(default_factory=deque)
    # Per partition: the lowest offset from which the buffer holds every (valid) event.
    buffer_start: dict[int, int] = field(default_factory=dict)
    position: dict[int, int] = field(default_factory=dict)
    seq: int = 0
    ready: bool = False
    state: str = "starting"
    error: str | None = None
    malformed: int = 0
    last_malformed: str | None = None
    epoch: int = 0  # bumped whenever `ready`/`state` changes, so clients can report it


@dataclass
class _Work:
    """The next step for one subscriber, decided under the hub's lock."""

    pending: list[_Event] = field(default_factory=list)
    next_seq: int = 0
    idle: bool = False
    ahead: dict[int, int] = field(default_factory=dict)
    gaps: dict[int, tuple[int, int]] = field(default_factory=dict)


class KafkaHub:
    """Reads the alerts topic in one background thread and serves resumable subscriptions."""

    def __init__(self, bootstrap: tuple[str, ...], topic: str, buffer_events: int,
                 catchup_limit: int = 10_000) -> None:
        self._bootstrap = list(bootstrap)
        self._topic = topic
        self._capacity = buffer_events
        self._catchup_limit = catchup_limit
        self._cond = threading.Condition()
        self._s = _HubState()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._catchups = threading.BoundedSemaphore(2)  # gap reads are rare; cap their cost
        self._api_version: tuple[int, ...] | None = None
        self._initialized = False

    # --- lifecycle ---------------------------------------------------------------
    def start(self) -> None:
        """Start the reader thread once (lazily, so importing or testing the app is cheap)."""
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="alerts-hub", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        """Stop the reader thread and wake every waiting client."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def _set_state(self, state: str, ready: bool, error: str | None = None) -> None:
        with self._cond:
            if (self._s.state, self._s.ready, self._s.error) != (state, ready, error):
                self._s.state, self._s.ready, self._s.error = state, ready, error
                self._s.epoch += 1
                self._cond.notify_all()

    def _consumer(self) -> KafkaConsumer:
        kwargs: dict[str, Any] = {}
        if self._api_version is not None:
            kwargs["api_version"] = self._api_version
        return KafkaConsumer(
            bootstrap_servers=self._bootstrap, group_id=None, enable_auto_commit=False,
            client_id="iot-dashboard", request_timeout_ms=15_000,
            api_version_auto_timeout_ms=5_000, **kwargs)

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            consumer: KafkaConsumer | None = None
            try:
                reachable, detail = tcp_reachable(tuple(self._bootstrap))
                if not reachable:
                    # Cheaper and clearer than letting the client probe for seconds.
                    raise ConnectionError(detail)
                consumer = self._consumer()
                self._api_version = consumer.config.get("api_version")
                backoff = 0.5
                self._consume(consumer)
            except Exception as exc:
                reason = f"Kafka at {','.join(self._bootstrap)}: {type(exc).__name__}: {exc}"
                log.warning("live alerts unavailable, retrying in %.1fs: %s", backoff, reason)
                self._set_state("unavailable", False, reason)
            finally:
                if consumer is not None:
                    consumer.close()
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 10.0)

    def _assign(self, consumer: KafkaConsumer, topic_existed: bool) -> set[int]:
        partitions = consumer.partitions_for_topic(self._topic) or set()
        tps = [TopicPartition(self._topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        with self._cond:
            known = dict(self._s.position)
        fresh = [tp for tp in tps if tp.partition not in known]
        # First start on an existing topic: only what happens from now on is live. A partition
        # that appears later (or a topic created after we started) is read from its beginning.
        if fresh and not self._initialized and topic_existed:
            starts = consumer.end_offsets(fresh)
        else:
            starts = consumer.beginning_offsets(fresh) if fresh else {}
        with self._cond:
            for tp, offset in starts.items():
                self._s.position[tp.partition] = offset
                self._s.buffer_start[tp.partition] = offset
            for tp in tps:
                consumer.seek(tp, self._s.position[tp.partition])
        self._initialized = True
        return set(partitions)

    def _consume(self, consumer: KafkaConsumer) -> None:
        topic_existed = bool(consumer.partitions_for_topic(self._topic))
        partitions = self._assign(consumer, topic_existed)
        next_refresh = time.monotonic() + (2.0 if not partitions else 30.0)
        self._set_state("live" if partitions else "waiting for topic", True)
        while not self._stop.is_set():
            batches = consumer.poll(timeout_ms=500) if partitions else {}
            if not partitions:
                self._stop.wait(0.5)
            if batches:
                self._append(batches)
            if time.monotonic() >= next_refresh:
                # New partitions (or the topic itself) can appear while we run. A missing topic
                # makes the client refresh metadata; new partitions of an existing one show up
                # with the client's periodic refresh (metadata_max_age_ms, 5 min by default).
                now = consumer.partitions_for_topic(self._topic) or set()
                if now != partitions:
                    partitions = self._assign(consumer, topic_existed)
                    self._set_state("live" if partitions else "waiting for topic", True)
                next_refresh = time.monotonic() + (2.0 if not partitions else 30.0)

    def _append(self, batches: dict[TopicPartition, list[Any]]) -> None:
        with self._cond:
            s = self._s
            for tp, records in batches.items():
                for record in records:
                    s.position[tp.partition] = record.offset + 1
                    try:
                        alert = parse_alert(record.value)
                    except ValueError as exc:
                        # The dashboard only reads this topic; the job owns dead-lettering.
                        # Count and log so a malformed event is visible, never silent.
                        s.malformed += 1
                        s.last_malformed = f"partition {tp.partition} offset {record.offset}: {exc}"
                        log.warning("skipping malformed alert event at %s", s.last_malformed)
                        continue
                    s.seq += 1
                    s.buffer.append(_Event(s.seq, tp.partition, record.offset, alert))
            while len(s.buffer) > self._capacity:
                old = s.buffer.popleft()
                s.buffer_start[old.partition] = old.offset + 1
            self._cond.notify_all()

    # --- queries -----------------------------------------------------------------
    def current_position(self) -> Position | None:
        """The hub's read position, if it is connected and reading."""
        self.start()
        with self._cond:
            return dict(self._s.position) if self._s.ready else None

    def status(self) -> dict[str, Any]:
        """State of the live feed for /healthz."""
        self.start()
        with self._cond:
            s = self._s
            return {"state": s.state, "live": s.ready, "error": s.error,
                    "buffered_events": len(s.buffer), "malformed_events": s.malformed,
                    "last_malformed": s.last_malformed}

    # --- subscriptions -----------------------------------------------------------
    def messages(self, since: Position | None, wait_s: float) -> Iterator[Message | None]:
        """Yield a `ready` message, then every alert after `since` (or after now), forever."""
        self.start()
        epoch = -1
        while not self._stop.is_set():
            with self._cond:
                if self._s.ready:
                    break
                if epoch != self._s.epoch:
                    epoch = self._s.epoch
                    info: Message | None = Message("status", self._status_data())
                else:
                    self._cond.wait(wait_s)
                    info = None
            yield info
        with self._cond:
            client = dict(self._s.position) if since is None else dict(since)
            next_seq = self._s.seq + 1 if since is None else 0
            epoch = self._s.epoch
        implicit: set[int] = set()  # partitions the client never named: start at their beginning
        yield Message("ready", {"live": True}, dict(client))
        while not self._stop.is_set():
            with self._cond:
                work = self._collect(client, implicit, next_seq)
                if work.idle and epoch == self._s.epoch:
                    self._cond.wait(wait_s)
                    work = self._collect(client, implicit, next_seq)
                changed, epoch = epoch != self._s.epoch, self._s.epoch
                status = self._status_data()
            if changed:
                yield Message("status", status)
            if work.ahead:
                # The topic was recreated or truncated: our offsets mean nothing any more.
                client.update(work.ahead)
                yield Message("reset", {"reason": "the alerts topic restarted its offsets"},
                              dict(client))
            elif work.gaps:
                yield from self._catch_up(client, work.gaps, implicit)
            elif work.idle:
                if not changed:
                    yield None
            else:
                next_seq = work.next_seq
                for event in work.pending:
                    client[event.partition] = event.offset + 1
                    yield Message("alert", event.alert, dict(client))

    def _collect(self, client: Position, implicit: set[int], next_seq: int) -> _Work:
        """What a client at `client` needs next; call with the condition held."""
        s = self._s
        for p in s.position:
            if p not in client:
                client[p] = 0
                implicit.add(p)
        ahead = {p: s.position[p] for p, o in client.items() if o > s.position.get(p, o)}
        gaps = {p: (client[p], start) for p, start in s.buffer_start.items()
                if client[p] < start}
        if ahead or gaps:
            return _Work(ahead=ahead, gaps=gaps)
        first = s.buffer[0].seq if s.buffer else s.seq + 1
        pending = [e for e in itertools.islice(s.buffer, max(0, next_seq - first), None)
                   if e.offset >= client[e.partition]]
        return _Work(pending=pending, next_seq=s.seq + 1, idle=not pending)

    def _status_data(self) -> dict[str, Any]:
        s = self._s
        return {"live": s.ready, "state": s.state, "reason": s.error}

    def _catch_up(self, client: Position, gaps: dict[int, tuple[int, int]],
                  implicit: set[int]) -> Iterator[Message]:
        """Read offsets the buffer no longer holds straight from Kafka, or ask for a reset."""
        with self._catchups:
            try:
                events, lost = self._read_range(gaps, implicit)
            except Exception as exc:
                events, lost = [], f"could not read missed events from Kafka: {exc}"
        if lost is not None:
            for p, (_, end) in gaps.items():
                client[p] = end
            yield Message("reset", {"reason": lost}, dict(client))
            return
        for partition, offset, alert in events:
            client[partition] = offset + 1
            yield Message("alert", alert, dict(client))
        for p, (_, end) in gaps.items():
            client[p] = max(client[p], end)

    def _read_range(self, gaps: dict[int, tuple[int, int]], implicit: set[int]
                    ) -> tuple[list[tuple[int, int, dict[str, Any]]], str | None]:
        consumer = self._consumer()
        try:
            tps = {p: TopicPartition(self._topic, p) for p in gaps}
            consumer.assign(list(tps.values()))
            beginnings = consumer.beginning_offsets(list(tps.values()))
            wanted = 0
            for p, (start, end) in list(gaps.items()):
                if p in implicit:
                    start = max(start, beginnings[tps[p]])
                    gaps[p] = (start, end)
                if start < beginnings[tps[p]]:
                    return [], (f"events before offset {beginnings[tps[p]]} of partition {p} "
                                "were deleted by Kafka retention")
                wanted += end - start
                consumer.seek(tps[p], start)
            if wanted > self._catchup_limit:
                return [], (f"{wanted} missed events are more than the "
                            f"{self._catchup_limit} a reconnect may replay")
            out: list[tuple[int, int, dict[str, Any]]] = []
            remaining = {p for p, (start, end) in gaps.items() if start < end}
            deadline = time.monotonic() + 20
            while remaining and time.monotonic() < deadline:
                for tp, records in consumer.poll(timeout_ms=500).items():
                    end = gaps[tp.partition][1]
                    for record in records:
                        if record.offset >= end:
                            break
                        # A malformed event was already counted when the hub first read it.
                        with contextlib.suppress(ValueError):
                            out.append((tp.partition, record.offset, parse_alert(record.value)))
                    if consumer.position(tp) >= end:
                        remaining.discard(tp.partition)
            if remaining:
                return [], "timed out reading missed events from Kafka"
            return out, None
        finally:
            consumer.close()
