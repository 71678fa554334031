"""The test command's own plumbing: what `make test` checks first, what its pytest runs
collect and print, the services' KRaft switch, the apps' `test` extras, and what the README
promises about all of it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from harness import artifacts, prerequisites
from iotstack import versions

ROOT = Path(__file__).resolve().parents[1]
PYTHONPATH = os.pathsep.join([str(ROOT / "tests"), str(ROOT / "infra")])
FLINK_LIVE = (
    "test_running_job_of_the_name_is_stopped_with_a_savepoint_and_others_kept",
    "test_a_cancelled_job_leaves_its_last_checkpoint_to_restore_from",
    "test_a_job_that_cannot_take_a_savepoint_is_cancelled_and_said_so",
    "test_flink_properties_override_the_distribution_config",
)
# Every tool the checker finds on PATH (the JDK, Chromium and chromedriver are found by path).
PATH_TOOLS = (
    *(name for name, _, _ in prerequisites.ON_PATH),
    "docker",
    "dockerd",
    prerequisites.SETPRIV[0],
)
SUMMARY = "prerequisites: 1 missing for make test; nothing was run."


def _make_n(*args: str) -> list[str]:
    """The commands `make` would run (recursive makes are followed)."""
    # Not the flags and variables of the `make test` this may run under.
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", *args],
        cwd=ROOT,
        env=env,
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


def _collect_only(target: str) -> subprocess.CompletedProcess[str]:
    """The pytest command of ``make <target>`` with --collect-only (it has its own -q)."""
    return subprocess.run(
        f"{_pytest_command(target)} --collect-only",
        shell=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_the_services_run_of_make_test_collects_the_flink_live_tests() -> None:
    done = _collect_only("test-services")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    for name in FLINK_LIVE:
        assert f"::{name}" in done.stdout, name


def test_the_infra_run_of_make_test_collects_and_passes_the_guard() -> None:
    done = _collect_only("test-infra")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert re.search(r"^\d+ tests collected", done.stdout, re.MULTILINE), done.stdout[-500:]


@pytest.mark.parametrize("target", ["test-infra", "test-services"])
def test_each_test_run_prints_its_15_slowest_tests(target: str) -> None:
    assert "--durations=15" in _pytest_command(target).split()


# --- make test checks its prerequisites first, one line each ---------------------------------


def test_make_test_checks_its_prerequisites_before_anything_else() -> None:
    lines = _make_n("test")
    assert lines[0].endswith("-m harness.prerequisites"), lines[:3]
    assert any("ruff check" in line for line in lines[1:])  # then lint and the test runs


def _tools(tmp_path: Path, without: tuple[str, ...] = ()) -> Path:
    """A PATH holding the tools this machine has, minus ``without``."""
    tools = tmp_path / "bin"
    tools.mkdir()
    for name in PATH_TOOLS:
        found = shutil.which(name)
        if name not in without and found:
            (tools / name).symlink_to(found)
    return tools


def _check(path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.prerequisites"],
        env={**os.environ, "PATH": str(path), "PYTHONPATH": PYTHONPATH, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_checker_passes_on_a_machine_with_everything(tmp_path: Path) -> None:
    done = _check(_tools(tmp_path))
    assert (done.returncode, done.stdout, done.stderr) == (0, "prerequisites: ok\n", "")


@pytest.mark.parametrize(
    ("tool", "package"),
    [
        ("mvn", "maven"),
        ("go", "golang-go"),
        ("debootstrap", "debootstrap"),
        ("openssl", "openssl"),
    ],
)
def test_a_tool_missing_from_path_is_one_line_saying_how_to_get_it(
    tmp_path: Path, tool: str, package: str
) -> None:
    done = _check(_tools(tmp_path, without=(tool,)))
    assert done.returncode == 1
    line, summary = done.stderr.splitlines()
    assert line.startswith(f"prerequisites: {tool} not found ("), line
    assert line.endswith(f"): apt-get install {package}"), line
    assert summary == SUMMARY


def test_no_docker_is_one_line(tmp_path: Path) -> None:
    done = _check(_tools(tmp_path, without=("docker", "dockerd")))
    assert done.returncode == 1
    line, summary = done.stderr.splitlines()
    assert line.startswith("prerequisites: docker and dockerd not found ("), line
    assert line.endswith("): apt-get install docker.io"), line
    assert summary == SUMMARY


def test_no_jdk_is_one_line(tmp_path: Path) -> None:
    done = _check(_tools(tmp_path), JAVA_HOME=str(tmp_path))
    assert done.returncode == 1
    line, summary = done.stderr.splitlines()
    assert line.startswith(f"prerequisites: Java 17 not found at {tmp_path}: "), line
    assert "apt-get install openjdk-17-jdk-headless" in line
    assert summary == SUMMARY


def test_a_jre_without_javac_is_one_line(tmp_path: Path) -> None:
    # The alerts job's Java functions are compiled in the tests: a JRE is not enough.
    jre = tmp_path / "jre"
    (jre / "bin").mkdir(parents=True)
    (jre / "bin" / "java").symlink_to(artifacts.java())
    done = _check(_tools(tmp_path), JAVA_HOME=str(jre))
    assert done.returncode == 1
    line, summary = done.stderr.splitlines()
    assert line.startswith(f"prerequisites: {jre} is a JRE, not a JDK (no bin/javac; "), line
    assert line.endswith("apt-get install openjdk-17-jdk-headless, or set JAVA_HOME to a JDK")
    assert summary == SUMMARY


@pytest.mark.parametrize(
    ("attribute", "package"), [("CHROMIUM", "chromium"), ("CHROMEDRIVER", "chromium-driver")]
)
def test_no_chromium_or_driver_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, attribute: str, package: str
) -> None:
    monkeypatch.setattr(prerequisites, attribute, str(tmp_path / "absent"))
    (problem,) = prerequisites.problems()
    assert problem.startswith(f"{tmp_path / 'absent'} not found (the dashboard's browser test)")
    assert problem.endswith(f"apt-get install {package}")


def test_a_stopped_engine_without_root_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prerequisites, "_engine_answers", lambda: False)
    monkeypatch.setattr(prerequisites.os, "geteuid", lambda: 1000)
    assert prerequisites.problems() == [
        "the Docker engine is not running and starting it needs root: start it "
        "(sudo systemctl start docker) or run make test as root"
    ]
    monkeypatch.setattr(prerequisites.os, "geteuid", lambda: 0)
    assert prerequisites.problems() == []  # root: the end-to-end tests start dockerd


def test_no_ensurepip_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    real = prerequisites.importlib.util.find_spec
    monkeypatch.setattr(
        prerequisites.importlib.util,
        "find_spec",
        lambda name, *args: None if name == "ensurepip" else real(name, *args),
    )
    (problem,) = prerequisites.problems()
    assert problem.endswith("(no ensurepip): apt-get install python3-venv")


def test_another_python_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prerequisites, "PYTHON", (3, 12))
    (problem,) = prerequisites.problems()
    assert problem.startswith(
        f"Python 3.12 needed (the apps' pinned Python, with PyFlink {versions.FLINK_VERSION}), "
        "this is 3.11."
    )


def _readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"\n## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_the_readme_lists_every_prerequisite_of_make_test_and_how_to_get_it() -> None:
    packages = prerequisites.packages()
    assert {"openjdk-17-jdk-headless", "maven", "golang-go", "docker.io", "debootstrap",
            "chromium", "chromium-driver"} <= packages
    section = _readme_section("Test it")
    for package in packages:
        assert f"`{package}`" in section, package  # as Debian names it
    for words in ("JDK 17", "Maven", "Go", "debootstrap", "Chromium", "chromedriver", "root",
                  "`make prerequisites`"):
        assert words in section, words


def test_the_ci_script_installs_every_package_the_checker_names() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    for package in prerequisites.packages():
        name = rf"(?<![\w.-]){re.escape(package)}(?![\w.-])"
        assert re.search(rf"apt_needed\+=\([^)]*{name}[^)]*\)", script), package
    assert script.rstrip().splitlines()[-2] == "make test"  # then only the wall time


# --- make services: the KRaft switch the README gives -----------------------------------------


def test_make_services_kraft_1_runs_kafka_4_in_kraft_mode() -> None:
    assert _make_n("services", "KRAFT=1")[-1].endswith("-m harness up --kraft")
    assert _make_n("services")[-1].endswith("-m harness up")
    section = _readme_section("Test it")
    assert "`make services KRAFT=1`" in section
    assert "python -m harness" not in section  # not runnable as written (`harness` is in tests/)


# --- make setup installs every app with its test extra: each app has one ---------------------


def test_every_app_declares_the_test_extra_make_setup_installs() -> None:
    assert '-e "apps/$(app)[test]"' in (ROOT / "Makefile").read_text()
    for pyproject in sorted(ROOT.glob("apps/*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text())["project"]
        assert "test" in project.get("optional-dependencies", {}), pyproject
