"""Smoke job for the harness: Kafka topic -> Python UDF -> Kafka topic.

Run by tests/test_harness_smoke.py as
``flink run -m HOST:PORT -d -py tests/smoke_job.py BOOTSTRAP IN_TOPIC OUT_TOPIC``.
The stack's Flink has only the Kafka connector (the job writes Kafka; the indexer writes
Elasticsearch), so the smoke job does too.
"""

import sys

from pyflink.table import DataTypes, EnvironmentSettings, TableEnvironment
from pyflink.table.udf import udf


@udf(result_type=DataTypes.STRING())
def label(temperature_c: float) -> str:
    """A Python function evaluated in the TaskManager's Python worker."""
    return "hot" if temperature_c > 50 else "ok"


def main(bootstrap: str, in_topic: str, out_topic: str) -> None:
    """Define and submit the job."""
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    t_env.create_temporary_function("label", label)
    t_env.execute_sql(f"""
        CREATE TABLE readings (id STRING, temperature_c DOUBLE) WITH (
          'connector' = 'kafka', 'topic' = '{in_topic}',
          'properties.bootstrap.servers' = '{bootstrap}',
          'properties.group.id' = 'smoke-{in_topic}',
          'scan.startup.mode' = 'earliest-offset', 'format' = 'json')""")
    t_env.execute_sql(f"""
        CREATE TABLE labelled (id STRING, temperature_c DOUBLE, label STRING) WITH (
          'connector' = 'kafka', 'topic' = '{out_topic}',
          'properties.bootstrap.servers' = '{bootstrap}',
          'key.format' = 'raw', 'key.fields' = 'id',
          'value.format' = 'json', 'value.fields-include' = 'ALL')""")
    t_env.execute_sql(
        "INSERT INTO labelled SELECT id, temperature_c, label(temperature_c) FROM readings"
    )


if __name__ == "__main__":
    main(*sys.argv[1:4])
