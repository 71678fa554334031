"""Issue 16, defects 8 and 9 on the wired job (harness Kafka + Flink).

8: the rules compare temperatures in hundredths, exactly (apps/alerts/README.md, "Numbers"):
   a spread of 20.1 - 10.1 is 10.00 and does not open a rate alert at a limit of 10, nor
   keep one open; 80.004 is 80.00 and stays below a high threshold of 80; what the
   message says is what the rule decided.
9: the aggregates de-duplicate on (sensor_id, seq, ts) and keep the first copy to arrive
   (docs/contracts.md): a sensor whose seq restarts at 0 after a reboot is counted, and a
   later copy of a reading with another temperature changes nothing.

One readings partition and no out-of-orderness: the watermark is the highest ts so far.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from alerts_helpers import (
    aggregate_docs,
    consume_all,
    job_settings,
    prepare,
    produce,
    reading,
    start_job,
    wait_until,
)
from harness.flink import Flink
from harness.kafka import Kafka

pytestmark = pytest.mark.services

T0 = 1_700_000_040_000  # a minute boundary (UTC)
SETTINGS = {
    "WATERMARK_OUT_OF_ORDERNESS_MS": "0", "ALLOWED_LATENESS_MS": "5000",
    "HIGH_THRESHOLD_C": "80", "LOW_THRESHOLD_C": "-10", "HYSTERESIS_C": "2",
    "RATE_OF_CHANGE_C_PER_MIN": "10", "SILENCE_SECONDS": "600", "STATE_TTL_S": "3600",
    "SOURCE_IDLE_TIMEOUT_MS": "600000", "CHECKPOINT_INTERVAL_MS": "2000",
}
# (sensor, ts offset from T0, temperature, seq[, site]), sent in this order
READINGS: list[tuple[Any, ...]] = [
    ("r-equal", 1_000, 10.1, 0), ("r-equal", 2_000, 20.1, 1),      # spread 10.00: nothing
    ("r-above", 1_000, 10.1, 0), ("r-above", 2_000, 20.11, 1),     # 10.01: opens
    ("r-close", 0, 5.0, 0), ("r-close", 1_000, 20.1, 1),           # 15.10: opens
    ("h-under", 1_000, 80.004, 0),                                 # 80.00: nothing
    ("h-over", 1_000, 80.005, 0),                                  # 80.01: opens
    # a reboot: seq starts again at 0 with new ts; then a copy of (seq 1, ts 6 s) that
    # says 99 °C, after the first copy: not counted, the first copy is
    ("b-reboot", 1_000, 20.0, 0), ("b-reboot", 2_000, 21.0, 1),
    ("b-reboot", 5_000, 22.0, 0), ("b-reboot", 6_000, 23.0, 1),
    ("b-reboot", 6_000, 99.0, 1),
    # a minute's site is the greatest of its counted readings' sites, in Unicode code point
    # order (U+1F600 > U+FFFF; in UTF-16 units it would be the other way round); the copy
    # of (seq 0, ts 1 s) with a still greater site is not counted, so not its site either;
    # another seq at the same ts is another reading, counted
    ("s-sites", 1_000, 20.0, 0, "plant-\uffff"), ("s-sites", 2_000, 20.0, 1, "plant-\U0001F600"),
    ("s-sites", 1_000, 20.0, 0, "plant-\U0010FFFF"), ("s-sites", 1_000, 23.0, 9, "plant-a"),
    ("r-close", 60_500, 10.1, 2),  # only 20.1 and 10.1 in [0.5 s, 60.5 s]: 10.00, resolves
    ("clock", 70_000, 20.0, 0),    # the watermark past every event above
]


def test_hundredths_and_copies_on_the_real_job(flink: Flink, kafka: Kafka) -> None:
    settings = job_settings(kafka.bootstrap, flink.rest_url, **SETTINGS)
    prepare(settings, partitions=1)
    produce(kafka.bootstrap, settings["READINGS_TOPIC"],
            [(sensor.encode(), reading(sensor, T0 + dt, temp, seq, *site))
             for sensor, dt, temp, seq, *site in READINGS])
    job_id = start_job(flink, settings)
    try:
        def events() -> list[dict[str, Any]]:
            return [v for _, v in consume_all(kafka.bootstrap, settings["ALERTS_TOPIC"], 1000)]

        def aggregates() -> dict[str, dict[str, Any]] | None:
            docs = aggregate_docs(kafka.bootstrap, settings["AGGREGATES_TOPIC"], 1000)
            return docs if {f"b-reboot:{T0}", f"s-sites:{T0}"} <= set(docs) else None

        docs = wait_until(aggregates, 180, "the first minute of b-reboot")
        wait_until(lambda: sum(e["sensor_id"] == "r-close" for e in events()) == 2, 60,
                   "r-close's rate alert opened and resolved")
        time.sleep(3)  # give a wrong extra event time to show up
        got = [(e["sensor_id"], e["rule"], e["status"], e["value"], e["started_at"],
                e["resolved_at"], e["message"]) for e in events()]
        rate = "temperature changed {} °C within a minute (limit 10 °C)"
        assert sorted(got) == sorted([
            ("h-over", "high_temperature", "open", 80.01, T0 + 1_000, None,
             "temperature 80.01 °C above 80 °C"),
            ("r-above", "rate_of_change", "open", 10.01, T0 + 2_000, None, rate.format("10.01")),
            ("r-close", "rate_of_change", "open", 15.1, T0 + 1_000, None, rate.format("15.10")),
            ("r-close", "rate_of_change", "resolved", 15.1, T0 + 1_000, T0 + 60_500,
             rate.format("15.10")),
        ])
        reboot = docs[f"b-reboot:{T0}"]
        assert (reboot["count"], reboot["min"], reboot["max"], reboot["avg"]) == (
            4, 20.0, 23.0, 21.5)
        assert (reboot["window_start"], reboot["window_end"]) == (T0, T0 + 60_000)
        sites = docs[f"s-sites:{T0}"]
        assert (sites["site"], sites["count"], sites["max"]) == ("plant-\U0001F600", 3, 23.0)
        assert consume_all(kafka.bootstrap, settings["DEAD_LETTER_TOPIC"]) == []
        assert consume_all(kafka.bootstrap, settings["LATE_TOPIC"]) == []
    finally:
        flink.cancel(job_id)
