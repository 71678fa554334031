package io.iotstack.alerts;

import java.time.Instant;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.functions.ScalarFunction;
import org.apache.flink.types.Row;

/**
 * {@code CHECK_READING(payload, record_time, max_ts_ahead_ms)}: a reading's message parsed
 * once and checked ({@link Reading}), as {@code ROW<reason, sensor_id, site, ts,
 * temperature_c, seq>}. {@code reason} is NULL for a valid reading, whose fields are then
 * set; for any other message it is the first reason of docs/contracts.md that applies and the
 * fields are NULL. A {@code ts} more than {@code max_ts_ahead_ms} after {@code record_time}
 * (the Kafka record's timestamp; NULL: no such check) is out of range.
 */
public final class CheckReading extends ScalarFunction {

    public static final String ROW_TYPE = "ROW<reason STRING, sensor_id STRING, site STRING, "
            + "ts BIGINT, temperature_c DOUBLE, seq BIGINT>";

    @DataTypeHint(ROW_TYPE)
    public Row eval(
            String payload,
            @DataTypeHint("TIMESTAMP_LTZ(3)") Instant recordTime,
            Long maxTsAheadMs) {
        Long recordMs = recordTime == null ? null : recordTime.toEpochMilli();
        Reading r = Reading.check(payload, recordMs, maxTsAheadMs == null ? 0L : maxTsAheadMs);
        if (r.reason != null) {
            return Row.of(r.reason, null, null, null, null, null);
        }
        return Row.of(null, r.sensorId, r.site, r.ts, r.temperatureC, r.seq);
    }

    /**
     * Declared non-deterministic (its result depends only on its arguments) so that it runs
     * once per message: Flink's planner merges two projections only if every
     * non-deterministic expression of the lower one is used at most once by the upper one
     * (FlinkProjectMergeRule, FlinkCalcMergeRule), so the projection that computes the row
     * is never merged into one that reads several of its fields, which would call this
     * function once per field. The job's plan is checked for one call (test_alerts_job.py).
     */
    @Override
    public boolean isDeterministic() {
        return false;
    }
}
