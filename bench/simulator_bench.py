"""Simulator throughput into a real Kafka: readings/s by batch size, linger, compression, processes.

Starts its own Kafka 3.9 + ZooKeeper through the test harness (tests/harness), runs the
simulator CLI as separate processes (``--realtime false``, default anomaly rates) into a fresh
topic per run, and prints a table. A run's rate is every acknowledged message divided by the
window from the first process's first send to the last process's final acknowledgement, as
logged by the simulators themselves. CPU columns are CPU-seconds per wall second (2.0 = both
cores of this machine busy) for the simulator processes and for the broker JVM; ``µs/reading``
is the simulators' CPU time per acknowledged reading (start-up included), the number that
other work on a busy machine skews least; ``load`` is the 1-minute load average after the
row, since other work on the machine skews the rates.

    /tmp/v-app/bin/python bench/simulator_bench.py            # the full sweep, ~5 min
    /tmp/v-app/bin/python bench/simulator_bench.py --quick    # a few rows

To compare kafka-python versions, run the simulators with another interpreter (a venv with
that kafka-python and the simulator's other dependencies) and, if the client's API moved, a
copy of the simulator's source adapted to it; Kafka and this driver stay the same:

    .venv/bin/python bench/simulator_bench.py --quick --python /tmp/kp-2.3.3/bin/python
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "infra"), str(ROOT / "apps/simulator/src")]

from harness import kafka as harness_kafka  # noqa: E402
from kafka.admin import KafkaAdminClient, NewTopic  # noqa: E402

PARTITIONS = 6
SENSORS_PER_PROCESS = 1000
GOAL = 100_000
_DONE = re.compile(
    r"^(\S+ \S+) INFO simulator: done: sent=(\d+) acked=(\d+) errors=(\d+) in ([\d.]+)s"
)
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Case:
    """One row of the table."""

    processes: int
    batch_size: int
    linger_ms: int
    compression: str


@dataclass(frozen=True)
class Result:
    """What one case measured."""

    case: Case
    acked: int
    window_s: float
    sim_cpu: float
    broker_cpu: float

    @property
    def rate(self) -> float:
        """Acknowledged readings per second of the whole run."""
        return self.acked / self.window_s


def _cpu_seconds(pid: int) -> float:
    """user + system CPU seconds a process has used so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def run_case(
    bootstrap: str,
    broker_pid: int,
    case: Case,
    per_process: int,
    index: int,
    python: str = sys.executable,
    simulator_src: Path = ROOT / "apps/simulator/src",
) -> Result:
    """Run ``case.processes`` simulators to completion and measure them."""
    topic = f"bench-{index}-{int(time.time())}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
    finally:
        admin.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIMULATOR_")}
    env["PYTHONPATH"] = str(simulator_src)
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        READINGS_TOPIC=topic,
        SIMULATOR_REALTIME="false",
        SIMULATOR_COUNT=str(per_process),
        SIMULATOR_SENSORS=str(SENSORS_PER_PROCESS),
        SIMULATOR_RATE="100000",
        SIMULATOR_BATCH_SIZE=str(case.batch_size),
        SIMULATOR_LINGER_MS=str(case.linger_ms),
        SIMULATOR_COMPRESSION=case.compression,
        SIMULATOR_PROGRESS_S="3600",
    )
    broker_before = _cpu_seconds(broker_pid)
    started = time.monotonic()
    procs = []
    for p in range(case.processes):
        proc_env = dict(env, SIMULATOR_SEED=str(p), SIMULATOR_FIRST_SENSOR=str(p * 100_000))
        procs.append(
            subprocess.Popen(
                [python, "-m", "simulator"],
                env=proc_env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    starts, ends, acked, sim_cpu = [], [], 0, 0.0
    for proc in procs:
        _, stderr = proc.communicate()
        # wait4 already reaped it; its rusage comes from the children's totals below
        if proc.returncode != 0:
            raise SystemExit(f"simulator failed ({proc.returncode}):\n{stderr[-2000:]}")
        match = next(m for m in map(_DONE.match, stderr.splitlines()) if m)
        end = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        ends.append(end)
        starts.append(end - float(match.group(5)))
        acked += int(match.group(3))
        if int(match.group(4)) or match.group(2) != match.group(3):
            raise SystemExit(f"not every message was acknowledged:\n{stderr[-2000:]}")
    wall = time.monotonic() - started
    usage = os.times()
    sim_cpu = usage.children_user + usage.children_system
    window = max(ends) - min(starts)
    return Result(
        case=case,
        acked=acked,
        window_s=window,
        sim_cpu=sim_cpu,  # cumulative; differenced by the caller
        broker_cpu=(_cpu_seconds(broker_pid) - broker_before) / wall,
    )


def main(argv: list[str] | None = None) -> int:
    """Start Kafka, run the sweep, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only a few rows")
    parser.add_argument("--per-process", type=int, default=200_000, help="readings per process")
    parser.add_argument(
        "--python", default=sys.executable, help="the interpreter the simulators run with"
    )
    parser.add_argument(
        "--simulator-src",
        type=Path,
        default=ROOT / "apps/simulator/src",
        help="the directory holding the simulator package the simulators run",
    )
    args = parser.parse_args(argv)

    if args.quick:
        cases = [Case(1, 65536, 10, "lz4"), Case(2, 65536, 10, "lz4")]
    else:
        cases = [
            Case(1, b, linger, "lz4") for b in (16384, 65536, 262144) for linger in (0, 10, 50)
        ]
        cases += [Case(1, 65536, 10, c) for c in ("none", "gzip", "zstd")]
        cases += [Case(p, 65536, 10, c) for p in (2, 3, 4) for c in ("lz4", "none")]

    workdir = Path(tempfile.mkdtemp(prefix="simulator-bench-"))
    print(f"starting Kafka (ZooKeeper mode) under {workdir} ...", flush=True)
    kafka = harness_kafka.start_zookeeper_mode(workdir)
    try:
        broker = kafka.processes[0].proc
        assert broker is not None
        print(f"Kafka {kafka.version} at {kafka.bootstrap} in {kafka.startup_s:.1f} s", flush=True)
        client = subprocess.run(
            [args.python, "-c", "import kafka; print(kafka.__version__)"],
            env={"PYTHONPATH": str(args.simulator_src)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        print(f"simulators: {args.python} (kafka-python {client}) from {args.simulator_src}")
        header = (
            f"{'procs':>5} {'batch':>7} {'linger':>6} {'compr':>5} {'readings':>9} "
            f"{'secs':>6} {'readings/s':>11} {'sim cpu':>7} {'µs/reading':>10} {'broker cpu':>10} "
            f"{'load':>5}"
        )
        print(header)
        print("-" * len(header))
        results = []
        cpu_so_far = 0.0
        for index, case in enumerate(cases):
            started = time.monotonic()
            result = run_case(
                kafka.bootstrap,
                broker.pid,
                case,
                args.per_process,
                index,
                args.python,
                args.simulator_src,
            )
            wall = time.monotonic() - started
            sim_cpu_s = result.sim_cpu - cpu_so_far
            sim_cpu = sim_cpu_s / wall
            cpu_so_far = result.sim_cpu
            results.append(result)
            print(
                f"{case.processes:>5} {case.batch_size:>7} {case.linger_ms:>6} "
                f"{case.compression:>5} {result.acked:>9} {result.window_s:>6.1f} "
                f"{result.rate:>11,.0f} {sim_cpu:>7.2f} {sim_cpu_s / result.acked * 1e6:>10.1f} "
                f"{result.broker_cpu:>10.2f} "
                f"{os.getloadavg()[0]:>5.1f}",
                flush=True,
            )
        best = max(results, key=lambda r: r.rate)
        verdict = "meets" if best.rate >= GOAL else "misses"
        print(
            f"\nbest: {best.rate:,.0f} readings/s with {best.case.processes} process(es), "
            f"batch {best.case.batch_size}, linger {best.case.linger_ms} ms, "
            f"{best.case.compression}; {verdict} the goal of {GOAL:,}/s on {os.cpu_count()} cores"
        )
    finally:
        kafka.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
