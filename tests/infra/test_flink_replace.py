"""The replace step of the alerts submitter: which jobs it stops, what it hands on, and
that the submitter runs only after it.

Against a real Flink it is exercised by ``tests/test_infra_flink_live.py`` (needs PyFlink,
so it runs in the apps' virtualenv with the other real-service tests).
"""

from __future__ import annotations

import subprocess
import sys

from iotstack.config import StackConfig
from iotstack.ops import flink_jobs
from iotstack.services import describe


def test_only_active_jobs_with_the_name_are_replaced() -> None:
    overview = {
        "jobs": [
            {"jid": "a" * 32, "name": "iot-alerts", "state": "RUNNING"},
            {"jid": "b" * 32, "name": "iot-alerts", "state": "CANCELED"},
            {"jid": "c" * 32, "name": "other", "state": "RUNNING"},
            {"jid": "d" * 32, "name": "iot-alerts", "state": "RESTARTING"},
        ]
    }
    assert flink_jobs.jobs_to_replace(overview, "iot-alerts") == ["a" * 32, "d" * 32]
    assert flink_jobs.jobs_to_replace({"jobs": []}, "iot-alerts") == []


def _keeper_program() -> str:
    command = describe(StackConfig(flink_state_retained=4)).services["alerts-submit"].command
    assert command[:2] == ("python", "-c") and command[3:] == ("4",), command[:2] + command[3:]
    return command[2]


def test_the_embedded_program_runs_standalone_and_fails_in_one_line() -> None:
    program = _keeper_program()
    done = subprocess.run(
        [sys.executable, "-I", "-c", program, "4"],  # -I: no iotstack on the path, like the image
        env={
            "FLINK_REST_URL": "http://127.0.0.1:1",
            "JOB_NAME": "iot-alerts",
            "SUBMIT_TIMEOUT_S": "1",  # the JobManager is waited for, this long
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("replace iot-alerts: GET http://127.0.0.1:1/jobs/overview failed")
