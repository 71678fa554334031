"""Command line: ``python -m simulator [--flags]``; every flag mirrors an environment variable.

Flags are generated from ``config.SETTINGS``: ``SIMULATOR_RATE`` is ``--rate``,
``KAFKA_BOOTSTRAP_SERVERS`` is ``--kafka-bootstrap-servers`` (alias ``--bootstrap-servers``),
``READINGS_TOPIC`` is ``--readings-topic`` (alias ``--topic``). A flag wins over the variable.

Examples::

    python -m simulator --sensors 200 --rate 1000 --seed 7 --duration-s 60
    python -m simulator --scenario demo.jsonl --realtime false
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from types import FrameType

from simulator import config as settings
from simulator import scenario, sensors
from simulator.runner import AnomalyLog, Runner, Source, StartupError, connect
from simulator.stream import Stream, StreamSpec

log = logging.getLogger("simulator")

_ALIASES = {"KAFKA_BOOTSTRAP_SERVERS": "--bootstrap-servers", "READINGS_TOPIC": "--topic"}


def flag(env: str) -> str:
    """The command-line flag for the environment variable ``env``."""
    return "--" + env.removeprefix("SIMULATOR_").lower().replace("_", "-")


def parse_args(argv: Sequence[str] | None, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment with the command-line flags applied on top."""
    parser = argparse.ArgumentParser(
        prog="simulator", description="Temperature sensors streaming readings into Kafka."
    )
    for setting in settings.SETTINGS:
        names = [flag(setting.env)] + ([_ALIASES[setting.env]] if setting.env in _ALIASES else [])
        parser.add_argument(
            *names,
            dest=setting.env,
            metavar="VALUE",
            help=f"{setting.help} (env {setting.env}, default {setting.default!r})",
        )
    args = parser.parse_args(argv)
    merged = dict(environ)
    merged.update({env: value for env, value in vars(args).items() if value is not None})
    return merged


def build_source(config: settings.Config, anomaly_log: AnomalyLog) -> tuple[Source, int, int]:
    """The message source for ``config``, with the seed and start time it uses."""
    seed = config.seed if config.seed is not None else random.SystemRandom().randrange(2**31)
    start_ts = config.start_ts if config.start_ts is not None else int(time.time() * 1000)
    if config.scenario:
        return scenario.Replay(scenario.load(config.scenario, start_ts)), seed, start_ts
    spec = StreamSpec(
        seed=seed,
        sensors=tuple(sensors.make_fleet(seed, config.sensors, config.sites, config.first_sensor)),
        rate=config.rate,
        start_ts=start_ts,
        count=config.count,
        rates=config.rates,
        spike_c=config.spike_c,
        drift_c_per_min=config.drift_c_per_min,
        episode_s=config.episode_s,
        dropout_s=config.dropout_s,
        late_s=config.late_s,
    )
    return Stream(spec, anomaly_log.write), seed, start_ts


def _fail(message: str) -> None:
    sys.stderr.write(f"simulator: error: {message}\n")


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run the simulator; return the process exit code."""
    merged = parse_args(argv, os.environ if environ is None else environ)
    try:
        config = settings.load(merged)
    except settings.ConfigError as exc:
        _fail(str(exc))
        return 2
    logging.basicConfig(
        level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for setting in settings.SETTINGS:
        log.info("setting %s=%s", setting.env, merged.get(setting.env, setting.default))

    try:
        anomaly_log = AnomalyLog(config.anomaly_log)
    except OSError as exc:
        _fail(f"SIMULATOR_ANOMALY_LOG={config.anomaly_log!r} cannot be written ({exc.strerror})")
        return 2
    try:
        source, seed, start_ts = build_source(config, anomaly_log)
        log.info(
            "seed=%d start_ts=%d mode=%s",
            seed,
            start_ts,
            "scenario" if config.scenario else "random",
        )
        anomaly_log.write(
            {
                "kind": "run",
                "seed": seed,
                "start_ts": start_ts,
                "sensors": config.sensors,
                "first_sensor": config.first_sensor,
                "sites": config.sites,
                "rate": config.rate,
                "count": config.count,
                "scenario": config.scenario or None,
                "rates": config.rates.as_dict(),
            }
        )
        stop = threading.Event()

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            name = signal.Signals(signum).name
            log.info("received %s: finishing the current slot and flushing", name)
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        producer = connect(config, stop)
        if producer is None:
            log.info("stopped while waiting for Kafka; nothing was sent")
            anomaly_log.close()
            return 0
        try:
            runner = Runner(config, producer, stop)
            summary = runner.run(source)
        finally:
            producer.close()
    except (scenario.ScenarioError, StartupError) as exc:
        anomaly_log.close()
        _fail(str(exc))
        return 2 if isinstance(exc, scenario.ScenarioError) else 1
    record = {
        "kind": "summary",
        "sent": summary.sent,
        "acked": summary.acked,
        "errors": summary.errors,
    }
    if isinstance(source, Stream):
        record.update(
            slots=source.slot,
            readings=source.readings,
            duplicates=source.duplicates,
            malformed=source.malformed,
            dropped_slots=source.dropped_slots,
        )
    anomaly_log.write(record)
    anomaly_log.close()
    log.info(
        "done: sent=%d acked=%d errors=%d in %.1fs (%.0f/s)",
        summary.sent,
        summary.acked,
        summary.errors,
        summary.elapsed_s,
        summary.rate,
    )
    if summary.errors or summary.acked != summary.sent:
        _fail(
            f"{summary.sent - summary.acked} of {summary.sent} messages were not acknowledged "
            f"by Kafka at {config.bootstrap_servers}: {summary.first_error or 'no reply'}"
        )
        return 1
    return 0
