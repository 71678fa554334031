"""Reading validation: one parse of each message, in the JVM, by the job's Java functions.

``CHECK_READING(payload, record_time, max_ts_ahead_ms)`` (class
``io.iotstack.alerts.CheckReading``, apps/alerts/java) parses the message once with Jackson's
streaming parser (the one shaded in flink-dist) and returns ``ROW<reason, sensor_id, site,
ts, temperature_c, seq>``: ``reason`` NULL and the typed fields for a valid reading, else
the first reason of :data:`REASONS` that applies (the list in docs/contracts.md, "Dead-letter
reasons"; a test checks that the two agree) and NULL fields. ``READING_EVENT_TIME(payload)``
(``io.iotstack.alerts.ReadingEventTime``) is the source's event-time column: the ``ts`` of
a valid reading, else 0. No message costs a Python round trip.

* **One JSON text** (RFC 8259): the parser reads one value, then must reach the end of the
  text with only whitespace (space, tab, LF, CR) after it. Jackson (strict by default)
  rejects NaN/Infinity, comments, single quotes, leading zeros, a leading ``+``, control
  characters outside strings and a byte order mark. Its limits: numbers of at most 1000 digits
  in any field (docs/contracts.md says which count), nesting of at most 999 levels (the
  message's object the first).
* **An object**: the one value is an object, else ``not a JSON object``.
* **Fields**: top-level keys only, the last copy of a key counts, a JSON ``null`` is a
  missing field. An integer field (``schema_version``, ``ts``, ``seq``) must be a JSON
  number written without a fraction or exponent (``1.0``, ``1e0`` have the wrong type);
  ``temperature_c`` any JSON number, read as the nearest double (Infinity beyond the double
  range, so out of range); ``sensor_id`` and ``site`` strings, their length counted in
  Unicode code points after unescaping.
* **Order**: missing and wrong type field by field (:data:`FIELDS`' order), then the
  schema_version, then the ranges field by field (``ts`` more than ``max_ts_ahead_ms``
  after ``record_time`` right after ``ts``'s own range; a NULL ``record_time`` skips it).
* **Parses per message** (issue 16 throughput): 1. There are 3 checks of a message, the
  event-time column twice (Flink pushes the watermark into the Kafka scan, whose
  generator computes ``rowtime`` per record, and the Calc after the scan computes the
  column again) and ``CHECK_READING`` once, one right after the other in the source's
  thread; a check of the same text as the last one on its thread reuses that parse
  (``Reading.java``, ``LAST_PARSED``), and applies its own record time. The Flink SQL
  built-ins they replaced (``IS JSON``, a ``JSON_QUERY`` per field, regular expressions)
  parsed a valid reading 24 times, and took an integer written with the exponent ``e0``
  as an integer (apps/alerts/README.md, "Validation").
"""

from __future__ import annotations

from pyflink.table import TableEnvironment

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

# The fields of the contract, in the order their checks run (CheckReading's order too).
FIELDS: tuple[str, ...] = ("schema_version", "sensor_id", "site", "ts", "temperature_c", "seq")

CHECK_READING_CLASS = "io.iotstack.alerts.CheckReading"
EVENT_TIME_CLASS = "io.iotstack.alerts.ReadingEventTime"
# CheckReading's result (the typed fields are NULL for a message with a reason).
CHECKED_FIELDS: tuple[str, ...] = ("reason", "sensor_id", "site", "ts", "temperature_c", "seq")


def register_functions(t_env: TableEnvironment) -> None:
    """Register ``CHECK_READING`` and ``READING_EVENT_TIME`` (the functions jar must be on
    ``pipeline.jars``: alerts.job adds it). Registering again replaces them (the source
    table's event-time column and the pipeline both need them)."""
    for name, java_class in (("CHECK_READING", CHECK_READING_CLASS),
                             ("READING_EVENT_TIME", EVENT_TIME_CLASS)):
        t_env.drop_temporary_system_function(name)
        t_env.create_java_temporary_system_function(name, java_class)


def check_reading_sql(payload: str, record_time: str | None, max_ts_ahead_ms: int) -> str:
    """The ``CHECK_READING`` call (a ROW of :data:`CHECKED_FIELDS`). With ``record_time`` (a
    TIMESTAMP_LTZ(3) column: the Kafka record's timestamp), a ``ts`` more than
    ``max_ts_ahead_ms`` after it is out of range; without, only ts's own range applies."""
    record = record_time if record_time is not None else "CAST(NULL AS TIMESTAMP_LTZ(3))"
    return f"CHECK_READING({payload}, {record}, CAST({max_ts_ahead_ms} AS BIGINT))"


def event_time_ms_sql(payload: str = "payload") -> str:
    """The source's event-time column: the ``ts`` of a valid reading, else 0.

    0 never advances the watermark, so a message that goes to the dead-letter topic cannot
    move event time (a far-future ``ts`` on an otherwise invalid message would otherwise
    send every later reading to the late topic). One dead letter keeps its ``ts`` here: a
    reading refused only for being more than ``MAX_TS_AHEAD_MS`` after its Kafka record (a
    computed column cannot see the record's timestamp); the source's watermark,
    ``LEAST(rowtime, record_time)``, keeps it from moving event time past the record's
    timestamp, as for every message.
    """
    return f"READING_EVENT_TIME({payload})"


def interval_sql(ms: int) -> str:
    """A Flink SQL day-time interval literal of ``ms`` milliseconds."""
    seconds, millis = divmod(ms, 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    literal = f"{days} {hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"
    return f"INTERVAL '{literal}' DAY TO SECOND(3)"


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
