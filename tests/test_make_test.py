"""The test command's own plumbing: what `make test` checks first, what its pytest runs
collect and print, the services' KRaft switch, the apps' `test` extras, and what the README
promises about all of it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYTHONPATH = os.pathsep.join([str(ROOT / "tests"), str(ROOT / "infra")])
FLINK_LIVE = (
    "test_running_job_of_the_name_is_stopped_with_a_savepoint_and_others_kept",
    "test_a_cancelled_job_leaves_its_last_checkpoint_to_restore_from",
    "test_a_job_that_cannot_take_a_savepoint_is_cancelled_and_said_so",
    "test_flink_properties_override_the_distribution_config",
)


def _make_n(*args: str) -> list[str]:
    """The commands `make` would run (recursive makes are followed)."""
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.splitlines()


def _pytest_command(target: str) -> str:
    (line,) = [line for line in _make_n(target) if "/bin/pytest " in line]
    return line


# --- a path named on the command line that collects nothing fails the run ------------------


def _pytest_in(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """pytest with the repo's plugin, in a small project whose `live/` is not recursed."""
    (project / "pytest.ini").write_text("[pytest]\nnorecursedirs = live\n")
    (project / "test_here.py").write_text("def test_here():\n    pass\n")
    (project / "helpers.py").write_text("TIMEOUT_S = 5\n")
    (project / "live").mkdir(exist_ok=True)
    (project / "live" / "check_live.py").write_text("def test_live():\n    pass\n")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "harness.pytest_plugin", "-p", "no:cacheprovider",
         *args],
        cwd=project,
        env={**os.environ, "PYTHONPATH": PYTHONPATH},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_named_file_under_a_path_given_before_it_that_is_not_recursed_fails_the_run(
    tmp_path: Path,
) -> None:
    """What happened to `pytest . tests/infra/flink_live.py`: 0 of its 4 tests, exit 0."""
    done = _pytest_in(tmp_path, ".", "live/check_live.py")
    assert done.returncode != 0, done.stdout
    assert "live/check_live.py: named on the command line but collected no test" in done.stderr
    assert "test_here" not in done.stderr


def test_a_named_file_without_tests_fails_the_run(tmp_path: Path) -> None:
    done = _pytest_in(tmp_path, "test_here.py", "helpers.py")
    assert done.returncode != 0, done.stdout
    assert done.stderr.strip().splitlines() == [
        "ERROR: helpers.py: named on the command line but collected no test"
    ]


def test_named_paths_that_collect_pass_even_when_k_deselects_one(tmp_path: Path) -> None:
    done = _pytest_in(tmp_path, "test_here.py", "live/check_live.py", "-k", "here")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed, 1 deselected" in done.stdout


def test_the_services_run_of_make_test_collects_the_flink_live_tests() -> None:
    done = subprocess.run(
        f"{_pytest_command('test-services')} --collect-only",  # the command has its -q
        shell=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    for name in FLINK_LIVE:
        assert f"::{name}" in done.stdout, name


def test_the_infra_run_of_make_test_collects_and_passes_the_guard() -> None:
    done = subprocess.run(
        f"{_pytest_command('test-infra')} --collect-only",
        shell=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert re.search(r"^\d+ tests collected", done.stdout, re.MULTILINE), done.stdout[-500:]


@pytest.mark.parametrize("target", ["test-infra", "test-services"])
def test_each_test_run_prints_its_15_slowest_tests(target: str) -> None:
    assert "--durations=15" in _pytest_command(target).split()
