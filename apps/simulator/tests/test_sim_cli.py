"""The CLI's failure modes that need no broker: each is one line on stderr, no traceback."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

from simulator_helpers import command, run_simulator, simulator_env


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens here once the socket is closed


def test_unreachable_broker_fails_naming_the_address_after_the_timeout() -> None:
    address = f"127.0.0.1:{_closed_port()}"
    started = time.monotonic()
    result = run_simulator(
        "--count",
        "10",
        "--connect-timeout-s",
        "3",
        KAFKA_BOOTSTRAP_SERVERS=address,
        SIMULATOR_SEED="1",
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert errors == [
        f"simulator: error: cannot reach Kafka at {address} (KAFKA_BOOTSTRAP_SERVERS) within 3 s "
        "(NoBrokersAvailable); check the address and that the broker is up"
    ]
    assert "Traceback" not in result.stderr
    assert 2.5 < elapsed < 60  # it retried for the whole bound, then gave up


def test_bad_scenario_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"sensor_id": "s", "site": "p", "ts": 1}\n', encoding="utf-8")
    result = run_simulator("--scenario", str(path))
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"simulator: error: {path}:1: missing 'temperature_c'"
    )
    assert "Traceback" not in result.stderr


def test_unwritable_anomaly_log_is_one_line(tmp_path: Path) -> None:
    target = tmp_path / "missing-dir" / "log.jsonl"
    result = run_simulator("--anomaly-log", str(target))
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"simulator: error: SIMULATOR_ANOMALY_LOG='{target}' cannot be written "
        "(No such file or directory)"
    )
    assert "Traceback" not in result.stderr


def test_sigterm_while_waiting_for_the_broker_exits_cleanly_at_once() -> None:
    address = f"127.0.0.1:{_closed_port()}"
    proc = subprocess.Popen(
        command("--connect-timeout-s", "120"),
        env=simulator_env(KAFKA_BOOTSTRAP_SERVERS=address),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(3)
        assert proc.poll() is None  # still waiting for the broker
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert "stopped while waiting for Kafka; nothing was sent" in stderr
    assert time.monotonic() - started < 10
