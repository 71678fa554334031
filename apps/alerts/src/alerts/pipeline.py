"""The pure pipeline: ``define_pipeline(readings) -> Outputs``, with no sources or sinks.

``readings`` is any table of raw messages with the columns ``msg_key BYTES``, ``payload
STRING``, an event-time attribute ``rowtime`` (with a watermark) and a processing-time
attribute ``proctime``. The job feeds it from Kafka (:mod:`alerts.job`); a test can feed it
from an in-memory collection. Everything except the per-sensor rules is Flink SQL:

* validation -> ``dead_letters`` (reason + original payload, cut to a documented size);
* ``late``: readings more than the allowed lateness behind the watermark (never dropped
  silently: they go to their own topic, and the sink's record count is the late count);
* one-minute aggregates: de-duplicated by (sensor_id, seq), then an updating GROUP BY on
  (sensor_id, minute) so a reading within the allowed lateness still updates its minute
  (an update stream, not insert-only: the job's upsert-kafka sink writes each change under
  the key ``<sensor_id>:<window_start>``);
* alerts: a Python KeyedProcessFunction (:mod:`alerts.rules`) keyed by sensor, for the
  hysteresis, rate-of-change and event-time silence timers that SQL cannot express.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pyflink.common import Row, Types
from pyflink.datastream import KeyedProcessFunction, KeyedStream, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor
from pyflink.java_gateway import get_gateway
from pyflink.table import DataTypes, Schema, StreamTableEnvironment, Table

from alerts import rules as r
from alerts import validation
from alerts.config import Rules

ALERT_FIELDS = (
    "alert_id", "sensor_id", "site", "rule", "severity", "status", "value", "threshold",
    "started_at", "resolved_at", "updated_at", "message",
)
ALERT_TYPES = (
    Types.STRING(), Types.STRING(), Types.STRING(), Types.STRING(), Types.STRING(),
    Types.STRING(), Types.DOUBLE(), Types.DOUBLE(), Types.LONG(), Types.LONG(), Types.LONG(),
    Types.STRING(),
)
WINDOW_MS = 60_000


@dataclass(frozen=True)
class Outputs:
    """The tables the pipeline produces (append-only except ``aggregates``, an upsert)."""

    alerts: Table
    aggregates: Table
    dead_letters: Table
    late: Table


class RulesFunction(KeyedProcessFunction):
    """Keyed by sensor: runs :mod:`alerts.rules` with the state in Flink's keyed state."""

    def __init__(
        self, defaults: Rules, overrides: Mapping[str, Rules], ttl_s: int, lateness_ms: int
    ) -> None:
        self.defaults = defaults
        self.overrides = dict(overrides)
        self.ttl_ms = ttl_s * 1000
        self.lateness_ms = lateness_ms  # a silence timer waits this long for on-time readings
        self.state: Any = None

    def open(self, runtime_context: RuntimeContext) -> None:
        """Create the per-sensor state.

        No Flink state TTL here: with TTL, PyFlink bypasses its worker-side state cache (3x
        slower, measured) and thread mode cannot even build the descriptor. The sensor is
        forgotten instead by an event-time timer ``STATE_TTL_S`` after its last reading
        (:func:`alerts.rules.expiry_timer`), which a replay also reproduces exactly.
        """
        descriptor = ValueStateDescriptor("sensor", Types.PICKLED_BYTE_ARRAY())
        self.state = runtime_context.get_state(descriptor)

    def _rules(self, sensor_id: str) -> Rules:
        return self.overrides.get(sensor_id, self.defaults)

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context) -> Iterator[Row]:
        """One reading: update the state, maybe register a silence timer, emit alerts."""
        state = self.state.value() or r.SensorState()
        rules = self._rules(value.sensor_id)
        reading = r.Reading(value.sensor_id, value.site, value.ts, value.temperature_c, value.seq)
        events = r.on_reading(state, reading, rules)
        timer = r.timer_needed(state, rules, self.lateness_ms)
        if timer is not None:
            ctx.timer_service().register_event_time_timer(timer)
        self.state.update(state)
        for event in events:
            yield Row(*(event[name] for name in ALERT_FIELDS))

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterator[Row]:
        """The watermark passed a silence deadline, or the sensor's expiry."""
        state = self.state.value()
        if state is None:
            return
        if r.expired(state, timestamp, self.ttl_ms):
            self.state.clear()
            return
        if timestamp != state.timer_ts:
            return  # an expiry made stale by newer readings
        sensor_id = ctx.get_current_key()
        rules = self._rules(sensor_id)
        events = r.on_timer(state, sensor_id, timestamp, rules, self.lateness_ms)
        timer = r.timer_needed(state, rules, self.lateness_ms)
        if timer is None:
            timer = r.expiry_timer(state, self.ttl_ms)
            timer = None if timer is None else max(timer, timestamp)
        if timer is not None:
            ctx.timer_service().register_event_time_timer(timer)
        self.state.update(state)
        for event in events:
            yield Row(*(event[name] for name in ALERT_FIELDS))


def validated_once(t_env: StreamTableEnvironment, checked: Table) -> Table:
    """``checked`` computed once per message, as a table with the same event time.

    Every output reads the validated readings. Left as one SQL view, the planner inlines each
    ``JSON_QUERY`` into every expression and every branch that uses it (dozens of JSON
    parses per message), and each Table -> DataStream conversion plans its own Kafka source.
    A DataStream boundary stops both: the source, the JSON reads and the checks run once per
    message. ``rowtime`` comes back as the event-time attribute (the records' timestamps)
    with the source's own watermarks (``SOURCE_WATERMARK()``), so lateness is unchanged.
    """
    once = t_env.from_data_stream(
        t_env.to_data_stream(checked),
        Schema.new_builder()
        .column_by_metadata("event_time", DataTypes.TIMESTAMP_LTZ(3), "rowtime")
        .column_by_expression("proctime", "PROCTIME()")
        .watermark("event_time", "SOURCE_WATERMARK()")
        .build(),
    )
    t_env.create_temporary_view("checked_once", once)
    names = [n for n in checked.get_resolved_schema().get_column_names() if n != "rowtime"]
    return t_env.sql_query(
        f"SELECT {', '.join(f'`{n}`' for n in names)}, event_time AS rowtime, proctime "
        "FROM checked_once"
    )


READING_TYPE = Types.ROW_NAMED(
    ["sensor_id", "site", "ts", "temperature_c", "seq"],
    [Types.STRING(), Types.STRING(), Types.LONG(), Types.DOUBLE(), Types.LONG()],
)


def keyed_by_sensor(t_env: StreamTableEnvironment, keyed_rows: Table) -> KeyedStream:
    """``keyed_rows`` (sensor_id, reading row) as a stream keyed by sensor, keyed in the JVM.

    ``DataStream.key_by(python_function)`` puts a whole Python operator in front of the rules
    only to compute the key (one more Java -> Python -> Java trip per reading). SQL already
    has the key, so the rows are handed over in the shape that operator would produce,
    ``Row(key, value)``, and partitioned by its first field with the Java selector PyFlink's
    own ``key_by`` uses (``KeyByKeySelector``).
    """
    rows = t_env.to_append_stream(keyed_rows, Types.ROW([Types.STRING(), READING_TYPE]))
    j_keyed = rows._j_data_stream.keyBy(
        get_gateway().jvm.KeyByKeySelector(), Types.ROW([Types.STRING()]).get_java_type_info()
    )
    return KeyedStream(j_keyed, READING_TYPE, rows)


def interval_sql(ms: int) -> str:
    """A Flink SQL day-time interval literal of ``ms`` milliseconds."""
    seconds, millis = divmod(ms, 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    literal = f"{days} {hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"
    return f"INTERVAL '{literal}' DAY TO SECOND(3)"


def define_pipeline(
    t_env: StreamTableEnvironment,
    readings: Table,
    *,
    source_topic: str,
    defaults: Rules,
    overrides: Mapping[str, Rules],
    allowed_lateness_ms: int,
    state_ttl_s: int,
    parallelism: int = 1,
) -> Outputs:
    """Build the alerts, aggregates, dead letters and late readings from raw ``readings``."""
    t_env.create_temporary_view("raw_readings", readings)
    t_env.create_temporary_view("checked", validated_once(t_env, t_env.sql_query(f"""
        SELECT msg_key, payload, rowtime,
          {validation.reason_sql()} AS reason,
          {validation.typed_fields_sql()}
        FROM (SELECT *, {validation.wrapped_fields_sql()} FROM raw_readings)""")))
    dead_letters = t_env.sql_query(f"""
        SELECT msg_key, reason, {validation.payload_columns_sql()},
          '{source_topic}' AS source_topic,
          CAST(UNIX_TIMESTAMP() AS BIGINT) * 1000 AS failed_at
        FROM checked WHERE reason IS NOT NULL""")
    t_env.create_temporary_view("valid", t_env.sql_query("""
        SELECT msg_key, payload, sensor_id, site, ts, temperature_c, seq, rowtime, proctime
        FROM checked WHERE reason IS NULL"""))
    behind = f"rowtime < CURRENT_WATERMARK(rowtime) - {interval_sql(allowed_lateness_ms)}"
    late = t_env.sql_query(f"""
        SELECT msg_key, sensor_id, site, ts, temperature_c, seq,
          UNIX_TIMESTAMP(CAST(CURRENT_WATERMARK(rowtime) AS STRING)) * 1000
            + EXTRACT(MILLISECOND FROM CURRENT_WATERMARK(rowtime)) AS watermark_ms,
          {validation.payload_columns_sql()}
        FROM valid WHERE CURRENT_WATERMARK(rowtime) IS NOT NULL AND {behind}""")
    t_env.create_temporary_view("on_time", t_env.sql_query(f"""
        SELECT sensor_id, site, ts, temperature_c, seq, rowtime, proctime FROM valid
        WHERE CURRENT_WATERMARK(rowtime) IS NULL OR NOT ({behind})"""))
    # A legacy group window because only it honours allowed lateness: the job config sets
    # table.exec.emit.allow-lateness + late-fire, so a reading within the lateness updates
    # its closed minute (an update of the same key) instead of being dropped. The window's
    # lateness is ALLOWED_LATENESS_MS + 1 ms (alerts.job.window_allowed_lateness_ms), so it
    # keeps exactly the readings of on_time, up to the last millisecond of a minute.
    aggregates = t_env.sql_query(f"""
        SELECT sensor_id, MAX(site) AS site,
          MIN(ts) - MOD(MIN(ts), {WINDOW_MS}) AS window_start,
          MIN(ts) - MOD(MIN(ts), {WINDOW_MS}) + {WINDOW_MS} AS window_end,
          COUNT(*) AS `count`, MIN(temperature_c) AS `min`, AVG(temperature_c) AS `avg`,
          MAX(temperature_c) AS `max`
        FROM (
          SELECT *, ROW_NUMBER() OVER (
            PARTITION BY sensor_id, seq ORDER BY proctime ASC) AS rn
          FROM on_time)
        WHERE rn = 1
        GROUP BY sensor_id, TUMBLE(rowtime, INTERVAL '1' MINUTE)""")

    alert_stream = (
        keyed_by_sensor(t_env, t_env.sql_query(
            "SELECT sensor_id, ROW(sensor_id, site, ts, temperature_c, seq) FROM on_time"))
        .process(
            RulesFunction(defaults, overrides, state_ttl_s, allowed_lateness_ms),
            output_type=Types.ROW_NAMED(list(ALERT_FIELDS), list(ALERT_TYPES)),
        )
        .uid("alert-rules")
        .name("alert rules (Python)")
        .set_parallelism(parallelism)
    )
    alerts = t_env.from_data_stream(alert_stream)
    return Outputs(alerts=alerts, aggregates=aggregates, dead_letters=dead_letters, late=late)
