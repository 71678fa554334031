"""The wired job on the harness's real Flink and Kafka: a scripted scenario."""

from __future__ import annotations

import io
import os
import time
from collections import Counter
from pathlib import Path

import pytest

import scenario
from alerts.config import load
from alerts.submit import SubmitError, deploy, latest_failure, submit, wait_for_cluster
from alerts_helpers import (
    aggregate_docs,
    alert_docs,
    consume_all,
    job_settings,
    prepare,
    produce,
    start_job,
    submit_args,
    wait_until,
)
from harness.flink import Flink
from harness.kafka import Kafka

pytestmark = pytest.mark.services


def test_scenario_gives_exactly_the_expected_outputs(flink: Flink, kafka: Kafka) -> None:
    settings = job_settings(kafka.bootstrap, flink.rest_url, **scenario.RULE_SETTINGS)
    prepare(settings)
    produce(kafka.bootstrap, settings["READINGS_TOPIC"], scenario.phase1())
    produce(kafka.bootstrap, settings["READINGS_TOPIC"], scenario.clocks(3))
    job_id = start_job(flink, settings)
    try:
        # The submitter is idempotent: a job of the same name is running, so it does nothing.
        again, submitted = submit(load(settings), dict(settings), flink="/nonexistent/flink")
        assert (again, submitted) == (job_id, False)
        expected = {a["alert_id"]: a for a in scenario.EXPECTED_ALERTS}
        want_aggs = scenario.expected_aggregates()

        # What the indexer makes of the two topics: the last event of each alert_id, the
        # latest value of each aggregate key.
        def alerts_done() -> dict[str, dict[str, object]] | None:
            docs = alert_docs(kafka.bootstrap, settings["ALERTS_TOPIC"])
            done = len(docs) >= len(expected) and all(
                d["status"] == "resolved" for d in docs.values())
            return docs if done else None

        def aggregates_done() -> dict[str, dict[str, object]] | None:
            docs = aggregate_docs(kafka.bootstrap, settings["AGGREGATES_TOPIC"])
            counts = {k: v["count"] for k, v in docs.items()}
            if os.environ.get("ALERTS_DEBUG"):
                print("AGG", sorted(counts.items()))
            return docs if counts == {k: v["count"] for k, v in want_aggs.items()} else None

        alerts = wait_until(alerts_done, 180, "every scenario alert resolved on the topic")
        aggs = wait_until(aggregates_done, 60, "the one-minute aggregates")
        # The watermark has now passed phase 1: these readings are far behind it.
        time.sleep(3)
        produce(kafka.bootstrap, settings["READINGS_TOPIC"], scenario.phase2())
        late = wait_until(
            lambda: len(consume_all(kafka.bootstrap, settings["LATE_TOPIC"], 1000)) >= 2
            and consume_all(kafka.bootstrap, settings["LATE_TOPIC"], 1000),
            60, "the late readings on the late topic")
        time.sleep(3)  # give a wrongly counted late reading time to show up

        assert alerts == expected
        assert alert_docs(kafka.bootstrap, settings["ALERTS_TOPIC"]) == expected

        # Keyed by document id, exactly the expected keys, no tombstone (nothing deletes).
        records = consume_all(kafka.bootstrap, settings["AGGREGATES_TOPIC"])
        assert {k for k, _ in records} == {doc_id.encode() for doc_id in want_aggs}
        assert all(v is not None for _, v in records)
        aggs = aggregate_docs(kafka.bootstrap, settings["AGGREGATES_TOPIC"])
        assert set(aggs) == set(want_aggs)
        for doc_id, want in want_aggs.items():
            got = aggs[doc_id]
            assert got == {**want, "avg": pytest.approx(want["avg"])}, doc_id
        # duplicates counted once: 12 readings of s-dup in its first minute, not 24
        assert aggs[f"s-dup:{scenario.T0}"]["count"] == 12

        events = [v for _, v in consume_all(kafka.bootstrap, settings["ALERTS_TOPIC"])]
        seen = Counter((e["alert_id"], e["status"]) for e in events)
        assert seen == Counter({(i, s): 1 for i in expected for s in ("open", "resolved")})
        for event in events:
            want = dict(expected[event["alert_id"]])
            if event["status"] == "open":
                want.update(status="open", resolved_at=None, updated_at=want["started_at"])
            assert event == want

        dlq = consume_all(kafka.bootstrap, settings["DEAD_LETTER_TOPIC"])
        got_dlq = sorted((k, v["payload"], v["reason"], v["source_topic"]) for k, v in dlq)
        assert got_dlq == sorted(
            (k, None if p is None else p.decode(), reason, settings["READINGS_TOPIC"])
            for k, p, reason in scenario.MALFORMED)
        assert all(isinstance(v["failed_at"], int) and v["failed_at"] > 0 for _, v in dlq)

        got_late = sorted((v["sensor_id"], v["ts"], v["temperature_c"], v["seq"])
                          for _, v in late)
        assert got_late == sorted(scenario.LATE)
        assert all(v["watermark_ms"] > v["ts"] + 5_000 for _, v in late)
    finally:
        flink.cancel(job_id)


def test_submitter_gives_up_after_its_bounded_wait_naming_the_url() -> None:
    with pytest.raises(SubmitError, match=r"Flink at http://127.0.0.1:9 was not ready after 1 s"):
        wait_for_cluster("http://127.0.0.1:9", timeout_s=1, poll_s=0.2)


def test_the_reason_a_job_failed_is_its_newest_exception_history_entry() -> None:
    # Flink 2's GET /jobs/<id>/exceptions has only exceptionHistory (no root-exception).
    history = [{"stacktrace": "java.lang.A: old", "timestamp": 1},
               {"stacktrace": "java.lang.B: new", "timestamp": 2}]
    answer = {"exceptionHistory": {"entries": history, "truncated": False}}
    assert latest_failure(answer) == "java.lang.B: new"
    assert latest_failure({"exceptionHistory": {"entries": [], "truncated": False}}) == ""


def test_a_state_that_cannot_be_restored_is_reported_and_the_job_runs_without_it(
    flink: Flink, kafka: Kafka, tmp_path: Path
) -> None:
    missing = f"file:{tmp_path}/savepoint-000000-000000000000"
    settings = job_settings(kafka.bootstrap, flink.rest_url, RESTORE_FROM=missing)
    prepare(settings)
    cfg, env, how = submit_args(flink, settings)
    out = io.StringIO()
    code = deploy(cfg, env, out, **how)
    lines = out.getvalue().splitlines()
    # The reason first, in one line, not at the end of a Java stack trace.
    assert lines[0].startswith("alerts submit: `flink run` failed (exit "), lines[0]
    assert "Cannot find checkpoint or savepoint" in lines[0] and missing in lines[0]
    # Not a dead end: the job runs without the state, and the exit code still says so.
    assert code == 1
    started = [line for line in lines if "WITHOUT the previous job's state" in line]
    assert len(started) == 1 and missing in started[0], lines[-3:]
    job_id = started[0].split("started ", 1)[1].split()[0]
    try:
        assert flink.job_state(job_id) == "RUNNING"
    finally:
        flink.cancel(job_id)
