package io.iotstack.alerts;

import java.math.BigDecimal;
import java.util.Arrays;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.functions.AggregateFunction;
import org.apache.flink.types.Row;

/**
 * The threshold and rate rules of one sensor, applied reading by reading in arrival order.
 *
 * <p>Used as {@code SENSOR_RULES(ts, t2, site, high_c, high_back_c, low_c, low_back_c, rate_c,
 * 60000) OVER (PARTITION BY sensor_id ORDER BY proctime)} (alerts.sql_rules): one stage and one
 * state read and write per reading, where the same rules as a chain of SQL {@code OVER} windows
 * took five stages (each behind its own exchange, each with its own state). The result says
 * what this reading did; SQL turns it into alert events, and runs the silence rule's timer.
 *
 * <p>Semantics (the executable specification is {@code alerts.rules.on_reading}):
 *
 * <ul>
 *   <li>A reading is <em>applied</em> if its {@code ts} is newer than every earlier reading of
 *       the sensor; any other reading (a duplicate, an out-of-order one) changes nothing.
 *   <li>Temperatures are hundredths ({@code t2}: {@code DECIMAL(7, 2)}, exact). The thresholds
 *       arrive as whole hundredths chosen so that the comparisons below are exactly the
 *       decimal ones: {@code high_c = floor(100 * high)} (above: {@code t2c > high_c}, i.e.
 *       {@code t2 > high}), {@code high_back_c = ceil(100 * (high - hysteresis))} (back:
 *       {@code t2c < high_back_c}), {@code low_c = ceil(100 * low)} (below: {@code t2c <
 *       low_c}), {@code low_back_c = floor(100 * (low + hysteresis))} (back: {@code t2c >
 *       low_back_c}), {@code rate_c = floor(100 * rate)} (open: spread {@code > rate_c}).
 *   <li>high: a reading above is decisive "open", a reading back is decisive "closed", one in
 *       between decides nothing. The alert opens where the last decisive reading turns to
 *       "open" and resolves where it turns to "closed". low mirrors it.
 *   <li>rate: spread = max - min of the applied readings with {@code ts} in {@code [ts -
 *       window_ms, ts]} (both ends inclusive), kept as two monotonic queues of candidates
 *       ({@code alerts.rules._slide}). Open iff spread > rate; opens and resolves where that
 *       changes.
 * </ul>
 */
@FunctionHint(
        input = {
            @DataTypeHint("BIGINT"), @DataTypeHint("DECIMAL(7, 2)"), @DataTypeHint("STRING"),
            @DataTypeHint("BIGINT"), @DataTypeHint("BIGINT"), @DataTypeHint("BIGINT"),
            @DataTypeHint("BIGINT"), @DataTypeHint("BIGINT"), @DataTypeHint("BIGINT")
        },
        output =
                @DataTypeHint(
                        "ROW<applied BOOLEAN, prev_ts BIGINT,"
                                + " hi_open BOOLEAN, hi_close BOOLEAN, hi_at BIGINT,"
                                + " hi_x DECIMAL(7, 2), hi_site STRING,"
                                + " lo_open BOOLEAN, lo_close BOOLEAN, lo_at BIGINT,"
                                + " lo_x DECIMAL(7, 2), lo_site STRING,"
                                + " rt_open BOOLEAN, rt_close BOOLEAN, rt_at BIGINT,"
                                + " rt_x DECIMAL(8, 2), rt_site STRING>"))
public final class SensorRules extends AggregateFunction<Row, SensorRules.State> {

    /** No decisive reading yet (high, low) or no applied reading yet (rate). */
    static final int UNDECIDED = -1;

    /** One sensor's rules state, and what its last reading did ({@code step*}). */
    public static final class State {
        /** Readings applied so far (0: none; {@code newestTs} is then meaningless). */
        public long applied;
        public long newestTs;
        /** 1 open, 0 closed, {@link #UNDECIDED}. */
        public int hi = UNDECIDED;
        public int lo = UNDECIDED;
        public int rt = UNDECIDED;
        /** The open episodes' start, value (hundredths) and site. */
        public long hiAt;
        public long hiX;
        public String hiSite;
        public long loAt;
        public long loX;
        public String loSite;
        public long rtAt;
        public long rtX;
        public String rtSite;
        /** The rate window's max candidates (values decreasing) and min candidates. */
        public long[] maxTs = new long[0];
        public long[] maxV = new long[0];
        public long[] minTs = new long[0];
        public long[] minV = new long[0];
        /** The last reading: applied or not, the applied reading before it, its moves. */
        public boolean stepApplied;
        public long stepPrevTs;
        public boolean stepHasPrev;
        public int stepMoves;
    }

    static final int HI_OPEN = 1;
    static final int HI_CLOSE = 2;
    static final int LO_OPEN = 4;
    static final int LO_CLOSE = 8;
    static final int RT_OPEN = 16;
    static final int RT_CLOSE = 32;

    @Override
    public State createAccumulator() {
        return new State();
    }

    /** Applies one reading (a NULL argument: not applied, nothing changes). */
    public void accumulate(
            State s, Long ts, BigDecimal t2, String site, Long highC, Long highBackC, Long lowC,
            Long lowBackC, Long rateC, Long windowMs) {
        s.stepMoves = 0;
        s.stepApplied = false;
        if (ts == null || t2 == null || highC == null || highBackC == null || lowC == null
                || lowBackC == null || rateC == null || windowMs == null
                || (s.applied > 0 && ts <= s.newestTs)) {
            return;
        }
        long value = t2.movePointRight(2).longValueExact();
        s.stepApplied = true;
        s.stepHasPrev = s.applied > 0;
        s.stepPrevTs = s.newestTs;
        s.applied++;
        s.newestTs = ts;

        int hi = value > highC ? 1 : value < highBackC ? 0 : s.hi;
        if (hi == 1 && s.hi != 1) {
            s.stepMoves |= HI_OPEN;
            s.hiAt = ts;
            s.hiX = value;
            s.hiSite = site;
        } else if (hi == 0 && s.hi == 1) {
            s.stepMoves |= HI_CLOSE;
        }
        s.hi = hi;

        int lo = value < lowC ? 1 : value > lowBackC ? 0 : s.lo;
        if (lo == 1 && s.lo != 1) {
            s.stepMoves |= LO_OPEN;
            s.loAt = ts;
            s.loX = value;
            s.loSite = site;
        } else if (lo == 0 && s.lo == 1) {
            s.stepMoves |= LO_CLOSE;
        }
        s.lo = lo;

        long spread = slide(s, ts, value, ts - windowMs);
        int rt = spread > rateC ? 1 : 0;
        if (rt == 1 && s.rt != 1) {
            s.stepMoves |= RT_OPEN;
            s.rtAt = ts;
            s.rtX = spread;
            s.rtSite = site;
        } else if (rt == 0 && s.rt == 1) {
            s.stepMoves |= RT_CLOSE;
        }
        s.rt = rt;
    }

    /** Adds {@code (ts, value)} to the rate window and returns the spread (hundredths). */
    private static long slide(State s, long ts, long value, long oldest) {
        long[][] max = push(s.maxTs, s.maxV, ts, value, oldest, true);
        long[][] min = push(s.minTs, s.minV, ts, value, oldest, false);
        s.maxTs = max[0];
        s.maxV = max[1];
        s.minTs = min[0];
        s.minV = min[1];
        return s.maxV[0] - s.minV[0];
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
    public Row getValue(State s) {
        int m = s.stepMoves;
        return Row.of(
                s.stepApplied,
                s.stepApplied && s.stepHasPrev ? s.stepPrevTs : null,
                (m & HI_OPEN) != 0, (m & HI_CLOSE) != 0, s.hiAt, hundredths(s.hiX),
                s.hiSite,
                (m & LO_OPEN) != 0, (m & LO_CLOSE) != 0, s.loAt, hundredths(s.loX),
                s.loSite,
                (m & RT_OPEN) != 0, (m & RT_CLOSE) != 0, s.rtAt, hundredths(s.rtX),
                s.rtSite);
    }

    private static BigDecimal hundredths(long value) {
        return BigDecimal.valueOf(value, 2);
    }
}
