"""The validation functions (alerts.validation: the Java CHECK_READING and READING_EVENT_TIME)
evaluated by Flink's own SQL engine, in batch mode.

A local Flink (the apache-flink wheel's, in this process's JVM) runs each expression over a
VALUES list or a collection of payloads, with the job's functions jar, so the tests see
exactly what the job computes.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from pyflink.table import DataTypes, EnvironmentSettings, TableEnvironment

import scenario
from alerts import validation
from alerts_helpers import functions_jar

CONTRACTS = Path(__file__).resolve().parents[3] / "docs" / "contracts.md"

T0 = 1_700_000_000_000
GOOD = {"schema_version": 1, "sensor_id": "s-1", "site": "plant-a", "ts": T0,
        "temperature_c": 20.5, "seq": 3}
FUTURE = T0 + 10 * 86_400_000


@pytest.fixture(scope="module")
def t_env() -> Iterator[TableEnvironment]:
    env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    env.get_config().set("pipeline.jars", functions_jar().as_uri())
    validation.register_functions(env)
    yield env


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


def checked(
    t_env: TableEnvironment,
    payloads: Sequence[str | None],
    record_times: Sequence[int] | None = None,
    max_ahead_ms: int = 0,
    also: Sequence[str] = (),
) -> list[tuple[Any, ...]]:
    """CHECK_READING's fields (validation.CHECKED_FIELDS) per payload, in order, then the
    value of each expression of ``also`` over ``payload``; with ``record_times`` (epoch ms,
    one per payload) as the Kafka records' timestamps."""
    times = record_times if record_times is not None else [None] * len(payloads)
    # From a collection, not VALUES: rows with CHR(n) are not literals, and VALUES of such
    # rows becomes one source per row (the local cluster runs out of network buffers).
    view = f"payloads_{uuid.uuid4().hex[:8]}"
    t_env.create_temporary_view(view, t_env.from_elements(
        [(i, p, rec) for i, (p, rec) in enumerate(zip(payloads, times, strict=True))],
        DataTypes.ROW([DataTypes.FIELD("i", DataTypes.INT()),
                       DataTypes.FIELD("payload", DataTypes.STRING()),
                       DataTypes.FIELD("rec", DataTypes.BIGINT())])))
    record_time = "TO_TIMESTAMP_LTZ(rec, 3)" if record_times is not None else None
    call = validation.check_reading_sql("payload", record_time, max_ahead_ms)
    fields = ", ".join([*(f"c.{name}" for name in validation.CHECKED_FIELDS),
                        *(f"a{k}" for k in range(len(also)))])
    extra = "".join(f", {expression} AS a{k}" for k, expression in enumerate(also))
    result = t_env.execute_sql(
        f"SELECT i, {fields} FROM (SELECT i, {call} AS c{extra} FROM {view}) ORDER BY i")
    with result.collect() as rows_out:
        got = [tuple(row) for row in rows_out]
    assert [row[0] for row in got] == list(range(len(payloads)))
    return [row[1:] for row in got]


def reasons(t_env: TableEnvironment, payloads: Sequence[str | None]) -> list[str | None]:
    return [row[0] for row in checked(t_env, payloads)]


def test_reasons_name_the_first_problem(t_env: TableEnvironment) -> None:
    assert reasons(t_env, REASON_PAYLOADS) == [
        None,
        "missing field 'seq'",
        "field 'ts' has the wrong type",
        "field 'seq' is out of range",
        "not a JSON object",
        "missing field 'seq'",  # fields' presence and types before any range
        "unknown schema_version 10000000000000000000",  # cut to 20 characters
    ]


def test_the_edge_cases_get_the_scenario_reasons(t_env: TableEnvironment) -> None:
    """The wired test's edge cases (scenario.EDGE_CASES) in the local engine: a fast check
    of the same SQL; test_alerts_job.py proves them on the real job."""
    payloads = [payload for _, payload, _ in scenario.EDGE_CASES]
    got = reasons(t_env, payloads)
    wrong = {name: (reason, want) for (name, _, want), reason in zip(scenario.EDGE_CASES, got,
                                                                      strict=True)
             if reason != want}
    assert wrong == {}


TEMPERATURE_TEXTS = ["-273.15", "10000", "1E+4", "-0", "1e-400", "-273.1500000000000000001"]


def test_an_accepted_temperature_is_the_nearest_double(t_env: TableEnvironment) -> None:
    payloads = [scenario.edge_text("e-x", text) for text in TEMPERATURE_TEXTS]
    got = checked(t_env, payloads)
    assert [row[0] for row in got] == [None] * len(TEMPERATURE_TEXTS)
    temperature = validation.CHECKED_FIELDS.index("temperature_c")
    assert [row[temperature] for row in got] == [-273.15, 10000.0, 10000.0, 0.0, 0.0, -273.15]


# --- A ts ahead of the Kafka record's timestamp (MAX_TS_AHEAD_MS).

AHEAD_MS = 300_000
OUT_OF_RANGE = "field 'ts' is out of range"


def reasons_with_record_time(
    t_env: TableEnvironment, cases: Sequence[tuple[str, int]], max_ahead_ms: int
) -> list[Any]:
    """CHECK_READING's reason with a record timestamp, over (payload, record time ms) pairs."""
    got = checked(t_env, [p for p, _ in cases], [rec for _, rec in cases], max_ahead_ms)
    return [row[0] for row in got]


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
    # Without a record time (a NULL one) only ts's own range applies.
    assert reasons(t_env, [msg(ts=FUTURE)]) == [None]


def test_the_same_text_is_checked_against_each_records_own_time(t_env: TableEnvironment) -> None:
    """A parse is reused for the same text (Reading.java, LAST_PARSED), the record time never:
    one payload in consecutive records, the event-time column in the same row."""
    ahead = msg(ts=T0 + AHEAD_MS + 1)
    cases = [
        (ahead, T0, OUT_OF_RANGE),
        (ahead, T0 + 1, None),  # the same text, its own record 1 ms later: accepted
        (ahead, T0, OUT_OF_RANGE),
        (msg(ts=T0 + AHEAD_MS + 1, seq=-1), T0 + 1, "field 'seq' is out of range"),
        ("[1]", T0, "not a JSON object"),
        ("[1]", T0, "not a JSON object"),
        ("[1] x", T0, "not JSON"),
        (ahead, T0 + 1, None),
    ]
    got = checked(t_env, [p for p, _, _ in cases], [r for _, r, _ in cases], AHEAD_MS,
                  also=[validation.event_time_ms_sql()])
    assert [row[0] for row in got] == [want for _, _, want in cases]
    # READING_EVENT_TIME has no record time: the ts of every reading valid without one
    assert [row[-1] for row in got] == [T0 + AHEAD_MS + 1] * 3 + [0, 0, 0, 0, T0 + AHEAD_MS + 1]


# --- The source's event-time column (READING_EVENT_TIME) against the reasons.


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
        for name in validation.FIELDS:
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
    """READING_EVENT_TIME is the typed ts of CHECK_READING when its reason is NULL and 0
    otherwise, on every payload; a valid reading has all its fields, a refused one none."""
    payloads = event_time_payloads()
    assert len(payloads) > 500
    rows = checked(t_env, payloads, also=[validation.event_time_ms_sql()])
    got = [row[:-1] for row in rows]
    ts_at = validation.CHECKED_FIELDS.index("ts")
    wrong = {i: (payloads[i], row, event_time)
             for i, (*row, event_time) in enumerate(rows)
             if event_time != (row[ts_at] if row[0] is None else 0)
             or any((value is None) != (row[0] is not None) for value in row[1:])}
    assert wrong == {}
    # The payloads reach every reason, every field's type and range check, and both ends of
    # each range from both sides, so a check left out or off by one would show above.
    produced = {row[0] for row in got}
    for name in validation.FIELDS:
        assert f"missing field '{name}'" in produced
        assert f"field '{name}' has the wrong type" in produced
        assert name == "schema_version" or f"field '{name}' is out of range" in produced
    valid_ts = {row[ts_at] for row in got if row[0] is None}
    assert {0, validation.MAX_TS, T0, FUTURE} <= valid_ts
    assert sum(row[0] is None for row in got) > 100
    assert len(set(payloads)) > 500


# Each range's ends from both sides, built from alerts.validation's constants (the Java
# functions have their own copy: this is where the two must agree).
RANGE_ENDS = [
    (msg(ts=validation.MAX_TS), None),
    (msg(ts=validation.MAX_TS + 1), "field 'ts' is out of range"),
    (msg(ts=0), None),
    (msg(ts=-1), "field 'ts' is out of range"),
    (msg(temperature_c=validation.MIN_TEMPERATURE_C), None),
    (msg(temperature_c=-273.16), "field 'temperature_c' is out of range"),
    (msg(temperature_c=validation.MAX_TEMPERATURE_C), None),
    (msg(temperature_c=10000.000000000002), "field 'temperature_c' is out of range"),
    (msg(sensor_id="x" * validation.MAX_ID_CHARS), None),
    (msg(sensor_id="x" * (validation.MAX_ID_CHARS + 1)), "field 'sensor_id' is out of range"),
    (msg(site="\U0001F600" * validation.MAX_ID_CHARS), None),  # code points, not UTF-16
    (msg(site=""), "field 'site' is out of range"),
    (msg(seq=2**63 - 1), None),
    (msg(seq=2**63), "field 'seq' is out of range"),
    (msg(seq=0), None),
    (msg(schema_version=validation.SCHEMA_VERSION + 1),
     f"unknown schema_version {validation.SCHEMA_VERSION + 1}"),
]


def test_each_range_ends_where_the_contract_says(t_env: TableEnvironment) -> None:
    assert reasons(t_env, [p for p, _ in RANGE_ENDS]) == [want for _, want in RANGE_ENDS]


def test_an_integer_written_with_an_exponent_or_fraction_has_the_wrong_type(
    t_env: TableEnvironment,
) -> None:
    """docs/contracts.md: an integer field is written without a fraction or exponent. The
    SQL built-ins the functions replaced took ``1e0`` (and ``<ts>e0``) as the integer."""
    cases: list[tuple[str, str | None]] = []
    for name in ("schema_version", "ts", "seq"):
        value = {"schema_version": "1", "ts": str(T0), "seq": "3"}[name]
        for text in (value + "e0", value + "E0", value + ".0", value + "0e-1"):
            cases.append((raw_reading(**{name: text}), f"field '{name}' has the wrong type"))
    cases.append((raw_reading(temperature_c="2050e-2"), None))  # a number: any form
    assert reasons(t_env, [p for p, _ in cases]) == [want for _, want in cases]


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
    names = "|".join(re.escape(name) for name in validation.FIELDS)
    return re.escape(template).replace(re.escape("<field>"), f"({names})").replace(
        re.escape("<value>"), "-?[0-9]{1,20}")


def test_the_documented_reasons_are_exactly_the_ones_validation_produces(
    t_env: TableEnvironment,
) -> None:
    assert documented_reasons() == list(validation.REASONS)
    # Every reason the function gives, over the scenario and a few hundred mutations, is one
    # of the templates, and each template is given (so none is dead).
    patterns = [template_regex(t) for t in validation.REASONS]
    produced = {r for r in reasons(t_env, event_time_payloads()) if r is not None}
    produced |= {r for _, _, r in scenario.EDGE_CASES if r}
    produced |= {r for *_, r in scenario.MALFORMED}
    assert sorted(r for r in produced if not any(re.fullmatch(p, r) for p in patterns)) == []
    for template, pattern in zip(validation.REASONS, patterns, strict=True):
        assert any(re.fullmatch(pattern, r) for r in produced), template


def test_the_parsers_number_limit_applies_to_fields_outside_the_contract_too(
    t_env: TableEnvironment,
) -> None:
    """docs/contracts.md: a number of more than 1000 digits (signs, point, ``e`` and the
    ``0`` of ``0.`` not counted) is not JSON, wherever it is (CHECK_READING skips other
    fields, but the parser still reads them)."""
    good = msg()
    cases = [
        (good[:-1] + ', "extra": 1' + "0" * 999 + "}", None),
        (good[:-1] + ', "extra": 1' + "0" * 1000 + "}", "not JSON"),
        (good[:-1] + ', "extra": -1' + "0" * 999 + "}", None),  # the sign is not a digit
        (good[:-1] + ', "extra": [1.' + "5" * 999 + "]}", None),  # nor the point
        (good[:-1] + ', "extra": [1.' + "5" * 1000 + "]}", "not JSON"),
        (good[:-1] + ', "extra": [0.' + "5" * 1000 + "]}", None),  # nor 0 before the point
        (good[:-1] + ', "extra": [0.' + "5" * 1001 + "]}", "not JSON"),
        (good[:-1] + ', "extra": 1' + "0" * 997 + "e+10}", None),  # nor e and its sign
        (good[:-1] + ', "extra": 1' + "0" * 997 + "e+100}", "not JSON"),
        (good[:-1] + ', "extra": {"v": -1' + "0" * 1000 + "}}", "not JSON"),
    ]
    assert reasons(t_env, [p for p, _ in cases]) == [want for _, want in cases]


def test_check_reading_runs_once_however_many_of_its_fields_a_query_reads(
    t_env: TableEnvironment,
) -> None:
    """CHECK_READING is declared non-deterministic, so the planner does not merge the
    projection that computes it into one that reads several of its fields (which would
    call it once per field): one call in the optimized plan of a query reading all six."""
    call = validation.check_reading_sql("payload", None, 0)
    fields = ", ".join(f"c.{name}" for name in validation.CHECKED_FIELDS)
    plan = t_env.explain_sql(
        f"SELECT {fields} FROM (SELECT {call} AS c FROM (VALUES ('{{}}')) AS t(payload))"
    ).split("== Optimized Execution Plan ==")[1]
    assert plan.count("CHECK_READING(") == 1, plan
