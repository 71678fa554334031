"""The PR workflows: a preview of both stacks commented on the PR, and the test command."""

from __future__ import annotations

import os
import subprocess
from typing import Any

import yaml
from infra_paths import REPO

WORKFLOWS = REPO / ".github" / "workflows"


def _load(name: str) -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    return data


def test_preview_runs_for_both_stacks_and_comments_on_the_pr() -> None:
    flow = _load("preview.yml")
    assert "pull_request" in flow[True]  # YAML 1.1 reads the key `on` as True
    job = flow["jobs"]["preview"]
    assert job["strategy"]["matrix"]["stack"] == ["dev", "kind"]
    steps = job["steps"]
    at = next(
        i
        for i, s in enumerate(steps)
        if str(s.get("uses", "")).startswith("pulumi/actions@")
        and s.get("with", {}).get("command") == "preview"
    )
    step = steps[at]
    # The stack's config comes from its preset through the same set-up step as `make preview`
    # (the stack files live outside the checkout), before the preview runs.
    setup = [i for i, s in enumerate(steps) if "infra/stackinit.py" in str(s.get("run", ""))]
    assert setup and setup[0] < at
    assert steps[setup[0]]["env"]["STACK"] == "${{ matrix.stack }}"
    assert step["with"]["work-dir"] == "infra"
    assert step["with"]["stack-name"] == "${{ matrix.stack }}"
    assert step["with"]["comment-on-pr"] is True and step["with"]["diff"] is True
    assert flow["permissions"]["pull-requests"] == "write"
    kind = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("helm/kind-action@"))
    assert kind["with"]["config"] == "infra/kind/cluster.yaml"


def test_every_action_is_pinned_to_a_version() -> None:
    for path in WORKFLOWS.glob("*.yml"):
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            for step in job["steps"]:
                if "uses" in step:
                    _, _, ref = step["uses"].partition("@")
                    assert ref and ref not in {"main", "master", "latest"}, (path, step["uses"])


def test_test_workflow_runs_the_one_ci_script_which_lints_once_and_tests() -> None:
    """The workflow is a place to run .ci/run, nothing more: one script for every CI.

    .ci/run installs what a fresh Debian lacks and runs `make test`, which lints once.
    """
    job = _load("test.yml")["jobs"]["test"]
    assert [s["run"] for s in job["steps"] if "run" in s] == ["bash .ci/run"]
    assert [s["uses"].partition("@")[0] for s in job["steps"] if "uses" in s] == [
        "actions/checkout"
    ]
    # The machine .ci/run is written for: Debian, root; dockerd and debootstrap run inside.
    assert job["container"]["image"].startswith("debian:")
    assert "--privileged" in job["container"]["options"].split()
    script = (REPO / ".ci" / "run").read_text().splitlines()
    assert [line for line in script if line.startswith("make")] == ["make test"]
    outer = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}  # of the `make test` this may run under
    make_test = subprocess.run(
        ["make", "-n", "--no-print-directory", "test"],
        cwd=REPO,
        env={k: v for k, v in os.environ.items() if k not in outer},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.splitlines()
    assert sum("bin/ruff check" in line for line in make_test) == 1, make_test
    assert sum("/actionlint" in line for line in make_test if "go install" not in line) == 1


def test_preview_uses_the_cli_that_the_tests_prove() -> None:
    """One Pulumi CLI version: the one tools/pulumi pins, built and run by `make test`."""
    gomod = (REPO / "tools" / "pulumi" / "go.mod").read_text()
    pinned = next(
        line.split()[1].lstrip("v")
        for line in gomod.splitlines()
        if line.strip().startswith("github.com/pulumi/pulumi/pkg/v3 ")
    )
    steps = _load("preview.yml")["jobs"]["preview"]["steps"]
    versions = {
        s["with"]["pulumi-version"]
        for s in steps
        if str(s.get("uses", "")).startswith("pulumi/actions@")
    }
    assert versions == {pinned}
