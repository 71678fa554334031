"""Sending a message source to Kafka: connect, pace, count acknowledgements, shut down cleanly."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from kafka import KafkaProducer
from kafka.errors import (
    KafkaConfigurationError,
    KafkaError,
    KafkaTimeoutError,
    NoBrokersAvailable,
)
from kafka.partitioner.default import murmur2

from simulator.config import Config

log = logging.getLogger("simulator")

# Unacknowledged messages allowed before the loop waits: kafka-python 2.3 has no
# buffer_memory bound, so without this a fast loop against a slow broker grows without limit.
MAX_PENDING = 200_000
# The final flush waits in slices, waking kafka-python's sender again after each one: a
# flush without a timeout once hung for 120 s in CI after a SIGTERM (cause not found; a
# missed sender wake-up is the suspect). After FLUSH_TIMEOUT_S the run ends with an error.
FLUSH_SLICE_S = 5.0
FLUSH_TIMEOUT_S = 120.0


class StartupError(RuntimeError):
    """Kafka could not be used at start-up; the message is one line naming the address."""


class Source(Protocol):
    """Where messages come from: the random stream or a scenario replay."""

    slot: int

    def __iter__(self) -> Iterator[tuple[bytes | None, bytes]]: ...

    def due_s(self) -> float: ...

    def stop(self) -> None: ...

    def drain(self) -> Iterator[tuple[bytes | None, bytes]]: ...


@dataclass
class Summary:
    """What a run sent and what Kafka acknowledged."""

    sent: int = 0
    acked: int = 0
    errors: int = 0
    first_error: str = ""
    elapsed_s: float = 0.0

    @property
    def rate(self) -> float:
        """Messages sent per second of wall time."""
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0


class AnomalyLog:
    """JSON-lines side log of injected anomalies (no-op when ``path`` is empty)."""

    def __init__(self, path: str) -> None:
        self.path = path
        # line-buffered: anomalies are rare, and a killed run keeps every line written so far
        self._handle = (
            open(path, "w", encoding="utf-8", buffering=1)  # noqa: SIM115 - closed in close()
            if path
            else None
        )

    def write(self, record: dict[str, Any]) -> None:
        """Append one record as a JSON line."""
        if self._handle is not None:
            self._handle.write(json.dumps(record, separators=(",", ":")) + "\n")

    def close(self) -> None:
        """Close the file."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def producer_settings(config: Config) -> dict[str, Any]:
    """KafkaProducer arguments: durable (acks=all, idempotent, retried) and ordered per key."""
    return {
        "bootstrap_servers": config.bootstrap_servers.split(","),
        "client_id": "iot-simulator",
        "acks": "all",
        # idempotence keeps retries from duplicating; kafka-python 2.3 allows it only with one
        # request in flight, which is also what keeps retried batches in order
        "enable_idempotence": True,
        "max_in_flight_requests_per_connection": 1,
        "retries": 2**31 - 1,
        "linger_ms": config.linger_ms,
        "batch_size": config.batch_size,
        "compression_type": None if config.compression == "none" else config.compression,
        "max_block_ms": int(config.connect_timeout_s * 1000),
    }


def connect(config: Config, stop: threading.Event | None = None) -> KafkaProducer | None:
    """Create the producer, retrying until the broker answers or the timeout passes.

    Returns None when ``stop`` is set while waiting (a SIGTERM during start-up).
    """
    deadline = time.monotonic() + config.connect_timeout_s
    delay = 0.25
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            return KafkaProducer(**producer_settings(config))
        except NoBrokersAvailable as exc:
            last = exc
        except (AssertionError, ValueError) as exc:  # kafka-python's codec checks
            raise StartupError(f"SIMULATOR_COMPRESSION={config.compression}: {exc}") from None
        except KafkaConfigurationError as exc:
            raise StartupError(f"the Kafka producer settings were refused: {exc}") from None
        if time.monotonic() + delay > deadline:
            raise StartupError(
                f"cannot reach Kafka at {config.bootstrap_servers} (KAFKA_BOOTSTRAP_SERVERS) "
                f"within {config.connect_timeout_s:g} s ({type(last).__name__}); "
                "check the address and that the broker is up"
            )
        log.info("waiting for Kafka at %s", config.bootstrap_servers)
        stop.wait(delay)
        delay = min(delay * 2, 5.0)
    return None


def partitions(producer: KafkaProducer, config: Config) -> list[int]:
    """The topic's partition ids, sorted; a missing topic is a StartupError."""
    try:
        found = producer.partitions_for(config.topic)
    except KafkaTimeoutError:
        found = None
    if not found:
        raise StartupError(
            f"topic {config.topic!r} (READINGS_TOPIC) is not available on Kafka at "
            f"{config.bootstrap_servers} within {config.connect_timeout_s:g} s; "
            "create it or enable auto-creation"
        )
    return sorted(found)


class Runner:
    """Sends a source's messages with pacing, progress logging and a clean stop."""

    def __init__(
        self,
        config: Config,
        producer: KafkaProducer,
        stop: threading.Event | None = None,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self.config = config
        self.producer = producer
        self.stop_event = stop or threading.Event()
        self.max_pending = max_pending
        self.summary = Summary()
        self._partitions = partitions(producer, config)
        self._cache: dict[bytes, int] = {}

    def _partition(self, key: bytes) -> int:
        # the Java client's default partitioner (murmur2), computed once per key instead of
        # once per message: it is pure Python in kafka-python
        all_partitions = self._partitions
        index = (int(murmur2(key)) & 0x7FFFFFFF) % len(all_partitions)
        self._cache[key] = all_partitions[index]
        return all_partitions[index]

    def _on_ok(self, _metadata: Any) -> None:
        self.summary.acked += 1  # callbacks run on the one sender thread: no lock needed

    def _on_error(self, exc: BaseException) -> None:
        summary = self.summary
        summary.errors += 1
        if not summary.first_error:
            summary.first_error = f"{type(exc).__name__}: {exc}"
            log.error("a message was not acknowledged: %s", summary.first_error)

    def _send(self, key: bytes | None, value: bytes) -> None:
        partition = None
        if key is not None:
            partition = self._cache.get(key)
            if partition is None:
                partition = self._partition(key)
        future = self.producer.send(self.config.topic, value=value, key=key, partition=partition)
        future.add_callback(self._on_ok)
        future.add_errback(self._on_error)

    def run(self, source: Source) -> Summary:
        """Send everything ``source`` yields until it ends, the duration passes or a stop."""
        config = self.config
        summary = self.summary
        started = time.monotonic()
        deadline = started + config.duration_s if config.duration_s else float("inf")
        next_progress = started + config.progress_s
        # how often to look at the clock: about every 5 ms of the target rate when paced
        chunk = max(1, min(1024, int(config.rate / 200))) if config.realtime else 1024
        sent = 0
        stopping = False
        send = self._send
        try:
            for key, value in source:
                if sent % chunk == 0:
                    now = time.monotonic()
                    if not stopping and (self.stop_event.is_set() or now >= deadline):
                        stopping = True
                        source.stop()  # the current slot still completes
                    if now >= next_progress:
                        summary.sent = sent
                        self._progress(now - started)
                        next_progress = now + config.progress_s
                    if sent - summary.acked - summary.errors > self.max_pending:
                        self._wait_for_acks(sent)
                    if config.realtime and not stopping:
                        wait = started + source.due_s() - time.monotonic()
                        if wait > 0:
                            self.stop_event.wait(wait)
                send(key, value)
                sent += 1
            for key, value in source.drain():
                send(key, value)
                sent += 1
        except KafkaError as exc:
            summary.errors += 1
            summary.first_error = summary.first_error or f"{type(exc).__name__}: {exc}"
            log.error("Kafka at %s refused a message: %s", config.bootstrap_servers, exc)
        finally:
            summary.sent = sent
            self._flush()
            summary.elapsed_s = time.monotonic() - started
        return summary

    def _flush(self) -> None:
        """Wait until every sent message is acknowledged (see FLUSH_SLICE_S)."""
        summary = self.summary
        deadline = time.monotonic() + FLUSH_TIMEOUT_S
        while True:
            try:
                self.producer.flush(timeout=FLUSH_SLICE_S)
                return
            except KafkaTimeoutError as exc:
                if time.monotonic() >= deadline:
                    summary.errors += 1
                    summary.first_error = summary.first_error or f"flush: {exc}"
                    log.error("Kafka at %s did not acknowledge every message in %.0f s",
                              self.config.bootstrap_servers, FLUSH_TIMEOUT_S)
                    return
                log.info("still flushing: acked=%d errors=%d of sent=%d",
                         summary.acked, summary.errors, summary.sent)

    def _wait_for_acks(self, sent: int) -> None:
        summary = self.summary
        while sent - summary.acked - summary.errors > self.max_pending // 2:
            time.sleep(0.001)

    def _progress(self, elapsed: float) -> None:
        summary = self.summary
        log.info(
            "progress: sent=%d acked=%d errors=%d rate=%.0f/s target=%s elapsed=%.0fs",
            summary.sent,
            summary.acked,
            summary.errors,
            summary.sent / elapsed if elapsed > 0 else 0.0,
            f"{self.config.rate:g}/s" if self.config.realtime else "max",
            elapsed,
        )
