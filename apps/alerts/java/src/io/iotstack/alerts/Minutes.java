package io.iotstack.alerts;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.flink.table.api.dataview.MapView;
import org.apache.flink.table.functions.ProcessTableFunction.TimeContext;

/**
 * One sensor's one-minute aggregates, computed inside {@link SensorRules} (the same process
 * table function, the same stage as the rules: alerts.pipeline).
 *
 * <p>The minutes are event-time tumbling windows {@code [start, start + 60000)}, {@code start}
 * a multiple of 60,000 ms, and they behave as Flink's legacy group window did in this job
 * ({@code GROUP BY TUMBLE} with {@code table.exec.emit.allow-lateness} = {@code
 * ALLOWED_LATENESS_MS} + 1 ms and a late firing at every change):
 *
 * <ul>
 *   <li>A reading is counted in its minute unless a copy of it (the same {@code seq} and
 *       {@code ts}; the sensor is the partition) was counted: the first copy to arrive counts.
 *   <li>A minute is emitted when the watermark reaches its last millisecond ({@code start +
 *       59999}), and again after each reading counted in it from then on (a copy changes
 *       nothing and emits nothing).
 *   <li>A minute is forgotten when the watermark reaches {@code start + 60000 + lateness}
 *       ({@code lateness} = {@code ALLOWED_LATENESS_MS}). A reading of a minute forgotten, or
 *       one that would be at the current watermark, is not counted: it is counted in the
 *       metric {@code numLateRecordsDropped} instead. The late split before the function
 *       ({@code ts < watermark - lateness} goes to the late topic) leaves none: a reading that
 *       is not late has {@code ts + lateness >= watermark}, and {@code ts < start + 60000}.
 * </ul>
 *
 * <p>State. A minute not emitted yet ({@link #pending}: usually one, as many as the watermark's
 * out-of-orderness spans) lives in the sensor's state value, which every reading reads and
 * writes anyway: counting a normal reading costs no other state access. When the watermark
 * reaches its last millisecond it moves to {@code closed} (a {@link MapView} by start: keyed
 * state, read only for a reading of an emitted minute) with a timer named {@code "forget:" + start}
 * at the moment it is forgotten. The counted {@code (ts, seq)} pairs of a minute are packed in
 * its own bytes ({@link Minute#pairs}), read only for a reading not newer than every one
 * counted in the minute. One more named timer per sensor, {@link #TIMER}, sits at the earliest
 * pending minute's last millisecond.
 */
public final class Minutes {

    static final long MINUTE_MS = 60_000L;

    /** The name of the pending minutes' timer (the silence timer has no name). */
    static final String TIMER = "minutes";

    /** The prefix of a closed minute's timer name (then its start). */
    static final String FORGET = "forget:";

    /** No timer registered. */
    static final long NONE = Long.MAX_VALUE;

    /** One minute: what has been counted in it. */
    public static final class Minute {
        public long start;
        public long count;
        public double sum;
        public double min;
        public double max;
        /** The newest ts counted. */
        public long lastTs;
        /** The greatest site counted (Unicode code point order, as SQL's MAX). */
        public String site;
        /**
         * The counted {@code (ts, seq)} pairs, in arrival order, each as its differences from
         * the pair before ({@code (start, 0)} for the first): the varint of {@code
         * zigzag(ts difference) * 2 + 1} if the seq difference is 1 (a sensor's next reading:
         * about 2 bytes), else of {@code zigzag(ts difference) * 2} and then the varint of
         * {@code zigzag(seq difference)}.
         */
        public byte[] pairs = new byte[0];
        public int pairsLength;
        /** The last pair written (the base of the next difference). */
        public long pairTs;
        public long pairSeq;

        long end() {
            return start + MINUTE_MS;
        }

        /** Whether {@code (ts, seq)} was counted in this minute. */
        boolean counted(long ts, long seq) {
            if (ts > lastTs) {
                return false; // newer than every reading counted: no copy of it was
            }
            long t = start;
            long s = 0;
            int[] at = {0};
            while (at[0] < pairsLength) {
                long head = readVarint(pairs, at);
                t += unzigzag(head >>> 1);
                s += (head & 1) == 1 ? 1 : unzigzag(readVarint(pairs, at));
                if (t == ts && s == seq) {
                    return true;
                }
            }
            return false;
        }

        /** Counts a reading not counted before. */
        void add(long ts, long seq, double temperature, String readingSite) {
            if (count == 0) {
                min = temperature;
                max = temperature;
                site = readingSite;
                pairTs = start;
                lastTs = ts;
            } else {
                if (temperature < min) {
                    min = temperature;
                }
                if (temperature > max) {
                    max = temperature;
                }
                if (byCodePoint(readingSite, site) > 0) {
                    site = readingSite;
                }
                lastTs = Math.max(lastTs, ts);
            }
            count++;
            sum += temperature;
            if (pairs.length - pairsLength < 20) {
                pairs = Arrays.copyOf(pairs, Math.max(32, pairs.length * 2));
            }
            long zts = zigzag(ts - pairTs); // |ts - pairTs| < 60000: both in the minute
            if (seq - pairSeq == 1) {
                pairsLength = writeVarint(pairs, pairsLength, zts << 1 | 1);
            } else {
                pairsLength = writeVarint(pairs, pairsLength, zts << 1);
                pairsLength = writeVarint(pairs, pairsLength, zigzag(seq - pairSeq));
            }
            pairTs = ts;
            pairSeq = seq;
        }
    }

    /** The minutes not emitted yet, by start. */
    public Minute[] pending = new Minute[0];

    /** Where the timer {@link #TIMER} is registered ({@link #NONE}: nowhere). */
    public long timer = NONE;

    /** {@code ALLOWED_LATENESS_MS}, as the newest reading brought it (timers have no input). */
    public long latenessMs;

    /** The start of the minute of {@code ts} (Flink's tumbling window, offset 0). */
    static long startOf(long ts) {
        return ts - Math.floorMod(ts, MINUTE_MS);
    }

    /** Returned by {@link #count} for a reading whose minute is forgotten. */
    static final Minute DROPPED = new Minute();

    /**
     * Counts one reading. Returns the minute to emit ({@code null}: nothing to emit), or
     * {@link #DROPPED} if the reading's minute is forgotten at {@code watermark}.
     */
    Minute count(
            MapView<Long, byte[]> closed, TimeContext<Long> time, long ts, long seq,
            double temperature, String site, long latenessMs) throws Exception {
        this.latenessMs = latenessMs;
        Long watermark = time.currentWatermark();
        long start = startOf(ts);
        if (watermark != null && start + MINUTE_MS + latenessMs <= watermark) {
            return DROPPED;
        }
        for (Minute m : pending) {
            if (m.start == start) {
                if (!m.counted(ts, seq)) {
                    m.add(ts, seq, temperature, site);
                }
                return null; // emitted when the watermark reaches its last millisecond
            }
        }
        boolean due = watermark != null && watermark >= start + MINUTE_MS - 1;
        if (!due) {
            Minute m = new Minute();
            m.start = start;
            m.add(ts, seq, temperature, site);
            pending = Arrays.copyOf(pending, pending.length + 1);
            pending[pending.length - 1] = m;
            moveTimer(time);
            return null;
        }
        // An emitted minute (or a new one the watermark already passed): emitted again if
        // the reading counts.
        byte[] bytes = closed.get(start);
        Minute m;
        if (bytes == null) {
            m = new Minute();
            m.start = start;
            // Forgotten after the watermark reaches end + lateness: later than now, since the
            // reading's minute is not forgotten yet.
            time.registerOnTime(FORGET + start, m.end() + latenessMs);
        } else {
            m = SensorRulesStateCodec.decodeMinute(bytes);
            if (m.counted(ts, seq)) {
                return null;
            }
        }
        m.add(ts, seq, temperature, site);
        closed.put(start, SensorRulesStateCodec.encodeMinute(m));
        return m;
    }

    /**
     * The timer {@link #TIMER} fired, the watermark at {@code now}: returns the pending minutes
     * whose last millisecond it reached, which move to {@code closed} (or are forgotten at
     * once if the watermark is already past their end plus the lateness).
     */
    List<Minute> fire(MapView<Long, byte[]> closed, TimeContext<Long> time, long now)
            throws Exception {
        timer = NONE; // the timer that fired is gone
        List<Minute> due = new ArrayList<>(1);
        int kept = 0;
        for (Minute m : pending) {
            if (now >= m.end() - 1) {
                due.add(m);
                long forgetAt = m.end() + latenessMs;
                if (forgetAt > now) {
                    closed.put(m.start, SensorRulesStateCodec.encodeMinute(m));
                    time.registerOnTime(FORGET + m.start, forgetAt);
                }
            } else {
                pending[kept++] = m;
            }
        }
        if (kept < pending.length) {
            pending = Arrays.copyOf(pending, kept);
        }
        moveTimer(time);
        return due;
    }

    /** The timer {@code name} ({@link #FORGET} + start) fired: forget that minute. */
    static void forget(MapView<Long, byte[]> closed, String name) throws Exception {
        closed.remove(Long.parseLong(name.substring(FORGET.length())));
    }

    /** Registers {@link #TIMER} at the earliest pending minute's last millisecond. */
    private void moveTimer(TimeContext<Long> time) {
        long next = NONE;
        for (Minute m : pending) {
            next = Math.min(next, m.end() - 1);
        }
        if (next == timer) {
            return;
        }
        if (next == NONE) {
            time.clearTimer(TIMER);
        } else {
            time.registerOnTime(TIMER, next);
        }
        timer = next;
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

    static long zigzag(long v) {
        return (v << 1) ^ (v >> 63);
    }

    static long unzigzag(long v) {
        return (v >>> 1) ^ -(v & 1);
    }

    /** Writes {@code v} as an unsigned varint at {@code at}; returns the position after. */
    static int writeVarint(byte[] out, int at, long v) {
        while ((v & ~0x7FL) != 0) {
            out[at++] = (byte) ((v & 0x7F) | 0x80);
            v >>>= 7;
        }
        out[at++] = (byte) v;
        return at;
    }

    /** Reads an unsigned varint at {@code at[0]}, moving it past. */
    static long readVarint(byte[] in, int[] at) {
        long v = 0;
        int shift = 0;
        while (true) {
            byte b = in[at[0]++];
            v |= (long) (b & 0x7F) << shift;
            if (b >= 0) {
                return v;
            }
            shift += 7;
        }
    }
}
