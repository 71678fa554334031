"""Keep the alerts job running, exactly once, with its state, across redeploys and reboots.

The stack's ``alerts-submit`` service runs this module's own source (``python -c``) inside
the alerts image, as a long-running keeper (a container with a restart policy on Docker, a
1-replica Recreate Deployment on kind), so the code the tests exercise is the code that runs.

On start (a deploy, or a restart of the keeper: a reboot) it first replaces the job: every
active job of that name is stopped with a savepoint (``POST /jobs/<id>/stop``, into the
cluster's ``execution.checkpointing.savepoint-dir``); if a savepoint cannot be taken (the
job is restarting, say) the job is cancelled and its last completed checkpoint, retained
on cancellation, is used instead. Then, every ``KEEP_INTERVAL_S``, it ensures one job of
that name is active: when there is none (the JobManager restarted and forgot it, someone
cancelled it) it runs the image's submitter (``python -m alerts.submit`` with
``RESTORE_FROM``) from the newest savepoint or completed checkpoint on the volume; while
one is CREATED, INITIALIZING, RUNNING, RESTARTING or RECONCILING it never submits. Open
alerts stay open across all of it and are resolved later, instead of being orphaned by a
job that forgot them.

Exactly one keeper runs: the Docker target deletes the old container before creating a new
one, kind's Recreate strategy stops the old pod first; the keeper is the only submitter.

Retention: once the running job has completed a checkpoint (its state is known good), older
savepoints and checkpoints are deleted, keeping the newest ``retained`` (see
:func:`states_to_delete` for the exact rule).

Standard library only, and self-contained (nothing is installed in the image for it).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ACTIVE = ("CREATED", "INITIALIZING", "RUNNING", "RESTARTING", "RECONCILING")
ENDED = ("CANCELED", "FAILED", "FINISHED")
KEEP_INTERVAL_S = 5.0  # how often the keeper checks that the job is there
# Written after every check that found exactly one active job; the health check reads its age.
HEALTH_FILE = "/tmp/alerts-keeper.ok"
HEALTH_MAX_AGE_S = 60
# Where the cluster keeps checkpoints and savepoints: the Flink 2 names of these options (1.x
# called them state.checkpoints.dir and state.savepoints.dir, which 2.x still reads as
# deprecated keys; the stack's cluster is configured with these, see services.py).
CHECKPOINTS_DIR_KEY = "execution.checkpointing.dir"
SAVEPOINTS_DIR_KEY = "execution.checkpointing.savepoint-dir"


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
    checkpoints, savepoints = _cluster_dirs(rest_url)
    found: list[tuple[float, Path]] = []
    if checkpoints is not None:
        found += [(m.stat().st_mtime, m.parent) for m in checkpoints.glob("*/chk-*/_metadata")]
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


@dataclass(frozen=True, order=True)
class SavedState:
    """A restorable state on the volume: a directory holding a ``_metadata`` file."""

    mtime: float  # of its _metadata: when it completed (first, so states sort by age)
    path: str  # the savepoint-* or <job id>/chk-<n> directory
    job: str = ""  # the job id a checkpoint belongs to; "" for a savepoint


def states_to_delete(
    states: Sequence[SavedState], known_good: str | None, retained: int, active: Collection[str]
) -> list[str]:
    """The paths to delete so that ``retained`` states remain; pure.

    The rule: nothing is deleted until a state is known good (``known_good``: the latest
    checkpoint the running job completed, which must be among ``states``). Then savepoints
    and completed checkpoints are counted together, newest ``_metadata`` first; the newest
    ``retained`` of them (inclusive: ``retained=1`` keeps exactly one) and ``known_good`` are
    kept, every older one is deleted, except checkpoints of a job in ``active`` (Flink
    retires those itself). Incomplete directories (no ``_metadata``) are not states and are
    never listed here.
    """
    if retained < 1:
        raise ValueError(f"retained must be at least 1, not {retained}")
    if known_good is None or known_good not in {s.path for s in states}:
        return []
    newest_first = sorted(states, reverse=True)
    kept = {s.path for s in newest_first[:retained]} | {known_good}
    return [s.path for s in newest_first if s.path not in kept and s.job not in active]


def _cluster_dirs(rest_url: str) -> tuple[Path | None, Path | None]:
    """(checkpoints, savepoints) directories of the cluster, as this process sees them."""
    config = {e["key"]: e["value"] for e in _call(rest_url, "/jobmanager/config")}
    return _local_dir(config.get(CHECKPOINTS_DIR_KEY)), _local_dir(
        config.get(SAVEPOINTS_DIR_KEY)
    )


def saved_states(checkpoints: Path | None, savepoints: Path | None) -> list[SavedState]:
    """Every completed checkpoint and savepoint in the two directories."""
    found: list[SavedState] = []
    if checkpoints is not None:
        for meta in checkpoints.glob("*/chk-*/_metadata"):
            job = meta.parent.parent.name
            found.append(SavedState(meta.stat().st_mtime, str(meta.parent), job))
    if savepoints is not None:
        for meta in savepoints.glob("savepoint-*/_metadata"):
            found.append(SavedState(meta.stat().st_mtime, str(meta.parent)))
    return found


def prune(
    rest_url: str, jid: str, retained: int, active: Collection[str], say: Callable[[str], None]
) -> list[str]:
    """Delete the states :func:`states_to_delete` names, once job ``jid`` (running) has
    completed a checkpoint; then the directories of ended jobs left without any completed
    checkpoint. Returns what was deleted."""
    known = _local_dir(retained_checkpoint(rest_url, jid))
    if known is None:
        return []
    checkpoints, savepoints = _cluster_dirs(rest_url)
    doomed = states_to_delete(saved_states(checkpoints, savepoints), str(known), retained, active)
    for path in doomed:
        shutil.rmtree(path, ignore_errors=True)
    if checkpoints is not None:
        for job_dir in checkpoints.iterdir():
            if not job_dir.is_dir() or job_dir.name in active:
                continue
            if any(job_dir.glob("chk-*/_metadata")):
                continue
            shutil.rmtree(job_dir, ignore_errors=True)
            doomed.append(str(job_dir))
    if doomed:
        say(
            f"kept the newest {retained} state(s) (known good: {known}); deleted {len(doomed)}: "
            + ", ".join(doomed)
        )
    return doomed


class Keeper:
    """Ensures one active job named ``name``; ``submit(path)`` starts it (from ``path``, a
    state to restore, or None) and returns an exit code."""

    def __init__(
        self,
        rest_url: str,
        name: str,
        retained: int,
        submit: Callable[[str | None], int],
        log: Callable[[str], None],
        health: Path | None = None,
    ) -> None:
        self.rest_url, self.name, self.retained = rest_url, name, retained
        self.submit, self.log, self.health = submit, log, health
        self.restore: str | None = None  # the replace step's path, for the first submission

    def start(self, timeout_s: float) -> None:
        """The replace step of a deploy: stop the job of the previous deploy keeping its
        state, to be restored by the first :meth:`ensure`."""
        overview = wait_for_rest(self.rest_url, timeout_s)
        self.restore = stop_named_jobs(
            self.rest_url,
            self.name,
            log=lambda line: self.log(f"replace {self.name}: {line}"),
            overview=overview,
        )

    def ensure(self) -> bool:
        """One check: submit when no job of the name is active; prune once one runs. True
        when exactly one is active (and the health file was touched)."""
        overview = _call(self.rest_url, "/jobs/overview")
        active = jobs_to_replace(overview, self.name)
        if not active:
            path = self.restore or newest_state_on_volume(self.rest_url)
            self.restore = None
            self.log(f"keep {self.name}: no active job; starting it from {path or 'nothing'}")
            code = self.submit(path)
            if code != 0:
                self.log(f"keep {self.name}: the submitter exited {code} (see above)")
            return False
        if len(active) > 1:
            self.log(f"keep {self.name}: {len(active)} active jobs {active}; expected one")
            return False
        everything_active = {
            str(j["jid"]) for j in overview.get("jobs", []) if j.get("state") in ACTIVE
        }
        prune(
            self.rest_url,
            active[0],
            self.retained,
            everything_active,
            lambda line: self.log(f"keep {self.name}: {line}"),
        )
        if self.health is not None:
            self.health.write_text(f"{active[0]}\n")
        return True

    def run(self, interval_s: float = KEEP_INTERVAL_S) -> None:
        """:meth:`ensure` forever; a JobManager that does not answer is waited for."""
        while True:
            try:
                self.ensure()
            except (ReplaceError, OSError, ValueError, KeyError) as err:
                self.log(f"keep {self.name}: {err}")
            time.sleep(interval_s)


def _submit_with_image(path: str | None) -> int:
    """The image's own submitter, from ``path`` (``RESTORE_FROM``); its exit code."""
    env = dict(os.environ, RESTORE_FROM=path or "")
    return subprocess.run([sys.executable, "-m", "alerts.submit"], env=env, check=False).returncode


def main(argv: Sequence[str] | None = None) -> int:
    """The keeper: ``python -c <this source> <retained>``. Settings from the environment:
    $FLINK_REST_URL, $JOB_NAME, $SUBMIT_TIMEOUT_S (default 180; how long the JobManager is
    waited for at start, else exit 1 and the restart policy starts the keeper again)."""
    args = sys.argv[1:] if argv is None else list(argv)
    retained = int(args[0]) if args else 1
    rest_url, name = os.environ["FLINK_REST_URL"].rstrip("/"), os.environ["JOB_NAME"]

    def log(line: str) -> None:
        sys.stderr.write(f"{line}\n")
        sys.stderr.flush()

    # PID 1 ignores SIGTERM unless it handles it: stop promptly on `docker stop`/pod deletion.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    keeper = Keeper(rest_url, name, retained, _submit_with_image, log, Path(HEALTH_FILE))
    try:
        keeper.start(float(os.environ.get("SUBMIT_TIMEOUT_S", "180")))
    except ReplaceError as err:
        log(f"replace {name}: {err}")
        return 1
    keeper.run()
    return 0
