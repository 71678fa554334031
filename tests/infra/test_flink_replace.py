"""The replace step of the alerts submitter: which jobs it cancels, and that it runs alone.

Against a real Flink it is exercised by ``flink_live.py`` (needs PyFlink, so it runs
in the apps' virtualenv: ``.venv/bin/pytest tests/infra/flink_live.py``).
"""

from __future__ import annotations

import shlex
import subprocess
import sys

from iotstack.config import StackConfig
from iotstack.ops import flink_jobs
from iotstack.services import describe


def test_only_active_jobs_with_the_name_are_cancelled() -> None:
    overview = {
        "jobs": [
            {"jid": "a" * 32, "name": "iot-alerts", "state": "RUNNING"},
            {"jid": "b" * 32, "name": "iot-alerts", "state": "CANCELED"},
            {"jid": "c" * 32, "name": "other", "state": "RUNNING"},
            {"jid": "d" * 32, "name": "iot-alerts", "state": "RESTARTING"},
        ]
    }
    assert flink_jobs.jobs_to_cancel(overview, "iot-alerts") == ["a" * 32, "d" * 32]
    assert flink_jobs.jobs_to_cancel({"jobs": []}, "iot-alerts") == []


def _replace_program() -> tuple[str, str]:
    command = describe(StackConfig()).services["alerts-submit"].command
    assert command[:2] == ("sh", "-c")
    words = shlex.split(command[2])
    assert words[:2] == ["python", "-c"]
    assert words[3:] == ["&&", "exec", "python", "-m", "alerts.submit"]
    return words[2], command[2]


def test_the_embedded_program_runs_standalone_and_fails_in_one_line() -> None:
    program, _ = _replace_program()
    done = subprocess.run(
        [sys.executable, "-I", "-c", program],  # -I: no iotstack on the path, like the image
        env={"FLINK_REST_URL": "http://127.0.0.1:1", "JOB_NAME": "iot-alerts"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("replace iot-alerts: GET http://127.0.0.1:1/jobs/overview failed")


def test_submitter_runs_only_after_a_successful_replace() -> None:
    _, script = _replace_program()
    done = subprocess.run(
        ["sh", "-c", script.replace("exec python -m alerts.submit", "echo SUBMITTED")],
        env={
            "FLINK_REST_URL": "http://127.0.0.1:1",
            "JOB_NAME": "iot-alerts",
            "PATH": f"{sys.exec_prefix}/bin:/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and "SUBMITTED" not in done.stdout
