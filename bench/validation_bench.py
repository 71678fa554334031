"""Validation benchmark: messages/s through the validation SQL alone, with and without the
one-JSON-text check (issue 16, defect 4), in a local Flink (this process's JVM, batch mode).

    .venv/bin/python bench/validation_bench.py --messages 1000000 --runs 3

Method: a bounded ``datagen`` sequence builds contract readings in SQL (no Python per row);
each variant counts the rows whose ``reason`` is NULL, so every check runs on every row.
``generate only`` is the cost of making the payloads (no validation); ``object check`` is the
validation before the fix (``P IS JSON OBJECT``, one parse of P); ``one JSON text`` is
``alerts.validation.reason_sql()`` as the job runs it (two wrapper parses + an anchored
REGEXP). The fields' JSON_QUERY reads are the same in both. Runs alternate between variants;
the table shows the best run of each (the machine is shared: the best is the least
disturbed).
"""

from __future__ import annotations

import argparse
import sys
import time

from alerts import validation
from pyflink.table import EnvironmentSettings, TableEnvironment

PAYLOAD = (
    "CONCAT('{\"schema_version\":1,\"sensor_id\":\"sensor-', CAST(MOD(n, 1000) AS STRING), "
    "'\",\"site\":\"plant-a\",\"ts\":', CAST(1700000000000 + n AS STRING), "
    "',\"temperature_c\":21.53,\"seq\":', CAST(n AS STRING), '}')"
)


def variants() -> dict[str, str]:
    """name -> the expression counted per row (NULL reason = valid)."""
    current = validation.reason_sql()
    one_text = current.split("\n    ")[2]
    assert "IS JSON ARRAY" in one_text, one_text
    regexp = current.split("\n    ")[3]
    assert "REGEXP(payload" in regexp, regexp
    before = current.replace(one_text + "\n    ", "").replace(
        regexp, "WHEN NOT (payload IS JSON OBJECT) THEN 'not a JSON object'")
    return {"generate only": "CASE WHEN CHAR_LENGTH(payload) > 0 THEN NULL ELSE 'x' END",
            "object check (before)": before, "one JSON text (now)": current}


def run(t_env: TableEnvironment, expression: str) -> tuple[float, int]:
    """Seconds to validate every generated message; the count of valid ones."""
    start = time.monotonic()
    result = t_env.execute_sql(
        f"SELECT SUM(CASE WHEN reason IS NULL THEN 1 ELSE 0 END) FROM ("
        f"SELECT {expression} AS reason FROM ("
        f"SELECT *, {validation.wrapped_fields_sql()} FROM messages))")
    with result.collect() as rows:
        valid = int(next(iter(rows))[0])
    return time.monotonic() - start, valid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    t_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    t_env.get_config().set("parallelism.default", "1")
    t_env.execute_sql(f"""
        CREATE TEMPORARY TABLE numbers (n BIGINT) WITH ('connector' = 'datagen',
          'fields.n.kind' = 'sequence', 'fields.n.start' = '1',
          'fields.n.end' = '{args.messages}', 'number-of-rows' = '{args.messages}',
          'rows-per-second' = '1000000000')""")
    t_env.create_temporary_view("messages", t_env.sql_query(
        f"SELECT {PAYLOAD} AS payload FROM numbers"))
    todo = variants()
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
