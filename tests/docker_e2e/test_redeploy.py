"""A redeploy or a reboot keeps the job's state: an alert opened before is resolved after.

``pulumi up`` after a change replaces the alerts job's keeper (the ``alerts-submit``
service, the description's own command), deleting the old container first as the Docker
target does. Two kinds of redeploy, a reboot and a JobManager restart, one after the other:

1. settings changed, Flink kept: the new keeper stops the running job with a savepoint (on
   the volume the Flink containers and the keeper mount), the new job starts from it;
2. a new alerts image: the JobManager and TaskManager are replaced too and the job dies with
   them; the keeper finds the newest checkpoint it left on the volume;
3. a reboot: every running container of the stack restarts (``docker restart``, as the
   daemon does with their restart policy) and nobody types anything: the restarted keeper
   finds a JobManager without the job and starts it from the newest checkpoint;
4. the JobManager and TaskManager alone restart: the keeper, still running, notices the
   missing job and starts it again; then only the newest ``flinkStateRetained`` savepoints
   and checkpoints are left on the volume.

Each time a sensor that is hot before and cools down after must resolve the SAME alert; a
job that forgot its state would leave that alert open forever. The job writes Kafka only; the
indexer (the dashboard image, the described entrypoint) ships alerts and aggregates into
Elasticsearch and keeps running across the job's redeploys (the reboot restarts it too).
After each redeploy the minutes its readings closed are on the aggregates topic (keyed by
document id, each counting all its readings once, whatever state went through the redeploy)
and in the index, which holds exactly the latest aggregate of every key of the topic.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import pytest
from alerts import config as alerts_config
from alerts import rules
from elasticsearch import Elasticsearch as EsClient
from harness.elasticsearch import Elasticsearch
from harness.kafka import Kafka
from harness.procs import free_port
from iotstack.config import StackConfig
from iotstack.ops.flink_jobs import ENDED
from kafka import KafkaProducer

from docker_e2e import engine
from docker_e2e.engine import http_json
from docker_e2e.wiring import (
    aggregates_mismatch,
    app_env,
    apply_index_templates,
    create_stack_topics,
    flink_mounts,
    flink_properties,
    service_command,
    service_health,
    start_indexer,
)

pytestmark = pytest.mark.services

T0 = 1_700_000_040_000
STEP_MS = 5_000
SENSORS = ("rd-hot", "rd-steady-1", "rd-steady-2")
# rd-hot is 90 °C in steps 4-11 (alert A), 18-29 (B) and 32-41 (C), 50 °C otherwise.
BEFORE = range(0, 12)  # A opens; then redeploy 1 (savepoint)
MIDDLE = range(12, 24)  # A resolves, B opens; then redeploy 2 (Flink replaced)
AFTER = range(24, 36)  # B resolves, C opens; then a reboot, nothing typed
LAST = range(36, 48)  # C resolves


def _reading(sensor: str, i: int) -> dict[str, Any]:
    hot = sensor == "rd-hot" and (4 <= i < 12 or 18 <= i < 30 or 32 <= i < 42)
    temperature = 90.0 if hot else 50.0 if sensor == "rd-hot" else 21.0
    return {
        "schema_version": 1,
        "sensor_id": sensor,
        "site": "plant-rd",
        "ts": T0 + i * STEP_MS,
        "temperature_c": temperature,
        "seq": i,
    }


def _produce(bootstrap: str, topic: str, steps: range) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for i in steps:
        for sensor in SENSORS:
            value = json.dumps(_reading(sensor, i)).encode()
            producer.send(topic, key=sensor.encode(), value=value)
    producer.flush()
    producer.close()


def _expected(env: dict[str, str], steps: range) -> dict[str, dict[str, Any]]:
    """Final state of every alert after ``steps``, by the pure rules (one uninterrupted run)."""
    cfg = alerts_config.load(env)
    states = {s: rules.SensorState() for s in SENSORS}
    final: dict[str, dict[str, Any]] = {}
    for i in steps:
        for sensor in SENSORS:
            r = _reading(sensor, i)
            reading = rules.Reading(sensor, r["site"], r["ts"], r["temperature_c"], r["seq"])
            for event in rules.on_reading(states[sensor], reading, cfg.rules_for(sensor)):
                final[event["alert_id"]] = event
    return final


def _statuses(names: dict[str, str], steps: range) -> dict[str, str]:
    """Alert id -> final status after ``steps``, with the description's rule settings."""
    return {k: e["status"] for k, e in _expected(app_env("alerts-submit", **names), steps).items()}


def _high(statuses: dict[str, str]) -> list[str]:
    """Statuses of rd-hot's high_temperature alerts, oldest episode first."""
    return [v for k, v in sorted(statuses.items()) if ":high_temperature:" in k]


def test_redeploys_resume_the_job_state_and_resolve_the_open_alerts(
    app_images: engine.AppImages,
    containers: engine.Containers,
    kafka: Kafka,
    elasticsearch: Elasticsearch,
) -> None:
    sfx = uuid.uuid4().hex[:6]
    names = {
        "READINGS_TOPIC": f"rd-readings-{sfx}",
        "ALERTS_TOPIC": f"rd-alerts-{sfx}",
        "DEAD_LETTER_TOPIC": f"rd-dlq-{sfx}",
        "LATE_TOPIC": f"rd-late-{sfx}",
        "AGGREGATES_TOPIC": f"rd-aggs-{sfx}",
        "JOB_NAME": f"iot-alerts-rd-{sfx}",
        "KAFKA_GROUP_ID": f"alerts-rd-{sfx}",
    }
    indices = {"ALERTS_INDEX": f"rd-alerts-{sfx}", "AGGREGATES_INDEX": f"rd-aggs-{sfx}"}
    apply_index_templates(elasticsearch.url, indices["ALERTS_INDEX"], indices["AGGREGATES_INDEX"])
    create_stack_topics(kafka.bootstrap, names)
    indexer = start_indexer(
        containers,
        app_images["dashboard"].tag,
        {
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
            "ELASTICSEARCH_URL": elasticsearch.url,
            "ALERTS_TOPIC": names["ALERTS_TOPIC"],
            "AGGREGATES_TOPIC": names["AGGREGATES_TOPIC"],
            "DEAD_LETTER_TOPIC": names["DEAD_LETTER_TOPIC"],
            "INDEXER_GROUP_ID": f"indexer-rd-{sfx}",
        }
        | indices,
    )
    image = app_images["alerts"].tag
    mounts = flink_mounts(containers.prefix)  # kept across the Flink replacement, as a volume

    def start_flink(generation: int) -> str:
        """JobManager + TaskManager from the alerts image; returns the REST URL."""
        rest_port = free_port()
        props = flink_properties(rest_port)
        for role in ("jobmanager", "taskmanager"):
            containers.run(
                f"{role}-{generation}",
                image,
                app_env(role, FLINK_PROPERTIES=props),
                args=service_command(role),
                volumes=mounts,
            )
        return f"http://127.0.0.1:{rest_port}"

    def submitter_env(rest_url: str) -> dict[str, str]:
        return app_env(
            "alerts-submit",
            KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap,
            FLINK_REST_URL=rest_url,
            **names,
        )

    keeper_health = service_health("alerts-submit")

    def deploy(n: int, rest_url: str, replaced: tuple[str, ...] = ()) -> tuple[str, str]:
        """One `pulumi up` of the keeper: the previous one deleted first, a new one with the
        description's command, volume and health check; returns its log once a job other
        than ``replaced`` RUNS (and, with a described health check, the keeper is healthy),
        and that job's id."""
        if n > 1:
            engine.docker("stop", "-t", "10", f"{containers.prefix}-alerts-submit-{n - 1}")
            engine.docker("rm", f"{containers.prefix}-alerts-submit-{n - 1}")
        keeper = containers.run(
            f"alerts-submit-{n}",
            image,
            submitter_env(rest_url),
            args=service_command("alerts-submit"),
            volumes=mounts,
            health=keeper_health,
        )
        job = new_job_running(rest_url, replaced, 400, keeper)
        engine.poll_until(  # the submitter's report follows the job's RUNNING by a moment
            "the submitter's report", lambda: "and running: " in containers.logs(keeper), 60
        )
        if keeper_health is not None:
            engine.poll_until(
                "the keeper healthy",
                lambda: containers.state(keeper)["Health"]["Status"] == "healthy",  # type: ignore[index]
                60,
                lambda: containers.logs(keeper)[-3000:],
            )
        return containers.logs(keeper), job

    def new_job_running(
        rest_url: str, replaced: tuple[str, ...], timeout: float, keeper: str
    ) -> str:
        """The id of a RUNNING job of the name that is none of ``replaced``, once there is one."""

        def running() -> str | None:
            jobs = http_json(f"{rest_url}/jobs/overview")["jobs"]
            return next(
                (
                    j["jid"]
                    for j in jobs
                    if j["name"] == names["JOB_NAME"]
                    and j["state"] == "RUNNING"
                    and j["jid"] not in replaced
                ),
                None,
            )

        jid: str = engine.poll_until(
            f"a new job {names['JOB_NAME']!r} RUNNING",
            running,
            timeout,
            lambda: (
                engine.job_report(rest_url, names["JOB_NAME"])
                + f"--- {keeper} ---\n"
                + containers.logs(keeper)[-4000:]
            ),
        )
        return jid

    def completed_checkpoint(rest_url: str, job: str) -> str:
        """The path of ``job``'s latest completed checkpoint."""
        return str(
            http_json(f"{rest_url}/jobs/{job}/checkpoints")["latest"]["completed"]["external_path"]
        )

    def states_on_volume(container: str) -> list[str]:
        """Every completed savepoint and checkpoint on the Flink volume, oldest first."""
        found = engine.docker(
            "exec", container, "sh", "-c",
            "cd /opt/flink/data && ls -1tr -d savepoints/*/_metadata checkpoints/*/chk-*/_metadata",
            check=False,
        )  # fmt: skip
        return [line.removesuffix("/_metadata") for line in found.stdout.split()]

    def state_sizes(container: str) -> str:
        """``du -skc``: KiB of every state directory on the Flink volume, and their total."""
        return engine.docker(
            "exec", container, "sh", "-c",
            "cd /opt/flink/data && du -skc savepoints/* checkpoints/* 2>/dev/null",
            check=False,
        ).stdout.strip().replace("\t", " ").replace("\n", ", ")  # fmt: skip

    es = EsClient(elasticsearch.url)

    def alerts() -> dict[str, str]:
        """Alert id -> status, as stored in Elasticsearch."""
        if not es.indices.exists(index=indices["ALERTS_INDEX"]):
            return {}
        es.indices.refresh(index=indices["ALERTS_INDEX"])
        hits = es.search(index=indices["ALERTS_INDEX"], size=100)["hits"]["hits"]
        return {h["_id"]: h["_source"]["status"] for h in hits}

    def until_stored(what: str, want: dict[str, str], rest_url: str) -> None:
        engine.poll_until(
            what,
            lambda: alerts() == want,
            180,
            lambda: (
                f"in Elasticsearch: {alerts()}\n"
                + engine.job_report(rest_url, names["JOB_NAME"])
                + f"--- indexer ---\n{containers.logs(indexer.container)[-3000:]}"
            ),
        )

    ooo_ms = int(app_env("alerts-submit")["WATERMARK_OUT_OF_ORDERNESS_MS"])

    def closed_minutes(stop: int) -> set[str]:
        """Doc ids of the minutes closed once steps ``0..stop-1`` are in: every sensor's minutes
        that end before the watermark (the newest reading less the out-of-orderness)."""
        watermark = T0 + (stop - 1) * STEP_MS - ooo_ms
        return {
            f"{sensor}:{start}"
            for sensor in SENSORS
            for start in range(T0, T0 + stop * STEP_MS, 60_000)
            if start + 60_000 <= watermark
        }

    def watermarks(rest_url: str, job: str) -> str:
        """``job``'s watermark per operator (what closes a minute), for a failure message."""
        try:
            lines = []
            for vertex in http_json(f"{rest_url}/jobs/{job}")["vertices"]:
                marks = http_json(f"{rest_url}/jobs/{job}/vertices/{vertex['id']}/watermarks")
                lines.append(f"{vertex['name'][:70]}: {[m['value'] for m in marks]}")
            return f"watermarks of {job}:\n" + "\n".join(lines)
        except (OSError, ValueError, KeyError) as err:
            return f"watermarks of {job} unavailable: {err}"

    def until_aggregated(what: str, stop: int, rest_url: str, job: str) -> None:
        """The aggregates of every closed minute so far (each counting its 12 readings once,
        whichever redeploy its window state went through) on the topic keyed by their document
        ids, and in the index exactly as the latest record of each key."""
        closed = closed_minutes(stop)

        def report() -> str:
            on_topic, mismatch = aggregates_mismatch(
                kafka.bootstrap,
                names["AGGREGATES_TOPIC"],
                elasticsearch.url,
                indices["AGGREGATES_INDEX"],
            )
            return (
                f"expected ids: {sorted(closed)}\non the topic: {on_topic}\n{mismatch}\n"
                + watermarks(rest_url, job)
                + f"\n--- indexer ---\n{containers.logs(indexer.container)[-2000:]}"
            )

        def shipped() -> dict[str, dict[str, Any]] | None:
            on_topic, mismatch = aggregates_mismatch(
                kafka.bootstrap,
                names["AGGREGATES_TOPIC"],
                elasticsearch.url,
                indices["AGGREGATES_INDEX"],
            )
            return on_topic if set(on_topic) == closed and not mismatch else None

        got = engine.poll_until(
            f"{what}: the {len(closed)} aggregates of the closed minutes", shipped, 120, report
        )
        assert all(k == f"{a['sensor_id']}:{a['window_start']}" for k, a in got.items()), got
        per_minute = 60_000 // STEP_MS
        assert all(a["count"] == per_minute for a in got.values()), got

    def checkpoint_from_now(rest_url: str, job: str, what: str) -> None:
        """Wait for a checkpoint of ``job`` triggered from now on (so it holds ``what``)."""
        now_ms = time.time() * 1000
        engine.poll_until(
            f"a checkpoint after {what}",
            lambda: (
                (done := http_json(f"{rest_url}/jobs/{job}/checkpoints")["latest"]["completed"])
                and done["trigger_timestamp"] > now_ms
            ),
            60,
        )

    # First deploy: a new cluster, nothing to restore.
    rest_url = start_flink(1)
    log, first = deploy(1, rest_url)
    assert "a new JobManager; restoring from nothing" in log, log[-2000:]
    _produce(kafka.bootstrap, names["READINGS_TOPIC"], BEFORE)
    before = _statuses(names, BEFORE)  # every alert the rules give, compared exactly
    assert _high(before) == ["open"]  # alert A
    until_stored("alert A open", before, rest_url)

    # Redeploy 1: only the job is replaced, from a savepoint.
    log, second = deploy(2, rest_url, replaced=(first,))
    assert f"stopped {first} with savepoint file:/opt/flink/data/savepoints/" in log, log[-3000:]
    assert "restored from file:/opt/flink/data/savepoints/" in log, log[-3000:]
    assert second != first
    assert http_json(f"{rest_url}/jobs/{first}")["state"] == "FINISHED"  # stopped, not failed
    restored = http_json(f"{rest_url}/jobs/{second}/checkpoints")["latest"]["restored"]
    assert restored and restored["is_savepoint"], restored
    _produce(kafka.bootstrap, names["READINGS_TOPIC"], MIDDLE)
    middle = _statuses(names, range(BEFORE.start, MIDDLE.stop))
    assert _high(middle) == ["resolved", "open"] and set(before) < set(middle)  # A, B
    until_stored("alert A resolved by the restored job, alert B open", middle, rest_url)
    until_aggregated("redeploy 1", MIDDLE.stop, rest_url, second)

    # Redeploy 2: a new image replaces the Flink containers; the job dies with them after a
    # checkpoint that holds alert B (taken after B was seen stored).
    checkpoint_from_now(rest_url, second, "alert B")
    for role in ("jobmanager-1", "taskmanager-1"):  # as the Docker provider replaces them
        engine.docker("stop", "-t", "10", f"{containers.prefix}-{role}")
        engine.docker("rm", f"{containers.prefix}-{role}")
    rest_url = start_flink(2)
    log, third = deploy(3, rest_url, replaced=(first, second))
    assert "a new JobManager; restoring from file:/opt/flink/data/checkpoints/" in log, log[-3000:]
    assert f"/{second}/chk-" in log, log[-3000:]
    restored = http_json(f"{rest_url}/jobs/{third}/checkpoints")["latest"]["restored"]
    # (Flink reports any -s restore as is_savepoint; the path says it was a checkpoint.)
    assert restored and f"/checkpoints/{second}/chk-" in restored["external_path"], restored
    _produce(kafka.bootstrap, names["READINGS_TOPIC"], AFTER)
    after = _statuses(names, range(BEFORE.start, AFTER.stop))
    assert set(middle) < set(after) and _high(after) == ["resolved", "resolved", "open"]
    until_stored("alert B resolved by the job restored from a checkpoint, C open", after, rest_url)
    until_aggregated("redeploy 2", AFTER.stop, rest_url, third)

    # A reboot: the daemon restarts every container that runs (each has a restart policy in
    # the stack; an exited one stays exited), the indexer too. Nothing is typed; the job must
    # come back by itself from the newest checkpoint, which holds alert C.
    checkpoint_from_now(rest_url, third, "alert C")
    before_id = int(completed_checkpoint(rest_url, third).rsplit("chk-", 1)[1])
    stack = [
        f"{containers.prefix}-{c}" for c in ("jobmanager-2", "taskmanager-2", "alerts-submit-3")
    ]
    running = [c for c in [*stack, indexer.container] if containers.state(c)["Running"]]
    assert indexer.container in running, containers.logs(indexer.container)[-3000:]
    restarted = time.monotonic()
    engine.docker("restart", "-t", "10", *running)
    fourth = new_job_running(rest_url, (first, second, third), 300, stack[-1])
    back_after_reboot = time.monotonic() - restarted
    restored = http_json(f"{rest_url}/jobs/{fourth}/checkpoints")["latest"]["restored"]
    assert restored, restored
    # The newest checkpoint of the job that ran before: none of a later id completed.
    last_id = max(
        int(path.rsplit("chk-", 1)[1])
        for path in states_on_volume(stack[0])
        if path.startswith(f"checkpoints/{third}/chk-")
    )
    assert restored["external_path"].endswith(f"/checkpoints/{third}/chk-{last_id}"), restored
    assert last_id >= before_id, (last_id, before_id)
    _produce(kafka.bootstrap, names["READINGS_TOPIC"], LAST)
    last_statuses = _statuses(names, range(BEFORE.start, LAST.stop))
    assert set(last_statuses) == set(after) and _high(last_statuses) == ["resolved"] * 3
    until_stored("alert C resolved after the reboot", last_statuses, rest_url)
    until_aggregated("the reboot", LAST.stop, rest_url, fourth)

    # The JobManager and TaskManager alone restart (an out-of-memory kill, say): the keeper,
    # still running, starts the job again from the newest checkpoint.
    checkpoint_from_now(rest_url, fourth, "alert C resolved")
    restarted = time.monotonic()
    engine.docker("restart", "-t", "10", *stack[:2])
    fifth = new_job_running(rest_url, (first, second, third, fourth), 300, stack[-1])
    back_after_flink_restart = time.monotonic() - restarted
    sizes_before = state_sizes(stack[0])  # the restored job has no checkpoint of its own yet
    restored = http_json(f"{rest_url}/jobs/{fifth}/checkpoints")["latest"]["restored"]
    assert restored and f"/checkpoints/{fourth}/chk-" in restored["external_path"], restored
    keeper_log = containers.logs(stack[-1])
    assert re.search(
        rf"no active job; starting it from file:\S+/checkpoints/{fourth}/chk-", keeper_log
    ), keeper_log[-3000:]

    # Retention: once the restored job completed a checkpoint, only the newest N are left.
    checkpoint_from_now(rest_url, fifth, "the restore")
    retained = StackConfig().flink_state_retained
    kept: list[str] = engine.poll_until(
        f"only the newest {retained} states on the volume",
        lambda: found if len(found := states_on_volume(stack[0])) == retained else None,
        60,
        lambda: "\n".join(states_on_volume(stack[0])) + "\n" + containers.logs(stack[-1])[-3000:],
    )
    assert [p.split("/")[1] for p in kept] == [third, fourth, fifth][-retained:], kept
    # Never a second copy: of all the jobs of the name, only the last one is not ended.
    jobs = http_json(f"{rest_url}/jobs/overview")["jobs"]
    alive = [j["jid"] for j in jobs if j["name"] == names["JOB_NAME"] and j["state"] not in ENDED]
    assert alive == [fifth], jobs

    # The aggregates of all those runs, once more after the last restore.
    until_aggregated("after the JobManager and TaskManager restart", LAST.stop, rest_url, fifth)
    assert containers.state(indexer.container)["Health"]["Status"] == "healthy"  # type: ignore[index]
    print(
        f"\njob RUNNING again {back_after_reboot:.1f} s after the reboot (docker restart of "
        f"{len(running)} containers), {back_after_flink_restart:.1f} s after a restart of the "
        f"JobManager and TaskManager alone; states kept: {kept}\n"
        f"KiB on the volume before the retention: {sizes_before}\n"
        f"after: {state_sizes(stack[0])}"
    )
