"""The pure pipeline: ``define_pipeline(readings) -> Outputs``, with no sources or sinks.

``readings`` is any table of raw messages with the columns ``msg_key BYTES``, ``payload
STRING``, ``record_time TIMESTAMP_LTZ(3)`` (the Kafka record's timestamp), an event-time
attribute ``rowtime`` (with a watermark); other columns are ignored. The job feeds it from
Kafka (:mod:`alerts.job`); a test can feed it from an in-memory collection.
Everything is Flink SQL, with the job's Java functions (``apps/alerts/java``):

* validation (:mod:`alerts.validation`: the Java ``CHECK_READING``, one call per message)
  -> ``dead_letters`` (reason + original payload, cut to a documented size);
* ``late``: readings more than the allowed lateness behind the watermark (never dropped
  silently: they go to their own topic, and the sink's record count is the late count);
* one-minute aggregates and alerts, both from one Java process table function per sensor,
  ``SENSOR_RULES`` (:mod:`alerts.sql_rules`; :mod:`alerts.rules` is the rules' executable
  specification): each on-time reading is counted in its event-time minute, de-duplicated
  by (sensor_id, seq, ts), the first copy to arrive counted (a sensor whose seq restarts at
  0 after a reboot sends new ts, so its readings count); ``site`` is the greatest of the
  counted readings' sites (Unicode code point order, as SQL's ``MAX``). A minute is emitted
  when the watermark reaches its last millisecond and again after each reading counted in
  it later, within the allowed lateness (append-only rows; the job's upsert-kafka sink
  writes each under the key ``<sensor_id>:<window_start>``). Only the alert events cross
  to Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pyflink.table import StreamTableEnvironment, Table

from alerts import sql_rules, validation
from alerts.config import Rules
from alerts.validation import interval_sql


@dataclass(frozen=True)
class Outputs:
    """The tables the pipeline produces (append-only except ``aggregates``, an upsert)."""

    alerts: Table
    aggregates: Table
    dead_letters: Table
    late: Table


def define_pipeline(
    t_env: StreamTableEnvironment,
    readings: Table,
    *,
    source_topic: str,
    defaults: Rules,
    overrides: Mapping[str, Rules],
    allowed_lateness_ms: int,
    max_ts_ahead_ms: int,
) -> Outputs:
    """Build the alerts, aggregates, dead letters and late readings from raw ``readings``."""
    t_env.create_temporary_view("raw_readings", readings)
    validation.register_functions(t_env)
    # Each message parsed and checked once: CHECK_READING (a ROW) is computed in the one
    # projection every output reads. It is declared non-deterministic, so the planner never
    # merges that projection into a later one that reads several of its fields (Flink's
    # FlinkProjectMergeRule / FlinkCalcMergeRule), which would call it once per field.
    t_env.create_temporary_view("checked", t_env.sql_query(f"""
        SELECT msg_key, payload, rowtime,
          {validation.check_reading_sql("payload", "record_time", max_ts_ahead_ms)} AS c
        FROM raw_readings"""))
    dead_letters = t_env.sql_query(f"""
        SELECT msg_key, c.reason AS reason, {validation.payload_columns_sql()},
          '{source_topic}' AS source_topic,
          CAST(UNIX_TIMESTAMP() AS BIGINT) * 1000 AS failed_at
        FROM checked WHERE c.reason IS NOT NULL""")
    t_env.create_temporary_view("valid", t_env.sql_query("""
        SELECT msg_key, payload, c.sensor_id AS sensor_id, c.site AS site, c.ts AS ts,
          c.temperature_c AS temperature_c, c.seq AS seq, rowtime
        FROM checked WHERE c.reason IS NULL"""))
    behind = f"rowtime < CURRENT_WATERMARK(rowtime) - {interval_sql(allowed_lateness_ms)}"
    late = t_env.sql_query(f"""
        SELECT msg_key, sensor_id, site, ts, temperature_c, seq,
          UNIX_TIMESTAMP(CAST(CURRENT_WATERMARK(rowtime) AS STRING)) * 1000
            + EXTRACT(MILLISECOND FROM CURRENT_WATERMARK(rowtime)) AS watermark_ms,
          {validation.payload_columns_sql()}
        FROM valid WHERE CURRENT_WATERMARK(rowtime) IS NOT NULL AND {behind}""")
    t_env.create_temporary_view("on_time", t_env.sql_query(f"""
        SELECT sensor_id, site, ts, temperature_c, seq, rowtime FROM valid
        WHERE CURRENT_WATERMARK(rowtime) IS NULL OR NOT ({behind})"""))
    # The one-minute aggregates and the alerts come from one stage, SENSOR_RULES (Java): a
    # minute is emitted when the watermark reaches its last millisecond and again for each
    # reading counted in it later (until ALLOWED_LATENESS_MS after its end: every reading
    # the late split keeps), copies counted once (the first to arrive).
    alerts, aggregates = sql_rules.define_alerts_and_minutes(
        t_env, "on_time", defaults=defaults, overrides=overrides,
        allowed_lateness_ms=allowed_lateness_ms)
    return Outputs(alerts=alerts, aggregates=aggregates, dead_letters=dead_letters, late=late)
