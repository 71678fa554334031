"""Pipeline benchmark: the whole stack from the app images, at rising rates, against the goals.

    .venv/bin/python bench/pipeline_bench.py                     # full run, ~15-25 min
    .venv/bin/python bench/pipeline_bench.py --quick             # checks the script, ~3 min
    .venv/bin/python bench/pipeline_bench.py --rates 500,1000,2000 --step-seconds 60 \
        --probes 40 --skip-build-times

What runs: the harness's native Kafka 3.9 + ZooKeeper and Elasticsearch (tests/harness);
Flink JobManager + TaskManager and the job submitter from the alerts image, the dashboard and
the simulators from their images, each container with the environment the infra's service
description gives it (tests/docker_e2e/wiring.py), only addresses, names and the simulator's
rate changed. Topics are created as infra creates them (iotstack.catalog: partitions,
retention). One addition to the description's Flink properties: the REST metrics are
refreshed every second (default 10 s), so the lag can be sampled within a step.

Method:
* Throughput: for each rate (lowest first), simulator containers in real-time mode produce
  that many readings/s (several containers with disjoint sensors above --per-simulator;
  one sensor per reading per second, so the key space grows with the rate). After a warm-up,
  every 2 s the bench samples the topic's end offsets and the job's backlog: Flink's
  ``pendingRecords`` of its Kafka sources (the slower of the two) plus the records queued
  between the job's tasks (pipeline_probes.JobLag). The backlog is "growing" when its
  least-squares slope over the last two thirds of the step exceeds --growth-tolerance x the
  produced rate and twice the slope's standard error, and the backlog at the end exceeds
  one second of input; the sweep stops at the first such rate. "into rules/s": records that
  entered the SQL rules' first stage per second over the step (every valid on-time
  reading goes there).
  Before each step the backlog of the previous one is left to drain (bounded).
* Latency: idle on the fresh job, then right after each sustained step at its rate (the
  table shows the highest; if none, at --fallback-rate after the sweep, and says so),
  probe readings above the threshold for fresh sensors, one at a time, with ts = now. Event
  time -> searchable: a search (not a realtime get) finds the alert; polled every 20 ms.
  Event time -> dashboard: the alert shows on an open SSE stream (/stream/alerts), read in a
  background thread. Both include the job, Kafka, the ES bulk flush and index refresh.
* Memory: resident set (sum of RSS of each component's processes, from /proc; containers'
  processes via ``docker top``), sampled through the run; per component its peak, and the
  peak of the simultaneous total. The simulators are included (the deployed stack runs one).
* Images: size from ``docker image inspect``; build time of each app image with --no-cache
  into a throwaway tag (removed after), and of the local base image (debootstrap).

Everything it starts (services, containers, throwaway images) is removed at the end, also on
failure or Ctrl-C. The machine's 2 CPUs are shared by everything, the bench included. Prints
tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "infra"), str(ROOT / "bench")]

from docker_e2e import engine  # noqa: E402
from docker_e2e.wiring import (  # noqa: E402
    app_env,
    apply_index_templates,
    create_stack_topics,
    flink_mounts,
    flink_properties,
    service_command,
    start_indexer,
)
from harness.procs import free_port  # noqa: E402
from harness.stack import Stack  # noqa: E402
from kafka import KafkaProducer  # noqa: E402
from pipeline_probes import (  # noqa: E402
    EndOffsets,
    JobLag,
    Memory,
    SseWatch,
    container_rss_mb,
    http_json,
    percentile,
    searchable,
    slope,
)

GOAL_RATE = 50_000
GOAL_ES_P99_S = 1.0
GOAL_SSE_P99_S = 1.5
GOAL_MEMORY_MIB = 4096
SAMPLE_S = 2.0
WARMUP_S = 8.0


@dataclass
class Pipeline:
    """The running stack: services, containers and the names this run uses."""

    stack: Stack
    images: dict[str, engine.BuiltImage]
    containers: engine.Containers
    names: dict[str, str]
    rest_url: str = ""
    job_id: str = ""
    dashboard_url: str = ""
    simulators: list[str] = field(default_factory=list)
    memory: Memory = field(default_factory=Memory)
    notes: list[str] = field(default_factory=list)

    def save_logs(self) -> Path:
        """Every container's output, kept in the harness's run directory."""
        out = self.stack.run_dir / "containers"
        out.mkdir(parents=True, exist_ok=True)
        for name in self.containers.names:
            (out / f"{name}.log").write_text(self.containers.logs(name))
        return out

    @property
    def bootstrap(self) -> str:
        """Kafka's address."""
        return self.stack.kafka().bootstrap

    @property
    def es_url(self) -> str:
        """Elasticsearch's address."""
        return self.stack.elasticsearch().url

    def sample_memory(self) -> None:
        """Record the resident memory of every component now."""
        sample = {proc.name.split(" (")[0]: proc.rss_mb() for proc in self.stack.kafka().processes}
        sample["Elasticsearch"] = self.stack.elasticsearch().process.rss_mb()
        for role in ("jobmanager", "taskmanager", "dashboard", "indexer"):
            sample[f"Flink {role}" if "manager" in role else role] = container_rss_mb(
                f"{self.containers.prefix}-{role}"
            )
        sims = [container_rss_mb(name) for name in self.simulators]
        if sims:
            sample[f"simulators (x{len(sims)} now)"] = sum(sims)
        self.memory.add(sample)


def start_pipeline(pipe: Pipeline) -> None:
    """Topics, templates, Flink from the alerts image, the job, the indexer, the dashboard."""
    create_stack_topics(pipe.bootstrap, pipe.names)
    apply_index_templates(pipe.es_url, pipe.names["ALERTS_INDEX"], pipe.names["AGGREGATES_INDEX"])

    rest_port = free_port()
    pipe.rest_url = f"http://127.0.0.1:{rest_port}"
    props = flink_properties(rest_port) + "\nmetrics.fetcher.update-interval: 1000"
    alerts_image = pipe.images["alerts"].tag
    mounts = flink_mounts(pipe.containers.prefix)  # checkpoints, shared as in the stack
    for role in ("jobmanager", "taskmanager"):
        pipe.containers.run(
            role,
            alerts_image,
            app_env(role, FLINK_PROPERTIES=props),
            args=service_command(role),
            volumes=mounts,
        )
    engine.poll_until(
        "a TaskManager registered",
        lambda: http_json(f"{pipe.rest_url}/overview").get("slots-total", 0) > 0,
        180,
    )
    addresses = {"KAFKA_BOOTSTRAP_SERVERS": pipe.bootstrap, "ELASTICSEARCH_URL": pipe.es_url}
    env = app_env(
        "alerts-submit",
        KAFKA_BOOTSTRAP_SERVERS=pipe.bootstrap,
        READINGS_TOPIC=pipe.names["READINGS_TOPIC"],
        ALERTS_TOPIC=pipe.names["ALERTS_TOPIC"],
        DEAD_LETTER_TOPIC=pipe.names["DEAD_LETTER_TOPIC"],
        LATE_TOPIC=pipe.names["LATE_TOPIC"],
        AGGREGATES_TOPIC=pipe.names["AGGREGATES_TOPIC"],
        FLINK_REST_URL=pipe.rest_url,
        JOB_NAME=pipe.names["JOB_NAME"],
        KAFKA_GROUP_ID=pipe.names["KAFKA_GROUP_ID"],
    )
    submit = pipe.containers.run(
        "alerts-submit", alerts_image, env, args=service_command("alerts-submit")
    )
    # The job's keeper: it submits the job, then stays to keep it running.
    pipe.job_id = engine.wait_job_running(
        pipe.rest_url, pipe.names["JOB_NAME"], 400, lambda: pipe.containers.logs(submit)[-3000:]
    )

    # The job writes Kafka; the indexer ships alerts and aggregates into Elasticsearch.
    start_indexer(
        pipe.containers,
        pipe.images["dashboard"].tag,
        {
            **addresses,
            "ALERTS_TOPIC": pipe.names["ALERTS_TOPIC"],
            "ALERTS_INDEX": pipe.names["ALERTS_INDEX"],
            "AGGREGATES_TOPIC": pipe.names["AGGREGATES_TOPIC"],
            "AGGREGATES_INDEX": pipe.names["AGGREGATES_INDEX"],
            "DEAD_LETTER_TOPIC": pipe.names["DEAD_LETTER_TOPIC"],
            "INDEXER_GROUP_ID": f"indexer-{pipe.names['KAFKA_GROUP_ID']}",
        },
    )

    port = free_port()
    pipe.containers.run(
        "dashboard",
        pipe.images["dashboard"].tag,
        app_env(
            "dashboard",
            **addresses,
            ALERTS_TOPIC=pipe.names["ALERTS_TOPIC"],
            ALERTS_INDEX=pipe.names["ALERTS_INDEX"],
            AGGREGATES_INDEX=pipe.names["AGGREGATES_INDEX"],
            DASHBOARD_BIND=f"127.0.0.1:{port}",
        ),
    )
    pipe.dashboard_url = f"http://127.0.0.1:{port}"
    engine.poll_until(
        "the dashboard healthy",
        lambda: http_json(f"{pipe.dashboard_url}/healthz")["status"] == "ok",
        90,
    )


def start_simulators(pipe: Pipeline, rate: int, per_simulator: int, seconds: float) -> None:
    """Simulator containers producing ``rate`` readings/s in all, disjoint sensor ranges."""
    count = max(1, math.ceil(rate / per_simulator))
    first = 0
    for i in range(count):
        share = rate // count + (1 if i < rate % count else 0)
        sensors = max(1, share)  # each sensor reports once a second
        name = pipe.containers.run(
            f"simulator-{rate}-{i}",
            pipe.images["simulator"].tag,
            app_env(
                "simulator",
                KAFKA_BOOTSTRAP_SERVERS=pipe.bootstrap,
                READINGS_TOPIC=pipe.names["READINGS_TOPIC"],
                SIMULATOR_SENSORS=str(sensors),
                SIMULATOR_FIRST_SENSOR=str(first),
                SIMULATOR_RATE=str(share),
                SIMULATOR_SEED=str(1000 + i),
                SIMULATOR_DURATION_S=str(math.ceil(seconds)),
                SIMULATOR_LOG_LEVEL="WARNING",
            ),
        )
        pipe.simulators.append(name)
        first += sensors


def stop_simulators(pipe: Pipeline) -> None:
    """Stop (SIGTERM: they flush) and remove the simulator containers."""
    if not pipe.simulators:
        return
    engine.docker("stop", "-t", "20", *pipe.simulators, check=False, timeout=120)
    engine.docker("rm", "-f", "-v", *pipe.simulators, check=False)
    for name in pipe.simulators:
        if name in pipe.containers.names:
            pipe.containers.names.remove(name)
    pipe.simulators.clear()


@dataclass
class Step:
    """What one rate step measured."""

    rate: int
    simulators: int
    seconds: float
    produced: float
    consumed: float  # records into the Python rules per second
    restarts: int  # job restarts during the step
    lag_max: tuple[int, int]  # (Kafka lag, in flight inside the job) at the largest
    lag_end: tuple[int, int]
    lag_slope: float
    growing: bool
    drained_s: float
    load: float  # 1-minute load average at the end: other work on the machine skews the step

    @property
    def sustained(self) -> bool:
        """The job kept up: no growing backlog and no restart."""
        return not self.growing and not self.restarts

    @property
    def verdict(self) -> str:
        """steady, GROWING or RESTARTED."""
        return "RESTARTED" if self.restarts else "GROWING" if self.growing else "steady"


def drain(lag: JobLag, limit: int, timeout: float) -> float:
    """Wait until the whole backlog is at most ``limit``; return seconds (inf on timeout)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if sum(lag.backlog()) <= limit:
            return time.monotonic() - started
        time.sleep(1.0)
    return math.inf


def run_step(
    pipe: Pipeline,
    lag: JobLag,
    offsets: EndOffsets,
    rate: int,
    seconds: float,
    args: argparse.Namespace,
) -> Step:
    """Produce at ``rate`` for ``seconds`` (after a warm-up) and sample the backlog."""
    drained = drain(lag, max(1000, rate // 2), args.drain_timeout)
    start_simulators(pipe, rate, args.per_simulator, seconds + WARMUP_S + 30)
    try:
        before = offsets.total()
        engine.poll_until("the simulators producing", lambda: offsets.total() > before, 90)
        time.sleep(WARMUP_S)
        samples: list[tuple[float, int, tuple[int, int]]] = []
        rules_from = (time.monotonic(), lag.rules_read())
        restarts_from = lag.restarts()
        started = time.monotonic()
        next_memory = started
        while time.monotonic() - started < seconds:
            now = time.monotonic()
            samples.append((now, offsets.total(), lag.backlog()))
            if time.monotonic() >= next_memory:
                pipe.sample_memory()
                next_memory = time.monotonic() + 10
            time.sleep(max(0.0, SAMPLE_S - (time.monotonic() - now)))
        rules_to = (time.monotonic(), lag.rules_read())
        restarts = lag.restarts() - restarts_from
    finally:
        stop_simulators(pipe)
    t0, n0, _ = samples[0]
    t1, n1, l1 = samples[-1]
    produced = (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0
    # The trend over the last two thirds: in the first third the job settles into the new
    # rate (network buffers fill to their working level), which is not a growing backlog.
    settled = samples[len(samples) // 3 :]
    lag_slope, stderr = slope([(t - t0, float(sum(b))) for t, _, b in settled])
    return Step(
        rate=rate,
        simulators=max(1, math.ceil(rate / args.per_simulator)),
        seconds=t1 - t0,
        produced=produced,
        # A restart resets the task metrics: no rate then.
        consumed=math.nan
        if restarts
        else (rules_to[1] - rules_from[1]) / (rules_to[0] - rules_from[0]),
        restarts=restarts,
        lag_max=max(samples, key=lambda sample: sum(sample[2]))[2],
        lag_end=l1,
        lag_slope=lag_slope,
        # Beyond noise: a trend steeper than the tolerance and than twice its standard error,
        # and a backlog at the end of more than one second of input.
        growing=lag_slope > max(args.growth_tolerance * produced, 2 * stderr)
        and sum(l1) > produced,
        drained_s=drained,
        load=os.getloadavg()[0],
    )


@dataclass
class Latency:
    """Alert latency probes: seconds from event time to searchable / to the SSE stream."""

    rate: int
    how: str
    to_es: list[float]
    to_sse: list[float]
    sent: int
    restarts: int = 0  # job restarts while probing


def probe_latency(pipe: Pipeline, lag: JobLag, rate: int, how: str, probes: int,
                  args: argparse.Namespace) -> Latency:
    """Probe readings above the threshold, one at a time, while simulators run at ``rate``."""
    sse = SseWatch(f"{pipe.dashboard_url}/stream/alerts")
    producer = KafkaProducer(bootstrap_servers=pipe.bootstrap, acks="all", linger_ms=0)
    drain(lag, 100, args.drain_timeout)  # the previous step's backlog would be queued ahead
    if rate:
        start_simulators(pipe, rate, args.per_simulator, probes * 4 + 120)
    to_es: list[float] = []
    to_sse: list[float] = []
    restarts_from = lag.restarts()
    sent = found = 0
    try:
        time.sleep(WARMUP_S)
        misses = 0
        for n in range(probes):
            if misses == 3:  # the job is not delivering (restarting?): stop waiting 30 s each
                print(f"probes at {rate}/s: 3 in a row not seen; stopped after {n}",
                      file=sys.stderr)
                break
            sent += 1
            sensor = f"probe-{uuid.uuid4().hex[:8]}"
            ts = int(time.time() * 1000)
            value = {"schema_version": 1, "sensor_id": sensor, "site": "plant-a", "ts": ts,
                     "temperature_c": 95.0, "seq": 0}
            producer.send(pipe.names["READINGS_TOPIC"], key=sensor.encode(),
                          value=json.dumps(value).encode())
            producer.flush()
            alert_id = f"{sensor}:high_temperature:{ts}"
            deadline = time.monotonic() + args.probe_timeout
            while time.monotonic() < deadline:
                if searchable(pipe.es_url, pipe.names["ALERTS_INDEX"], alert_id):
                    to_es.append(time.time() - ts / 1000)
                    break
                time.sleep(0.02)
            while time.monotonic() < deadline and alert_id not in sse.seen:
                time.sleep(0.02)
            if alert_id in sse.seen:
                to_sse.append(sse.seen[alert_id] - ts / 1000)
            misses = 0 if len(to_es) + len(to_sse) > found else misses + 1
            found = len(to_es) + len(to_sse)
            if n % 10 == 0:
                pipe.sample_memory()
            time.sleep(0.3)
    finally:
        stop_simulators(pipe)
        producer.close()
        sse.close()
    return Latency(rate, how, to_es, to_sse, sent, lag.restarts() - restarts_from)


def given_image(app: str, tag: str) -> engine.BuiltImage:
    """An existing image named with --image, described like a built one."""
    done = engine.docker("image", "inspect", tag, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"--image {app}={tag}: no such image (docker images lists them)")
    info = json.loads(done.stdout)[0]
    return engine.BuiltImage(app, tag, 0.0, info["Size"] / 1e6, info["Config"].get("User", ""))


@dataclass
class Build:
    """One image: its size, and (if measured) a clean build time."""

    name: str
    size_mb: float
    build_s: float | None


def build_times(base_image: str, sfx: str) -> dict[str, float]:
    """Clean (--no-cache) build time of each app image and of the base image, in seconds."""
    out: dict[str, float] = {}
    tag = f"iotstack-bench/python-base:{sfx}"
    script = ROOT / "tests" / "docker_e2e" / "build_base_image.sh"
    try:
        started = time.monotonic()
        subprocess.run([str(script), tag], check=True, timeout=1800, capture_output=True)
        out["python-base"] = time.monotonic() - started
    except (subprocess.CalledProcessError, OSError) as err:
        print(f"base image build not measured: {err}", file=sys.stderr)
    finally:
        engine.docker("rmi", "-f", tag, check=False)
    for app in engine.APPS:
        tag = f"iotstack-bench/{app}:{sfx}"
        try:
            started = time.monotonic()
            engine.docker("build", "--no-cache", "--build-arg", f"BASE_IMAGE={base_image}",
                          "-t", tag, str(ROOT / "apps" / app), timeout=3600)
            out[app] = time.monotonic() - started
        finally:
            engine.docker("rmi", "-f", tag, check=False)
    return out


def _s(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


def print_tables(steps: list[Step], latencies: list[Latency], pipe: Pipeline,
                 builds: list[Build], args: argparse.Namespace) -> None:
    """The four tables, goals next to the measured values."""
    sustained = [s.rate for s in steps if s.sustained]
    print(f"\n## Throughput ({args.step_seconds:.0f} s per step, backlog sampled every "
          f"{SAMPLE_S:.0f} s; growing = its slope over the last 2/3 of the step > "
          f"{args.growth_tolerance:.0%} of produced/s and > 2 std errors, and > 1 s of input "
          f"queued at the end; {os.cpu_count()} CPUs shared by all)\n")
    print("| target/s | simulators | produced/s | into rules/s | backlog max (kafka+flink) | "
          "backlog end (kafka+flink) | backlog slope/s | backlog | job restarts | drain before s | "
          "load 1m |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    for s in steps:
        into = "-" if math.isnan(s.consumed) else f"{s.consumed:,.0f}"
        print(f"| {s.rate:,} | {s.simulators} | {s.produced:,.0f} | {into} | "
              f"{s.lag_max[0]:,}+{s.lag_max[1]:,} | {s.lag_end[0]:,}+{s.lag_end[1]:,} | "
              f"{s.lag_slope:+,.0f} | {s.verdict} | {s.restarts} | "
              f"{s.drained_s:.0f} | {s.load:.1f} |")
    for note in pipe.notes:
        print("\n" + note)
    best = max(sustained, default=0)
    print(f"\nHighest sustained rate: {best:,} readings/s (goal >= {GOAL_RATE:,}): "
          f"{'MET' if best >= GOAL_RATE else 'NOT MET'}")

    print("\n## Alert latency, event time -> ...\n")
    print("| to | at rate | p50 s | p99 s | max s | goal p99 | met | probes seen/sent | "
          "job restarts |")
    print("|---|---|---:|---:|---:|---:|---|---:|---:|")
    rows = [
        (latency, what, values, goal)
        for latency in latencies
        for what, values, goal in (("searchable in ES", latency.to_es, GOAL_ES_P99_S),
                                   ("dashboard SSE", latency.to_sse, GOAL_SSE_P99_S))
    ]
    for latency, what, values, goal in rows:
        p99 = percentile(values, 0.99)
        met = "yes" if values and len(values) == latency.sent and p99 <= goal else "no"
        print(f"| {what} | {latency.rate:,}/s ({latency.how}) | "
              f"{_s(percentile(values, 0.5))} | {_s(p99)} | "
              f"{_s(max(values) if values else math.nan)} | {goal} | {met} | "
              f"{len(values)}/{latency.sent} | {latency.restarts} |")

    print("\n## Resident memory (peak per component, MiB)\n")
    print("| component | peak RSS MiB |")
    print("|---|---:|")
    for name, mb in sorted(pipe.memory.peak.items()):
        print(f"| {name} | {mb:,.0f} |")
    total = pipe.memory.peak_total
    print(f"| **whole stack, peak simultaneous total** | **{total:,.0f}** |")
    verdict = "MET" if total < GOAL_MEMORY_MIB else "NOT MET"
    print(f"\nGoal < {GOAL_MEMORY_MIB:,} MiB (4 GiB): {verdict} "
          "(simulators included; Kibana is not part of this run)")

    print("\n## Images\n")
    print("| image | size MB | clean build s |")
    print("|---|---:|---:|")
    for b in builds:
        print(f"| {b.name} | {b.size_mb:,.0f} | "
              f"{'-' if b.build_s is None else f'{b.build_s:.0f}'} |")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options; --quick shortens everything."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="500,1000,2000,5000,10000,20000,50000",
                        help="readings/s per step, comma-separated, lowest first")
    parser.add_argument("--step-seconds", type=float, default=60.0)
    parser.add_argument("--probes", type=int, default=40)
    parser.add_argument("--skip-build-times", action="store_true")
    parser.add_argument("--quick", action="store_true",
                        help="a short run to check the script: 2 rates x 20 s, 5 probes, no builds")
    parser.add_argument("--per-simulator", type=int, default=10_000,
                        help="readings/s per simulator container at most")
    parser.add_argument("--growth-tolerance", type=float, default=0.02)
    parser.add_argument("--fallback-rate", type=int, default=100,
                        help="probe at this rate when no step was sustained")
    parser.add_argument("--drain-timeout", type=float, default=180.0)
    parser.add_argument("--probe-timeout", type=float, default=30.0)
    parser.add_argument("--image", action="append", default=[], metavar="APP=TAG",
                        help="run this existing image for APP instead of building apps/APP "
                        "from the working tree (e.g. alerts=iotstack-test/alerts:abc123)")
    args = parser.parse_args(argv)
    args.images = {}
    for item in args.image:
        app, _, tag = item.partition("=")
        if app not in engine.APPS or not tag:
            parser.error(f"--image {item!r}: expected APP=TAG with APP one of {engine.APPS}")
        args.images[app] = tag
    if args.quick:
        args.rates, args.step_seconds, args.probes = "500,2000", 20.0, 5
        args.skip_build_times, args.drain_timeout = True, 60.0
    args.rate_list = sorted(int(r) for r in args.rates.split(","))
    return args


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def measure(pipe: Pipeline, args: argparse.Namespace) -> tuple[list[Step], list[Latency]]:
    """Start the pipeline; probe the latency idle; sweep the rates, probing after each
    sustained step (a failed step can leave the job unable to recover, so not at the end)."""
    start_pipeline(pipe)
    lag = JobLag(pipe.rest_url, pipe.job_id)
    idle = probe_latency(pipe, lag, 0, "idle, fresh job", args.probes, args)
    offsets = EndOffsets(pipe.bootstrap, pipe.names["READINGS_TOPIC"])
    steps: list[Step] = []
    loaded: Latency | None = None
    try:
        for rate in args.rate_list:
            step = run_step(pipe, lag, offsets, rate, args.step_seconds, args)
            steps.append(step)
            print(f"step {rate}/s: produced {step.produced:,.0f}/s, into rules "
                  f"{step.consumed:,.0f}/s, backlog max {step.lag_max} end {step.lag_end}, "
                  f"slope {step.lag_slope:+,.0f}/s, restarts {step.restarts} -> {step.verdict}",
                  file=sys.stderr)
            if not step.sustained:
                break
            loaded = probe_latency(pipe, lag, rate, "highest sustained", args.probes, args)
    finally:
        offsets.close()
    print(lag.describe(), file=sys.stderr)
    if any(s.restarts for s in steps):
        pipe.notes.append("The job restarted; its latest failure:\n" + lag.root_exception())
    if loaded is None:
        loaded = probe_latency(pipe, lag, args.fallback_rate, "no rate sustained, after the "
                               "sweep", args.probes, args)
    return steps, [loaded, idle]


def run(
    args: argparse.Namespace, sfx: str
) -> tuple[list[Step], list[Latency], Pipeline, list[Build]]:
    """Everything the tables need; every service, container and throwaway image is removed."""
    names = {
        "READINGS_TOPIC": f"bench-readings-{sfx}",
        "ALERTS_TOPIC": f"bench-alerts-{sfx}",
        "DEAD_LETTER_TOPIC": f"bench-dlq-{sfx}",
        "LATE_TOPIC": f"bench-late-{sfx}",
        "AGGREGATES_TOPIC": f"bench-aggs-{sfx}",
        "ALERTS_INDEX": f"bench-alerts-{sfx}",
        "AGGREGATES_INDEX": f"bench-aggs-{sfx}",
        "JOB_NAME": f"iot-alerts-bench-{sfx}",
        "KAFKA_GROUP_ID": f"alerts-bench-{sfx}",
    }
    stack = Stack()
    pipe = Pipeline(stack, {}, engine.Containers(f"iotstack-bench-{sfx}"), names)
    daemon = engine.ensure_engine(stack.run_dir)
    try:
        try:
            built = engine.AppImages()  # built from the working tree, or reused if unchanged
            given = {app: given_image(app, tag) for app, tag in args.images.items()}
            pipe.images = {app: given[app] if app in given else built[app] for app in engine.APPS}
            images = list(pipe.images.values())
            print("images: " + ", ".join(f"{i.tag} ({i.build_s:.0f} s)" for i in images),
                  file=sys.stderr)
            steps, latencies = measure(pipe, args)
        finally:
            with contextlib.suppress(Exception):
                stop_simulators(pipe)
            with contextlib.suppress(Exception):
                print(f"container logs: {pipe.save_logs()}", file=sys.stderr)
            pipe.containers.remove_all()
            stack.stop()
        builds = [Build(i.app, i.size_mb, None) for i in images]
        if not args.skip_build_times:
            times = build_times(engine.BASE_IMAGE, sfx)
            for b in builds:
                b.build_s = times.get(b.name)
            if "python-base" in times:
                info = json.loads(engine.docker("image", "inspect", engine.BASE_IMAGE).stdout)
                builds.append(Build("python-base", info[0]["Size"] / 1e6, times["python-base"]))
    finally:
        if daemon is not None:
            daemon.stop()
    return steps, latencies, pipe, builds


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the tables; Ctrl-C or SIGTERM still cleans up."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        steps, latencies, pipe, builds = run(args, uuid.uuid4().hex[:6])
    except KeyboardInterrupt:
        print("interrupted: everything started was removed", file=sys.stderr)
        return 130
    except (RuntimeError, OSError, subprocess.SubprocessError) as err:  # ServiceError too
        print(f"pipeline_bench: {err}\n(everything started was removed)", file=sys.stderr)
        return 1
    print_tables(steps, latencies, pipe, builds, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
