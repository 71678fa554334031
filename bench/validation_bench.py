"""Validation benchmark: messages/s through the job's validation functions alone (issue 16),
in a local Flink (this process's JVM, batch mode).

    .venv/bin/python bench/validation_bench.py --messages 1000000 --runs 3

Method: a bounded ``datagen`` sequence builds contract readings in SQL (no Python per row);
each variant counts the rows it finds valid, so every check runs on every row. Variants:

* ``generate only``: making the payloads (no validation).
* ``event time``: the source's event-time column, ``READING_EVENT_TIME`` (one parse).
* ``check``: ``CHECK_READING`` (one parse), its reason read (see :func:`variants`).
* ``source work``: what the job's source vertex computes per message: the event-time column
  twice (Flink pushes the watermark into the Kafka scan, which evaluates ``rowtime`` per
  record, and the Calc after it computes the column again), then ``CHECK_READING``.

Runs alternate between variants; the table shows the best run of each (the machine is
shared: the best is the least disturbed). The SQL built-ins these functions replaced
(``IS JSON``, ``JSON_QUERY`` per field: 24 parses per valid reading) measured 47,599
messages/s for the event-time column and 8,508 for the source work (apps/alerts/README.md).
"""

from __future__ import annotations

import argparse
import sys
import time

from alerts import validation
from alerts.job import functions_jar
from pyflink.table import EnvironmentSettings, TableEnvironment

PAYLOAD = (
    "CONCAT('{\"schema_version\":1,\"sensor_id\":\"sensor-', CAST(MOD(n, 1000) AS STRING), "
    "'\",\"site\":\"plant-a\",\"ts\":', CAST(1700000000000 + n AS STRING), "
    "',\"temperature_c\":21.53,\"seq\":', CAST(n AS STRING), '}')"
)


CHECK = validation.check_reading_sql("payload", None, 0)
EVENT_TIME = validation.event_time_ms_sql()


def variants() -> dict[str, str]:
    """name -> the expression counted per row (NULL = valid), over the column ``payload``.
    The variants read ``CHECK_READING``'s reason only, once (the job computes the whole row
    once per message, in the projection its outputs share: alerts.pipeline)."""
    return {
        "generate only": "CASE WHEN CHAR_LENGTH(payload) > 0 THEN NULL ELSE 'x' END",
        "event time": f"CASE WHEN {EVENT_TIME} > 0 THEN CAST(NULL AS STRING) ELSE 'x' END",
        "check": f"{CHECK}.reason",
        "source work": (f"CASE WHEN {EVENT_TIME} > 0 AND {EVENT_TIME} > 0 "
                        f"THEN {CHECK}.reason ELSE 'x' END"),
    }


def run(t_env: TableEnvironment, expression: str) -> tuple[float, int]:
    """Seconds to validate every generated message; the count of valid ones."""
    start = time.monotonic()
    result = t_env.execute_sql(
        f"SELECT SUM(CASE WHEN reason IS NULL THEN 1 ELSE 0 END) FROM ("
        f"SELECT {expression} AS reason FROM messages)")
    with result.collect() as rows:
        valid = int(next(iter(rows))[0])
    return time.monotonic() - start, valid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default="",
                        help="comma-separated words: run only the variants naming one")
    args = parser.parse_args(argv)
    t_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    t_env.get_config().set("parallelism.default", "1")
    t_env.get_config().set("pipeline.jars", functions_jar().as_uri())
    validation.register_functions(t_env)
    t_env.execute_sql(f"""
        CREATE TEMPORARY TABLE numbers (n BIGINT) WITH ('connector' = 'datagen',
          'fields.n.kind' = 'sequence', 'fields.n.start' = '1',
          'fields.n.end' = '{args.messages}', 'number-of-rows' = '{args.messages}',
          'rows-per-second' = '1000000000')""")
    t_env.create_temporary_view("messages", t_env.sql_query(
        f"SELECT {PAYLOAD} AS payload FROM numbers"))
    words = [w for w in args.only.split(",") if w]
    todo = {name: e for name, e in variants().items()
            if name == "generate only" or not words or any(w in name for w in words)}
    run(t_env, todo["generate only"])  # warm-up: the mini-cluster, JIT
    best: dict[str, float] = {}
    for _ in range(args.runs):
        for name, expression in todo.items():
            seconds, valid = run(t_env, expression)
            assert name == "generate only" or valid == args.messages, (name, valid)
            best[name] = min(best.get(name, seconds), seconds)
    print(f"| variant ({args.messages:,} messages, best of {args.runs}) | s | messages/s |")
    print("|---|---:|---:|")
    for name, seconds in best.items():
        print(f"| {name} | {seconds:.2f} | {args.messages / seconds:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
