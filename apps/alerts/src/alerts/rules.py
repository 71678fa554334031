"""The stateful alert rules of one sensor, as plain Python (no PyFlink): easy to test.

The Flink job keys the readings by sensor and calls :func:`on_reading` for each reading and
:func:`on_timer` when the event-time silence timer fires; both mutate a :class:`SensorState`
and return the alert events to emit. Only readings that are not late (at most the allowed
lateness behind the watermark) reach the rules; late ones go to the late topic alone. Alert
ids are ``<sensor_id>:<rule>:<started_at>``, so an event replayed after a restore overwrites
its Elasticsearch document instead of adding one.

Readings are applied in arrival order, which Kafka fixes per sensor (the sensor id is the
message key, so one partition holds a sensor's readings in a fixed order): a replay makes
the same decisions. A reading not newer than the newest one applied (a duplicate or an
out-of-order reading) changes no rule; the one-minute aggregates still count it.

Temperatures are compared in hundredths of a degree (:func:`hundredths`), with exact decimal
arithmetic, so what an alert's message says is what the rule decided: ``20.1 - 10.1`` is a
spread of ``10.00``, not ``10.000000000000002``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from alerts.config import Rules, decimal

HIGH = "high_temperature"
LOW = "low_temperature"
RATE = "rate_of_change"
SILENT = "sensor_silent"
RATE_WINDOW_MS = 60_000  # the rate-of-change rule looks at the last minute of event time
_CENT = Decimal("0.01")


def hundredths(x: float) -> Decimal:
    """A temperature as the rules compare it: :func:`decimal` rounded to 0.01, half away
    from zero (21.535 -> 21.54, -0.005 -> -0.01); Flink's ``CAST(x AS DECIMAL(7, 2))``."""
    return decimal(x).quantize(_CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Reading:
    """A valid reading (docs/contracts.md), as the rules see it."""

    sensor_id: str
    site: str
    ts: int
    temperature_c: float
    seq: int


@dataclass
class SensorState:
    """Everything the rules remember about one sensor (kept in Flink keyed state)."""

    site: str = ""
    last_ts: int | None = None
    open: dict[str, dict[str, Any]] = field(default_factory=dict)  # rule -> open alert
    # Monotonic deques of (ts, hundredths) over the last minute: the front is the window's
    # max (resp. min), so each reading costs O(1) amortised instead of a rescan.
    max_q: list[tuple[int, Decimal]] = field(default_factory=list)
    min_q: list[tuple[int, Decimal]] = field(default_factory=list)
    timer_ts: int | None = None  # the event-time timer currently registered, if any


def alert_message(rule: str, x: float, threshold: float, last_ts: int | None = None) -> str:
    """An alert's ``message``: ``x`` is the reading in hundredths (threshold rules), the
    spread (rate) or the silence in seconds; ``last_ts`` the reading before a silence."""
    if rule == HIGH:
        return f"temperature {x:g} °C above {threshold:g} °C"
    if rule == LOW:
        return f"temperature {x:g} °C below {threshold:g} °C"
    if rule == RATE:
        return f"temperature changed {x:.2f} °C within a minute (limit {threshold:g} °C)"
    return f"no reading for {threshold:g} s after {last_ts}"


def alert_id(sensor_id: str, rule: str, started_at: int) -> str:
    """The deterministic id of an alert episode (and its Elasticsearch document id)."""
    return f"{sensor_id}:{rule}:{started_at}"


def _open(
    state: SensorState,
    sensor_id: str,
    rule: str,
    severity: str,
    value: float,
    threshold: float,
    started_at: int,
    message: str,
) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "alert_id": alert_id(sensor_id, rule, started_at),
        "sensor_id": sensor_id,
        "site": state.site,
        "rule": rule,
        "severity": severity,
        "status": "open",
        "value": round(value, 3),
        "threshold": threshold,
        "started_at": started_at,
        "resolved_at": None,
        "updated_at": started_at,
        "message": message,
    }
    state.open[rule] = alert
    return dict(alert)


def _resolve(state: SensorState, rule: str, at: int) -> dict[str, Any]:
    alert = state.open.pop(rule)
    alert.update(status="resolved", resolved_at=at, updated_at=at)
    return alert


def _slide(state: SensorState, ts: int, value: Decimal) -> Decimal:
    """Add the reading to the one-minute window; return the window's max - min."""
    while state.max_q and state.max_q[-1][1] <= value:
        state.max_q.pop()
    state.max_q.append((ts, value))
    while state.min_q and state.min_q[-1][1] >= value:
        state.min_q.pop()
    state.min_q.append((ts, value))
    oldest = ts - RATE_WINDOW_MS
    while state.max_q[0][0] < oldest:
        state.max_q.pop(0)
    while state.min_q[0][0] < oldest:
        state.min_q.pop(0)
    return state.max_q[0][1] - state.min_q[0][1]


def on_reading(state: SensorState, reading: Reading, rules: Rules) -> list[dict[str, Any]]:
    """Apply one reading to the sensor's state; return the alert events it causes."""
    if state.last_ts is not None and reading.ts <= state.last_ts:
        return []  # duplicate or out of order: the newer reading already decided
    events: list[dict[str, Any]] = []
    sid, ts, value = reading.sensor_id, reading.ts, hundredths(reading.temperature_c)
    high, low, rate = decimal(rules.high), decimal(rules.low), decimal(rules.rate)
    if state.last_ts is not None and ts - state.last_ts > rules.silence_ms:
        # The gap itself proves the silence (strictly more than SILENCE_SECONDS), whether or
        # not the timer fired first: open the episode here if needed, so both paths give
        # the same events (the site still the last reading's, as the timer's).
        if SILENT not in state.open:
            events.append(_silent(state, sid, state.last_ts, rules))
        events.append(_resolve(state, SILENT, ts))
    elif SILENT in state.open:
        events.append(_resolve(state, SILENT, ts))
    state.site = reading.site

    if HIGH in state.open:
        if value < rules.high_back:
            events.append(_resolve(state, HIGH, ts))
    elif value > high:
        events.append(_open(state, sid, HIGH, "critical", float(value), rules.high, ts,
                            alert_message(HIGH, float(value), rules.high)))
    if LOW in state.open:
        if value > rules.low_back:
            events.append(_resolve(state, LOW, ts))
    elif value < low:
        events.append(_open(state, sid, LOW, "critical", float(value), rules.low, ts,
                            alert_message(LOW, float(value), rules.low)))

    spread = _slide(state, ts, value)
    if RATE in state.open:
        if spread <= rate:
            events.append(_resolve(state, RATE, ts))
    elif spread > rate:
        events.append(_open(state, sid, RATE, "warning", float(spread), rules.rate, ts,
                            alert_message(RATE, float(spread), rules.rate)))
    state.last_ts = ts
    return events


def _silent(state: SensorState, sensor_id: str, last_ts: int, rules: Rules) -> dict[str, Any]:
    return _open(state, sensor_id, SILENT, "warning", rules.silence_s, rules.silence_s,
                 last_ts + rules.silence_ms,
                 alert_message(SILENT, rules.silence_s, rules.silence_s, last_ts))


def silence_timer_at(last_ts: int, rules: Rules, lateness_ms: int) -> int:
    """The event time at which the silence after a reading at ``last_ts`` becomes certain.

    Silence means a gap of strictly more than ``silence_ms`` to the next applied reading.
    A reading that would disprove it has ``ts <= last_ts + silence_ms``, and it is on time
    (applied) while ``watermark <= ts + lateness_ms``. So only once the watermark reaches
    ``last_ts + silence_ms + lateness_ms + 1`` can no such reading still be applied, and an
    event-time timer there (it fires when the watermark is >= its time) never opens an
    episode that a reading then contradicts. The cost: the alert opens ``lateness_ms``
    later in event time than the silence itself (its ``started_at``).
    """
    return last_ts + rules.silence_ms + lateness_ms + 1


def timer_needed(state: SensorState, rules: Rules, lateness_ms: int) -> int | None:
    """The event time to register a silence timer at, or None if one is pending or moot."""
    if state.last_ts is None or state.timer_ts is not None or SILENT in state.open:
        return None
    state.timer_ts = silence_timer_at(state.last_ts, rules, lateness_ms)
    return state.timer_ts


def expiry_timer(state: SensorState, ttl_ms: int) -> int | None:
    """When to forget a sensor: ``ttl_ms`` of event time after its last reading.

    None until the sensor's silence alert is open (no silence timer pending then), so every
    sensor has exactly one timer at a time: a silence deadline, or this expiry.
    """
    if state.last_ts is None or state.timer_ts is not None or SILENT not in state.open:
        return None
    return state.last_ts + ttl_ms


def expired(state: SensorState, timestamp: int, ttl_ms: int) -> bool:
    """True if the timer at ``timestamp`` is an expiry the sensor's readings did not move."""
    return (
        timestamp != state.timer_ts
        and state.last_ts is not None
        and timestamp >= state.last_ts + ttl_ms
    )


def on_timer(
    state: SensorState, sensor_id: str, timestamp: int, rules: Rules, lateness_ms: int
) -> list[dict[str, Any]]:
    """The watermark reached ``timestamp``: open a silence alert if the sensor went quiet.

    The episode is the one the gap path of :func:`on_reading` would open (same id,
    ``started_at`` = last reading + silence); the next reading resolves it at its ``ts``.
    """
    state.timer_ts = None
    if state.last_ts is None or SILENT in state.open:
        return []
    if timestamp >= silence_timer_at(state.last_ts, rules, lateness_ms):
        return [_silent(state, sensor_id, state.last_ts, rules)]
    return []  # a newer reading moved the deadline; the caller re-registers via timer_needed
