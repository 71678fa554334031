package io.iotstack.alerts;

import java.math.BigDecimal;
import java.util.Arrays;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.functions.AggregateFunction;

/**
 * The rate-of-change rule's spread: max - min of a sensor's applied readings with {@code ts}
 * in {@code [ts - windowMs, ts]} (both ends inclusive), {@code ts} being the newest reading's.
 *
 * <p>Used as {@code RATE_SPREAD(ts, t2, 60000) OVER (PARTITION BY sensor_id ORDER BY
 * proctime)} on the applied readings, whose {@code ts} increases strictly per sensor in
 * arrival order (alerts.sql_rules). The accumulator keeps only the candidates for the max and
 * the min (two monotonic queues, as {@code alerts.rules._slide}, the executable
 * specification), so each reading costs one state read and one write, whatever the number of
 * readings in the window. Temperatures are hundredths ({@code DECIMAL(7, 2)}), exactly.
 */
@FunctionHint(
        input = {@DataTypeHint("BIGINT"), @DataTypeHint("DECIMAL(7, 2)"), @DataTypeHint("BIGINT")},
        output = @DataTypeHint("DECIMAL(8, 2)"))
public final class RateSpread extends AggregateFunction<BigDecimal, RateSpread.Queues> {

    /** Max candidates (values decreasing) and min candidates (increasing), oldest first. */
    public static final class Queues {
        public long[] maxTs = new long[0];
        public long[] maxV = new long[0];
        public long[] minTs = new long[0];
        public long[] minV = new long[0];
        public long newestTs = Long.MIN_VALUE;
    }

    @Override
    public Queues createAccumulator() {
        return new Queues();
    }

    /** Adds one reading; a NULL argument or a {@code ts} not newer than the last changes nothing. */
    public void accumulate(Queues q, Long ts, BigDecimal t2, Long windowMs) {
        if (ts == null || t2 == null || windowMs == null || ts <= q.newestTs) {
            return;
        }
        long value = t2.movePointRight(2).longValueExact();
        long oldest = ts - windowMs;
        long[][] max = push(q.maxTs, q.maxV, ts, value, oldest, true);
        long[][] min = push(q.minTs, q.minV, ts, value, oldest, false);
        q.maxTs = max[0];
        q.maxV = max[1];
        q.minTs = min[0];
        q.minV = min[1];
        q.newestTs = ts;
    }

    /**
     * The queue after {@code (ts, value)}: drops from the back the candidates it dominates
     * (for the max: values at most {@code value}), from the front those older than
     * {@code oldest}; the new reading itself is always kept.
     */
    private static long[][] push(
            long[] times, long[] values, long ts, long value, long oldest, boolean forMax) {
        int end = values.length;
        while (end > 0 && (forMax ? values[end - 1] <= value : values[end - 1] >= value)) {
            end--;
        }
        int start = 0;
        while (start < end && times[start] < oldest) {
            start++;
        }
        long[] newTimes = Arrays.copyOfRange(times, start, end + 1);
        long[] newValues = Arrays.copyOfRange(values, start, end + 1);
        newTimes[end - start] = ts;
        newValues[end - start] = value;
        return new long[][] {newTimes, newValues};
    }

    @Override
    public BigDecimal getValue(Queues q) {
        if (q.maxV.length == 0) {
            return null;
        }
        return BigDecimal.valueOf(q.maxV[0] - q.minV[0], 2);
    }
}
