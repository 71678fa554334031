"""The validation SQL (alerts.validation) evaluated by Flink's own SQL engine, in batch mode.

A local Flink (the apache-flink wheel's, in this process's JVM) runs each expression over a
VALUES list of payloads, so the tests see exactly what the job computes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from pyflink.table import EnvironmentSettings, TableEnvironment

from alerts import validation

T0 = 1_700_000_000_000
GOOD = {"schema_version": 1, "sensor_id": "s-1", "site": "plant-a", "ts": T0,
        "temperature_c": 20.5, "seq": 3}
FUTURE = T0 + 10 * 86_400_000


@pytest.fixture(scope="module")
def t_env() -> Iterator[TableEnvironment]:
    yield TableEnvironment.create(EnvironmentSettings.in_batch_mode())


def evaluate(t_env: TableEnvironment, expression: str, payloads: Sequence[str | None]) -> list[Any]:
    """``expression`` over a table with one STRING column ``payload``, in input order."""
    rows = ", ".join(
        f"({i}, {'CAST(NULL AS STRING)' if p is None else repr_sql(p)})"
        for i, p in enumerate(payloads)
    )
    result = t_env.execute_sql(
        f"SELECT i, {expression} FROM (VALUES {rows}) AS t(i, payload) ORDER BY i"
    )
    with result.collect() as rows_out:
        return [row[1] for row in rows_out]


def repr_sql(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def msg(**changes: Any) -> str:
    body = {k: v for k, v in {**GOOD, **changes}.items() if v is not ...}
    return json.dumps(body)


def test_event_time_is_the_ts_of_a_valid_reading_only(t_env: TableEnvironment) -> None:
    payloads = [
        msg(),
        msg(ts=FUTURE),  # valid, far ahead: its own event time
        msg(ts=FUTURE, seq=...),  # would move the watermark days ahead if trusted
        msg(ts=FUTURE, schema_version=2),
        msg(ts=FUTURE, temperature_c="hot"),
        "not json",
        None,
    ]
    assert evaluate(t_env, validation.event_time_ms_sql(), payloads) == [
        T0, FUTURE, 0, 0, 0, 0, 0,
    ]


def test_reasons_name_the_first_problem(t_env: TableEnvironment) -> None:
    payloads = [msg(), msg(seq=...), msg(ts="soon"), msg(seq=-1), "[1]"]
    # The job reads each field once into q_<name> columns; inlined here, the same checks.
    expression = validation.reason_sql(
        ref=lambda name: f"JSON_QUERY(payload, '$.{name}' WITH CONDITIONAL ARRAY WRAPPER)"
    )
    assert evaluate(t_env, expression, payloads) == [
        None,
        "missing field 'seq'",
        "field 'ts' is not an integer (epoch ms)",
        "field 'seq' is negative",
        "not a JSON object",
    ]
