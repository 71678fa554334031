"""The wired job on the harness's real Flink and Kafka: a scripted scenario."""

from __future__ import annotations

import io
import os
import time
from collections import Counter
from pathlib import Path

import pytest

import scenario
from alerts import validation
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
        progress: dict[str, dict[str, object]] = {}

        def alerts_done() -> dict[str, dict[str, object]] | None:
            docs = alert_docs(kafka.bootstrap, settings["ALERTS_TOPIC"])
            progress.clear()
            progress.update(docs)
            done = len(docs) >= len(expected) and all(
                d["status"] == "resolved" for d in docs.values())
            return docs if done else None

        def aggregates_done() -> dict[str, dict[str, object]] | None:
            docs = aggregate_docs(kafka.bootstrap, settings["AGGREGATES_TOPIC"])
            counts = {k: v["count"] for k, v in docs.items()}
            if os.environ.get("ALERTS_DEBUG"):
                print("AGG", sorted(counts.items()))
            return docs if counts == {k: v["count"] for k, v in want_aggs.items()} else None

        try:
            alerts = wait_until(alerts_done, 180, "every scenario alert resolved on the topic")
        except AssertionError as timed_out:
            late = consume_all(kafka.bootstrap, settings["LATE_TOPIC"], 1000)
            open_ = sorted(k for k, d in progress.items() if d["status"] != "resolved")
            raise AssertionError(
                f"{timed_out}\nmissing: {sorted(set(expected) - set(progress))}\n"
                f"not resolved: {open_}"
                f"\nunexpected: {sorted(set(progress) - set(expected))}\nlate readings: {late!r}"
            ) from None
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
        assert [(v["payload_truncated"], v["payload_chars"]) for _, v in dlq] == [
            (False, None if v["payload"] is None else len(v["payload"])) for _, v in dlq]

        got_late = sorted((v["sensor_id"], v["ts"], v["temperature_c"], v["seq"])
                          for _, v in late)
        assert got_late == sorted(scenario.LATE)
        assert all(v["watermark_ms"] > v["ts"] + 5_000 for _, v in late)
    finally:
        flink.cancel(job_id)


def test_edge_inputs_on_the_real_job(flink: Flink, kafka: Kafka) -> None:
    """Issue 16, defects 1, 2, 4, 7: every edge case of scenario.EDGE_CASES is accepted (its
    minute is aggregated) or dead-lettered with its documented reason; a 600 kB message of
    characters JSON must escape gives exactly one dead letter, cut as documented, and the
    job runs on (no failure, no restart) and processes the next reading."""
    settings = job_settings(kafka.bootstrap, flink.rest_url, **scenario.RULE_SETTINGS)
    prepare(settings)
    t0, limit = scenario.EDGE_T0, validation.MAX_PAYLOAD_CHARS
    edge = [(f"edge-{name}".encode(), payload.encode()) for name, payload, _ in scenario.EDGE_CASES]
    # The poison pill's pair of readings in one minute, at the top of the accepted range.
    pair = [(b"e-max-pair", scenario.edge_text("e-max-pair", "10000", seq=i, ts=t0 + i).encode())
            for i in (0, 1)]
    huge = [(b"huge", scenario.HUGE_ESCAPABLE.encode()),
            (b"e-after-huge", scenario.edge_text("e-after-huge").encode())]
    produce(kafka.bootstrap, settings["READINGS_TOPIC"], edge + pair + huge)
    produce(kafka.bootstrap, settings["READINGS_TOPIC"], scenario.clocks(3))

    def minute(sensor: str, value: float, count: int = 1) -> tuple[str, dict[str, object]]:
        return f"{sensor}:{t0}", {
            "sensor_id": sensor, "site": "plant-a", "window_start": t0,
            "window_end": t0 + 60_000, "count": count, "min": value, "avg": value, "max": value}

    want_aggs = dict(
        [minute(scenario.edge_sensor(name), value)
         for name, value in scenario.EDGE_ACCEPTED_C.items()]
        + [minute("e-max-pair", 10_000.0, 2), minute("e-after-huge", 21.5)])
    assert {scenario.edge_sensor(n) for n, _, r in scenario.EDGE_CASES if r is None} == {
        scenario.edge_sensor(n) for n in scenario.EDGE_ACCEPTED_C}
    job_id = start_job(flink, settings)
    try:
        aggs = wait_until(
            lambda: (docs := aggregate_docs(kafka.bootstrap, settings["AGGREGATES_TOPIC"]))
            and set(docs) >= set(want_aggs) and docs, 180, "the accepted edge readings' minutes")
        # A valid reading far behind the watermark with a large extra field: late, cut too.
        note = ',"note":"' + '\\"' * 20_000 + '"'
        late_text = scenario.edge_text("e-late", extra=note)
        produce(kafka.bootstrap, settings["READINGS_TOPIC"], [(b"e-late", late_text.encode())])
        late = wait_until(lambda: consume_all(kafka.bootstrap, settings["LATE_TOPIC"], 1000),
                          60, "the late reading")
        time.sleep(2)  # give a wrong extra record time to show up

        assert aggs == want_aggs  # nothing else aggregated; every aggregate finite

        dlq = consume_all(kafka.bootstrap, settings["DEAD_LETTER_TOPIC"])
        got = {k.decode(): v["reason"] for k, v in dlq}
        want = {f"edge-{name}": r for name, _, r in scenario.EDGE_CASES if r is not None}
        assert got == {**want, "huge": "not JSON"}
        assert len(dlq) == len(got)  # one record each
        for key, value in dlq:
            original = dict(edge)[key] if key != b"huge" else huge[0][1]
            text = original.decode()
            assert value["payload"] == text[:limit], key
            assert (value["payload_truncated"], value["payload_chars"]) == (
                len(text) > limit, len(text)), key
        assert len(scenario.HUGE_ESCAPABLE) == 600_000 > limit

        assert [(k, v["sensor_id"], v["payload"], v["payload_truncated"], v["payload_chars"])
                for k, v in late] == [
            (b"e-late", "e-late", late_text[:limit], True, len(late_text))]

        assert flink.job_state(job_id) == "RUNNING"
        history = flink.get(f"/jobs/{job_id}/exceptions")["exceptionHistory"]["entries"]
        assert history == []  # never failed, never restarted
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


def test_the_plan_reads_and_checks_each_message_once() -> None:
    """The job's optimized plan (alerts.job.define_job, the settings' defaults): one Kafka
    scan that every output reads, one CHECK_READING call in the projection they share, the
    event-time column in the scan's watermark and that projection (its two computations,
    validation's docstring), one PythonCalc (the alert events' value and message), and one
    keyed stage, SENSOR_RULES, behind the one hash exchange: the rules and the minute
    aggregates (no window operator)."""
    from alerts import job
    from alerts_helpers import functions_jar
    from harness import artifacts

    cfg = load({"READINGS_TOPIC": "readings"})
    _, t_env = job.environments(
        cfg, functions_jar().as_uri(),
        *[jar.as_uri() for jar in artifacts.resolve("flink-connectors").glob("*.jar")])
    plan = job.define_job(t_env, cfg).explain().split("== Optimized Execution Plan ==")[1]
    assert plan.count("TableSourceScan(") == 1, plan
    assert plan.count("CHECK_READING(") == 1, plan
    assert plan.count("READING_EVENT_TIME(") == 2, plan
    assert plan.count("PythonCalc(") == 1 and plan.count("alert_message(") == 1, plan
    assert plan.count("ProcessTableFunction(") == 1 and plan.count("SENSOR_RULES(") == 1, plan
    assert plan.count("Exchange(distribution=[hash[sensor_id]])") == 1, plan
    assert "GroupWindowAggregate" not in plan and "WindowAggregate" not in plan, plan
    for sink in ("kafka_dead_letters", "kafka_late", "kafka_aggregates", "kafka_alerts"):
        assert plan.count(f"Sink(table=[default_catalog.default_database.{sink}]") == 1, plan
