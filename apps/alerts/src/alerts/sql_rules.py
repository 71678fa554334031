"""The per-sensor alert rules in Flink SQL and one Java process table function: a normal
reading never leaves the JVM.

:func:`define_alerts_and_minutes` turns the on-time readings (a view with ``sensor_id,
site, ts, temperature_c, seq, rowtime``) into the alert events of
``docs/contracts.md``, the same records :mod:`alerts.rules` (kept as the executable
specification) produces, and into the one-minute aggregates, counted in the same function
(``io.iotstack.alerts.Minutes``; apps/alerts/README.md, "Event time").

Order. The rules see a sensor's readings in arrival order (Kafka order per sensor): the
process table function takes each reading as it comes, with no waiting for the watermark.
A reading whose ``ts`` is not newer than every earlier reading of its sensor (a duplicate,
an out-of-order reading) is not *applied*: it changes no rule. Applied readings therefore
have strictly increasing ``ts`` per sensor, so their arrival order is also event-time order.

Temperatures are compared in hundredths, exactly: ``t2 = CAST(temperature_c AS DECIMAL(7,
2))`` (the double's decimal form, rounded half away from zero: Flink's cast, the same as
:func:`alerts.rules.hundredths`; ``SENSOR_RULES`` computes it, ``SensorRules.hundredths``),
against each threshold as whole hundredths computed exactly from its decimal form
(:func:`alerts.config.decimal`; ``high - hysteresis`` in decimal): ``t2 > high`` iff ``100 *
t2 > floor(100 * high)`` (:func:`cents_floor`, :func:`cents_ceil`). The spread is exact
too, so ``20.1 - 10.1`` is ``10.00``.

All rules run in one arrival-order stage, the Java process table function ``SENSOR_RULES``
(class ``io.iotstack.alerts.SensorRules``, ``apps/alerts/java``) on the on-time readings
partitioned by sensor: one state read and write per reading, and one event-time timer per
sensor for the silence. It emits a row only where an alert opens or resolves (which alert;
the open episodes' start, value and site; the silence's last reading), and SQL turns each
row into the alert events. (The same rules as SQL ``OVER`` windows, ``LAST_VALUE`` and
``LAG``, took five stages, each behind its own exchange with its own state: the job drained
18,000 readings/s with them and 23,000 with one Java aggregate in one ``OVER`` stage. That
aggregate and a second process table function for the silence timer, behind its own
exchange, became this one function: 47,838 -> 61,465 readings/s at 100,000 sensors.)

* ``high_temperature``: a reading is *decisive* if ``value > high`` (above) or
  ``value < high - hysteresis`` (back); readings in ``[high - hysteresis, high]`` decide
  nothing. The alert is open after a reading iff the last decisive reading so far was above;
  it opens at a reading where that turns true, resolves where it turns false.
  ``low_temperature`` mirrors it.
* ``rate_of_change``: spread = max - min of the applied readings with ``ts`` in
  ``[ts - 60000, ts]`` (both ends inclusive). Open iff spread > rate; opens and resolves
  where that changes. ``SENSOR_RULES`` keeps only the max and min candidates (two monotonic
  queues, as :func:`alerts.rules._slide`), whatever the number of readings in the window,
  and these events do not wait for the watermark either.
* ``sensor_silent``: a gap strictly longer than ``silence_s`` between two consecutive
  applied readings opens (at last ts + silence, with the last reading's site) and
  resolves (at the new reading's ts) the episode; ``SENSOR_RULES``' timer (one event-time
  timer per sensor) opens it when the watermark reaches ``last_ts + silence_ms +
  ALLOWED_LATENESS_MS + 1`` with no newer reading. Both paths give the same open event,
  and the function emits only the first. (An event-time session window per distinct
  silence did the timer's work before: its merging windows cost several state accesses
  and timer updates per reading; the drain went from 31,773 to 39,766 readings/s.)

Per-sensor parameters (``SENSOR_RULES`` settings) are one JSON constant, the function's
``rules`` argument (:func:`rules_argument`), looked up there by ``sensor_id``: data, not
code, no join (a regular join keeps every reading in state and loses the event-time
attribute), and nothing that travels with each reading through the exchange (they were seven
constant columns of each reading before); the function's rows carry the thresholds the
events report. The only Python left is the formatting
of each alert's ``value`` and ``message`` (Python's ``round`` and ``:g``), and it sees the
alert events only. All rules share their stage, so every alert's open and resolve stay in
order.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from decimal import Decimal

from pyflink.table import DataTypes, StreamTableEnvironment, Table
from pyflink.table.udf import udf

from alerts.config import Rules, decimal
from alerts.rules import HIGH, LOW, RATE, RATE_WINDOW_MS, SILENT, alert_message

MINUTE_FIELDS = ("sensor_id", "site", "window_start", "window_end", "count", "min", "avg", "max")
MINUTE_MS = 60_000
ALERT_FIELDS = (
    "alert_id", "sensor_id", "site", "rule", "severity", "status", "value", "threshold",
    "started_at", "resolved_at", "updated_at", "message",
)
# The rules (apps/alerts/java): the job's jar must be loaded (alerts.job).
SENSOR_RULES_CLASS = "io.iotstack.alerts.SensorRules"


def alert_value(rule: str, x: float) -> float:
    """An alert's ``value``: the reading (threshold rules), the spread, or the silence."""
    return round(x, 3)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# A bound beyond every temperature and spread in hundredths (|t2| < 10^5, so |t2c| < 10^7):
# clamping to it keeps an absurd threshold (1e300) in BIGINT without changing a comparison.
_FAR = 10**15


def cents_floor(x: Decimal) -> int:
    """``floor(100 * x)``, clamped to ``±10^15``: for a whole number of hundredths ``c``,
    ``c > cents_floor(x)`` iff ``c / 100 > x``, exactly."""
    return max(-_FAR, min(_FAR, math.floor(x * 100)))


def cents_ceil(x: Decimal) -> int:
    """``ceil(100 * x)``, clamped: ``c < cents_ceil(x)`` iff ``c / 100 < x``, exactly."""
    return max(-_FAR, min(_FAR, math.ceil(x * 100)))


def sensor_parameters(rules: Rules) -> dict[str, int | float]:
    """One sensor's parameters as ``SENSOR_RULES`` compares them, the thresholds as whole
    hundredths computed exactly from their decimals (``high - hysteresis`` in decimal, not
    in binary) and the silence in whole ms; and as the alert events report them (``high``,
    ``low``, ``rate``, the silence in seconds)."""
    return {
        "high_c": cents_floor(decimal(rules.high)),
        "high_back_c": cents_ceil(rules.high_back),
        "low_c": cents_ceil(decimal(rules.low)),
        "low_back_c": cents_floor(rules.low_back),
        "rate_c": cents_floor(decimal(rules.rate)),
        "silence_ms": rules.silence_ms,
        "silence_s": float(rules.silence_s),
        "high": float(rules.high),
        "low": float(rules.low),
        "rate": float(rules.rate),
    }


def rules_argument(defaults: Rules, overrides: Mapping[str, Rules]) -> str:
    """``SENSOR_RULES``' ``rules`` argument: every sensor's parameters as one JSON text,
    ``{"default": {...}, "sensors": {"<sensor_id>": {...}}}`` (:func:`sensor_parameters`;
    a sensor is listed only where its parameters differ from the default's). The function
    parses it once and looks each reading's sensor up in it, so the parameters are data
    (not code) and no parameter travels with each reading."""
    default = sensor_parameters(defaults)
    sensors = {sensor_id: params for sensor_id, rules in sorted(overrides.items())
               if (params := sensor_parameters(rules)) != default}
    return json.dumps({"default": default, "sensors": sensors}, allow_nan=False)


EVENT_COLUMNS = ("site", "rule", "severity", "status", "x", "threshold", "started_at",
                 "resolved_at", "updated_at", "last_ts")


def _event(rule: str, severity: str, status: str, x: str, threshold: str, started_at: str,
           resolved_at: str, updated_at: str, last_ts: str = "NULL", site: str = "site") -> str:
    """One alert event before formatting, as a ROW of ``EVENT_COLUMNS`` (a NULL status:
    no event). ``x`` is the raw value the event's ``value`` and ``message`` come from."""
    return (f"ROW({site}, CAST('{rule}' AS STRING), CAST('{severity}' AS STRING), "
            f"CAST({status} AS STRING), CAST({x} AS DOUBLE), CAST({threshold} AS DOUBLE), "
            f"CAST({started_at} AS BIGINT), CAST({resolved_at} AS BIGINT), "
            f"CAST({updated_at} AS BIGINT), CAST({last_ts} AS BIGINT))")


def _unnest(source: str, events: list[str]) -> str:
    """The events of each row of ``source`` (in list order), as rows of their own."""
    columns = ", ".join(f"e_{c}" for c in EVENT_COLUMNS)
    return (f"SELECT sensor_id, {', '.join(f'e_{c} AS `{c}`' for c in EVENT_COLUMNS)} "
            f"FROM {source} CROSS JOIN UNNEST(ARRAY[{', '.join(events)}]) AS e({columns}) "
            f"WHERE e_status IS NOT NULL")


def define_alerts_and_minutes(
    t_env: StreamTableEnvironment,
    on_time: str,
    *,
    defaults: Rules,
    overrides: Mapping[str, Rules],
    allowed_lateness_ms: int,
) -> tuple[Table, Table]:
    """The alert events (``ALERT_FIELDS``, append-only) and the one-minute aggregates
    (``MINUTE_FIELDS``, append-only: a minute emitted again replaces its key) of the
    on-time readings view, both from one call of ``SENSOR_RULES``."""
    sql = t_env.sql_query
    t_env.create_java_temporary_system_function("SENSOR_RULES", SENSOR_RULES_CLASS)

    def view(name: str, query: str) -> None:
        t_env.create_temporary_view(name, sql(query))

    # One arrival-order stage: SENSOR_RULES (Java, a process table function) counts each
    # reading in its minute and applies it to the sensor's threshold, rate and silence
    # state. It emits a row where a minute is due (m_start set) and where an alert opens or
    # resolves (a reading's row, or a silence timer's), and nothing for a normal reading.
    # The input is each reading's five fields; the parameters are one constant argument.
    view("rules_input", f"""
        SELECT sensor_id, ts, site, temperature_c, seq FROM {on_time}""")
    view("sensor_rows", f"""
        SELECT * FROM SENSOR_RULES(input => TABLE rules_input PARTITION BY sensor_id,
          window_ms => CAST({RATE_WINDOW_MS} AS BIGINT),
          lateness_ms => CAST({allowed_lateness_ms} AS BIGINT),
          rules => {_quote(rules_argument(defaults, overrides))}, uid => 'sensor-rules')""")
    aggregates = sql(f"""
        SELECT sensor_id, m_site AS site, m_start AS window_start,
          m_start + {MINUTE_MS} AS window_end, m_count AS `count`, m_min AS `min`,
          m_avg AS `avg`, m_max AS `max`
        FROM sensor_rows WHERE m_start IS NOT NULL""")
    view("rules_moves", """
        SELECT * FROM sensor_rows WHERE m_start IS NULL""")
    # Each row's events in the specification's order (alerts.rules.on_reading): the silence
    # (open, unless the timer opened it; resolve), then high, low and rate. The silence's
    # site is the reading's before it (sl_site), on both paths.
    rule_events = _unnest("rules_moves", [
        _event(SILENT, "warning", "CASE WHEN sl_open THEN 'open' END", "silence_s",
               "silence_s", "sl_last + silence_ms", "NULL", "sl_last + silence_ms",
               last_ts="sl_last", site="sl_site"),
        _event(SILENT, "warning", "CASE WHEN sl_close THEN 'resolved' END", "silence_s",
               "silence_s", "sl_last + silence_ms", "ts", "ts", last_ts="sl_last",
               site="sl_site"),
        _event(HIGH, "critical",
               "CASE WHEN hi_open THEN 'open' WHEN hi_close THEN 'resolved' END", "hi_x",
               "high", "hi_at", "CASE WHEN hi_close THEN ts END", "ts", site="hi_site"),
        _event(LOW, "critical",
               "CASE WHEN lo_open THEN 'open' WHEN lo_close THEN 'resolved' END", "lo_x",
               "low", "lo_at", "CASE WHEN lo_close THEN ts END", "ts", site="lo_site"),
        _event(RATE, "warning",
               "CASE WHEN rt_open THEN 'open' WHEN rt_close THEN 'resolved' END", "rt_x",
               "rate", "rt_at", "CASE WHEN rt_close THEN ts END", "ts", site="rt_site"),
    ])

    # Only the events cross to Python, for value and message (one PythonCalc after the
    # UNNEST; the job's plan is checked in test_alerts_job.py).
    t_env.create_temporary_view("rules_events", sql(rule_events))
    register_formatters(t_env)
    alerts = sql("""
        SELECT sensor_id || ':' || `rule` || ':' || CAST(started_at AS STRING) AS alert_id,
          sensor_id, site, `rule`, severity, status, alert_value(`rule`, x) AS `value`,
          threshold, started_at, resolved_at, updated_at,
          alert_message(`rule`, x, threshold, last_ts) AS message
        FROM rules_events""")
    return alerts, aggregates


def register_formatters(t_env: StreamTableEnvironment) -> None:
    """The two Python functions the alert events go through (only they cross to Python)."""
    t_env.create_temporary_system_function(
        "alert_value", udf(alert_value, result_type=DataTypes.DOUBLE()))
    t_env.create_temporary_system_function(
        "alert_message", udf(alert_message, result_type=DataTypes.STRING()))
