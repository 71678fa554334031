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
from pyflink.table import DataTypes, EnvironmentSettings, TableEnvironment

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


EVENT_TIME_PAYLOADS = [
    msg(),
    msg(ts=FUTURE),  # valid, far ahead: its own event time
    msg(ts=FUTURE, seq=...),  # would move the watermark days ahead if trusted
    msg(ts=FUTURE, schema_version=2),
    msg(ts=FUTURE, temperature_c="hot"),
    "not json",
    None,
]


def test_event_time_is_the_ts_of_a_valid_reading_only(t_env: TableEnvironment) -> None:
    assert evaluate(t_env, validation.event_time_ms_sql(), EVENT_TIME_PAYLOADS) == [
        T0, FUTURE, 0, 0, 0, 0, 0,
    ]


REASON_PAYLOADS = [msg(), msg(seq=...), msg(ts="soon"), msg(seq=-1), "[1]", msg(ts=-1, seq=...),
                   msg(schema_version=10**30, ts=-1)]


def test_reasons_name_the_first_problem(t_env: TableEnvironment) -> None:
    assert evaluate(t_env, INLINED_REASON, REASON_PAYLOADS) == [
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
    ref=lambda name: validation.wrapped_field_sql("payload", name)
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


TEMPERATURE_TEXTS = ["-273.15", "10000", "1E+4", "-0", "1e-400", "-273.1500000000000000001"]


def test_an_accepted_temperature_is_the_nearest_double(t_env: TableEnvironment) -> None:
    payloads = [scenario.edge_text("e-x", text) for text in TEMPERATURE_TEXTS]
    assert evaluate(t_env, INLINED_REASON, payloads) == [None] * len(TEMPERATURE_TEXTS)
    expression = ("TRY_CAST(SUBSTRING(q FROM 2 FOR CHAR_LENGTH(q) - 2) AS DOUBLE) FROM (SELECT "
                  f"{validation.wrapped_field_sql('payload', 'temperature_c')} AS q")
    got = evaluate_from(t_env, expression, payloads)
    assert got == [-273.15, 10000.0, 10000.0, 0.0, 0.0, -273.15]


def evaluate_from(t_env: TableEnvironment, select_from: str, payloads: Sequence[str]) -> list[Any]:
    """Like :func:`evaluate`, for ``<expression> FROM (SELECT <items>`` over the payloads."""
    rows = ", ".join(f"({i}, {repr_sql(p)})" for i, p in enumerate(payloads))
    result = t_env.execute_sql(
        f"SELECT i, {select_from}, i FROM (VALUES {rows}) AS t(i, payload)) ORDER BY i")
    with result.collect() as rows_out:
        return [row[1] for row in rows_out]


# --- A ts ahead of the Kafka record's timestamp (MAX_TS_AHEAD_MS).

AHEAD_MS = 300_000
OUT_OF_RANGE = "field 'ts' is out of range"


def reasons_with_record_time(
    t_env: TableEnvironment, cases: Sequence[tuple[str, int]], max_ahead_ms: int
) -> list[Any]:
    """reason_sql with a record timestamp, over (payload, record time ms) pairs, in order."""
    rows = ", ".join(f"({i}, {repr_sql(p)}, {rec})" for i, (p, rec) in enumerate(cases))
    reason = validation.reason_sql(record_time="record_time", max_ts_ahead_ms=max_ahead_ms)
    result = t_env.execute_sql(f"""
        SELECT i, {reason} FROM (
          SELECT *, {validation.wrapped_fields_sql()} FROM (
            SELECT i, payload, TO_TIMESTAMP_LTZ(rec, 3) AS record_time
            FROM (VALUES {rows}) AS t(i, payload, rec)))
        ORDER BY i""")
    with result.collect() as rows_out:
        return [row[1] for row in rows_out]


def test_a_ts_more_than_max_ahead_of_its_record_is_out_of_range(t_env: TableEnvironment) -> None:
    rec = T0
    cases = [
        (msg(ts=rec + AHEAD_MS), rec, None),  # exactly the limit ahead: accepted
        (msg(ts=rec + AHEAD_MS + 1), rec, OUT_OF_RANGE),  # 1 ms more: refused
        (msg(ts=rec), rec, None),
        (msg(ts=0), rec, None),  # behind is never refused here (late is the watermark's)
        (msg(ts=validation.MAX_TS), rec, OUT_OF_RANGE),
        (msg(ts=validation.MAX_TS), validation.MAX_TS - AHEAD_MS, None),  # both ends at once
        (msg(ts=validation.MAX_TS + 1), validation.MAX_TS - AHEAD_MS, OUT_OF_RANGE),  # own range
        (msg(ts=2**63), rec, OUT_OF_RANGE),
        (msg(ts=-1), rec, OUT_OF_RANGE),
        (msg(ts=FUTURE, temperature_c=20000), rec, OUT_OF_RANGE),  # ts checked first
        (msg(ts=FUTURE, seq=-1), rec, OUT_OF_RANGE),
        (msg(ts=FUTURE, site=""), rec, "field 'site' is out of range"),  # site before ts
        (msg(ts=FUTURE, schema_version=2), rec, "unknown schema_version 2"),
        (msg(ts="soon"), rec, "field 'ts' has the wrong type"),
        (msg(ts=...), rec, "missing field 'ts'"),
        (msg(ts=rec + 1), 0, OUT_OF_RANGE),  # a record timestamp of 1970 refuses today's ts
    ]
    got = reasons_with_record_time(t_env, [(p, r) for p, r, _ in cases], AHEAD_MS)
    assert got == [want for _, _, want in cases]
    # MAX_TS_AHEAD_MS=0: the record's own millisecond and before.
    zero = [(msg(ts=rec), rec, None), (msg(ts=rec + 1), rec, OUT_OF_RANGE),
            (msg(ts=rec - 1), rec, None)]
    got = reasons_with_record_time(t_env, [(p, r) for p, r, _ in zero], 0)
    assert got == [want for _, _, want in zero]
    # Without a record time (reason_sql's default) only ts's own range applies.
    assert evaluate(t_env, INLINED_REASON, [msg(ts=FUTURE)]) == [None]


# --- The source's event-time column (validation.event_time_ms_sql) against the reasons.


def raw_reading(**texts: str | None) -> str:
    """A reading written field by field as JSON texts (None: the field left out)."""
    fields = {**{name: json.dumps(value) for name, value in GOOD.items()}, **texts}
    return "{" + ",".join(f'"{k}":{v}' for k, v in fields.items() if v is not None) + "}"


def event_time_payloads() -> list[str | None]:
    """The payloads of the validation tests and the scenario, and a few hundred mutations of
    a valid reading: each field missing, null, of every other JSON type, in an array or an
    object, at and one unit beyond its range's ends; extra and duplicate fields, whitespace,
    trailing text, nesting; each with two values of ts, so a wrong ts is seen."""
    listed: list[str | None] = [
        *(payload for _, payload, _ in scenario.EDGE_CASES),
        *(None if p is None else p.decode() for _, p, _ in scenario.MALFORMED),
        *REASON_PAYLOADS, *EVENT_TIME_PAYLOADS,
        *(scenario.edge_text("e-x", text) for text in TEMPERATURE_TEXTS),
    ]
    wrong_types = ['"1"', '"x"', '""', "true", "false", "[]", "{}", '{"v":1}', "[1,2]",
                   "1.0", "1E+3", "1e3", "0.5", '["1"]', "[[1]]", "[null]"]
    per_field: dict[str, list[str]] = {
        "schema_version": ["1", "0", "2", "-1", "-0", "10", "[1]", "1.0", "1e0"],
        "sensor_id": ['"s"', '"' + "x" * 100 + '"', '"' + "x" * 101 + '"', '"\\u00e9"',
                      '"' + "\u00e9" * 100 + '"', '"' + "\U0001F600" * 100 + '"',
                      '"' + "\U0001F600" * 101 + '"', '"a\\"b"', '"\\\\"', '"\\u0000"',
                      '"\\n"', '"\\ud800"', '"' + "\\u0041" * 100 + '"',
                      '"' + "\\u0041" * 101 + '"', '"/\\/"', '["s"]', '["s","t"]', "1"],
        "ts": ["0", "-0", "1", "-1", str(validation.MAX_TS), str(validation.MAX_TS + 1),
               str(validation.MAX_TS - 1), str(2**63 - 1), str(2**63), str(-(2**63)),
               "99999999999999999999", f"[{T0}]", f"[{FUTURE}]", f"[{T0},{T0}]",
               f"{T0}.0", f"{T0}e0", f'"{T0}"', "1E+3", "253402300799999.0"],
        "temperature_c": ["-273.15", "-273.14999999999998", "-273.15000000000003", "10000",
                          "10000.0", "1E+4", "10000.000000000002", "1e400", "-1e400", "-0",
                          "0", "1e-400", "-273.16", "[20.5]", "[[20.5]]", "9999.999"],
        "seq": ["0", "-0", "-1", "1", str(2**63 - 1), str(2**63), str(-(2**63)), "[3]",
                "3.0", "3e0"],
    }
    per_field["site"] = per_field["sensor_id"]
    mutations: list[str | None] = []
    for ts in (T0, FUTURE):
        valid = {"ts": str(ts)}
        for name, _ in validation.FIELDS:
            for text in [None, "null", *wrong_types, *per_field[name]]:
                mutations.append(raw_reading(**{**valid, name: text}))
            good = raw_reading(**valid)
            mutations.append(good[:-1] + f',"{name}":"dup"}}')  # the last one counts
            mutations.append(good.replace(f'"{name}":', f'"{name}":"dup","{name}":'))
        good = raw_reading(**valid)
        mutations += [
            good, " " + good + " ", "\t\r\n" + good + "\n", good.replace(",", " , "),
            good.replace(":", " :\n "), good[:-1] + ',"extra":1}', good[:-1] + ',"extra":{"ts":0}}',
            good[:-1] + ',"x":[' + good + "]}", good + "x", good + " 1", good + "{}", good + "[]",
            good + "\u0000", good[:-1], good[1:], "[" + good + "]", '{"reading":' + good + "}",
            good.replace('"ts"', '"TS"'), good.replace('"ts"', '"t\\u0073"'),
            good.replace('"ts"', '" ts"'), good.upper(), "",
        ]
    return listed + mutations


def test_the_event_time_is_exactly_the_ts_of_a_reading_without_reason(
    t_env: TableEnvironment,
) -> None:
    """event_time_ms_sql (one JSON_QUERY per field) is the typed ts the pipeline reads when
    reason_sql is NULL and 0 otherwise, on every payload (the pipeline's own query shape)."""
    payloads = event_time_payloads()
    assert len(payloads) > 500
    # From a collection, not VALUES: rows with CHR(n) are not literals, and VALUES of such
    # rows becomes one source per row (the local cluster runs out of network buffers).
    t_env.create_temporary_view("event_time_payloads", t_env.from_elements(
        list(enumerate(payloads)),
        DataTypes.ROW([DataTypes.FIELD("i", DataTypes.INT()),
                       DataTypes.FIELD("payload", DataTypes.STRING())])))
    result = t_env.execute_sql(f"""
        SELECT i, reason, ts, event_time FROM (
          SELECT i, {validation.reason_sql()} AS reason, {validation.typed_fields_sql()},
            {validation.event_time_ms_sql()} AS event_time
          FROM (SELECT *, {validation.wrapped_fields_sql()} FROM event_time_payloads))
        ORDER BY i""")
    with result.collect() as rows_out:
        got = [tuple(row) for row in rows_out]
    assert [row[0] for row in got] == list(range(len(payloads)))
    wrong = {i: (payloads[i], reason, ts, event_time) for i, reason, ts, event_time in got
             if event_time != (ts if reason is None else 0)}
    assert wrong == {}
    # The payloads reach every reason, every field's type and range check, and both ends of
    # each range from both sides, so a check left out or off by one would show above.
    reasons = {reason for _, reason, _, _ in got}
    for name, _ in validation.FIELDS:
        assert f"missing field '{name}'" in reasons
        assert f"field '{name}' has the wrong type" in reasons
        assert name == "schema_version" or f"field '{name}' is out of range" in reasons
    valid_ts = {ts for _, reason, ts, _ in got if reason is None}
    assert {0, validation.MAX_TS, T0, FUTURE} <= valid_ts
    assert sum(reason is None for _, reason, _, _ in got) > 100


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
