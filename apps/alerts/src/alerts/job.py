"""The alerts job: Kafka readings -> :func:`alerts.pipeline.define_pipeline` -> Kafka topics.

It writes only Kafka: alert events, one-minute aggregates (an upsert stream keyed by the
document id), dead letters and late readings. The indexer (apps/dashboard) ships the alerts
and aggregates topics into Elasticsearch; Flink has no Elasticsearch connector.

Settings come from the environment (:mod:`alerts.config`), read when the job is submitted.

Run against a local session cluster (connector jars on its class path), after building the
job's Java functions next to this module (the image does it; the tests do it for you)::

    apps/alerts/java/build.sh apps/alerts/src/alerts/alerts-functions.jar
    READINGS_TOPIC=readings flink run -m 127.0.0.1:8081 -d -pym alerts.job

In the stack the ``alerts`` image's entrypoint (``submit`` mode, :mod:`alerts.submit`)
submits it the same way once the JobManager answers, so it shows in the Flink UI.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import zipfile
from pathlib import Path

from pyflink.common import Configuration
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.table import StatementSet, StreamTableEnvironment, Table

from alerts import config as cfg_mod
from alerts.pipeline import define_pipeline
from alerts.validation import interval_sql

LOG = logging.getLogger("alerts.job")
PACKAGE_DIR = Path(__file__).resolve().parent
FUNCTIONS_JAR = PACKAGE_DIR / "alerts-functions.jar"
# Timers cached on the heap per key group when the state is on RocksDB (Flink's
# state.backend.rocksdb.timer-service.cache-size, default 128; the job has 128 key groups).
# 4,096 holds every timer of 100,000 sensors (~300,000 in a heap histogram, ~2,350 per
# key group), where the drain went from 37,689 to 42,253 readings/s on average
# (apps/alerts/README.md, "Benchmark"). The heap it may take is bounded: at most 4,096 x 128
# timers per timer service, whatever the number of sensors. All timers on the heap
# (state.backend.rocksdb.timer-service.factory: HEAP) were faster still, and unbounded.
ROCKSDB_TIMER_CACHE = 4096


class JarMissing(RuntimeError):
    """The job's Java functions (apps/alerts/java) were not built."""


def functions_jar() -> Path:
    """The jar of the job's Java functions, next to this module; shipped with the job."""
    if not FUNCTIONS_JAR.is_file():
        raise JarMissing(
            f"{FUNCTIONS_JAR} is missing: build it with apps/alerts/java/build.sh {FUNCTIONS_JAR}"
        )
    return FUNCTIONS_JAR


def _quote(value: str) -> str:
    return value.replace("'", "''")


def _kafka(cfg: cfg_mod.Config) -> str:
    return (
        f"'connector' = 'kafka', 'properties.bootstrap.servers' = "
        f"'{_quote(cfg.bootstrap_servers)}'"
    )


def _upsert_kafka(cfg: cfg_mod.Config) -> str:
    return (
        f"'connector' = 'upsert-kafka', 'properties.bootstrap.servers' = "
        f"'{_quote(cfg.bootstrap_servers)}'"
    )


def aggregates_with_doc_id(t_env: StreamTableEnvironment, aggregates: Table) -> Table:
    """``aggregates`` with their document id ``<sensor_id>:<window_start>`` in front."""
    t_env.create_temporary_view("aggregates", aggregates)
    return t_env.sql_query(
        "SELECT sensor_id || ':' || CAST(window_start AS STRING) AS doc_id, "
        "sensor_id, site, window_start, window_end, `count`, `min`, `avg`, `max` "
        "FROM aggregates"
    )


def create_tables(t_env: StreamTableEnvironment, cfg: cfg_mod.Config) -> None:
    """The Kafka source and the Kafka sink tables.

    The source's watermark follows ``LEAST(rowtime, record_time)``: no message moves event
    time past its Kafka record's timestamp (the producer's clock, or the broker's with
    LogAppendTime). A reading from a clock far ahead (a valid ``ts`` up to year 9999) used
    to move the watermark there, and every later reading of every sensor went to the late
    topic; such a reading is now also dead-lettered (``MAX_TS_AHEAD_MS``, validation).
    """
    from alerts.validation import event_time_ms_sql, register_functions

    register_functions(t_env)  # READING_EVENT_TIME, the event-time column
    t_env.execute_sql(f"""
        CREATE TEMPORARY TABLE kafka_readings (
          msg_key BYTES,
          payload STRING,
          record_time TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
          rowtime AS TO_TIMESTAMP_LTZ({event_time_ms_sql()}, 3),
          WATERMARK FOR rowtime AS
            LEAST(rowtime, record_time) - {interval_sql(cfg.out_of_orderness_ms)}
        ) WITH ({_kafka(cfg)},
          'topic' = '{cfg.readings_topic}',
          'properties.group.id' = '{cfg.group_id}',
          'scan.startup.mode' = 'group-offsets',
          'properties.auto.offset.reset' = 'earliest',
          'properties.partition.discovery.interval.ms' = '60000',
          'key.format' = 'raw', 'key.fields' = 'msg_key',
          'value.format' = 'raw', 'value.fields-include' = 'EXCEPT_KEY')""")
    t_env.execute_sql(f"""
        CREATE TEMPORARY TABLE kafka_dead_letters (
          msg_key BYTES, reason STRING, payload STRING, payload_truncated BOOLEAN,
          payload_chars INT, source_topic STRING, failed_at BIGINT
        ) WITH ({_kafka(cfg)}, 'topic' = '{cfg.dead_letter_topic}',
          'key.format' = 'raw', 'key.fields' = 'msg_key',
          'value.format' = 'json', 'value.fields-include' = 'EXCEPT_KEY',
          'sink.delivery-guarantee' = 'at-least-once')""")
    t_env.execute_sql(f"""
        CREATE TEMPORARY TABLE kafka_late (
          msg_key BYTES, sensor_id STRING, site STRING, ts BIGINT, temperature_c DOUBLE,
          seq BIGINT, watermark_ms BIGINT, payload STRING, payload_truncated BOOLEAN,
          payload_chars INT
        ) WITH ({_kafka(cfg)}, 'topic' = '{cfg.late_topic}',
          'key.format' = 'raw', 'key.fields' = 'msg_key',
          'value.format' = 'json', 'value.fields-include' = 'EXCEPT_KEY',
          'sink.delivery-guarantee' = 'at-least-once')""")
    alert_columns = """
          alert_id STRING, sensor_id STRING, site STRING, `rule` STRING, severity STRING,
          status STRING, `value` DOUBLE, threshold DOUBLE, started_at BIGINT,
          resolved_at BIGINT, updated_at BIGINT, message STRING"""
    t_env.execute_sql(f"""
        CREATE TEMPORARY TABLE kafka_alerts ({alert_columns}) WITH ({_kafka(cfg)},
          'topic' = '{cfg.alerts_topic}',
          'key.format' = 'raw', 'key.fields' = 'sensor_id',
          'value.format' = 'json', 'value.fields-include' = 'ALL',
          'sink.delivery-guarantee' = 'at-least-once')""")
    # The aggregates are an updating stream (a minute re-emits for each reading within the
    # allowed lateness): upsert-kafka writes each change as the latest value of its key, the
    # document id as raw UTF-8 (the key of a compacted topic; the indexer's document _id).
    # upsert-kafka's key is the primary key, and the raw format takes one column: so the
    # key is doc_id, which is (sensor_id, window_start) written as one string.
    t_env.execute_sql(f"""
        CREATE TEMPORARY TABLE kafka_aggregates (
          doc_id STRING, sensor_id STRING, site STRING, window_start BIGINT, window_end BIGINT,
          `count` BIGINT, `min` DOUBLE, `avg` DOUBLE, `max` DOUBLE,
          PRIMARY KEY (doc_id) NOT ENFORCED
        ) WITH ({_upsert_kafka(cfg)}, 'topic' = '{cfg.aggregates_topic}',
          'key.format' = 'raw',
          'value.format' = 'json', 'value.fields-include' = 'EXCEPT_KEY',
          'sink.delivery-guarantee' = 'at-least-once')""")


def job_configuration(cfg: cfg_mod.Config) -> Configuration:
    """Checkpointing, restart strategy, state TTL, watermarks and mini-batches."""
    conf = Configuration()
    for key, value in {
        "pipeline.name": cfg.job_name,
        "parallelism.default": str(cfg.parallelism),
        "execution.checkpointing.interval": f"{cfg.checkpoint_interval_ms}ms",
        "execution.checkpointing.mode": "EXACTLY_ONCE",
        "execution.checkpointing.min-pause": f"{min(cfg.checkpoint_interval_ms, 5000) // 2}ms",
        "execution.checkpointing.timeout": "10min",
        # Keep the last checkpoint when the job is cancelled: it can be restored with -s.
        "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
        # STATE_BACKEND (default rocksdb): RocksDB (bundled in flink-dist, off the JVM heap,
        # in managed memory and on local disk) with incremental checkpoints, which write
        # only the files changed since the last one; or the heap (hashmap), about twice
        # as fast at 1,000 sensors but slower at 100,000 (apps/alerts/README.md,
        # "Benchmark"), every checkpoint a full copy, and the state must fit the
        # TaskManager's heap (an earlier version's state of 100,000 sensors did not:
        # OutOfMemoryError, restarts).
        "state.backend.type": cfg.state_backend,
        "execution.checkpointing.incremental": str(cfg.state_backend == "rocksdb").lower(),
        # On RocksDB the timers live in RocksDB too, behind a cache of the earliest ones per
        # key group (Flink's default: 128 of them). SENSOR_RULES' timers per sensor: the
        # silence's, the pending minutes' and one per emitted minute until it is forgotten,
        # about three registrations a minute; one in the cache costs nothing, one outside it
        # is a RocksDB write. See ROCKSDB_TIMER_CACHE.
        "state.backend.rocksdb.timer-service.cache-size": str(ROCKSDB_TIMER_CACHE),
        "restart-strategy.type": "exponential-delay",
        "restart-strategy.exponential-delay.initial-backoff": "1s",
        "restart-strategy.exponential-delay.max-backoff": "1min",
        "pipeline.auto-watermark-interval": "200ms",
        # Records pass between chained operators without a defensive copy. Flink's option
        # text: objects are reused when handed to user code, which must then not keep or
        # modify its inputs. Ours do neither (the Java functions keep only primitives and
        # immutable strings and decimals; the Python ones get serialized copies). The copies
        # were a quarter of the TaskManager's sampled CPU; the drain went 24,497 -> 31,773/s.
        "pipeline.object-reuse": "true",
        # SQL state (the rules, the silence timer) expires after STATE_TTL_S without access.
        "table.exec.state.ttl": f"{cfg.state_ttl_s}s",
        "table.exec.source.idle-timeout": f"{cfg.idle_timeout_ms}ms",
        # No mini-batches: their assigner replaces event-time watermarks with processing-time
        # ones, which would make CURRENT_WATERMARK (the late split) meaningless.
        "table.exec.mini-batch.enabled": "false",
        # The aggregates arrive insert-only from SENSOR_RULES (a minute emitted again is a new
        # row of the same doc_id), a key's rows in order (one sensor's minutes come from one
        # subtask), so no materializer.
        "table.exec.sink.upsert-materialize": "NONE",
        "table.local-time-zone": "UTC",
        # Python bundles (only the alert events cross to Python, for value and message):
        # flushed every 100 ms (bounds the alert latency) or 10k records.
        "python.fn-execution.bundle.time": "100",
        "python.fn-execution.bundle.size": "10000",
    }.items():
        conf.set_string(key, value)
    return conf


def _package_zip() -> Path:
    """The alerts package as a zip (the workers put it on their PYTHONPATH)."""
    target = Path(tempfile.mkdtemp(prefix="alerts-job-")) / "alerts.zip"
    with zipfile.ZipFile(target, "w") as zf:
        for path in sorted(PACKAGE_DIR.glob("*.py")):
            zf.write(path, f"alerts/{path.name}")
    return target


def environments(
    cfg: cfg_mod.Config, *jars: str
) -> tuple[StreamExecutionEnvironment, StreamTableEnvironment]:
    """A new stream environment with the job's configuration and ``jars`` (URIs: loaded
    for planning and shipped with the job), and its table environment configured alike."""
    conf = job_configuration(cfg)
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    env.add_jars(*jars)
    t_env = StreamTableEnvironment.create(env)
    for key, value in conf.to_dict().items():
        t_env.get_config().set(key, value)
    return env, t_env


def build(cfg: cfg_mod.Config) -> StreamExecutionEnvironment:
    """Define the whole job on a new environment; the caller executes it."""
    env, t_env = environments(cfg, functions_jar().as_uri())
    env.add_python_file(str(_package_zip()))  # ship the alerts package to the Python workers
    define_job(t_env, cfg).attach_as_datastream()
    return env


def define_job(t_env: StreamTableEnvironment, cfg: cfg_mod.Config) -> StatementSet:
    """The job's tables, pipeline and inserts on ``t_env`` (the functions jar loaded)."""
    create_tables(t_env, cfg)
    outputs = define_pipeline(
        t_env,
        t_env.from_path("kafka_readings"),
        source_topic=cfg.readings_topic,
        defaults=cfg.rules,
        overrides=cfg.sensor_rules,
        allowed_lateness_ms=cfg.allowed_lateness_ms,
        max_ts_ahead_ms=cfg.max_ts_ahead_ms,
    )
    statements = t_env.create_statement_set()
    statements.add_insert("kafka_dead_letters", outputs.dead_letters)
    statements.add_insert("kafka_late", outputs.late)
    statements.add_insert("kafka_aggregates", aggregates_with_doc_id(t_env, outputs.aggregates))
    statements.add_insert("kafka_alerts", outputs.alerts)
    return statements


def main() -> int:
    """Read the settings, define the job and submit it (detached under ``flink run -d``)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        cfg = cfg_mod.load(os.environ)
        functions_jar()
    except (cfg_mod.ConfigError, JarMissing) as exc:
        sys.stderr.write(f"alerts job: {exc}\n")
        return 2
    LOG.info("settings: %s", {k: v for k, v in vars(cfg).items() if "password" not in k})
    env = build(cfg)
    env.execute(cfg.job_name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
