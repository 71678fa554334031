"""The validation SQL (alerts.validation) evaluated by Flink's own SQL engine, in batch mode.

A local Flink (the apache-flink wheel's, in this process's JVM) runs each expression over a
VALUES list of payloads, so the tests see exactly what the job computes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from pyflink.table import EnvironmentSettings, TableEnvironment

import scenario
from alerts import validation

CONTRACTS = Path(__file__).resolve().parents[3] / "docs" / "contracts.md"

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
    """A SQL string expression for ``text``; control characters and U+FEFF as ``CHR(n)``
    (py4j cannot carry a NUL inside the statement's text)."""
    parts, run = [], ""
    for ch in text:
        if ord(ch) < 0x20 or ch == "\ufeff":
            parts += ["'" + run.replace("'", "''") + "'", f"CHR({ord(ch)})"]
            run = ""
        else:
            run += ch
    parts.append("'" + run.replace("'", "''") + "'")
    return "(" + " || ".join(parts) + ")"


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
    payloads = [msg(), msg(seq=...), msg(ts="soon"), msg(seq=-1), "[1]", msg(ts=-1, seq=...),
                msg(schema_version=10**30, ts=-1)]
    assert evaluate(t_env, INLINED_REASON, payloads) == [
        None,
        "missing field 'seq'",
        "field 'ts' has the wrong type",
        "field 'seq' is out of range",
        "not a JSON object",
        "missing field 'seq'",  # fields' presence and types before any range
        "unknown schema_version 10000000000000000000",  # cut to 20 characters
    ]


# The job reads each field once into q_<name> columns; inlined here, the same checks.
INLINED_REASON = validation.reason_sql(
    ref=lambda name: f"JSON_QUERY(payload, '$.{name}' WITH CONDITIONAL ARRAY WRAPPER)"
)


def test_the_edge_cases_get_the_scenario_reasons(t_env: TableEnvironment) -> None:
    """The wired test's edge cases (scenario.EDGE_CASES) in the local engine: a fast check
    of the same SQL; test_alerts_job.py proves them on the real job."""
    payloads = [payload for _, payload, _ in scenario.EDGE_CASES]
    got = evaluate(t_env, INLINED_REASON, payloads)
    wrong = {name: (reason, want) for (name, _, want), reason in zip(scenario.EDGE_CASES, got,
                                                                      strict=True)
             if reason != want}
    assert wrong == {}


def test_an_accepted_temperature_is_the_nearest_double(t_env: TableEnvironment) -> None:
    texts = ["-273.15", "10000", "1E+4", "-0", "1e-400", "-273.1500000000000000001"]
    payloads = [scenario.edge_text("e-x", text) for text in texts]
    assert evaluate(t_env, INLINED_REASON, payloads) == [None] * len(texts)
    expression = ("TRY_CAST(SUBSTRING(q FROM 2 FOR CHAR_LENGTH(q) - 2) AS DOUBLE) FROM (SELECT "
                  "JSON_QUERY(payload, '$.temperature_c' WITH CONDITIONAL ARRAY WRAPPER) AS q")
    got = evaluate_from(t_env, expression, payloads)
    assert got == [-273.15, 10000.0, 10000.0, 0.0, 0.0, -273.15]


def evaluate_from(t_env: TableEnvironment, select_from: str, payloads: Sequence[str]) -> list[Any]:
    """Like :func:`evaluate`, for ``<expression> FROM (SELECT <items>`` over the payloads."""
    rows = ", ".join(f"({i}, {repr_sql(p)})" for i, p in enumerate(payloads))
    result = t_env.execute_sql(
        f"SELECT i, {select_from}, i FROM (VALUES {rows}) AS t(i, payload)) ORDER BY i")
    with result.collect() as rows_out:
        return [row[1] for row in rows_out]


def test_a_payload_is_cut_to_the_documented_maximum(t_env: TableEnvironment) -> None:
    limit = validation.MAX_PAYLOAD_CHARS
    payloads = ["x" * limit, "\u00e9" * (limit + 1), None]
    rows = ", ".join(
        f"({i}, {'CAST(NULL AS STRING)' if p is None else repr_sql(p)})"
        for i, p in enumerate(payloads))
    result = t_env.execute_sql(
        f"SELECT i, {validation.payload_columns_sql()} FROM (VALUES {rows}) AS t(i, payload) "
        "ORDER BY i")
    with result.collect() as rows_out:
        got = [tuple(row)[1:] for row in rows_out]
    assert got == [("x" * limit, False, limit), ("\u00e9" * limit, True, limit + 1),
                   (None, False, None)]


def documented_reasons() -> list[str]:
    """The reasons listed in docs/contracts.md, section "Dead-letter reasons"."""
    text = CONTRACTS.read_text(encoding="utf-8")
    section = text.split("### Dead-letter reasons", 1)[1].split("\n#", 1)[0]
    return re.findall(r"^\| `([^`]+)` \|", section, flags=re.MULTILINE)


def template_regex(template: str) -> str:
    names = "|".join(re.escape(name) for name, _ in validation.FIELDS)
    return re.escape(template).replace(re.escape("<field>"), f"({names})").replace(
        re.escape("<value>"), "-?[0-9]{1,20}")


def test_the_documented_reasons_are_exactly_the_ones_validation_produces(
    t_env: TableEnvironment,
) -> None:
    assert documented_reasons() == list(validation.REASONS)
    # Every CASE branch's reason is one of the templates (a CONCAT's tail is the <value>)...
    sql = validation.reason_sql()
    literals = [lit.replace("''", "'") for lit in re.findall(r"THEN '((?:[^']|'')*)'", sql)]
    literals += [lit + "0" for lit in re.findall(r"THEN CONCAT\('([^']*)'", sql)]
    patterns = [template_regex(t) for t in validation.REASONS]
    assert [lit for lit in literals if not any(re.fullmatch(p, lit) for p in patterns)] == []
    assert len(literals) == 3 + 2 * len(validation.FIELDS) + 1 + len(validation.FIELDS) - 1
    # ... and each template is produced by some scenario case (so none is dead).
    produced = [r for _, _, r in scenario.EDGE_CASES if r] + [r for *_, r in scenario.MALFORMED]
    for template, pattern in zip(validation.REASONS, patterns, strict=True):
        assert any(re.fullmatch(pattern, r) for r in produced), template
    assert all(any(re.fullmatch(p, r) for p in patterns) for r in produced)
