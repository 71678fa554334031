"""Infra's Flink pieces against real Flink: the replace step and the FLINK_PROPERTIES.

Needs PyFlink (the harness's Flink comes from the apache-flink wheel), so it is not named
test_*.py and the infra virtualenv does not collect it; run it in the apps' virtualenv:

    .venv/bin/pytest tests/infra/flink_live.py
"""

from __future__ import annotations

import os
import shutil
import textwrap
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


def test_running_job_of_the_name_is_cancelled_and_others_kept(flink, tmp_path: Path) -> None:
    script = tmp_path / "forever.py"
    script.write_text(JOB)
    name, other = f"replace-{uuid.uuid4().hex[:6]}", f"keep-{uuid.uuid4().hex[:6]}"
    target = flink.submit_python(script, [name])
    keep = flink.submit_python(script, [other])
    try:
        flink.wait_job_state(target, "RUNNING")
        flink.wait_job_state(keep, "RUNNING")
        assert flink_jobs.cancel_named_jobs(flink.rest_url, name) == [target]
        assert flink.job_state(target) == "CANCELED"
        assert flink.job_state(keep) == "RUNNING"
        assert flink_jobs.cancel_named_jobs(flink.rest_url, name) == []  # nothing left
    finally:
        flink.cancel(target)
        flink.cancel(keep)


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
