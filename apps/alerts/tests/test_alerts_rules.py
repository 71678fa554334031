"""The pure rules (alerts.rules) on in-memory sequences of readings: no Flink needed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alerts.config import Rules
from alerts.rules import (
    Reading,
    SensorState,
    expired,
    expiry_timer,
    on_reading,
    on_timer,
    timer_needed,
)

RULES = Rules(high=80.0, low=-10.0, hysteresis=2.0, rate=10.0, silence_s=30.0)
NO_RATE = Rules(high=80.0, low=-10.0, hysteresis=2.0, rate=1000.0, silence_s=30.0)


def run(values: Sequence[float | None], rules: Rules = RULES, step: int = 5_000
        ) -> list[dict[str, Any]]:
    """Feed one sensor's readings (None = no reading in that slot) and collect the events."""
    state, events = SensorState(), []
    for i, value in enumerate(values):
        if value is not None:
            events += on_reading(state, Reading("s", "plant-a", i * step, value, i), rules)
    return events


def brief(events: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(e["alert_id"], e["rule"], e["status"]) for e in events]


def test_normal_readings_raise_nothing() -> None:
    assert run([20.0, 20.5, 21.0] * 20) == []


def test_threshold_opens_once_and_resolves_once_past_the_hysteresis() -> None:
    events = run([20, 90, 95, 79, 78.5, 77.9, 20], NO_RATE)
    assert brief(events) == [("s:high_temperature:5000", "high_temperature", "open"),
                             ("s:high_temperature:5000", "high_temperature", "resolved")]
    opened, resolved = events
    assert opened["value"] == 90 and opened["threshold"] == 80 and opened["resolved_at"] is None
    assert opened["severity"] == "critical" and opened["updated_at"] == 5000
    assert resolved["resolved_at"] == 25_000 and resolved["updated_at"] == 25_000
    assert resolved["started_at"] == 5000 and resolved["status"] == "resolved"


def test_flapping_around_the_threshold_gives_a_single_alert() -> None:
    events = run([79.5, 80.5] * 50, NO_RATE)
    assert brief(events) == [("s:high_temperature:5000", "high_temperature", "open")]


def test_a_new_episode_after_resolving_gets_a_new_id() -> None:
    events = run([90, 70, 90], NO_RATE)
    assert [e["alert_id"] for e in events] == [
        "s:high_temperature:0", "s:high_temperature:0", "s:high_temperature:10000"]


def test_low_threshold_with_hysteresis() -> None:
    events = run([5, -15, -9, -8.5, -7.9], NO_RATE)
    assert brief(events) == [("s:low_temperature:5000", "low_temperature", "open"),
                             ("s:low_temperature:5000", "low_temperature", "resolved")]
    assert events[1]["resolved_at"] == 20_000


def test_rate_of_change_over_the_last_minute() -> None:
    values = [20.0] * 10 + [35.0] * 15
    events = run(values)
    assert brief(events) == [("s:rate_of_change:50000", "rate_of_change", "open"),
                             ("s:rate_of_change:50000", "rate_of_change", "resolved")]
    assert events[0]["value"] == 15.0 and events[0]["severity"] == "warning"
    assert events[1]["resolved_at"] == 22 * 5000  # the last 20 °C reading left the window


def test_slow_drift_is_not_a_rate_alert() -> None:
    assert run([20 + 0.5 * i for i in range(100)], Rules(1000, -1000, 2, 10, 30)) == []


def test_duplicates_and_out_of_order_readings_change_nothing() -> None:
    state = SensorState()
    first = on_reading(state, Reading("s", "p", 10_000, 90.0, 2), NO_RATE)
    assert [e["status"] for e in first] == ["open"]
    assert on_reading(state, Reading("s", "p", 10_000, 90.0, 2), NO_RATE) == []  # duplicate
    assert on_reading(state, Reading("s", "p", 5_000, 20.0, 1), NO_RATE) == []  # older
    assert state.last_ts == 10_000 and "high_temperature" in state.open


def test_silence_from_the_timer_then_resolved_by_the_next_reading() -> None:
    state = SensorState()
    on_reading(state, Reading("s", "p", 1_000, 20.0, 0), RULES)
    assert timer_needed(state, RULES) == 31_000
    assert timer_needed(state, RULES) is None  # one timer at a time
    events = on_timer(state, "s", 31_000, RULES)
    assert brief(events) == [("s:sensor_silent:31000", "sensor_silent", "open")]
    back = on_reading(state, Reading("s", "p", 90_000, 20.0, 1), RULES)
    assert brief(back) == [("s:sensor_silent:31000", "sensor_silent", "resolved")]
    assert back[0]["resolved_at"] == 90_000


def test_a_timer_made_stale_by_newer_readings_raises_nothing() -> None:
    state = SensorState()
    on_reading(state, Reading("s", "p", 0, 20.0, 0), RULES)
    assert timer_needed(state, RULES) == 30_000
    on_reading(state, Reading("s", "p", 20_000, 20.0, 1), RULES)
    assert on_timer(state, "s", 30_000, RULES) == []
    assert timer_needed(state, RULES) == 50_000  # re-armed for the new deadline


def test_a_gap_seen_before_the_timer_fired_gives_the_same_events() -> None:
    # The watermark may lag, so the next reading can arrive before the timer fires: the
    # episode must be the same one (same id) either way.
    events = run([20.0] * 6 + [None] * 14 + [20.0] * 3)
    assert brief(events) == [("s:sensor_silent:55000", "sensor_silent", "open"),
                             ("s:sensor_silent:55000", "sensor_silent", "resolved")]
    assert events[1]["resolved_at"] == 100_000


def test_a_silent_sensor_expires_ttl_after_its_last_reading() -> None:
    # The job's only timers: the silence deadline, then (alert open) the expiry.
    state = SensorState()
    on_reading(state, Reading("s", "p", 1_000, 20.0, 0), RULES)
    assert expiry_timer(state, 600_000) is None  # a silence timer is still to come
    deadline = timer_needed(state, RULES)
    assert deadline == 31_000 and not expired(state, 31_000, 600_000)
    on_timer(state, "s", 31_000, RULES)
    assert timer_needed(state, RULES) is None
    assert expiry_timer(state, 600_000) == 601_000
    assert not expired(state, 600_999, 600_000)
    assert expired(state, 601_000, 600_000)


def test_an_expiry_made_stale_by_a_new_reading_is_ignored() -> None:
    state = SensorState()
    on_reading(state, Reading("s", "p", 1_000, 20.0, 0), RULES)
    on_timer(state, "s", timer_needed(state, RULES) or 0, RULES)
    stale = expiry_timer(state, 600_000)
    assert stale == 601_000
    on_reading(state, Reading("s", "p", 500_000, 20.0, 1), RULES)  # back: silence resolved
    new_deadline = timer_needed(state, RULES)
    assert new_deadline == 530_000
    assert not expired(state, stale, 600_000)  # the sensor's readings moved its expiry
    assert not expired(state, new_deadline, 600_000)  # a silence deadline is never an expiry


def test_per_sensor_rules_can_differ() -> None:
    strict = Rules(high=30.0, low=-10.0, hysteresis=1.0, rate=1000.0, silence_s=30.0)
    assert brief(run([20, 35, 20], strict)) == [
        ("s:high_temperature:5000", "high_temperature", "open"),
        ("s:high_temperature:5000", "high_temperature", "resolved")]
    assert run([20, 35, 20], NO_RATE) == []
