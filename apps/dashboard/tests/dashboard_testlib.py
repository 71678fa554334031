"""Helpers for the service-backed dashboard tests: contract-shaped documents, an SSE reader."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from elasticsearch import Elasticsearch
from kafka import KafkaProducer


def alert(sensor_id: str, started_at: int, *, rule: str = "high_temperature",
          severity: str = "critical", status: str = "open", site: str = "plant-a",
          value: float = 81.2, threshold: float = 80.0) -> dict[str, Any]:
    """An Alert exactly as docs/contracts.md defines it."""
    return {"alert_id": f"{sensor_id}:{rule}:{started_at}", "sensor_id": sensor_id,
            "site": site, "rule": rule, "severity": severity, "status": status,
            "value": value, "threshold": threshold, "started_at": started_at,
            "resolved_at": started_at + 60_000 if status == "resolved" else None,
            "updated_at": started_at, "message": f"temperature {value} °C vs {threshold} °C"}


def aggregate(sensor_id: str, window_start: int, avg: float, site: str = "plant-a"
              ) -> dict[str, Any]:
    """A one-minute aggregate exactly as docs/contracts.md defines it."""
    return {"sensor_id": sensor_id, "site": site, "window_start": window_start,
            "window_end": window_start + 60_000, "count": 60, "min": avg - 1.0, "avg": avg,
            "max": avg + 1.0}


def index_alerts(es: Elasticsearch, index: str, alerts: Iterable[dict[str, Any]]) -> None:
    """Write alerts the way the job does: doc id = alert_id, so a rewrite overwrites."""
    for a in alerts:
        es.index(index=index, id=a["alert_id"], document=a)
    es.indices.refresh(index=index)


def index_aggregates(es: Elasticsearch, index: str, docs: Iterable[dict[str, Any]]) -> None:
    """Write aggregates with doc id = <sensor_id>:<window_start>."""
    for d in docs:
        es.index(index=index, id=f"{d['sensor_id']}:{d['window_start']}", document=d)
    es.indices.refresh(index=index)


def producer(bootstrap: str) -> KafkaProducer:
    """A producer writing alert events the way the job does (key = sensor id, JSON value)."""
    return KafkaProducer(bootstrap_servers=bootstrap, acks="all",
                         key_serializer=lambda k: k.encode("utf-8"))


def produce(p: KafkaProducer, topic: str, value: dict[str, Any] | bytes,
            partition: int | None = None) -> None:
    """Send one event and wait until the broker has it."""
    raw = value if isinstance(value, bytes) else json.dumps(value).encode("utf-8")
    key = "raw" if isinstance(value, bytes) else value["sensor_id"]
    p.send(topic, key=key, value=raw, partition=partition).get(timeout=30)


@dataclass
class SseEvent:
    """One parsed SSE message."""

    event: str
    data: str
    id: str | None

    def json(self) -> Any:
        """The data as JSON."""
        return json.loads(self.data)


class SseReader:
    """Parses an SSE byte stream chunk by chunk (the server sends keep-alives while idle)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._buf = ""

    def next_event(self, timeout: float = 20.0) -> SseEvent:
        """The next dispatched event (comments and retry-only blocks are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            while "\n\n" in self._buf:
                block, self._buf = self._buf.split("\n\n", 1)
                parsed = self._parse(block)
                if parsed is not None:
                    return parsed
            if time.monotonic() > deadline:
                raise AssertionError(f"no SSE event within {timeout}s")
            self._buf += next(self._chunks).decode("utf-8")

    def events_until_idle(self, idle_s: float = 1.5, limit: int = 1000) -> list[SseEvent]:
        """Every event until nothing but keep-alives arrive for `idle_s` seconds."""
        out: list[SseEvent] = []
        while len(out) < limit:
            try:
                out.append(self.next_event(timeout=idle_s))
            except AssertionError:
                return out
        return out

    @staticmethod
    def _parse(block: str) -> SseEvent | None:
        event, data, event_id = "message", [], None
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
            elif name == "id":
                event_id = value
        if not data:
            return None
        return SseEvent(event, "\n".join(data), event_id)
