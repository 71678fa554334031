"""The random stream: sensors take turns, anomalies are injected, each one is reported.

The stream is a sequence of *slots*. Slot ``n`` belongs to sensor ``n % sensors`` and has the
event time ``start_ts + n * 1000 / rate`` ms, so every sensor reports once per
``sensors / rate`` seconds. At each slot one random draw decides whether the reading is
normal or carries exactly one anomaly (the rates are exclusive probabilities):

- ``spike``: this one reading is moved by 1 to 1.5 x ``spike_c`` up or down;
- ``drift``, ``stuck``: an episode of ``episode_s`` seconds in which the value drifts
  linearly, or repeats the first value;
- ``dropout``: the sensor sends nothing for ``dropout_s`` seconds;
- ``out_of_order``: the reading is sent after the sensor's next 1-3 slots;
- ``late``: the reading is sent ``late_s`` seconds of event time later;
- ``duplicate``: the same message is sent twice in a row;
- ``malformed``: the reading is followed by a malformed message (same key).

A sensor inside an episode gets no other anomaly, and one with a held-back reading starts no
episode. Every injection is reported through ``log`` (one dict per event, see README), never
written into the message. Same seed and settings give byte-identical messages.
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from simulator import codec
from simulator.config import ANOMALY_KINDS, AnomalyRates
from simulator.sensors import Sensor

Message = tuple[bytes, bytes]
LogRecord = dict[str, Any]
EPISODES = ("drift", "stuck", "dropout")
NO_ANOMALIES = AnomalyRates(0, 0, 0, 0, 0, 0, 0, 0)

# Malformed variants and the reason the contract's validation gives for each.
MALFORMED_REASONS = {
    "not_json": "not JSON",
    "missing_field": "missing field 'ts'",
    "wrong_type": "field 'temperature_c' has the wrong type",
    "unknown_schema_version": "unknown schema_version 99",
}


@dataclass(slots=True)
class _State:
    """Per-sensor mutable state."""

    sensor: Sensor
    key: bytes
    head: str
    seq: int = 0  # next sequence number
    max_sent_seq: int = -1
    last_sent_ts: int | None = None
    held: int = 0
    episode: str | None = None
    remaining: int = 0
    record: LogRecord | None = None
    drift_c_per_min: float = 0.0
    stuck_c: float = 0.0


@dataclass(frozen=True)
class StreamSpec:
    """Everything that shapes the stream (a subset of the config, so tests can build one)."""

    seed: int
    sensors: tuple[Sensor, ...]
    rate: float
    start_ts: int
    count: int = 0  # slots; 0 = endless
    rates: AnomalyRates = NO_ANOMALIES
    spike_c: float = 40.0
    drift_c_per_min: float = 5.0
    episode_s: float = 120.0
    dropout_s: float = 90.0
    late_s: float = 120.0


def _no_log(record: LogRecord) -> None:
    """Discard a log record."""


class Stream:
    """Iterate to get ``(key, value)`` messages; call :meth:`drain` once iteration stops."""

    def __init__(self, spec: StreamSpec, log: Callable[[LogRecord], None] = _no_log) -> None:
        self.spec = spec
        self.log = log
        self.slot = 0  # the slot being produced
        self.duplicates = 0
        self.malformed = 0
        self.dropped_slots = 0
        self._rng = random.Random(f"{spec.seed}:stream")
        self._states = [
            _State(sensor=s, key=codec.key(s.sensor_id), head=codec.prefix(s.sensor_id, s.site))
            for s in spec.sensors
        ]
        self._ms_per_slot = 1000.0 / spec.rate
        period_s = len(spec.sensors) / spec.rate  # one sensor's reporting interval
        self._episode_slots = max(1, round(spec.episode_s / period_s))
        self._dropout_slots = max(1, round(spec.dropout_s / period_s))
        self._late_slots = max(len(spec.sensors) + 1, math.ceil(spec.late_s * spec.rate))
        self._held: list[tuple[int, int, str, _State, int, int, float, bytes]] = []
        self._tiebreak = itertools.count()
        edges: list[tuple[float, str]] = []
        total = 0.0
        for kind in ANOMALY_KINDS:
            rate = getattr(spec.rates, kind)
            if rate > 0:
                total += rate
                edges.append((total, kind))
        self._edges = edges
        self._total = total
        self._stopped = False

    @property
    def readings(self) -> int:
        """Distinct readings generated so far (each sequence number once)."""
        return sum(state.seq for state in self._states)

    @property
    def held(self) -> int:
        """Readings held back (out of order or late) and not yet sent."""
        return len(self._held)

    def ts_of(self, slot: int) -> int:
        """Event time (epoch ms) of ``slot``."""
        return self.spec.start_ts + int(slot * self._ms_per_slot)

    def due_s(self) -> float:
        """Seconds after the start at which the current slot is due in real time."""
        return self.slot / self.spec.rate

    def __iter__(self) -> Iterator[Message]:
        states = self._states
        n_sensors = len(states)
        rng = self._rng
        total = self._total
        held = self._held
        start = self.spec.start_ts
        ms_per_slot = self._ms_per_slot
        encode = codec.encode_with
        slots = range(self.spec.count) if self.spec.count else itertools.count()
        for n in slots:
            self.slot = n
            if self._stopped:  # checked only here, so a slot is never cut in half
                return
            ts = start + int(n * ms_per_slot)
            while held and held[0][0] <= n:
                yield self._release(heapq.heappop(held), ts)
            st = states[n % n_sensors]
            if st.episode is not None:
                message = self._episode_step(st, ts)
                if message is not None:
                    yield message
                continue
            u = rng.random()
            if u >= total:  # the common case: a normal reading
                seq = st.seq
                st.seq = seq + 1
                st.max_sent_seq = seq
                st.last_sent_ts = ts
                yield st.key, encode(st.head, ts, st.sensor.normal(ts, rng), seq)
                continue
            kind = next(k for edge, k in self._edges if u < edge)
            if kind in EPISODES and st.held:
                kind = "normal"  # keep held-back readings unambiguous: no episode meanwhile
            yield from self._inject(kind, st, n, ts)
        self.slot = self.spec.count

    def stop(self) -> None:
        """End iteration before the next slot (the current slot's messages still come)."""
        self._stopped = True

    def drain(self) -> Iterator[Message]:
        """Send what is still held back and report episodes cut short by the end of the run."""
        now = self.ts_of(self.slot)
        while self._held:
            yield self._release(heapq.heappop(self._held), now, complete=False)
        for st in self._states:
            if st.episode is not None and st.record is not None:
                st.record["complete"] = False
                self.log(st.record)
                st.episode = None
                st.record = None

    # -- anomalies -------------------------------------------------------------------------

    def _send(self, st: _State, ts: int, value: float) -> Message:
        seq = st.seq
        st.seq = seq + 1
        st.max_sent_seq = seq
        st.last_sent_ts = ts
        return st.key, codec.encode_with(st.head, ts, value, seq)

    def _base(self, kind: str, st: _State) -> LogRecord:
        return {"kind": kind, "sensor_id": st.sensor.sensor_id, "site": st.sensor.site}

    def _inject(self, kind: str, st: _State, n: int, ts: int) -> Iterator[Message]:
        rng = self._rng
        value = st.sensor.normal(ts, rng)
        if kind == "normal":
            yield self._send(st, ts, value)
        elif kind == "spike":
            sign = 1.0 if rng.random() < 0.5 else -1.0
            spiked = value + sign * rng.uniform(self.spec.spike_c, 1.5 * self.spec.spike_c)
            record = self._base(kind, st)
            record.update(
                seq=st.seq, ts=ts, temperature_c=round(spiked, 2), normal_c=round(value, 2)
            )
            self.log(record)
            yield self._send(st, ts, spiked)
        elif kind == "duplicate":
            record = self._base(kind, st)
            record.update(seq=st.seq, ts=ts)
            self.log(record)
            message = self._send(st, ts, value)
            self.duplicates += 1
            yield message
            yield message
        elif kind == "malformed":
            seq = st.seq
            reading = self._send(st, ts, value)
            yield reading
            variant = sorted(MALFORMED_REASONS)[rng.randrange(len(MALFORMED_REASONS))]
            payload = _malformed(variant, st, ts, value, seq)
            record = self._base(kind, st)
            record.update(
                variant=variant,
                reason=MALFORMED_REASONS[variant],
                after_seq=seq,
                ts=ts,
                payload=payload,
            )
            self.log(record)
            self.malformed += 1
            yield st.key, payload.encode()
        elif kind in ("out_of_order", "late"):
            seq = st.seq
            st.seq = seq + 1
            data = codec.encode_with(st.head, ts, value, seq)
            n_sensors = len(self._states)
            if kind == "out_of_order":
                release = n + n_sensors * rng.randint(1, 3) + 1
            else:
                release = n + self._late_slots
            st.held += 1
            heapq.heappush(
                self._held, (release, next(self._tiebreak), kind, st, seq, ts, value, data)
            )
        else:  # an episode starts with this slot
            record = self._base(kind, st)
            st.episode = kind
            st.record = record
            if kind == "dropout":
                st.remaining = self._dropout_slots
                record.update(
                    last_seq_before=st.seq - 1 if st.seq else None,
                    last_ts_before=st.last_sent_ts,
                    first_missing_ts=ts,
                    missing=0,
                )
            else:
                st.remaining = self._episode_slots
                record.update(first_seq=st.seq, first_ts=ts, readings=0)
                if kind == "drift":
                    sign = 1.0 if rng.random() < 0.5 else -1.0
                    st.drift_c_per_min = sign * self.spec.drift_c_per_min
                    record["c_per_min"] = st.drift_c_per_min
                else:
                    st.stuck_c = round(value, 2)
                    record["value_c"] = st.stuck_c
            first = self._episode_step(st, ts, value)
            if first is not None:
                yield first

    def _episode_step(self, st: _State, ts: int, value: float | None = None) -> Message | None:
        record = st.record
        assert record is not None
        message: Message | None = None
        if st.episode == "dropout":
            record["missing"] += 1
            record["last_missing_ts"] = ts
            self.dropped_slots += 1
        else:
            if st.episode == "drift":
                if value is None:
                    value = st.sensor.normal(ts, self._rng)
                value += st.drift_c_per_min * (ts - record["first_ts"]) / 60_000
            else:
                value = st.stuck_c
            record["readings"] += 1
            record["last_seq"] = st.seq
            record["last_ts"] = ts
            message = self._send(st, ts, value)
        st.remaining -= 1
        if st.remaining == 0:
            if st.episode == "dropout":
                # the sensor speaks again at its next slot
                record["resumes_ts"] = ts + int(len(self._states) * self._ms_per_slot)
            record["complete"] = True
            self.log(record)
            st.episode = None
            st.record = None
        return message

    def _release(
        self,
        item: tuple[int, int, str, _State, int, int, float, bytes],
        now_ts: int,
        complete: bool = True,
    ) -> Message:
        _, _, kind, st, seq, ts, value, data = item
        st.held -= 1
        record = self._base(kind, st)
        record.update(
            complete=complete,
            seq=seq,
            ts=ts,
            temperature_c=round(value, 2),
            released_at_ts=now_ts,
            overtaken=st.max_sent_seq > seq,
        )
        if kind == "late":
            record["delay_ms"] = now_ts - ts
        self.log(record)
        st.max_sent_seq = max(st.max_sent_seq, seq)
        return st.key, data


def _malformed(variant: str, st: _State, ts: int, value: float, seq: int) -> str:
    """A malformed payload of the given variant (valid UTF-8, so a DLQ can carry it as text)."""
    sid, site, temp = st.sensor.sensor_id, st.sensor.site, round(value, 2)
    if variant == "not_json":
        return f"{sid};{ts};{temp}"
    fields: dict[str, Any] = {
        "schema_version": codec.SCHEMA_VERSION,
        "sensor_id": sid,
        "site": site,
        "ts": ts,
        "temperature_c": temp,
        "seq": seq,
    }
    if variant == "missing_field":
        del fields["ts"]
    elif variant == "wrong_type":
        fields["temperature_c"] = str(temp)
    else:
        fields["schema_version"] = 99
    return json.dumps(fields, separators=(",", ":"))
