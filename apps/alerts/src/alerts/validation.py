"""Reading validation as Flink SQL built-ins: a ``reason`` column that is NULL for valid JSON.

Validation runs in the JVM (JSON_QUERY, REGEXP), not in a Python UDF, so the malformed-message
path costs no Python round trip. Each field is read once with ``JSON_QUERY(... WITH
CONDITIONAL ARRAY WRAPPER)``, which yields e.g. ``[21.5]`` or ``["sensor-1"]`` and NULL when
the field is absent or null; a regular expression on that text checks the JSON type.
(``JSON_VALUE(... RETURNING DOUBLE)`` is avoided: in Flink 1.19 it throws a
ClassCastException on a JSON string, which would fail the job on one bad message.)
"""

from __future__ import annotations

from collections.abc import Callable

SCHEMA_VERSION = 1
MAX_TS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z; beyond it TIMESTAMP_LTZ overflows

# field -> (regex on the wrapped JSON text, what the contract says it must be)
_INTEGER = r"^\[-?[0-9]{1,18}\]$"
_NUMBER = r"^\[-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?\]$"
_STRING = r'^\["([^"\\]|\\.)+"\]$'
FIELDS: tuple[tuple[str, str, str], ...] = (
    ("schema_version", _INTEGER, "an integer"),
    ("sensor_id", _STRING, "a non-empty string"),
    ("site", _STRING, "a non-empty string"),
    ("ts", _INTEGER, "an integer (epoch ms)"),
    ("temperature_c", _NUMBER, "a number"),
    ("seq", _INTEGER, "an integer"),
)


def _q(name: str) -> str:
    return f"q_{name}"


def _wrapped(payload: str, name: str) -> str:
    return f"JSON_QUERY({payload}, '$.{name}' WITH CONDITIONAL ARRAY WRAPPER)"


def wrapped_fields_sql(payload: str = "payload") -> str:
    """SELECT items reading each contract field once as wrapped JSON text."""
    return ",\n  ".join(f"{_wrapped(payload, name)} AS {_q(name)}" for name, _, _ in FIELDS)


def _unwrap(name: str, ref: Callable[[str], str] = _q) -> str:
    """The scalar inside ``[...]`` (strings keep their quotes)."""
    return f"SUBSTRING({ref(name)} FROM 2 FOR CHAR_LENGTH({ref(name)}) - 2)"


def reason_sql(payload: str = "payload", ref: Callable[[str], str] = _q) -> str:
    """A CASE expression: the first thing wrong with the reading, or NULL if it is valid.

    ``ref(name)`` is the wrapped JSON text of a field: by default the ``q_<name>`` column of
    :func:`wrapped_fields_sql`; :func:`event_time_ms_sql` inlines the ``JSON_QUERY`` instead.
    """
    whens = [
        f"WHEN {payload} IS NULL THEN 'empty message (null value)'",
        f"WHEN NOT ({payload} IS JSON OBJECT) THEN 'not a JSON object'",
    ]
    for name, regex, what in FIELDS:
        whens.append(f"WHEN {ref(name)} IS NULL THEN 'missing field ''{name}'''")
        whens.append(
            f"WHEN NOT REGEXP({ref(name)}, '{regex}') THEN 'field ''{name}'' is not {what}'"
        )
    whens.append(
        f"WHEN {_unwrap('schema_version', ref)} <> '{SCHEMA_VERSION}' "
        f"THEN CONCAT('unknown schema_version ', {_unwrap('schema_version', ref)})"
    )
    ts = f"CAST({_unwrap('ts', ref)} AS BIGINT)"
    whens.append(f"WHEN {ts} < 0 OR {ts} > {MAX_TS} THEN 'field ''ts'' is out of range'")
    whens.append(f"WHEN CAST({_unwrap('seq', ref)} AS BIGINT) < 0 THEN 'field ''seq'' is negative'")
    return "CASE\n    " + "\n    ".join(whens) + "\n    ELSE CAST(NULL AS STRING) END"


def typed_fields_sql() -> str:
    """SELECT items with the typed reading fields (valid rows only; NULL-safe otherwise)."""
    return ",\n  ".join(
        (
            f"JSON_VALUE({_q('sensor_id')}, '$[0]') AS sensor_id",
            f"JSON_VALUE({_q('site')}, '$[0]') AS site",
            f"TRY_CAST({_unwrap('ts')} AS BIGINT) AS ts",
            f"TRY_CAST({_unwrap('temperature_c')} AS DOUBLE) AS temperature_c",
            f"TRY_CAST({_unwrap('seq')} AS BIGINT) AS seq",
        )
    )


def event_time_ms_sql(payload: str = "payload") -> str:
    """The source's event-time column: the ``ts`` of a valid reading, else 0.

    0 never advances the watermark, so a message that goes to the dead-letter topic, for
    whatever reason, cannot move event time (a far-future ``ts`` on an otherwise invalid
    message would otherwise send every later reading to the late topic). The checks are
    :func:`reason_sql`'s, with each field's ``JSON_QUERY`` inlined (a computed column
    cannot see the other columns).
    """
    valid = reason_sql(payload, ref=lambda name: _wrapped(payload, name))
    ts = f"CAST(JSON_VALUE({payload}, '$.ts') AS BIGINT)"
    return f"CASE WHEN ({valid}) IS NULL THEN {ts} ELSE 0 END"
