"""The replace step of the alerts submitter: which jobs it stops, what it hands on, and
that the submitter runs only after it.

Against a real Flink it is exercised by ``tests/test_infra_flink_live.py`` (needs PyFlink,
so it runs in the apps' virtualenv with the other real-service tests).
"""

from __future__ import annotations

import re
import shlex
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


def _replace_program() -> tuple[str, str]:
    command = describe(StackConfig()).services["alerts-submit"].command
    assert command[:2] == ("sh", "-c")
    shape = re.fullmatch(
        r'restore="\$\(python -c (?P<program>\'.*\')\)" '
        r'&& RESTORE_FROM="\$restore" exec python -m alerts\.submit',
        command[2],
        re.DOTALL,
    )
    assert shape is not None, command[2][:200]
    (program,) = shlex.split(shape["program"])
    return program, command[2]


def test_the_embedded_program_runs_standalone_and_fails_in_one_line() -> None:
    program, _ = _replace_program()
    done = subprocess.run(
        [sys.executable, "-I", "-c", program],  # -I: no iotstack on the path, like the image
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


def test_the_submitter_gets_the_path_the_replace_step_prints() -> None:
    _, script = _replace_program()
    # The replace step stood in for by a program that prints a path, as main() does.
    program, _ = _replace_program()
    stand_in = script.replace(f"python -c {shlex.quote(program)}", "echo file:/sp/savepoint-1")
    assert stand_in != script
    done = subprocess.run(
        # The exec'd program sees RESTORE_FROM in its environment, as alerts.submit would.
        ["sh", "-c", stand_in.replace("python -m alerts.submit", "sh -c 'echo GOT $RESTORE_FROM'")],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stdout == "GOT file:/sp/savepoint-1\n", done


def test_submitter_runs_only_after_a_successful_replace() -> None:
    _, script = _replace_program()
    done = subprocess.run(
        ["sh", "-c", script.replace("exec python -m alerts.submit", "echo SUBMITTED")],
        env={
            "FLINK_REST_URL": "http://127.0.0.1:1",
            "JOB_NAME": "iot-alerts",
            "SUBMIT_TIMEOUT_S": "1",
            "PATH": f"{sys.exec_prefix}/bin:/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and "SUBMITTED" not in done.stdout
