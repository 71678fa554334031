package io.iotstack.alerts;

import java.io.IOException;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import org.apache.flink.metrics.Counter;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.table.annotation.ArgumentHint;
import org.apache.flink.table.annotation.ArgumentTrait;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.StateHint;
import org.apache.flink.table.api.dataview.MapView;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.ProcessTableFunction;
import org.apache.flink.types.Row;

/**
 * The rules and the one-minute aggregates of one sensor, applied reading by reading in
 * arrival order: threshold, rate and silence, and the minutes ({@link Minutes}), in one
 * process table function (Flink's PTF) with one state value per sensor.
 *
 * <p>Called from SQL (alerts.sql_rules) as {@code SENSOR_RULES(input => TABLE rules_input PARTITION
 * BY sensor_id, window_ms => 60000, lateness_ms => ..., rules => '...')}, where {@code rules_input}
 * has the columns {@code sensor_id, ts, site, temperature_c, seq} of each on-time reading and
 * {@code rules} is every sensor's parameters, one constant ({@link #params}: looked up here, so no
 * parameter crosses the exchange with each reading). It emits a row only where an alert opens or
 * resolves (a reading's row, or a silence timer's) and where a minute is due, so a normal reading
 * leaves the function without output; SQL turns each row into alert events or an aggregate. One
 * stage, one exchange and one state read and write per reading, where the rules took an {@code
 * OVER} aggregate and a second PTF for the silence timer (two exchanges, two state values), and
 * before that five {@code OVER} stages; and the minutes a legacy group window behind its own
 * exchange.
 *
 * <p>Semantics (the executable specification is {@code alerts.rules}):
 *
 * <ul>
 *   <li>A reading is <em>applied</em> if its {@code ts} is newer than every earlier reading of
 *       the sensor; any other reading (a duplicate, an out-of-order one) changes nothing.
 *   <li>Temperatures are hundredths ({@code t2}: {@code CAST(temperature_c AS DECIMAL(7,
 *       2))}, exact, computed here: {@link #hundredths}). The thresholds arrive as whole
 *       hundredths chosen so that the comparisons below are exactly the decimal ones:
 *       {@code high_c = floor(100 * high)} (above: {@code t2c > high_c}, i.e. {@code t2 >
 *       high}), {@code high_back_c = ceil(100 * (high - hysteresis))} (back:
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
 *   <li>silence: a gap of strictly more than {@code silence_ms} between two consecutive applied
 *       readings. It is certain either when the next applied reading shows the gap (the
 *       reading's row: {@code sl_open} unless the timer already opened it, and {@code
 *       sl_close}), or when the watermark reaches {@code deadline = last + silence_ms +
 *       lateness_ms + 1} with no newer applied reading ({@code alerts.rules.silence_timer_at}:
 *       a reading that could still end the silence has {@code ts <= last + silence_ms} and is
 *       on time only while {@code watermark <= ts + lateness_ms}); then the timer's row ({@code
 *       timer}, {@code sl_open}). Both give the same open event, and only the first is
 *       emitted. {@code sl_last} and {@code sl_site} are the reading before the silence.
 * </ul>
 *
 * <p>The one-minute aggregates ({@link Minutes}) are counted in the same call: a row with
 * {@code m_start} set is a minute's aggregate, emitted when the watermark reaches the minute's
 * last millisecond and again after each reading counted in it later.
 *
 * <p>Timers: the silence's, unnamed, one per sensor at most. A reading registers one at its
 * deadline only if none is pending; a timer that fires before the deadline of the sensor's
 * newest reading moves to it. The minutes' are named ({@link Minutes}). No {@code on_time}
 * argument: with one, the PTF drops every row behind the watermark, and an on-time reading
 * may be (by up to the allowed lateness); the timers still fire on the input's watermark.
 *
 * <p>State: {@code sensor}, one entry ({@link #STATE_KEY}): the bytes of {@link State} (the
 * rules and the minutes not emitted yet), written and read by {@link SensorRulesStateCodec}.
 * A {@code MapView} rather than a value state, because Flink hashes a value state before and
 * after each call (to skip an unchanged write) and leaves a view's entries to the function;
 * the function skips the write itself when the bytes did not change. And {@code closed}, the
 * emitted minutes still open to late readings. Both expire after Flink's {@code
 * table.exec.state.ttl} (the job's {@code STATE_TTL_S}) without access; a timer that then
 * fires finds no state and emits nothing.
 */
@DataTypeHint(
        "ROW<timer BOOLEAN, ts BIGINT,"
                + " sl_open BOOLEAN, sl_close BOOLEAN, sl_last BIGINT, sl_site STRING,"
                + " silence_s DOUBLE, silence_ms BIGINT, high DOUBLE, low DOUBLE, rate DOUBLE,"
                + " hi_open BOOLEAN, hi_close BOOLEAN, hi_at BIGINT,"
                + " hi_x DECIMAL(7, 2), hi_site STRING,"
                + " lo_open BOOLEAN, lo_close BOOLEAN, lo_at BIGINT,"
                + " lo_x DECIMAL(7, 2), lo_site STRING,"
                + " rt_open BOOLEAN, rt_close BOOLEAN, rt_at BIGINT,"
                + " rt_x DECIMAL(8, 2), rt_site STRING,"
                + " m_start BIGINT, m_count BIGINT, m_min DOUBLE, m_avg DOUBLE, m_max DOUBLE,"
                + " m_site STRING>")
public final class SensorRules extends ProcessTableFunction<Row> {

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
        /** The newest applied reading's silence setting, as it arrived. */
        public double silenceS;
        public long silenceMs;
        /** When the silence after the newest applied reading becomes certain. */
        public long deadline;
        /** A timer is registered (at this deadline or an earlier one). */
        public boolean timerPending;
        /** The timer opened the silence after the newest applied reading. */
        public boolean silenceOpened;
        /** The last reading: applied or not, the applied reading before it, its moves. */
        public boolean stepApplied;
        public long stepPrevTs;
        public String stepPrevSite;
        public boolean stepHasPrev;
        /** Each rule's move in two bits: high, low {@code << 2}, rate {@code << 4}. */
        public int stepMoves;
        /** The sensor's one-minute aggregates not emitted yet. */
        public Minutes minutes = new Minutes();
    }

    /** The one key of the {@code sensor} state: the {@link State}'s bytes. */
    static final long STATE_KEY = 0L;

    /** Readings whose minute was already forgotten (none expected: see {@link Minutes}). */
    private transient Counter lateRecordsDropped;

    @Override
    public void open(FunctionContext context) {
        lateRecordsDropped = context.getMetricGroup().counter("numLateRecordsDropped");
    }

    /**
     * One sensor's rule parameters: the thresholds in whole hundredths (compared: see the class
     * comment) and as they are written (reported in the events), the silence in ms (compared)
     * and in seconds (reported).
     */
    static final class Params {
        final long highC;
        final long highBackC;
        final long lowC;
        final long lowBackC;
        final long rateC;
        final long silenceMs;
        final double silenceS;
        final double high;
        final double low;
        final double rate;

        Params(JsonNode p) {
            highC = p.required("high_c").asLong();
            highBackC = p.required("high_back_c").asLong();
            lowC = p.required("low_c").asLong();
            lowBackC = p.required("low_back_c").asLong();
            rateC = p.required("rate_c").asLong();
            silenceMs = p.required("silence_ms").asLong();
            silenceS = p.required("silence_s").asDouble();
            high = p.required("high").asDouble();
            low = p.required("low").asDouble();
            rate = p.required("rate").asDouble();
        }
    }

    /** The {@code rules} argument last parsed (a constant of the query) and its parameters. */
    private transient String rulesText;
    private transient Params defaults;
    private transient Map<String, Params> perSensor;

    /**
     * The parameters of {@code sensorId} from the {@code rules} argument ({@code
     * alerts.sql_rules.rules_argument}: JSON, {@code {"default": {...}, "sensors": {"<id>":
     * {...}}}}), parsed once: the sensor's own entry if it has one, else the default.
     */
    private Params params(String rules, String sensorId) {
        if (rules != rulesText && !rules.equals(rulesText)) {
            try {
                JsonNode root = new ObjectMapper().readTree(rules);
                Params fallback = new Params(root.required("default"));
                Map<String, Params> each = new HashMap<>();
                Iterator<Map.Entry<String, JsonNode>> it = root.required("sensors").fields();
                while (it.hasNext()) {
                    Map.Entry<String, JsonNode> e = it.next();
                    each.put(e.getKey(), new Params(e.getValue()));
                }
                defaults = fallback;
                perSensor = each;
            } catch (IOException | IllegalArgumentException e) {
                throw new IllegalArgumentException(
                        "SENSOR_RULES: the rules argument is not alerts.sql_rules.rules_argument's"
                                + " JSON: " + e.getMessage(), e);
            }
        }
        rulesText = rules;
        Params own = perSensor.isEmpty() ? null : perSensor.get(sensorId);
        return own == null ? defaults : own;
    }

    /**
     * {@code CAST(temperature AS DECIMAL(7, 2))} in whole hundredths, as Flink computes it
     * ({@code BigDecimal.valueOf}: the double's decimal form, rounded half away from zero),
     * or null where that cast is NULL (beyond 7 digits). A double within a quarter of a
     * hundredth of a whole number of hundredths is that number without a BigDecimal: its
     * decimal form differs from it by far less than the remaining quarter (|x| < 10^5).
     */
    static Long hundredths(double temperature) {
        double x = temperature * 100;
        double whole = Math.rint(x);
        if (Math.abs(x - whole) < 0.25 && Math.abs(whole) < 1e7) {
            return (long) whole;
        }
        if (Double.isNaN(temperature) || Double.isInfinite(temperature)) {
            return null;
        }
        BigDecimal cents = BigDecimal.valueOf(temperature).setScale(2, RoundingMode.HALF_UP)
                .movePointRight(2);
        return cents.abs().compareTo(BigDecimal.valueOf(10_000_000L)) < 0
                ? cents.longValueExact() : null;
    }

    /**
     * Counts one reading in its minute and applies it to the rules; emits a row for a minute
     * due and a row if an alert opens or resolves.
     */
    public void eval(
            Context ctx,
            @StateHint MapView<Long, byte[]> sensor,
            @StateHint MapView<Long, byte[]> closed,
            @ArgumentHint(name = "input", value = {ArgumentTrait.SET_SEMANTIC_TABLE}) Row input,
            @ArgumentHint(name = "window_ms") Long windowMs,
            @ArgumentHint(name = "lateness_ms") Long latenessMs,
            @ArgumentHint(name = "rules") String rules)
            throws Exception {
        String sensorId = input.getFieldAs("sensor_id");
        Long ts = input.getFieldAs("ts");
        Long seq = input.getFieldAs("seq");
        Double temperature = input.getFieldAs("temperature_c");
        String site = input.getFieldAs("site");
        if (ts == null || windowMs == null || latenessMs == null || rules == null
                || seq == null || temperature == null || site == null) {
            return;
        }
        Params p = params(rules, sensorId);
        byte[] saved = sensor.get(STATE_KEY);
        State s = saved == null ? new State() : SensorRulesStateCodec.decode(saved);
        TimeContext<Long> time = ctx.timeContext(Long.class);
        Minutes.Minute minute =
                s.minutes.count(closed, time, ts, seq, temperature, site, latenessMs);
        if (minute == Minutes.DROPPED) {
            lateRecordsDropped.inc();
        } else if (minute != null) {
            emitMinute(minute);
        }
        applyAndEmit(s, time, ts, hundredths(temperature), site, p, windowMs, latenessMs);
        save(sensor, saved, s);
    }

    /** Applies one reading to the rules; emits a row if an alert opens or resolves. */
    private void applyAndEmit(
            State s, TimeContext<Long> time, long ts, Long value, String site, Params p,
            long windowMs, long latenessMs) {
        apply(s, ts, value, site, p, windowMs);
        if (!s.stepApplied) {
            return;
        }
        boolean gap = s.stepHasPrev && ts - s.stepPrevTs > p.silenceMs;
        boolean openedByTimer = s.silenceOpened;
        s.silenceOpened = false;
        s.silenceS = p.silenceS;
        s.silenceMs = p.silenceMs;
        s.deadline = ts + p.silenceMs + latenessMs + 1;
        if (!s.timerPending) {
            time.registerOnTime(s.deadline);
            s.timerPending = true;
        }
        if (gap || s.stepMoves != 0) {
            collect(Row.join(
                    Row.of(false, ts, gap && !openedByTimer, gap,
                            gap ? s.stepPrevTs : null, gap ? s.stepPrevSite : null,
                            p.silenceS, p.silenceMs, p.high, p.low, p.rate),
                    moved(s.hi, s.stepMoves), moved(s.lo, s.stepMoves >> 2),
                    moved(s.rt, s.stepMoves >> 4), NO_MINUTE));
        }
    }

    /**
     * The watermark reached a timer: the minutes' timer ({@link Minutes#TIMER}) emits the
     * minutes due; a closed minute's ({@link Minutes#FORGET}) forgets it; the silence timer
     * (unnamed) opens the silence, or waits for the newest deadline.
     */
    public void onTimer(OnTimerContext ctx, MapView<Long, byte[]> sensor,
            MapView<Long, byte[]> closed)
            throws Exception {
        String name = ctx.currentTimer();
        if (name != null && name.startsWith(Minutes.FORGET)) {
            Minutes.forget(closed, name);
            return;
        }
        byte[] saved = sensor.get(STATE_KEY);
        if (saved == null) {
            return; // expired state: the sensor is forgotten
        }
        State s = SensorRulesStateCodec.decode(saved);
        TimeContext<Long> time = ctx.timeContext(Long.class);
        // The watermark is at least the timer's time and at least what the timer service
        // reports (a timer registered at or before the latter is ignored, so a moved timer
        // must be later than both).
        Long fired = time.time();
        Long watermark = time.currentWatermark();
        long now = Math.max(fired == null ? Long.MIN_VALUE : fired,
                watermark == null ? Long.MIN_VALUE : watermark);
        if (Minutes.TIMER.equals(name)) {
            for (Minutes.Minute m : s.minutes.fire(closed, time, now)) {
                emitMinute(m);
            }
        } else if (s.timerPending) {
            s.timerPending = false;
            if (now < s.deadline) {
                time.registerOnTime(s.deadline);
                s.timerPending = true;
            } else if (!s.silenceOpened) {
                s.silenceOpened = true;
                collect(Row.join(
                        Row.of(true, s.newestTs, true, false, s.newestTs, s.newestSite,
                                s.silenceS, s.silenceMs, null, null, null),
                        moved(s.hi, 0), moved(s.lo, 0), moved(s.rt, 0), NO_MINUTE));
            }
        }
        save(sensor, saved, s);
    }

    /** Writes the state's bytes unless they are the ones read ({@code saved}). */
    private static void save(MapView<Long, byte[]> sensor, byte[] saved, State s)
            throws Exception {
        byte[] bytes = SensorRulesStateCodec.encode(s);
        if (!Arrays.equals(bytes, saved)) {
            sensor.put(STATE_KEY, bytes);
        }
    }

    /** A row of one minute's aggregate (no alert moves). */
    private void emitMinute(Minutes.Minute m) {
        collect(Row.join(
                Row.of(false, null, false, false, null, null, null, null, null, null, null),
                NO_MOVE, NO_MOVE, NO_MOVE,
                Row.of(m.start, m.count, m.min, m.sum / m.count, m.max, m.site)));
    }

    /** The minute columns of a row that is not a minute's. */
    private static final Row NO_MINUTE = Row.of(null, null, null, null, null, null);

    /** The columns of a rule that did not move, in a minute's row. */
    private static final Row NO_MOVE = Row.of(false, false, null, null, null);

    /**
     * Applies one reading ({@code value}: its temperature in hundredths; null, beyond
     * {@code DECIMAL(7, 2)}: not applied, nothing changes) to the rules.
     */
    static void apply(State s, long ts, Long value, String site, Params p, long windowMs) {
        s.stepMoves = 0;
        s.stepApplied = false;
        if (value == null || (s.applied > 0 && ts <= s.newestTs)) {
            return;
        }
        s.stepApplied = true;
        s.stepHasPrev = s.applied > 0;
        s.stepPrevTs = s.newestTs;
        s.stepPrevSite = s.newestSite;
        s.applied++;
        s.newestTs = ts;
        s.newestSite = site;

        int hi = value > p.highC ? 1 : value < p.highBackC ? 0 : s.hi.state;
        int lo = value < p.lowC ? 1 : value > p.lowBackC ? 0 : s.lo.state;
        long spread = slide(s, ts, value, ts - windowMs);
        s.stepMoves = s.hi.step(hi, ts, value, site)
                | s.lo.step(lo, ts, value, site) << 2
                | s.rt.step(spread > p.rateC ? 1 : 0, ts, spread, site) << 4;
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

    /** {@code <rule>_open, _close, _at, _x, _site} of one rule ({@code moves}: its 2 bits). */
    private static Row moved(Episode e, int moves) {
        return Row.of((moves & OPEN) != 0, (moves & CLOSE) != 0, e.at,
                BigDecimal.valueOf(e.x, 2), e.site);
    }
}
