"""Start a server process, wait until a probe says it is ready, and always stop it."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

_LIVE: list[ManagedProcess] = []


class ServiceError(RuntimeError):
    """A service failed to start or become ready; the message names it and shows its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def status_mib(pid: int, field: str) -> float | None:
    """A memory line of ``/proc/<pid>/status`` (``VmRSS``, ``VmHWM``, ...) in MiB; None
    when the process or the line is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def log_tail(path: Path, lines: int = 25) -> str:
    """The last lines of a log file, or a note that it is empty or missing."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return "(no log file)"
    return "\n".join(text[-lines:]) if text else "(log is empty)"


def _with_parent_death_signal(argv: Sequence[str]) -> list[str]:
    """``argv`` run through ``setpriv --pdeathsig=KILL``: if the test process dies hard, so
    does the server (Linux prctl(PR_SET_PDEATHSIG), kept across the exec).

    Not a ``preexec_fn``: Python code between fork and exec in a process with threads can
    deadlock (a lock another thread held at the fork, e.g. the dynamic loader's for
    ``ctypes.CDLL``); a CI run hung there restarting Elasticsearch while a test thread polled
    HTTP. setpriv (util-linux) does the prctl and execs the server itself.
    """
    return ["setpriv", "--pdeathsig=KILL", "--", *argv]


class ManagedProcess:
    """One server process in its own process group, logging to a file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(os.environ if env is None else env)
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def start(self) -> ManagedProcess:
        """Launch the process; output goes to the log file.

        Call it from a thread that outlives the server (the main thread): Linux sends the
        parent-death signal when the *thread* that started the process exits, so a server
        started from a pool thread is killed when the pool shuts down.
        """
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                _with_parent_death_signal(self.argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )
        self.started_at = time.monotonic()
        _LIVE.append(self)
        return self

    def failure(self, what: str) -> ServiceError:
        """An error naming this service, its log file and the log's last lines."""
        return ServiceError(
            f"{self.name} {what}\n  log: {self.log_path}\n  last lines:\n"
            + "\n".join("    " + line for line in log_tail(self.log_path).splitlines())
        )

    def wait_ready(self, probe: Callable[[], bool], timeout: float) -> float:
        """Poll ``probe`` until it returns True; return seconds taken, raise on exit/timeout."""
        assert self.proc is not None, "start() first"
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            code = self.proc.poll()
            if code is not None:
                raise self.failure(f"exited with code {code} before it was ready")
            try:
                if probe():
                    return time.monotonic() - self.started_at
            except OSError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise self.failure(f"was not ready after {timeout:.0f} s")
            time.sleep(delay)  # back-off between probes, not a wait for readiness
            delay = min(delay * 1.5, 0.5)

    def rss_mb(self) -> float:
        """Resident memory of every process in this service's process group, in MiB."""
        if self.proc is None:
            return 0.0
        total_pages = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # the process ended while we looked
            if int(fields[2]) == self.proc.pid:  # field 5 of stat: process group id
                total_pages += int(fields[21])  # field 24: resident set size in pages
        return total_pages * os.sysconf("SC_PAGE_SIZE") / 2**20

    def restart(self, probe: Callable[[], bool], timeout: float) -> float:
        """Stop, start again with the same command (same ports, same data), wait for ``probe``.

        Returns the seconds from the new start until the probe passed.
        """
        self.stop()
        self.start()
        return self.wait_ready(probe, timeout)

    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM the whole process group, then SIGKILL whatever is left."""
        if self.proc is None:
            return
        pgid = self.proc.pid
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(wait)
            except subprocess.TimeoutExpired:
                continue
            # The leader exited; make sure no child of it survives in the group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            break
        if self in _LIVE:
            _LIVE.remove(self)


def run_checked(argv: Sequence[str], what: str, log_path: Path) -> None:
    """Run a short command to completion; on failure raise naming it, with its output."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        code = subprocess.call(list(argv), stdout=log, stderr=subprocess.STDOUT)
    if code != 0:
        raise ServiceError(
            f"{what} failed with exit code {code}\n  command: {' '.join(argv)}\n"
            f"  log: {log_path}\n{log_tail(log_path)}"
        )


@atexit.register
def _stop_all() -> None:
    for proc in list(reversed(_LIVE)):
        proc.stop(timeout=10)
