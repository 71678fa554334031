package io.iotstack.alerts;

import java.util.Arrays;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.api.dataview.MapView;
import org.apache.flink.table.functions.AggregateFunction;
import org.apache.flink.types.Row;

/**
 * One sensor's one-minute aggregate, each reading counted once: {@code MINUTE_STATS(seq, ts,
 * temperature_c, site)} in the job's {@code GROUP BY sensor_id, TUMBLE(rowtime, ...)}
 * (alerts.pipeline).
 *
 * <p>Copies of a reading (the same {@code seq} and {@code ts}; the sensor is the group's key)
 * count once, the first to arrive: the window sees a sensor's readings in Kafka order. A copy
 * always falls in the same minute as the first (same {@code ts}), so the minute's own state is
 * enough: the {@code (ts, seq)} pairs seen, in a {@link MapView} (keyed state, looked up for a
 * reading not newer than every one counted), dropped with the window. The same values as the
 * SQL aggregates over the de-duplicated readings: {@code MAX(site)} (code point order, as
 * Flink compares strings), {@code MIN(ts)}, {@code COUNT(*)}, {@code MIN}, {@code AVG} (the
 * sum in arrival order divided by the count) and {@code MAX} of {@code temperature_c}
 * (compared with {@code <} and {@code >}).
 */
@FunctionHint(
        input = {
            @DataTypeHint("BIGINT"), @DataTypeHint("BIGINT"), @DataTypeHint("DOUBLE"),
            @DataTypeHint("STRING")
        },
        output =
                @DataTypeHint(
                        "ROW<site STRING, first_ts BIGINT, `count` BIGINT, `min` DOUBLE,"
                                + " `avg` DOUBLE, `max` DOUBLE>"))
public final class MinuteStats extends AggregateFunction<Row, MinuteStats.Acc> {

    /** The minute so far. */
    public static final class Acc {
        /** {@code ts} -> the {@code seq}s counted at it. */
        public MapView<Long, long[]> seen = new MapView<>();

        public long count;
        public double sum;
        public double min;
        public double max;
        public long firstTs;
        /** The newest ts counted. */
        public long lastTs;
        public String site;
    }

    @Override
    public Acc createAccumulator() {
        return new Acc();
    }

    /** Counts one reading, unless a copy of it was counted (a NULL argument: not counted). */
    public void accumulate(Acc acc, Long seq, Long ts, Double temperature, String site)
            throws Exception {
        if (seq == null || ts == null || temperature == null || site == null) {
            return;
        }
        // A reading newer than every one counted has no copy counted: no lookup (readings
        // mostly arrive in ts order, so this saves a state read for most of them).
        long[] seqs = acc.count > 0 && ts <= acc.lastTs ? acc.seen.get(ts) : null;
        if (seqs == null) {
            seqs = new long[] {seq};
        } else {
            for (long counted : seqs) {
                if (counted == seq) {
                    return;
                }
            }
            seqs = Arrays.copyOf(seqs, seqs.length + 1);
            seqs[seqs.length - 1] = seq;
        }
        acc.seen.put(ts, seqs);
        double t = temperature;
        if (acc.count == 0) {
            acc.min = t;
            acc.max = t;
            acc.firstTs = ts;
            acc.site = site;
        } else {
            if (t < acc.min) {
                acc.min = t;
            }
            if (t > acc.max) {
                acc.max = t;
            }
            if (ts < acc.firstTs) {
                acc.firstTs = ts;
            }
            if (byCodePoint(site, acc.site) > 0) {
                acc.site = site;
            }
        }
        acc.count++;
        acc.sum += t;
        acc.lastTs = Math.max(acc.lastTs, ts);
    }

    /** Compares two strings by Unicode code points (UTF-8 byte order), not UTF-16 units. */
    static int byCodePoint(String a, String b) {
        int i = 0;
        int j = 0;
        while (i < a.length() && j < b.length()) {
            int ca = a.codePointAt(i);
            int cb = b.codePointAt(j);
            if (ca != cb) {
                return Integer.compare(ca, cb);
            }
            i += Character.charCount(ca);
            j += Character.charCount(cb);
        }
        return Integer.compare(a.length() - i, b.length() - j);
    }

    @Override
    public Row getValue(Acc acc) {
        if (acc.count == 0) {
            return null;
        }
        return Row.of(acc.site, acc.firstTs, acc.count, acc.min, acc.sum / acc.count, acc.max);
    }
}
