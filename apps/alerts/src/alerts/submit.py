"""Submit the alerts job to a Flink session cluster, once: ``python -m alerts.submit``.

Waits (bounded by SUBMIT_TIMEOUT_S) for the JobManager's REST API and a registered
TaskManager, then exits 0 without submitting if a job named JOB_NAME is already running
(a redeploy or a restarted submitter container must not start a second copy); otherwise
runs ``flink run -d -pym alerts.job`` (with ``-s RESTORE_FROM`` when set), waits (bounded
again) until the job runs and prints its id; a job that fails to start (a savepoint that
does not fit the new job, say) is an error naming Flink's reason. Standard library only.
"""

from __future__ import annotations

import contextlib
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
from typing import Any, TextIO

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


# Causes that only say "the client program failed", never why.
_GENERIC_CAUSES = ("Python process exits with code", "ProgramAbortException")


def root_cause(output: str) -> str:
    """The most specific Java cause in ``flink run``'s output (the last ``Caused by:`` that
    is not a generic wrapper), else its last non-empty line."""
    causes = [
        line.removeprefix("Caused by: ").strip()
        for line in output.splitlines()
        if line.startswith("Caused by: ") and not any(g in line for g in _GENERIC_CAUSES)
    ]
    if causes:
        return causes[-1]
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


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
            f"`flink run` failed (exit {done.returncode}): {root_cause(output)}\n"
            f"--- the end of its output ---\n{output[-2500:]}"
        )
    return match.group(1), True


def latest_failure(exceptions: Mapping[str, Any]) -> str:
    """The stack trace of the newest failure in a ``GET /jobs/<id>/exceptions`` answer, or "".

    Flink 2 answers only with ``exceptionHistory`` (its ``entries``, each with a
    ``stacktrace`` and a ``timestamp``); 1.x's ``root-exception`` field is gone.
    """
    entries = (exceptions.get("exceptionHistory") or {}).get("entries") or []
    if not entries:
        return ""
    newest = max(entries, key=lambda entry: entry.get("timestamp") or 0)
    return str(newest.get("stacktrace") or "")


def wait_running(rest_url: str, job_id: str, timeout_s: float, poll_s: float = 0.5) -> None:
    """Return once the job is RUNNING; raise with Flink's reason if it ends or takes longer."""
    deadline = time.monotonic() + timeout_s
    state = "unknown"
    while time.monotonic() < deadline:
        try:
            state = str(rest_get(rest_url, f"/jobs/{job_id}")["state"])
        except (OSError, urllib.error.URLError, ValueError, KeyError) as exc:
            state = f"unknown ({exc})"
        if state == "RUNNING":
            return
        if state in ("FAILED", "CANCELED", "FINISHED"):
            break
        time.sleep(poll_s)
    reason = ""
    with contextlib.suppress(OSError, urllib.error.URLError, ValueError):
        reason = latest_failure(rest_get(rest_url, f"/jobs/{job_id}/exceptions"))
    raise SubmitError(
        f"job {job_id} is {state}, not RUNNING, {timeout_s:g} s after submission"
        + (f"; Flink says:\n{reason[:3000]}" if reason else "")
    )


def submit_and_wait(
    cfg: cfg_mod.Config, env: Mapping[str, str], restore: str | None, **how: Any
) -> tuple[str, bool]:
    """:func:`submit` (from ``restore`` if given), then wait until a new job runs."""
    job_id, submitted = submit(cfg, env, savepoint=restore, **how)
    if submitted:
        wait_running(cfg.flink_rest_url, job_id, cfg.submit_timeout_s)
    return job_id, submitted


def deploy(cfg: cfg_mod.Config, env: Mapping[str, str], out: TextIO, **how: Any) -> int:
    """Submit the job once (from ``cfg.restore_from`` if set) and report on ``out``; the
    exit code. ``how``: :func:`submit`'s keyword arguments (tests run the job from source).

    A state that does not fit the new job (or cannot be read) is not a dead end: the job is
    started without it, so the pipeline runs, and the exit code is still 1, so the deploy
    reports what was given up; the state stays where it is.
    """
    restore = cfg.restore_from or None
    try:
        job_id, submitted = submit_and_wait(cfg, env, restore, **how)
    except SubmitError as exc:
        out.write(f"alerts submit: {exc}\n")
        if not restore:
            return 1
        try:
            job_id, submitted = submit_and_wait(cfg, env, None, **how)
        except SubmitError as again:
            out.write(f"alerts submit: without the old state too: {again}\n")
            return 1
        if submitted:
            out.write(
                f"alerts submit: started {job_id} WITHOUT the previous job's state, which "
                f"stays at {restore}: alerts that job had open will not be resolved by it\n"
            )
        else:
            out.write(f"alerts submit: a job of that name is still active ({job_id})\n")
        return 1
    if not submitted:
        verb = "already running, not submitted again:"
    else:
        verb = f"restored from {restore} and running:" if restore else "submitted and running:"
    out.write(f"alerts job {cfg.job_name!r} {verb} {job_id}\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the image's ``submit`` mode; returns the exit code."""
    del argv  # every setting is an environment variable (alerts.config)
    try:
        cfg = cfg_mod.load(os.environ)
    except cfg_mod.ConfigError as exc:
        sys.stderr.write(f"alerts submit: {exc}\n")
        return 1
    return deploy(cfg, os.environ, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
