"""The wired job at its event-time boundaries (issue 16, defects 3, 5 and 6, and a clock
ahead), on the harness.

One readings partition and no out-of-orderness, so the watermark is exactly the highest
``ts`` read so far; each step waits (Flink REST) until every operator has seen it before the
next readings are sent, so which one comes first is fixed, not a race.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from alerts_helpers import (
    aggregate_docs,
    consume_all,
    input_watermarks,
    job_settings,
    late_records_dropped,
    prepare,
    produce,
    reading,
    start_job,
    wait_until,
    wait_watermark,
)
from harness.flink import Flink
from harness.kafka import Kafka

pytestmark = pytest.mark.services

T0 = 1_700_000_040_000  # a minute boundary (UTC)
LATENESS = 5_000
SETTINGS = {
    "WATERMARK_OUT_OF_ORDERNESS_MS": "0", "ALLOWED_LATENESS_MS": str(LATENESS),
    "SILENCE_SECONDS": "30", "RATE_OF_CHANGE_C_PER_MIN": "1000",
    "SOURCE_IDLE_TIMEOUT_MS": "600000", "CHECKPOINT_INTERVAL_MS": "2000",
}


def _send(kafka: Kafka, topic: str, *readings: tuple[str, int, int] | tuple[str, int, int, str]
          ) -> None:
    """(sensor, ts, seq[, site]) readings at 20 °C, in this order (site: plant-a)."""
    produce(kafka.bootstrap, topic,
            [(s.encode(), reading(s, ts, 20.0, seq, *site)) for s, ts, seq, *site in readings])


def test_a_reading_exactly_the_allowed_lateness_behind_counts_in_its_minute(
    flink: Flink, kafka: Kafka
) -> None:
    settings = job_settings(kafka.bootstrap, flink.rest_url, **SETTINGS)
    prepare(settings, partitions=1)
    topic = settings["READINGS_TOPIC"]
    last_ms = T0 + 59_999  # the last millisecond of the minute [T0, T0 + 60 s)
    _send(kafka, topic, ("s-edge", T0 + 10_000, 0), ("s-clock", last_ms + LATENESS, 0))
    job_id = start_job(flink, settings)
    try:
        wait_watermark(flink, job_id, last_ms + LATENESS)  # the minute has closed
        # Exactly LATENESS behind the watermark: on time, counted in its closed minute.
        # One millisecond more: late, on the late topic and in no minute.
        _send(kafka, topic, ("s-edge", last_ms, 1), ("s-edge", last_ms - 1, 2))

        def settled() -> tuple[Any, Any] | None:
            late = consume_all(kafka.bootstrap, settings["LATE_TOPIC"], 1000)
            docs = aggregate_docs(kafka.bootstrap, settings["AGGREGATES_TOPIC"], 1000)
            edge = docs.get(f"s-edge:{T0}")
            return (late, edge) if late and edge and edge["count"] == 2 else None

        late, edge = wait_until(settled, 60, "the on-time reading counted, the late one late")
        time.sleep(3)  # give a wrongly counted late reading time to show up
        assert edge == aggregate_docs(kafka.bootstrap, settings["AGGREGATES_TOPIC"])[
            f"s-edge:{T0}"]
        assert edge["count"] == 2 and edge["window_end"] == T0 + 60_000
        late = consume_all(kafka.bootstrap, settings["LATE_TOPIC"])
        assert [(v["sensor_id"], v["ts"], v["seq"], v["watermark_ms"]) for _, v in late] == [
            ("s-edge", last_ms - 1, 2, last_ms + LATENESS)]
        # Nothing dropped silently by the window: Flink's own counter of dropped records.
        dropped = late_records_dropped(flink, job_id)
        assert dropped and set(dropped.values()) == {0}, dropped
    finally:
        flink.cancel(job_id)


def _silence(sensor: str, started_at: int, last_ts: int, resolved_at: int | None
             ) -> list[dict[str, Any]]:
    """The events of one silence episode of ``sensor`` (open, then resolved if it was)."""
    opened = {"alert_id": f"{sensor}:sensor_silent:{started_at}", "sensor_id": sensor,
              "site": "plant-a", "rule": "sensor_silent", "severity": "warning",
              "status": "open", "value": 30.0, "threshold": 30.0, "started_at": started_at,
              "resolved_at": None, "updated_at": started_at,
              "message": f"no reading for 30 s after {last_ts}"}
    if resolved_at is None:
        return [opened]
    return [opened, {**opened, "status": "resolved", "resolved_at": resolved_at,
                     "updated_at": resolved_at}]


def test_silence_does_not_depend_on_the_order_of_readings_and_watermark(
    flink: Flink, kafka: Kafka
) -> None:
    settings = job_settings(kafka.bootstrap, flink.rest_url, **SETTINGS)
    prepare(settings, partitions=1)
    topic = settings["READINGS_TOPIC"]
    t = T0
    timer = t + 30_000 + LATENESS + 1  # when a silence after a reading at t is certain
    sensors = ("s-five", "s-eq-first", "s-eq-wm", "s-gap-first", "s-gap-wm", "s-gap-timer")
    # Reading first: the next reading comes before the watermark moves past the deadline.
    # The gap sensors' next readings come from another site (the sensor moved): a silence
    # carries the site of the last reading before it, whichever path opens it.
    _send(kafka, topic, *[(s, t, 0) for s in sensors],
          ("s-eq-first", t + 30_000, 1), ("s-gap-first", t + 30_001, 1, "plant-b"),
          ("s-clock", t + 32_000, 0))
    job_id = start_job(flink, settings)
    try:
        alerts = settings["ALERTS_TOPIC"]

        def events() -> list[dict[str, Any]]:
            return [v for _, v in consume_all(kafka.bootstrap, alerts, 1000)]

        # The outside tester's case: the watermark passed t + 30 s because of another
        # sensor, then s-five's next reading at t + 28 s, within the lateness: never silent.
        wait_watermark(flink, job_id, t + 32_000)
        _send(kafka, topic, ("s-five", t + 28_000, 1), ("s-clock", t + 35_000, 1))
        # Watermark first, up to the last one that keeps a reading at t + 30 s on time.
        wait_watermark(flink, job_id, timer - 1)
        _send(kafka, topic, ("s-eq-wm", t + 30_000, 1), ("s-gap-wm", t + 30_001, 1, "plant-b"),
              ("s-clock", timer, 2))
        # Timer first: s-gap-timer's silence opens at the watermark `timer` ...
        wait_watermark(flink, job_id, timer)
        wait_until(lambda: any(e["sensor_id"] == "s-gap-timer" for e in events()), 60,
                   "the silence timer of s-gap-timer")
        # ... and its next reading, still on time (exactly LATENESS behind), resolves it.
        _send(kafka, topic, ("s-gap-timer", t + 30_001, 1, "plant-b"),
              ("s-clock", t + 63_000, 3))
        # s-five's silence after its reading at t + 28 s is certain one ms later, not yet.
        wait_watermark(flink, job_id, t + 63_000)
        time.sleep(3)
        assert not [e for e in events() if e["sensor_id"] == "s-five"]
        _send(kafka, topic, ("s-clock", t + 63_001, 4))

        def every_event() -> list[dict[str, Any]] | None:
            got = events()
            return got if any(e["sensor_id"] == "s-five" for e in got) else None

        wait_until(every_event, 60, "s-five's real silence")
        time.sleep(3)  # give a wrong extra event time to show up
        by_sensor: dict[str, list[dict[str, Any]]] = {}
        for event in events():
            by_sensor.setdefault(event["sensor_id"], []).append(event)
        assert by_sensor == {
            # a gap of exactly 30 s is no silence, whichever came first
            # a gap of 30.001 s is one episode, the same events whichever came first, at the
            # site of the reading before the gap (plant-a, not the next one's plant-b)
            "s-gap-first": _silence("s-gap-first", t + 30_000, t, t + 30_001),
            "s-gap-wm": _silence("s-gap-wm", t + 30_000, t, t + 30_001),
            "s-gap-timer": _silence("s-gap-timer", t + 30_000, t, t + 30_001),
            # the real silence after t + 28 s, opened when the watermark reached
            # t + 28 s + 30 s + LATENESS + 1 ms
            "s-five": _silence("s-five", t + 58_000, t + 28_000, None),
        }
        assert consume_all(kafka.bootstrap, settings["LATE_TOPIC"]) == []
    finally:
        flink.cancel(job_id)


def test_a_reading_from_a_clock_ahead_cannot_move_event_time(flink: Flink, kafka: Kafka) -> None:
    """A valid ts up to year 9999 used to move the watermark there, and every later reading
    went late. Now a ts more than MAX_TS_AHEAD_MS after its Kafka record's timestamp is a
    dead letter, and no message moves the watermark past its record's timestamp."""
    settings = job_settings(kafka.bootstrap, flink.rest_url, **SETTINGS,
                            MAX_TS_AHEAD_MS="60000")
    prepare(settings, partitions=1)
    topic = settings["READINGS_TOPIC"]
    now = int(time.time() * 1000)
    # Kafka stamps each record when it is sent (kafka-python's CreateTime), after `now`.
    _send(kafka, topic,
          ("s-ahead", now + 30_000, 0),  # 30 s ahead of its record: accepted
          ("s-far", now + 86_400_000, 0),  # a day ahead: refused
          ("s-now", now, 0))
    job_id = start_job(flink, settings)
    try:
        wait_watermark(flink, job_id, now)
        time.sleep(1)  # a few more periodic watermarks
        marks = input_watermarks(flink, job_id)
        assert max(marks.values()) < now + 30_000, marks  # at most the records' timestamps
        # Behind the watermark by less than the lateness: on time. Years behind: late.
        _send(kafka, topic, ("s-now", now + 1, 1), ("s-old", T0, 0))
        wait_until(lambda: consume_all(kafka.bootstrap, settings["LATE_TOPIC"], 1000), 60,
                   "the late reading")
        time.sleep(3)  # give a wrongly late reading time to show up
        late = consume_all(kafka.bootstrap, settings["LATE_TOPIC"])
        assert [v["sensor_id"] for _, v in late] == ["s-old"]
        assert now <= late[0][1]["watermark_ms"] < now + 30_000
        dead = consume_all(kafka.bootstrap, settings["DEAD_LETTER_TOPIC"])
        assert [(json.loads(v["payload"])["sensor_id"], v["reason"]) for _, v in dead] == [
            ("s-far", "field 'ts' is out of range")]
    finally:
        flink.cancel(job_id)


def test_a_rate_alert_does_not_wait_for_the_watermark(flink: Flink, kafka: Kafka) -> None:
    """The rate's spread is computed as each applied reading arrives (in the Java aggregate
    SENSOR_RULES), like the threshold rules: with 10 minutes of out-of-orderness the
    watermark stays 10 minutes behind, and the alert is on the topic anyway. (The
    event-time RANGE window before it emitted a reading only once the watermark reached
    its ts.)"""
    ooo = 600_000
    settings = job_settings(kafka.bootstrap, flink.rest_url, **{
        **SETTINGS, "WATERMARK_OUT_OF_ORDERNESS_MS": str(ooo), "RATE_OF_CHANGE_C_PER_MIN": "10"})
    prepare(settings, partitions=1)
    produce(kafka.bootstrap, settings["READINGS_TOPIC"], [
        (b"s-rate", reading("s-rate", T0, 20.0, 0)),
        (b"s-rate", reading("s-rate", T0 + 1_000, 30.5, 1)),  # spread 10.50 > 10: opens
    ])
    job_id = start_job(flink, settings)
    try:
        alerts = wait_until(lambda: consume_all(kafka.bootstrap, settings["ALERTS_TOPIC"], 1000),
                            60, "the rate alert")
        assert [v for _, v in alerts] == [{
            "alert_id": f"s-rate:rate_of_change:{T0 + 1_000}", "sensor_id": "s-rate",
            "site": "plant-a", "rule": "rate_of_change", "severity": "warning",
            "status": "open", "value": 10.5, "threshold": 10.0, "started_at": T0 + 1_000,
            "resolved_at": None, "updated_at": T0 + 1_000,
            "message": "temperature changed 10.50 °C within a minute (limit 10 °C)"}]
        marks = input_watermarks(flink, job_id)
        assert max(marks.values()) <= T0 + 1_000 - ooo, marks  # still 10 minutes behind
    finally:
        flink.cancel(job_id)
