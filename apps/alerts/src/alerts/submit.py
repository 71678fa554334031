"""Submit the alerts job to a Flink session cluster, once: ``python -m alerts.submit``.

Waits (bounded by SUBMIT_TIMEOUT_S) for the JobManager's REST API and a registered
TaskManager, then exits 0 without submitting if a job named JOB_NAME is already running
(a redeploy or a restarted submitter container must not start a second copy); otherwise
runs ``flink run -d -pym alerts.job`` and prints the job id. Standard library only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from alerts import config as cfg_mod

ACTIVE = ("CREATED", "INITIALIZING", "RUNNING", "RESTARTING", "RECONCILING")


class SubmitError(RuntimeError):
    """The cluster did not come up or the submission failed; the message says which."""


def rest_get(rest_url: str, path: str, timeout: float = 5.0) -> Any:
    """GET a Flink REST path and decode its JSON."""
    with urllib.request.urlopen(f"{rest_url}{path}", timeout=timeout) as resp:
        return json.load(resp)


def wait_for_cluster(rest_url: str, timeout_s: float, poll_s: float = 1.0) -> None:
    """Return once the REST API answers with at least one task slot; raise after timeout_s."""
    deadline = time.monotonic() + timeout_s
    last = "no answer yet"
    while True:
        try:
            overview = rest_get(rest_url, "/overview")
            if int(overview.get("slots-total", 0)) > 0:
                return
            last = "the JobManager answers but no TaskManager has registered"
        except (OSError, urllib.error.URLError, ValueError) as exc:
            last = str(exc)
        if time.monotonic() >= deadline:
            raise SubmitError(
                f"Flink at {rest_url} was not ready after {timeout_s:g} s ({last}); "
                "check FLINK_REST_URL and that the jobmanager and taskmanager run"
            )
        time.sleep(poll_s)


def active_job(rest_url: str, name: str) -> str | None:
    """The id of a job called ``name`` that is running (or about to), else None."""
    for job in rest_get(rest_url, "/jobs/overview").get("jobs", []):
        if job.get("name") == name and job.get("state") in ACTIVE:
            return str(job["jid"])
    return None


def flink_binary() -> str:
    """``flink`` from PATH, else the one inside the installed PyFlink distribution."""
    found = shutil.which("flink")
    if found:
        return found
    import importlib.util

    spec = importlib.util.find_spec("pyflink")
    if spec is None or spec.origin is None:
        raise SubmitError("neither `flink` on PATH nor PyFlink is installed")
    return str(Path(spec.origin).parent / "bin" / "flink")


def run_argv(
    rest_url: str,
    *,
    entry: Sequence[str] = ("-pym", "alerts.job"),
    savepoint: str | None = None,
    pyexec: str | None = None,
    flink: str | None = None,
) -> list[str]:
    """The ``flink run`` command line that submits the job detached."""
    argv = [flink or flink_binary(), "run", "-m", re.sub(r"^https?://", "", rest_url), "-d"]
    if savepoint:
        argv += ["-s", savepoint]
    argv += list(entry)
    if pyexec:
        argv += ["-pyexec", pyexec]
    return argv


def submit(
    cfg: cfg_mod.Config,
    env: Mapping[str, str],
    *,
    entry: Sequence[str] = ("-pym", "alerts.job"),
    savepoint: str | None = None,
    pyexec: str | None = None,
    flink: str | None = None,
) -> tuple[str, bool]:
    """(job id, submitted?): submit unless a job with the same name is already active."""
    wait_for_cluster(cfg.flink_rest_url, cfg.submit_timeout_s)
    existing = active_job(cfg.flink_rest_url, cfg.job_name)
    if existing is not None:
        return existing, False
    argv = run_argv(cfg.flink_rest_url, entry=entry, savepoint=savepoint, pyexec=pyexec,
                    flink=flink)
    done = subprocess.run(argv, capture_output=True, text=True, env=dict(env), timeout=600)
    output = done.stdout + done.stderr
    match = re.search(r"JobID ([0-9a-f]{32})", output)
    if done.returncode != 0 or match is None:
        raise SubmitError(
            f"`flink run` failed (exit {done.returncode}):\n{output[-4000:]}"
        )
    return match.group(1), True


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the image's ``submit`` mode; returns the exit code."""
    del argv  # every setting is an environment variable (alerts.config)
    try:
        cfg = cfg_mod.load(os.environ)
        job_id, submitted = submit(cfg, os.environ)
    except (cfg_mod.ConfigError, SubmitError) as exc:
        sys.stderr.write(f"alerts submit: {exc}\n")
        return 1
    verb = "submitted" if submitted else "already running, not submitted again:"
    sys.stdout.write(f"alerts job {cfg.job_name!r} {verb} {job_id}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
