"""The alerts job's keeper (``iotstack.ops.flink_jobs``): it submits only when no job of the
name is active, from the newest state on the volume, and keeps only the newest states.

The keeper talks to a small fake of Flink's REST API here (the endpoints it uses, with the
answers Flink 2.2 gives, as 1.19 did); against real Flink it runs in
``tests/docker_e2e/test_redeploy.py``.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from iotstack.config import ConfigError, StackConfig
from iotstack.ops import flink_jobs
from iotstack.ops.flink_jobs import SavedState, states_to_delete

NAME = "iot-alerts"


# -- the retention rule (pure) -------------------------------------------------------------


def _states() -> list[SavedState]:
    """Five states, oldest first: a savepoint, then checkpoints of jobs a..d."""
    return [
        SavedState(1.0, "/sp/savepoint-1"),
        SavedState(2.0, "/cp/a/chk-3", "a"),
        SavedState(3.0, "/sp/savepoint-2"),
        SavedState(4.0, "/cp/b/chk-9", "b"),
        SavedState(5.0, "/cp/c/chk-1", "c"),
    ]


def test_nothing_is_deleted_until_a_state_is_known_good() -> None:
    assert states_to_delete(_states(), None, 1, set()) == []
    # A path that is not (or no longer) on the volume is not known good either.
    assert states_to_delete(_states(), "/cp/z/chk-1", 1, set()) == []


@pytest.mark.parametrize(
    ("retained", "deleted"),
    [
        (1, ["/cp/b/chk-9", "/sp/savepoint-2", "/cp/a/chk-3", "/sp/savepoint-1"]),
        (2, ["/sp/savepoint-2", "/cp/a/chk-3", "/sp/savepoint-1"]),
        (4, ["/sp/savepoint-1"]),
        (5, []),  # exactly as many as there are: all kept
        (6, []),
    ],
)
def test_the_newest_n_are_kept_counting_savepoints_and_checkpoints_together(
    retained: int, deleted: list[str]
) -> None:
    assert states_to_delete(_states(), "/cp/c/chk-1", retained, set()) == deleted


def test_the_known_good_state_is_kept_even_when_newer_ones_fill_n() -> None:
    # A savepoint taken after the running job's last checkpoint: both stay with N=1.
    states = [*_states(), SavedState(6.0, "/sp/savepoint-3")]
    assert states_to_delete(states, "/cp/c/chk-1", 1, set()) == [
        "/cp/b/chk-9",
        "/sp/savepoint-2",
        "/cp/a/chk-3",
        "/sp/savepoint-1",
    ]


def test_checkpoints_of_an_active_job_are_never_deleted() -> None:
    assert states_to_delete(_states(), "/cp/c/chk-1", 1, {"a", "c"}) == [
        "/cp/b/chk-9",
        "/sp/savepoint-2",
        "/sp/savepoint-1",
    ]


def test_fewer_than_one_state_retained_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        states_to_delete(_states(), "/cp/c/chk-1", 0, set())


def test_the_config_key_is_validated_in_one_line() -> None:
    assert StackConfig.from_mapping({}).flink_state_retained == 3
    assert StackConfig.from_mapping({"flinkStateRetained": "1"}).flink_state_retained == 1
    for bad in ("0", "-2", "many"):
        with pytest.raises(ConfigError) as err:
            StackConfig.from_mapping({"flinkStateRetained": bad})
        assert str(err.value) == (
            f"iotstack:flinkStateRetained={bad!r} is invalid; allowed: an integer from 1 to 1000"
            " (fix: pulumi config set flinkStateRetained <value>)"
        )


# -- the keeper against a fake Flink REST API -----------------------------------------------


class FakeFlink:
    """The REST endpoints the keeper uses, over a state directory like the stack's volume."""

    def __init__(self, root: Path) -> None:
        self.checkpoints = root / "checkpoints"
        self.savepoints = root / "savepoints"
        self.checkpoints.mkdir()
        self.savepoints.mkdir()
        self.jobs: list[dict[str, str]] = []
        self.completed: dict[str, str] = {}  # job id -> path of its latest completed checkpoint
        self.stops: list[str] = []

    def answer(self, method: str, path: str) -> Any:
        parts = path.strip("/").split("/")
        if path == "/jobs/overview":
            return {"jobs": self.jobs}
        if path == "/jobmanager/config":
            return [
                {"key": "execution.checkpointing.dir", "value": f"file://{self.checkpoints}"},
                {
                    "key": "execution.checkpointing.savepoint-dir",
                    "value": f"file://{self.savepoints}",
                },
            ]
        if parts[0] == "jobs" and len(parts) == 3 and parts[2] == "checkpoints":
            done = self.completed.get(parts[1])
            return {"latest": {"completed": {"external_path": f"file:{done}"} if done else None}}
        if parts[0] == "jobs" and len(parts) == 3 and parts[2] == "stop" and method == "POST":
            self.stops.append(parts[1])
            return {"request-id": "t1"}
        if parts[0] == "jobs" and len(parts) == 4 and parts[2] == "savepoints":
            where = self.state(self.savepoints / f"savepoint-{parts[1][:6]}-1", 99.0)
            self.job(parts[1])["state"] = "FINISHED"
            return {"status": {"id": "COMPLETED"}, "operation": {"location": f"file:{where}"}}
        if parts[0] == "jobs" and len(parts) == 2:
            return self.job(parts[1])
        raise KeyError(path)

    def job(self, jid: str) -> dict[str, str]:
        return next(j for j in self.jobs if j["jid"] == jid)

    @staticmethod
    def state(directory: Path, mtime: float) -> Path:
        """A completed state: a directory with a ``_metadata`` written at ``mtime``."""
        directory.mkdir(parents=True)
        (directory / "_metadata").write_bytes(b"meta")
        os.utime(directory / "_metadata", (mtime, mtime))
        return directory


@pytest.fixture
def flink(tmp_path: Path) -> Iterator[tuple[FakeFlink, str]]:
    fake = FakeFlink(tmp_path)

    class Handler(BaseHTTPRequestHandler):
        def _reply(self) -> None:
            try:
                body = json.dumps(fake.answer(self.command, self.path)).encode()
                self.send_response(200)
            except (KeyError, StopIteration):
                body, _ = b"{}", self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PATCH = _reply

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def _keeper(
    rest: str, submitted: list[str | None], tmp_path: Path, retained: int = 1
) -> flink_jobs.Keeper:
    def submit(path: str | None) -> int:
        submitted.append(path)
        return 0

    return flink_jobs.Keeper(rest, NAME, retained, submit, lambda _: None, tmp_path / "ok")


def test_a_restarted_jobmanager_gets_the_job_back_from_the_newest_state(
    flink: tuple[FakeFlink, str], tmp_path: Path
) -> None:
    fake, rest = flink
    fake.state(fake.savepoints / "savepoint-aaaaaa-1", 10.0)
    newest = fake.state(fake.checkpoints / ("b" * 32) / "chk-7", 20.0)
    fake.state(fake.checkpoints / ("a" * 32) / "chk-2", 5.0)
    submitted: list[str | None] = []
    keeper = _keeper(rest, submitted, tmp_path)
    keeper.start(timeout_s=5)  # a JobManager that knows no job: nothing to stop
    assert fake.stops == []
    assert keeper.ensure() is False
    assert submitted == [f"file:{newest}"]
    assert not (tmp_path / "ok").exists()  # not healthy before the job is there


@pytest.mark.parametrize("state", ["CREATED", "INITIALIZING", "RUNNING", "RESTARTING"])
def test_never_submits_while_a_job_of_the_name_is_active(
    flink: tuple[FakeFlink, str], tmp_path: Path, state: str
) -> None:
    fake, rest = flink
    fake.jobs = [
        {"jid": "c" * 32, "name": NAME, "state": "CANCELED"},
        {"jid": "d" * 32, "name": NAME, "state": state},
    ]
    submitted: list[str | None] = []
    keeper = _keeper(rest, submitted, tmp_path)
    for _ in range(3):
        assert keeper.ensure() is True
    assert submitted == []
    assert (tmp_path / "ok").read_text() == "d" * 32 + "\n"


def test_a_deploy_stops_the_running_job_with_a_savepoint_and_starts_from_it(
    flink: tuple[FakeFlink, str], tmp_path: Path
) -> None:
    fake, rest = flink
    fake.state(fake.checkpoints / ("e" * 32) / "chk-1", 50.0)
    fake.jobs = [{"jid": "e" * 32, "name": NAME, "state": "RUNNING"}]
    submitted: list[str | None] = []
    keeper = _keeper(rest, submitted, tmp_path)
    keeper.start(timeout_s=5)
    assert fake.stops == ["e" * 32]
    keeper.ensure()
    assert submitted == [f"file:{fake.savepoints / ('savepoint-eeeeee-1')}"]


def test_a_job_that_ended_is_started_again_from_the_newest_state(
    flink: tuple[FakeFlink, str], tmp_path: Path
) -> None:
    fake, rest = flink
    fake.jobs = [{"jid": "f" * 32, "name": NAME, "state": "CANCELED"}]
    retained = fake.state(fake.checkpoints / ("f" * 32) / "chk-4", 30.0)
    submitted: list[str | None] = []
    keeper = _keeper(rest, submitted, tmp_path)
    keeper.start(timeout_s=5)
    keeper.ensure()
    assert submitted == [f"file:{retained}"]


def test_old_states_go_only_once_the_running_job_completed_a_checkpoint(
    flink: tuple[FakeFlink, str], tmp_path: Path
) -> None:
    fake, rest = flink
    old_sp = fake.state(fake.savepoints / "savepoint-aaaaaa-1", 10.0)
    old_cp = fake.state(fake.checkpoints / ("a" * 32) / "chk-2", 20.0)
    (fake.checkpoints / ("a" * 32) / "shared").mkdir()
    restored = fake.state(fake.checkpoints / ("b" * 32) / "chk-7", 30.0)
    empty_job = fake.checkpoints / ("9" * 32)  # an ended job that never completed one
    (empty_job / "chk-1").mkdir(parents=True)
    running = "c" * 32
    in_progress = fake.checkpoints / running / "chk-1"  # no _metadata yet
    in_progress.mkdir(parents=True)
    stray = fake.checkpoints / "README"  # not a job's directory: left alone
    stray.write_text("x")
    fake.jobs = [{"jid": running, "name": NAME, "state": "RUNNING"}]
    submitted: list[str | None] = []
    keeper = _keeper(rest, submitted, tmp_path, retained=2)

    assert keeper.ensure() is True  # restored, no checkpoint of its own yet: nothing goes
    assert all(p.exists() for p in (old_sp, old_cp, restored, empty_job, in_progress))

    own = fake.state(fake.checkpoints / running / "chk-2", 40.0)
    fake.completed[running] = str(own)
    assert keeper.ensure() is True
    assert own.exists() and restored.exists() and in_progress.exists()  # the newest 2 + ...
    assert not old_sp.exists() and not (fake.checkpoints / ("a" * 32)).exists()
    assert not empty_job.exists() and stray.exists()
    # A second pass has nothing left to delete (and does not claim the stray file).
    assert flink_jobs.prune(rest, running, 2, {running}, lambda _: None) == []
    assert submitted == []
