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
 *
 * <p>The accumulator ({@link State}) is a {@code RAW} type written field by field by {@link
 * SensorRulesStateSerializer}: as a structured type it was converted to and from Flink's
 * internal rows at every reading, and RocksDB serialized those rows again.
 */
@FunctionHint(
        input = {
            @DataTypeHint("BIGINT"), @DataTypeHint("DECIMAL(7, 2)"), @DataTypeHint("STRING"),
            @DataTypeHint("BIGINT"), @DataTypeHint("BIGINT"), @DataTypeHint("BIGINT"),
            @DataTypeHint("BIGINT"), @DataTypeHint("BIGINT"), @DataTypeHint("BIGINT")
        },
        accumulator =
                @DataTypeHint(
                        value = "RAW",
                        bridgedTo = SensorRules.State.class,
                        rawSerializer = SensorRulesStateSerializer.class),
        output =
                @DataTypeHint(
                        "ROW<applied BOOLEAN, prev_ts BIGINT, prev_site STRING,"
                                + " hi_open BOOLEAN, hi_close BOOLEAN, hi_at BIGINT,"
                                + " hi_x DECIMAL(7, 2), hi_site STRING,"
                                + " lo_open BOOLEAN, lo_close BOOLEAN, lo_at BIGINT,"
                                + " lo_x DECIMAL(7, 2), lo_site STRING,"
                                + " rt_open BOOLEAN, rt_close BOOLEAN, rt_at BIGINT,"
                                + " rt_x DECIMAL(8, 2), rt_site STRING>"))
public final class SensorRules extends AggregateFunction<Row, SensorRules.State> {

    /** No decisive reading yet (high, low) or no applied reading yet (rate). */
    static final int UNDECIDED = -1;

    static final int OPEN = 1;
    static final int CLOSE = 2;

    /** One rule's alert: its state and, while open, its episode's start, value and site. */
    public static final class Episode {
        /** 1 open, 0 closed, {@link #UNDECIDED}. */
        public int state = UNDECIDED;
        public long at;
        /** Hundredths: the reading (threshold rules) or the spread (rate). */
        public long x;
        public String site;

        /**
         * Moves to {@code now} after a reading at {@code ts}: {@link #OPEN} if the alert opens
         * (the episode is then this reading's), {@link #CLOSE} if an open one resolves, else 0.
         */
        int step(int now, long ts, long value, String readingSite) {
            int before = state;
            state = now;
            if (now == 1 && before != 1) {
                at = ts;
                x = value;
                site = readingSite;
                return OPEN;
            }
            return now == 0 && before == 1 ? CLOSE : 0;
        }
    }

    /** One sensor's rules state, and what its last reading did ({@code step*}). */
    public static final class State {
        /** Readings applied so far (0: none; {@code newestTs} is then meaningless). */
        public long applied;
        public long newestTs;
        /** The newest applied reading's site (the silence after it carries it). */
        public String newestSite;
        public Episode hi = new Episode();
        public Episode lo = new Episode();
        public Episode rt = new Episode();
        /** The rate window's max candidates (values decreasing) and min candidates. */
        public long[] maxTs = new long[0];
        public long[] maxV = new long[0];
        public long[] minTs = new long[0];
        public long[] minV = new long[0];
        /** The last reading: applied or not, the applied reading before it, its moves. */
        public boolean stepApplied;
        public long stepPrevTs;
        public String stepPrevSite;
        public boolean stepHasPrev;
        /** Each rule's move in two bits: high, low {@code << 2}, rate {@code << 4}. */
        public int stepMoves;
    }

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
        s.stepPrevSite = s.newestSite;
        s.applied++;
        s.newestTs = ts;
        s.newestSite = site;

        int hi = value > highC ? 1 : value < highBackC ? 0 : s.hi.state;
        int lo = value < lowC ? 1 : value > lowBackC ? 0 : s.lo.state;
        long spread = slide(s, ts, value, ts - windowMs);
        s.stepMoves = s.hi.step(hi, ts, value, site)
                | s.lo.step(lo, ts, value, site) << 2
                | s.rt.step(spread > rateC ? 1 : 0, ts, spread, site) << 4;
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
        boolean prev = s.stepApplied && s.stepHasPrev;
        return Row.join(
                Row.of(s.stepApplied, prev ? s.stepPrevTs : null, prev ? s.stepPrevSite : null),
                moved(s.hi, s.stepMoves), moved(s.lo, s.stepMoves >> 2),
                moved(s.rt, s.stepMoves >> 4));
    }

    /** {@code <rule>_open, _close, _at, _x, _site} of one rule ({@code moves}: its 2 bits). */
    private static Row moved(Episode e, int moves) {
        return Row.of((moves & OPEN) != 0, (moves & CLOSE) != 0, e.at,
                BigDecimal.valueOf(e.x, 2), e.site);
    }
}
