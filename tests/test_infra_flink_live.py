"""Infra's Flink pieces against real Flink: the replace step and the FLINK_PROPERTIES.

Needs PyFlink (the harness's Flink comes from the apache-flink wheel), so it lives here,
run by the apps' virtualenv with the other real-service tests (``make test-services``), and
not under tests/infra/, which the infra virtualenv runs:

    .venv/bin/pytest tests/test_infra_flink_live.py
"""

from __future__ import annotations

import os
import shutil
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from iotstack.config import StackConfig
from iotstack.ops import flink_jobs  # infra/ is on the root pytest pythonpath
from iotstack.services import describe

pytestmark = pytest.mark.services

JOB = textwrap.dedent(
    """
    import sys
    from pyflink.table import EnvironmentSettings, TableEnvironment
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    env.get_config().set("pipeline.name", sys.argv[1])
    env.execute_sql("CREATE TABLE src (x INT) WITH ('connector' = 'datagen', "
                    "'rows-per-second' = '1')")
    env.execute_sql("CREATE TABLE sink (x INT) WITH ('connector' = 'blackhole')")
    env.execute_sql("INSERT INTO sink SELECT x FROM src")
    """
)


# A job that fails on every record and waits 60 s between restarts: mostly RESTARTING, where
# no savepoint can be taken.
FAILING_JOB = textwrap.dedent(
    """
    import sys
    from pyflink.table import EnvironmentSettings, TableEnvironment
    from pyflink.table.udf import udf
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    conf = env.get_config()
    conf.set("pipeline.name", sys.argv[1])
    conf.set("restart-strategy.type", "fixed-delay")
    conf.set("restart-strategy.fixed-delay.attempts", "1000")
    conf.set("restart-strategy.fixed-delay.delay", "60s")

    @udf(result_type="INT")
    def boom(x):
        raise ValueError("this job fails on purpose")

    env.create_temporary_function("boom", boom)
    env.execute_sql("CREATE TABLE src (x INT) WITH ('connector' = 'datagen', "
                    "'rows-per-second' = '1')")
    env.execute_sql("CREATE TABLE sink (x INT) WITH ('connector' = 'blackhole')")
    env.execute_sql("INSERT INTO sink SELECT boom(x) FROM src")
    """
)


def _local(path: str) -> Path:
    return Path(path.removeprefix("file:").removeprefix("//"))


def test_running_job_of_the_name_is_stopped_with_a_savepoint_and_others_kept(
    flink, tmp_path: Path
) -> None:
    script = tmp_path / "forever.py"
    script.write_text(JOB)
    name, other = f"replace-{uuid.uuid4().hex[:6]}", f"keep-{uuid.uuid4().hex[:6]}"
    target = flink.submit_python(script, [name])
    keep = flink.submit_python(script, [other])
    lines: list[str] = []
    restored = ""
    try:
        flink.wait_job_state(target, "RUNNING")
        flink.wait_job_state(keep, "RUNNING")
        path = flink_jobs.stop_named_jobs(flink.rest_url, name, log=lines.append)
        assert path is not None and "savepoint" in path, lines
        assert (_local(path) / "_metadata").is_file(), path  # the cluster's savepoints dir
        assert flink.job_state(target) == "FINISHED"  # stopped, not cancelled
        assert flink.job_state(keep) == "RUNNING"
        assert lines == [f"stopped {target} with savepoint {path}"]
        assert flink_jobs.stop_named_jobs(flink.rest_url, name) is None  # nothing left
        # The state goes on: a job started from the savepoint runs and says it restored.
        restored = flink.submit_python(script, [name], savepoint=path)
        flink.wait_job_state(restored, "RUNNING")
        info = flink.get(f"/jobs/{restored}/checkpoints")["latest"]["restored"]
        assert info["is_savepoint"] and info["external_path"] == path, info
    finally:
        for job in (target, keep, restored):
            if job and flink.job_state(job) in flink_jobs.ACTIVE:
                flink.cancel(job)


def test_a_cancelled_job_leaves_its_last_checkpoint_to_restore_from(flink, tmp_path: Path) -> None:
    script = tmp_path / "checkpointed.py"
    script.write_text(
        JOB.replace(
            'env.get_config().set("pipeline.name", sys.argv[1])',
            'env.get_config().set("pipeline.name", sys.argv[1])\n'
            'env.get_config().set("execution.checkpointing.interval", "500ms")\n'
            'env.get_config().set("execution.checkpointing.externalized-checkpoint-retention", '
            '"RETAIN_ON_CANCELLATION")',
        )
    )
    job = flink.submit_python(script, [f"retained-{uuid.uuid4().hex[:6]}"])
    try:
        flink.wait_job_state(job, "RUNNING")
        deadline = time.monotonic() + 60
        while not flink.get(f"/jobs/{job}/checkpoints")["latest"]["completed"]:
            assert time.monotonic() < deadline, "no checkpoint completed in 60 s"
            time.sleep(0.5)
    finally:
        flink.cancel(job)
    flink.wait_job_state(job, "CANCELED")
    path = flink_jobs.retained_checkpoint(flink.rest_url, job)
    assert path is not None and "chk-" in path
    assert (_local(path) / "_metadata").is_file(), path  # kept on cancellation


def test_a_job_that_cannot_take_a_savepoint_is_cancelled_and_said_so(
    flink, tmp_path: Path
) -> None:
    script = tmp_path / "failing.py"
    script.write_text(FAILING_JOB)
    name = f"failing-{uuid.uuid4().hex[:6]}"
    target = flink.submit_python(script, [name])
    lines: list[str] = []
    try:
        flink.wait_job_state(target, "RESTARTING", timeout=180)
        path = flink_jobs.stop_named_jobs(flink.rest_url, name, log=lines.append)
        assert path is None  # no savepoint, and it never completed a checkpoint
        assert flink.job_state(target) == "CANCELED"
        assert len(lines) == 1 and lines[0].startswith(f"no savepoint of {target} ("), lines
        assert lines[0].endswith("cancelled it, restoring from nothing"), lines
    finally:
        if flink.job_state(target) in flink_jobs.ACTIVE:
            flink.cancel(target)


def test_flink_properties_override_the_distribution_config(tmp_path: Path) -> None:
    """The alerts image appends FLINK_PROPERTIES to the wheel's nested config.yaml."""
    import pyflink
    from pyflink.java_gateway import get_gateway

    home = Path(os.path.dirname(pyflink.__file__))
    shutil.copy(home / "conf" / "config.yaml", tmp_path / "config.yaml")
    props = str(describe(StackConfig()).services["jobmanager"].env["FLINK_PROPERTIES"])
    with (tmp_path / "config.yaml").open("a") as conf:
        conf.write(f"\n{props}\n")
    jvm = get_gateway().jvm
    loaded = jvm.org.apache.flink.configuration.GlobalConfiguration.loadConfiguration(
        str(tmp_path)
    ).toMap()
    assert loaded.get("jobmanager.rpc.address") == "jobmanager"  # not the file's localhost
    assert loaded.get("rest.address") == "jobmanager"
    assert loaded.get("rest.bind-address") == "0.0.0.0"
    ours = dict(line.split(": ", 1) for line in props.splitlines() if ": " in line)
    for key in ("jobmanager.memory.process.size", "taskmanager.memory.process.size"):
        assert loaded.get(key) == ours[key]  # the description's size, not the file's
    assert ours["jobmanager.memory.process.size"] != "1600m"  # the wheel's config.yaml values
    assert ours["taskmanager.memory.process.size"] != "1728m"
    assert loaded.get("taskmanager.numberOfTaskSlots") == "2"
    assert loaded.get("heartbeat.timeout") == "15000"
