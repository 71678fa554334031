"""The pure rules (alerts.rules) on in-memory sequences of readings: no Flink needed."""

from __future__ import annotations

import random
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from alerts.config import Rules
from alerts.rules import (
    Reading,
    SensorState,
    expired,
    expiry_timer,
    hundredths,
    on_reading,
    on_timer,
    silence_timer_at,
    timer_needed,
)

RULES = Rules(high=80.0, low=-10.0, hysteresis=2.0, rate=10.0, silence_s=30.0)
NO_RATE = Rules(high=80.0, low=-10.0, hysteresis=2.0, rate=1000.0, silence_s=30.0)
NO_SILENCE = Rules(high=80.0, low=-10.0, hysteresis=2.0, rate=10.0, silence_s=600.0)
LATENESS = 5_000  # ALLOWED_LATENESS_MS of these tests


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
    # 1 000 + 30 s of silence + 5 s of allowed lateness + 1 ms
    assert timer_needed(state, RULES, LATENESS) == 36_001
    assert timer_needed(state, RULES, LATENESS) is None  # one timer at a time
    events = on_timer(state, "s", 36_001, RULES, LATENESS)
    assert brief(events) == [("s:sensor_silent:31000", "sensor_silent", "open")]
    back = on_reading(state, Reading("s", "p", 90_000, 20.0, 1), RULES)
    assert brief(back) == [("s:sensor_silent:31000", "sensor_silent", "resolved")]
    assert back[0]["resolved_at"] == 90_000


def test_a_timer_made_stale_by_newer_readings_raises_nothing() -> None:
    state = SensorState()
    on_reading(state, Reading("s", "p", 0, 20.0, 0), RULES)
    assert timer_needed(state, RULES, LATENESS) == 35_001
    on_reading(state, Reading("s", "p", 20_000, 20.0, 1), RULES)
    assert on_timer(state, "s", 35_001, RULES, LATENESS) == []
    assert timer_needed(state, RULES, LATENESS) == 55_001  # re-armed for the new deadline


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
    deadline = timer_needed(state, RULES, LATENESS)
    assert deadline == 36_001 and not expired(state, 36_001, 600_000)
    on_timer(state, "s", 36_001, RULES, LATENESS)
    assert timer_needed(state, RULES, LATENESS) is None
    assert expiry_timer(state, 600_000) == 601_000
    assert not expired(state, 600_999, 600_000)
    assert expired(state, 601_000, 600_000)


def test_an_expiry_made_stale_by_a_new_reading_is_ignored() -> None:
    state = SensorState()
    on_reading(state, Reading("s", "p", 1_000, 20.0, 0), RULES)
    on_timer(state, "s", timer_needed(state, RULES, LATENESS) or 0, RULES, LATENESS)
    stale = expiry_timer(state, 600_000)
    assert stale == 601_000
    on_reading(state, Reading("s", "p", 500_000, 20.0, 1), RULES)  # back: silence resolved
    new_deadline = timer_needed(state, RULES, LATENESS)
    assert new_deadline == 535_001
    assert not expired(state, stale, 600_000)  # the sensor's readings moved its expiry
    assert not expired(state, new_deadline, 600_000)  # a silence deadline is never an expiry


def test_per_sensor_rules_can_differ() -> None:
    strict = Rules(high=30.0, low=-10.0, hysteresis=1.0, rate=1000.0, silence_s=30.0)
    assert brief(run([20, 35, 20], strict)) == [
        ("s:high_temperature:5000", "high_temperature", "open"),
        ("s:high_temperature:5000", "high_temperature", "resolved")]
    assert run([20, 35, 20], NO_RATE) == []


# Silence boundary and arrival order. `drive` plays one sensor's arrivals the way the job
# does: a reading more than LATENESS behind the watermark goes to the late topic (never to
# the rules); a watermark fires every registered timer at or below it (one timer at a time).
Step = tuple[str, Any]  # ("r", Reading) or ("w", watermark)


def r(ts: int, seq: int = 0, value: float = 20.0, site: str = "p") -> Step:
    return ("r", Reading("s", site, ts, value, seq))


def w(watermark: int) -> Step:
    return ("w", watermark)


def drive(steps: Sequence[Step], rules: Rules = RULES
          ) -> tuple[list[dict[str, Any]], list[Reading]]:
    """(alert events, late readings) of one sensor for these arrivals."""
    state, events, late = SensorState(), [], []
    watermark: int | None = None
    timer: int | None = None
    for kind, item in steps:
        if kind == "r":
            if watermark is not None and item.ts < watermark - LATENESS:
                late.append(item)
                continue
            events += on_reading(state, item, rules)
            timer = timer_needed(state, rules, LATENESS) or timer
        else:
            watermark = item if watermark is None else max(watermark, item)
            while timer is not None and timer <= watermark:
                fired, timer = timer, None
                events += on_timer(state, "s", fired, rules, LATENESS)
                timer = timer_needed(state, rules, LATENESS)
    return events, late


def test_the_silence_timer_waits_for_every_reading_that_could_still_be_on_time() -> None:
    assert silence_timer_at(1_000, RULES, LATENESS) == 1_000 + 30_000 + 5_000 + 1
    events, _ = drive([r(1_000), w(36_000)])
    assert events == []  # a reading at 31 000 would still be on time (5 000 behind)
    events, _ = drive([r(1_000), w(36_001)])
    assert brief(events) == [("s:sensor_silent:31000", "sensor_silent", "open")]


def test_a_gap_of_exactly_the_silence_is_not_silence_in_either_order() -> None:
    reading_first = drive([r(0), r(30_000, 1), w(35_000)])
    watermark_first = drive([r(0), w(35_000), r(30_000, 1)])  # 5 000 behind: on time
    assert reading_first == watermark_first == ([], [])


def test_a_gap_one_ms_longer_is_one_episode_in_either_order() -> None:
    reading_first, late = drive([r(0), r(30_001, 1)])
    assert late == []
    assert brief(reading_first) == [("s:sensor_silent:30000", "sensor_silent", "open"),
                                    ("s:sensor_silent:30000", "sensor_silent", "resolved")]
    opened, resolved = reading_first
    assert opened["started_at"] == opened["updated_at"] == 30_000
    assert resolved["resolved_at"] == 30_001 > resolved["started_at"] == 30_000
    # The timer fires first (the watermark at 35 001), the reading is still on time.
    timer_first, late = drive([r(0), w(35_001), r(30_001, 1)])
    assert late == [] and timer_first == reading_first
    assert drive([r(0), w(35_001)])[0] == [opened]  # the open came from the timer


def test_a_silence_carries_the_site_of_the_last_reading_before_it_on_both_paths() -> None:
    # The sensor moved during its silence: the episode is the silence after the reading at
    # plant "p", whichever path opens it, and its resolve repeats the open's fields.
    reading_first, _ = drive([r(0, 0, site="p"), r(30_001, 1, site="q")])
    timer_first, _ = drive([r(0, 0, site="p"), w(35_001), r(30_001, 1, site="q")])
    assert timer_first == reading_first
    assert [(e["status"], e["site"]) for e in reading_first] == [("open", "p"), ("resolved", "p")]


def test_a_late_next_reading_leaves_the_timers_episode_open() -> None:
    # The watermark passed 35 001: the timer opened the episode; a reading at 30 000 is
    # then more than 5 s behind, so it is late and used by nothing else.
    events, late = drive([r(0), w(35_001), r(30_000, 1)])
    assert brief(events) == [("s:sensor_silent:30000", "sensor_silent", "open")]
    assert [x.ts for x in late] == [30_000]


def test_a_watermark_pushed_by_other_sensors_gives_no_false_silence() -> None:
    # The outside tester's case: read at t, the watermark passes t + 30 s (other sensors),
    # then the next reading at t + 28 s, within the lateness. Never 30 s silent: no alert,
    # until the sensor really is quiet for more than 30 s after its last reading.
    events, late = drive([r(0), w(32_000), r(28_000, 1), w(63_000)])
    assert (events, late) == ([], [])
    events, _ = drive([r(0), w(32_000), r(28_000, 1), w(63_001)])
    assert brief(events) == [("s:sensor_silent:58000", "sensor_silent", "open")]


def test_silence_events_do_not_depend_on_watermark_timing() -> None:
    # Random sequences (gaps around the silence, duplicates), each played once with no
    # watermark until the end and once with random watermarks in between that keep every
    # reading on time: the same readings applied must give the same events, in order.
    rng = random.Random(16)
    for _ in range(500):
        ts, readings = 0, []
        for seq in range(rng.randint(1, 12)):
            ts += rng.choice([1, 5_000, 29_999, 30_000, 30_001, 35_000, 35_001, 90_000])
            # the site changes now and then (a sensor moved): part of the events' fields
            readings.append(r(ts, seq, rng.choice([20.0, 95.0]), rng.choice(["p", "p", "q"])))
            if rng.random() < 0.2:
                readings.append(readings[-1])  # a duplicate
        end = w(ts + 200_000)
        plain, _ = drive([*readings, end])
        steps: list[Step] = []
        watermark = 0
        for i, step in enumerate(readings):
            steps.append(step)
            if i + 1 < len(readings) and rng.random() < 0.7:
                # up to the highest watermark that keeps the next reading on time (often
                # exactly that one: the boundary)
                highest = readings[i + 1][1].ts + LATENESS
                watermark = max(watermark, rng.choice([highest, rng.randint(0, highest)]))
                steps.append(w(watermark))
        timed, late = drive([*steps, end])
        assert late == []
        assert timed == plain, steps
        for event in timed:
            if event["rule"] == "sensor_silent" and event["status"] == "resolved":
                assert event["resolved_at"] > event["started_at"]


# Defect 8: the rules compare hundredths, exactly, so the message agrees with the decision.

def test_hundredths_round_the_shortest_decimal_half_away_from_zero() -> None:
    assert [str(hundredths(x)) for x in (20.1, 80.004, 80.005, 1.005, 2.675, -0.005, -273.15,
                                         9999.995, 0.0049999)] == [
        "20.10", "80.00", "80.01", "1.01", "2.68", "-0.01", "-273.15", "10000.00", "0.00"]


def test_a_spread_that_is_the_limit_in_decimal_neither_opens_nor_keeps_a_rate_alert() -> None:
    assert 20.1 - 10.1 > 10  # in binary floating point it is 10.000000000000002
    assert run([10.1, 20.1]) == []  # a spread of 10.00 at a limit of 10
    events = run([10.1, 20.11])
    assert brief(events) == [("s:rate_of_change:5000", "rate_of_change", "open")]
    assert events[0]["value"] == 10.01
    assert events[0]["message"] == (
        "temperature changed 10.01 °C within a minute (limit 10 °C)")
    # Open (spread 15.10), then 20.1 and 10.1 alone in the window: 10.00, resolved; in
    # binary floating point it would have stayed open.
    steps = [r(0, 0, 5.0), r(1_000, 1, 20.1), r(60_500, 2, 10.1)]
    rate = [e for e in drive(steps, NO_SILENCE)[0] if e["rule"] == "rate_of_change"]
    assert [(e["status"], e["value"], e["resolved_at"]) for e in rate] == [
        ("open", 15.1, None), ("resolved", 15.1, 60_500)]


def test_thresholds_compare_the_reading_in_hundredths() -> None:
    assert run([80.004], NO_RATE) == []
    events = run([80.005, 77.995, 77.994], NO_RATE)  # 80.01 opens; 78.00 keeps; 77.99 resolves
    assert [(e["status"], e["value"], e["resolved_at"]) for e in events] == [
        ("open", 80.01, None), ("resolved", 80.01, 10_000)]
    assert events[0]["message"] == "temperature 80.01 °C above 80 °C"
    low = run([-10.004, -10.005, -7.995, -7.994], NO_RATE)
    assert [(e["status"], e["value"], e["started_at"]) for e in low] == [
        ("open", -10.01, 5_000), ("resolved", -10.01, 5_000)]
    assert low[1]["resolved_at"] == 15_000


def test_thresholds_are_compared_as_the_decimals_they_are_written_as() -> None:
    # 80.2 - 0.1 is 80.1 in decimal (80.10000000000001 in binary): 80.1 is inside
    # [HIGH - HYSTERESIS, HIGH], so it does not resolve; 80.09 does.
    assert 80.1 < 80.2 - 0.1
    rules = Rules(high=80.2, low=-10.0, hysteresis=0.1, rate=1000.0, silence_s=30.0)
    events = run([81.0, 80.1, 80.09], rules)
    assert [(e["status"], e["resolved_at"]) for e in events] == [
        ("open", None), ("resolved", 10_000)]


def test_the_rate_message_agrees_with_the_decision_on_random_pairs() -> None:
    rng = random.Random(8)
    for _ in range(5_000):
        a = round(rng.uniform(-50, 50), rng.choice([1, 2, 3]))
        limit = rng.choice([10.0, 5.0, 0.3, 12.5])
        b = round(a + limit + rng.choice([-0.01, 0.0, 0.01, -0.005, 0.005]), 3)
        events = run([a, b], Rules(1000, -1000, 2, limit, 30))
        said = events[0]["message"].split()[2] if events else None
        if events:
            assert float(said) > limit, (a, b, limit, said)  # type: ignore[arg-type]
        else:
            assert hundredths(b) - hundredths(a) <= Decimal(str(limit)), (a, b, limit)
