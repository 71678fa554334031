"""Replace the alerts job on redeploy without losing its state.

Every active job of that name is stopped with a savepoint (``POST /jobs/<id>/stop``, into
the cluster's ``state.savepoints.dir``); if a savepoint cannot be taken (the job is
restarting, say) the job is cancelled and its last completed checkpoint, retained on
cancellation, is used instead. The path is printed on stdout (nothing when there was no
job or no state), and the image's submitter (``python -m alerts.submit``) starts the new job
from it (``RESTORE_FROM``): open alerts stay open and are resolved later, instead of being
orphaned by a job that forgot them.

Standard library only, and self-contained: the stack runs this module's own source with
``python -c`` inside the alerts image, just before the submitter, which skips submitting
while a job of that name is active. The submitter container is only re-created when the
alerts image or its settings change, so stopping first is what makes a changed job run.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ACTIVE = ("CREATED", "INITIALIZING", "RUNNING", "RESTARTING", "RECONCILING")
ENDED = ("CANCELED", "FAILED", "FINISHED")


class ReplaceError(RuntimeError):
    """The REST API did not answer or a job did not stop in time."""


def jobs_to_replace(overview: dict[str, Any], name: str) -> list[str]:
    """Ids of the jobs called ``name`` that are active, from GET /jobs/overview."""
    return [
        str(job["jid"])
        for job in overview.get("jobs", [])
        if job.get("name") == name and job.get("state") in ACTIVE
    ]


def _call(rest_url: str, path: str, method: str = "GET", body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        f"{rest_url}{path}", data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
    except (urllib.error.URLError, OSError) as err:
        raise ReplaceError(f"{method} {rest_url}{path} failed: {err}") from None
    return json.loads(raw) if raw else None


def _wait_ended(rest_url: str, jid: str, name: str, deadline: float) -> None:
    while (state := _call(rest_url, f"/jobs/{jid}")["state"]) not in ENDED:
        if time.monotonic() > deadline:
            raise ReplaceError(f"job {name!r} ({jid}) still {state} when the time was up")
        time.sleep(0.5)


def stop_with_savepoint(rest_url: str, jid: str, deadline: float) -> tuple[str | None, str]:
    """Stop one job with a savepoint (no drain): (its location, "") or (None, why not)."""
    try:
        trigger = _call(rest_url, f"/jobs/{jid}/stop", "POST", {"drain": False})["request-id"]
    except ReplaceError as err:  # e.g. 409: the job is not running at the moment
        return None, str(err)
    while True:
        status = _call(rest_url, f"/jobs/{jid}/savepoints/{trigger}")
        if status["status"]["id"] == "COMPLETED":
            operation = status.get("operation") or {}
            if "location" in operation:
                return str(operation["location"]), ""
            cause = operation.get("failure-cause") or {}
            trace = str(cause.get("stack-trace") or cause.get("class") or operation)
            return None, trace.strip().splitlines()[0][:300]
        if time.monotonic() > deadline:
            return None, "the savepoint did not complete in time"
        time.sleep(0.5)


def retained_checkpoint(rest_url: str, jid: str) -> str | None:
    """The last completed checkpoint of a job (kept after cancel: RETAIN_ON_CANCELLATION)."""
    latest = _call(rest_url, f"/jobs/{jid}/checkpoints").get("latest") or {}
    completed = latest.get("completed") or {}
    path = completed.get("external_path")
    # Flink says "<checkpoint-not-externally-addressable>" for one kept in memory only.
    return str(path) if path and not str(path).startswith("<") else None


def _local_dir(uri: str | None) -> Path | None:
    """A ``file:`` URI of the cluster's config as a directory this process can read."""
    if not uri or not uri.startswith("file:"):
        return None
    path = Path("/" + uri.removeprefix("file:").lstrip("/"))
    return path if path.is_dir() else None


def newest_state_on_volume(rest_url: str) -> str | None:
    """The newest savepoint or completed checkpoint in the cluster's state directories, when
    this process sees them (the stack mounts the Flink volume into the submitter too).

    For a JobManager that knows no job at all: it was replaced (a new image) or restarted,
    and the job it ran died with it, leaving its checkpoints on the volume (a suspended job's
    checkpoints are kept). The stack's cluster runs only the alerts job.
    """
    config = {e["key"]: e["value"] for e in _call(rest_url, "/jobmanager/config")}
    found: list[tuple[float, Path]] = []
    checkpoints = _local_dir(config.get("state.checkpoints.dir"))
    if checkpoints is not None:
        found += [(m.stat().st_mtime, m.parent) for m in checkpoints.glob("*/chk-*/_metadata")]
    savepoints = _local_dir(config.get("state.savepoints.dir"))
    if savepoints is not None:
        found += [(m.stat().st_mtime, m.parent) for m in savepoints.glob("savepoint-*/_metadata")]
    return f"file:{max(found)[1]}" if found else None


def wait_for_rest(rest_url: str, timeout_s: float) -> dict[str, Any]:
    """GET /jobs/overview, retried until the JobManager answers or ``timeout_s`` passed."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            overview: dict[str, Any] = _call(rest_url, "/jobs/overview")
            return overview
        except ReplaceError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def stop_named_jobs(
    rest_url: str,
    name: str,
    timeout_s: float = 300.0,
    log: Callable[[str], None] | None = None,
    overview: dict[str, Any] | None = None,
) -> str | None:
    """Stop every active job called ``name``, keeping its state; return the path the new job
    should start from (the last one's savepoint, else its retained checkpoint; with a
    JobManager that knows no job at all, the newest state on the volume), or None."""
    say = log or (lambda line: None)
    overview = overview if overview is not None else _call(rest_url, "/jobs/overview")
    if not overview.get("jobs"):
        path = newest_state_on_volume(rest_url)
        say(f"a new JobManager; restoring from {path or 'nothing'} (newest state on the volume)")
        return path
    restore: str | None = None
    deadline = time.monotonic() + timeout_s
    running = jobs_to_replace(overview, name)
    for jid in running:
        path, why = stop_with_savepoint(rest_url, jid, deadline)
        if path is not None:
            _wait_ended(rest_url, jid, name, deadline)
            say(f"stopped {jid} with savepoint {path}")
        else:
            if _call(rest_url, f"/jobs/{jid}")["state"] not in ENDED:
                _call(rest_url, f"/jobs/{jid}?mode=cancel", "PATCH")
            _wait_ended(rest_url, jid, name, deadline)
            path = retained_checkpoint(rest_url, jid)
            say(f"no savepoint of {jid} ({why}); cancelled it, restoring from {path or 'nothing'}")
        restore = path or restore
    if not running:
        say("no running job, nothing to restore")
    return restore


def main() -> int:
    """Stop the job named $JOB_NAME on $FLINK_REST_URL keeping its state; print the path to
    restore from on stdout (empty when there is none), everything else on stderr. Waits up
    to $SUBMIT_TIMEOUT_S (default 180) for the JobManager to answer."""
    rest_url, name = os.environ["FLINK_REST_URL"].rstrip("/"), os.environ["JOB_NAME"]

    def log(line: str) -> None:
        sys.stderr.write(f"replace {name}: {line}\n")

    try:
        overview = wait_for_rest(rest_url, float(os.environ.get("SUBMIT_TIMEOUT_S", "180")))
        restore = stop_named_jobs(rest_url, name, log=log, overview=overview)
    except ReplaceError as err:
        log(str(err))
        return 1
    sys.stdout.write(f"{restore or ''}\n")
    return 0
