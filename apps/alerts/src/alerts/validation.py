"""Reading validation as Flink SQL built-ins: a ``reason`` column that is NULL for a valid reading.

Validation runs in the JVM (IS JSON, JSON_QUERY, REGEXP), not in a Python UDF, so no message
costs a Python round trip. The reasons are exactly :data:`REASONS`, the list in
docs/contracts.md ("Dead-letter reasons"); a test checks that the two agree.

* **One JSON text** (RFC 8259: one value, optionally surrounded by space, tab, LF, CR).
  Flink's ``IS JSON`` and ``JSON_QUERY`` parse the first value with Jackson and ignore what
  follows, so ``{...} trailing`` and ``{...}{...}`` would pass. Two more parses of the
  payload ``P`` close that: ``'[' || P || ']'`` must be a JSON array and ``'{"k":' || P ||
  '}'`` a JSON object. Whatever follows P's first value (other than whitespace) must make
  the first wrapper continue with ``,`` or end with ``]``, else it fails to parse; ``]`` or
  a trailing ``}`` cannot close the second wrapper's ``{``; after ``,`` the first wrapper
  needs a value followed by ``,`` or ``]`` and the second a key, a string followed by ``:``.
  No text satisfies both, so both parse only when P is one JSON value. An empty or blank
  P gives ``{"k":}``, which fails. Jackson (Flink's parser) rejects NaN/Infinity, comments,
  single quotes, leading zeros, control characters outside strings and a byte order mark.
* **An object**: the one value starts with ``{`` (a cheap anchored REGEXP, no fourth parse).
* **Fields**: each is read once with ``JSON_QUERY(... WITH UNCONDITIONAL ARRAY WRAPPER)``,
  which yields e.g. ``[21.5]`` or ``["sensor-1"]`` and NULL when the field is absent or
  null; a regular expression on that text checks the JSON type. (``JSON_VALUE(...
  RETURNING DOUBLE)`` is avoided: in Flink 1.19 it threw a ClassCastException on a JSON
  string, which would fail the job on one bad message.) Jackson writes numbers back in
  their exact decimal form (``1e400`` -> ``1E+400``), so a number's range is checked
  after ``TRY_CAST`` to DOUBLE (the nearest double; Infinity when it overflows).
  The wrapper is ``UNCONDITIONAL``: an array value is wrapped too (``"ts":[5]`` gives
  ``[[5]]``), so it has the wrong type. (It was ``CONDITIONAL``, which leaves an array
  as it is, so a one-element array read like its element and was accepted as it.)
* **Parses per message** (issue 16 throughput). Flink computes every occurrence of an
  expression (no common sub-expressions), and the planner merges the ``q_<field>`` columns
  of :func:`wrapped_fields_sql` into each expression that uses them: every ``JSON_QUERY``
  written out is one more parse of the payload. For a valid reading the job's source
  vertex parses it: the event-time column :func:`event_time_ms_sql` twice (Flink pushes
  the watermark into the Kafka scan, whose generator computes ``rowtime`` per record, and
  the Calc after the scan computes the column again), 37 times each before (34
  ``JSON_QUERY``, a ``JSON_VALUE`` of ts, the 2 wrapper ``IS JSON``), 8 now (6 + 2);
  then pipeline.py's :func:`reason_sql` and :func:`typed_fields_sql` 44 times (34 + 8
  ``JSON_QUERY``, 2 ``IS JSON``). 118 parses before, 60 now (and 14, now 10,
  ``JSON_VALUE`` parses of a field's few-character wrapped text). Measured
  (bench/validation_bench.py, 1,000,000 generated readings, one core of the local Flink,
  best of 2, a shared 2-core machine at load average 4.6-8.6): the event-time column
  14,419 -> 47,599 messages/s, the source vertex's per-message SQL 5,563 -> 8,508. The
  whole job (bench/alerts_bench.py, 200,000 readings, once each): 1,983 readings/s at load
  7.0-13.1 before, 5,143 at load 1.8-4.8 now (the load differed: see apps/alerts/README.md).
"""

from __future__ import annotations

from collections.abc import Callable

SCHEMA_VERSION = 1
MAX_TS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z; beyond it TIMESTAMP_LTZ overflows
# A physical range: absolute zero up to 10,000 °C (above every contact or radiation sensor
# and the Sun's surface). Any count of readings in range has a finite sum, average and
# spread (max - min <= 10,273.15), so no aggregate or rule can overflow.
MIN_TEMPERATURE_C = -273.15
MAX_TEMPERATURE_C = 10_000.0
MAX_ID_CHARS = 100  # sensor_id and site; keeps alert ids under Elasticsearch's 512-byte _id
# A dead-letter or late record carries at most this many characters of the payload. A
# character becomes at most 12 bytes in the record's JSON (a \uXXXX escape of each half of
# a surrogate pair; control characters take 6), so the payload is at most 393,216 bytes
# there, far below Kafka's 1 MiB default request and message limits.
MAX_PAYLOAD_CHARS = 32_768

# THE dead-letter reasons, exactly as docs/contracts.md lists them; ``<field>`` is one of
# the field names in FIELDS, ``<value>`` the schema_version as written (first 20 characters).
REASONS: tuple[str, ...] = (
    "empty message (null value)",
    "not JSON",
    "not a JSON object",
    "missing field '<field>'",
    "field '<field>' has the wrong type",
    "unknown schema_version <value>",
    "field '<field>' is out of range",
)

# field -> regex on the wrapped JSON text (the JSON type the contract requires)
_INTEGER = r"^\[-?[0-9]+\]$"
_NUMBER = r"^\[-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?\]$"
_STRING = r'^\["([^"\\]|\\.)*"\]$'
FIELDS: tuple[tuple[str, str], ...] = (
    ("schema_version", _INTEGER),
    ("sensor_id", _STRING),
    ("site", _STRING),
    ("ts", _INTEGER),
    ("temperature_c", _NUMBER),
    ("seq", _INTEGER),
)


def _q(name: str) -> str:
    return f"q_{name}"


def wrapped_field_sql(payload: str, name: str) -> str:
    """A field's wrapped JSON text (``[value]``; NULL if absent or null)."""
    return f"JSON_QUERY({payload}, '$.{name}' WITH UNCONDITIONAL ARRAY WRAPPER)"


def wrapped_fields_sql(payload: str = "payload") -> str:
    """SELECT items reading each contract field once as wrapped JSON text."""
    return ",\n  ".join(f"{wrapped_field_sql(payload, name)} AS {_q(name)}" for name, _ in FIELDS)


def _unwrap(name: str, ref: Callable[[str], str] = _q) -> str:
    """The scalar inside ``[...]`` (strings keep their quotes)."""
    return f"SUBSTRING({ref(name)} FROM 2 FOR CHAR_LENGTH({ref(name)}) - 2)"


def _out_of_range(name: str, ref: Callable[[str], str]) -> str:
    """SQL that is true when the field, of the right JSON type, is outside its range."""
    if name in ("sensor_id", "site"):
        length = f"CHAR_LENGTH(JSON_VALUE({ref(name)}, '$[0]'))"
        return f"{length} < 1 OR {length} > {MAX_ID_CHARS}"
    if name == "temperature_c":
        value = f"TRY_CAST({_unwrap(name, ref)} AS DOUBLE)"
        return (f"{value} IS NULL OR {value} < {MIN_TEMPERATURE_C}E0 "
                f"OR {value} > {MAX_TEMPERATURE_C:.0f}E0")
    value = f"TRY_CAST({_unwrap(name, ref)} AS BIGINT)"  # NULL beyond a signed 64-bit int
    upper = f" OR {value} > {MAX_TS}" if name == "ts" else ""
    return f"{value} IS NULL OR {value} < 0{upper}"


def interval_sql(ms: int) -> str:
    """A Flink SQL day-time interval literal of ``ms`` milliseconds."""
    seconds, millis = divmod(ms, 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    literal = f"{days} {hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"
    return f"INTERVAL '{literal}' DAY TO SECOND(3)"


def ts_ahead_sql(record_time: str, max_ahead_ms: int, ref: Callable[[str], str] = _q) -> str:
    """SQL that is true when ``ts`` (already of the right type and in 0..MAX_TS) is more than
    ``max_ahead_ms`` after ``record_time`` (the Kafka record's timestamp, TIMESTAMP_LTZ(3))."""
    ts = f"TO_TIMESTAMP_LTZ(TRY_CAST({_unwrap('ts', ref)} AS BIGINT), 3)"
    return f"{ts} > {record_time} + {interval_sql(max_ahead_ms)}"


def reason_sql(
    payload: str = "payload",
    ref: Callable[[str], str] = _q,
    *,
    record_time: str | None = None,
    max_ts_ahead_ms: int = 0,
) -> str:
    """A CASE expression: the first thing wrong with the reading, or NULL if it is valid.

    The checks run in the order of :data:`REASONS`, fields in the order of :data:`FIELDS`
    (missing and wrong type field by field, then schema_version, then the ranges).
    ``ref(name)`` is the wrapped JSON text of a field: by default the ``q_<name>`` column of
    :func:`wrapped_fields_sql`; :func:`event_time_ms_sql` inlines the ``JSON_QUERY`` instead.
    With ``record_time`` (a TIMESTAMP_LTZ(3) column: the Kafka record's timestamp), a ``ts``
    more than ``max_ts_ahead_ms`` after it is out of range too (:func:`ts_ahead_sql`; its own
    WHEN right after ts's range, so it only sees a ts within 0..MAX_TS).
    """
    whens = [
        f"WHEN {payload} IS NULL THEN 'empty message (null value)'",
        f"WHEN NOT (('[' || {payload} || ']') IS JSON ARRAY) "
        f"OR NOT (('{{\"k\":' || {payload} || '}}') IS JSON OBJECT) THEN 'not JSON'",
        f"WHEN NOT REGEXP({payload}, '^[ \\t\\n\\r]*\\{{') THEN 'not a JSON object'",
    ]
    for name, regex in FIELDS:
        whens.append(f"WHEN {ref(name)} IS NULL THEN 'missing field ''{name}'''")
        whens.append(
            f"WHEN NOT REGEXP({ref(name)}, '{regex}') THEN 'field ''{name}'' has the wrong type'"
        )
    version = _unwrap("schema_version", ref)
    whens.append(
        f"WHEN {version} <> '{SCHEMA_VERSION}' "
        f"THEN CONCAT('unknown schema_version ', SUBSTRING({version} FROM 1 FOR 20))"
    )
    for name, _ in FIELDS:
        if name != "schema_version":
            whens.append(
                f"WHEN {_out_of_range(name, ref)} THEN 'field ''{name}'' is out of range'"
            )
            if name == "ts" and record_time is not None:
                whens.append(
                    f"WHEN {ts_ahead_sql(record_time, max_ts_ahead_ms, ref)} "
                    "THEN 'field ''ts'' is out of range'"
                )
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


def payload_columns_sql(payload: str = "payload") -> str:
    """SELECT items ``payload`` (cut to :data:`MAX_PAYLOAD_CHARS`), ``payload_truncated``
    and ``payload_chars`` (the original length in characters; NULL for a null message)."""
    chars = f"CHAR_LENGTH({payload})"
    return (
        f"CASE WHEN {chars} > {MAX_PAYLOAD_CHARS} "
        f"THEN SUBSTRING({payload} FROM 1 FOR {MAX_PAYLOAD_CHARS}) ELSE {payload} END "
        f"AS payload, COALESCE({chars} > {MAX_PAYLOAD_CHARS}, FALSE) AS payload_truncated, "
        f"{chars} AS payload_chars"
    )


def numerals_up_to(n: int) -> str:
    """A regular expression (unanchored alternatives) matching exactly the decimal numerals
    of 1 to ``n`` written without a leading zero."""
    digits = str(n)
    alternatives = [f"[1-9][0-9]{{0,{len(digits) - 2}}}"] if len(digits) > 1 else []
    for i, digit in enumerate(digits):  # n's first i digits, then a smaller digit, then any
        low, high = (1 if i == 0 else 0), int(digit) - 1
        if low <= high:
            rest = len(digits) - i - 1
            alternatives.append(
                digits[:i] + (str(low) if low == high else f"[{low}-{high}]")
                + ("" if rest == 0 else "[0-9]" if rest == 1 else f"[0-9]{{{rest}}}"))
    return "|".join([*alternatives, digits])


# The event-time column's checks on a field's wrapped JSON text. REGEXP keeps its compiled
# pattern; REGEXP_EXTRACT cost more than a JSON_QUERY (measured), so it runs once, for ts.
_NUMBER_VALUE = r"^\[(-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?)\]$"  # _NUMBER, value captured
# An integer whose value is 0 to n: "-0", "-00", ..., or 0 or 1..n after any leading zeros
# (as TRY_CAST to BIGINT reads them; every other integer is negative or beyond n).
_SEQ_IN_RANGE = rf"^\[(-?0+|0*(?:{numerals_up_to(2**63 - 1)}))\]$"
_TS_IN_RANGE = rf"^\[(-?0+|0*(?:{numerals_up_to(MAX_TS)}))\]$"
# A JSON string of 1 to MAX_ID_CHARS characters, none escaped or a quote (a Java regex
# counts code points, as CHAR_LENGTH does).
_PLAIN_ID = rf'^\["[^"\\]{{1,{MAX_ID_CHARS}}}"\]$'
# A temperature written as a plain decimal from -272.999... to 9999.999...: its nearest
# double is within MIN_TEMPERATURE_C..MAX_TEMPERATURE_C whatever the fraction.
_PLAIN_TEMPERATURE = r"^\[(-?([0-9]{1,2}|1[0-9]{2}|2[0-6][0-9]|27[0-2])|[0-9]{3,4})(\.[0-9]+)?\]$"


def _extract(text: str, regex: str, group: int = 1) -> str:
    return f"REGEXP_EXTRACT({text}, '{regex}', {group})"


def event_time_valid_sql(payload: str = "payload") -> str:
    """SQL that is TRUE exactly when :func:`reason_sql` is NULL, apart from ``ts``'s own
    checks, and FALSE or NULL otherwise, with one ``JSON_QUERY`` per field run for an
    everyday reading (BETWEEN is avoided: it becomes two comparisons, each with its own
    copy of the field's JSON_QUERY). The ``ELSE`` of a ``CASE`` runs only when its fast
    path does not hold: a string with an escape or of another length, a temperature that
    is not a plain decimal well inside the range; it repeats the field's JSON_QUERY."""
    def q(name: str) -> str:
        return wrapped_field_sql(payload, name)

    def id_in_range(name: str) -> str:
        # 1 <= length <= MAX_ID_CHARS as |2 length - 101| <= 99: one use of the length
        length = f"CHAR_LENGTH(JSON_VALUE({_extract(q(name), _STRING, 0)}, '$[0]'))"
        exact = f"ABS(2 * CAST({length} AS BIGINT) - {MAX_ID_CHARS + 1}) <= {MAX_ID_CHARS - 1}"
        return f"CASE WHEN REGEXP({q(name)}, '{_PLAIN_ID}') THEN TRUE ELSE {exact} END"

    value = f"TRY_CAST({_extract(q('temperature_c'), _NUMBER_VALUE)} AS DOUBLE)"
    temperature = (
        f"CASE WHEN REGEXP({q('temperature_c')}, '{_PLAIN_TEMPERATURE}') THEN TRUE "
        f"ELSE {value} >= {MIN_TEMPERATURE_C}E0 AND {value} <= {MAX_TEMPERATURE_C:.0f}E0 END"
    )
    return "\n    AND ".join((
        f"('[' || {payload} || ']') IS JSON ARRAY",
        f"('{{\"k\":' || {payload} || '}}') IS JSON OBJECT",
        f"REGEXP({payload}, '^[ \\t\\n\\r]*\\{{')",
        f"{q('schema_version')} = '[{SCHEMA_VERSION}]'",
        id_in_range("sensor_id"),
        id_in_range("site"),
        temperature,
        f"REGEXP({q('seq')}, '{_SEQ_IN_RANGE}')",
    ))


def event_time_ms_sql(payload: str = "payload") -> str:
    """The source's event-time column: the ``ts`` of a valid reading, else 0.

    0 never advances the watermark, so a message that goes to the dead-letter topic cannot
    move event time (a far-future ``ts`` on an otherwise invalid message would otherwise
    send every later reading to the late topic). One dead letter keeps its ``ts`` here: a
    reading refused only for being more than ``MAX_TS_AHEAD_MS`` after its Kafka record
    (:func:`ts_ahead_sql`; checking it here would repeat the ts read, and this column is
    computed twice per message); the source's watermark, ``LEAST(rowtime, record_time)``,
    keeps it from moving event time past the record's timestamp, as for every message. A
    computed column
    cannot see the other columns, and Flink evaluates every occurrence of an expression
    (no common sub-expressions): so the checks are :func:`reason_sql`'s folded into one
    ``JSON_QUERY`` per field (:func:`event_time_valid_sql`), and ``ts``'s is read only
    for an otherwise valid message, its type and range checked by one regular expression
    whose capture is the value (:data:`_TS_IN_RANGE`).
    """
    ts_text = wrapped_field_sql(payload, "ts")
    valid_ts = f"CASE WHEN {event_time_valid_sql(payload)}\n    THEN {ts_text} END"
    ts = _extract(valid_ts, _TS_IN_RANGE)
    return f"IFNULL(TRY_CAST({ts} AS BIGINT), 0)"
