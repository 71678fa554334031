package io.iotstack.alerts;

import org.apache.flink.table.functions.ScalarFunction;

/**
 * {@code READING_EVENT_TIME(payload)}: the source's event time in epoch ms, the {@code ts} of
 * a valid reading ({@link Reading}), else 0, which never moves the watermark.
 *
 * <p>{@code MAX_TS_AHEAD_MS} is not checked here (a computed column cannot see the record's
 * timestamp): a reading refused only for it keeps its ts, and the source's watermark,
 * {@code LEAST(rowtime, record_time)}, still moves no further than its record's timestamp.
 */
public final class ReadingEventTime extends ScalarFunction {

    public long eval(String payload) {
        Reading r = Reading.check(payload, null, 0L);
        return r.reason == null ? r.ts : 0L;
    }
}
