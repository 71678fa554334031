package io.iotstack.alerts;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;

/**
 * The bytes of one sensor's state ({@link SensorRules.State}: the rules and the pending
 * minutes, the {@code BYTES} field of the process table function's state entry) and of one
 * emitted minute ({@link Minutes.Minute}, a value of the {@code closed} map), written field by
 * field: in RocksDB at every reading, in checkpoints and savepoints.
 *
 * <p>Why bytes the function writes itself. As a {@code RAW} value (a Flink {@code
 * TypeSerializer}) the state was deserialized twice per reading (once for the function, once
 * more to hash the state before the call: Flink skips the write of an unchanged state) and
 * serialized once, 40 % of the stage's CPU samples in a 1,000-sensor drain (JFR); before
 * that, as a structured type, it was converted field by field to and from Flink's rows. Bytes
 * are copied and hashed as they are, and decoded once per reading, here.
 *
 * <p>The last reading's result ({@code step*}) is not state: each {@code eval} sets it and
 * reads it. A change of this format is a change of the state's format: state written before
 * it cannot be read (apps/alerts/README.md, "Upgrade note").
 *
 * <p>Format: the newest applied {@code ts} (8 bytes, the base), then the fields in
 * declaration order, small: times as zigzag varint differences from the base (a minute's
 * own times from its start), counts and hundredths as varints, temperatures as 8-byte
 * doubles; sites by a table (a site's first appearance is its UTF-8 bytes, a later one of
 * the same string an index), so a sensor's site is decoded once, not once per field that
 * holds it. An emitted minute's bytes start with its own start as the base.
 */
final class SensorRulesStateCodec {

    private SensorRulesStateCodec() {}

    static byte[] encode(SensorRules.State s) {
        Writer out = new Writer(256);
        try {
            long base = s.newestTs;
            out.writeLong(base);
            out.writeVarLong(s.applied);
            out.writeSite(s.newestSite);
            writeEpisode(s.hi, base, out);
            writeEpisode(s.lo, base, out);
            writeEpisode(s.rt, base, out);
            writeQueue(s.maxTs, s.maxV, base, out);
            writeQueue(s.minTs, s.minV, base, out);
            out.writeDouble(s.silenceS);
            out.writeSignedVarLong(s.silenceMs);
            out.writeSignedVarLong(s.deadline - base);
            out.writeByte((s.timerPending ? 1 : 0) | (s.silenceOpened ? 2 : 0));
            out.writeSignedVarLong(s.minutes.timer - base);
            out.writeSignedVarLong(s.minutes.latenessMs);
            out.writeVarLong(s.minutes.pending.length);
            for (Minutes.Minute m : s.minutes.pending) {
                writeMinute(m, base, out);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a byte array grows: not expected
        }
        return out.getCopyOfBuffer();
    }

    static SensorRules.State decode(byte[] bytes) {
        Reader in = new Reader(bytes);
        SensorRules.State s = new SensorRules.State();
        try {
            long base = in.readLong();
            s.newestTs = base;
            s.applied = in.readVarLong();
            s.newestSite = in.readSite();
            readEpisode(s.hi, base, in);
            readEpisode(s.lo, base, in);
            readEpisode(s.rt, base, in);
            long[][] max = readQueue(base, in);
            s.maxTs = max[0];
            s.maxV = max[1];
            long[][] min = readQueue(base, in);
            s.minTs = min[0];
            s.minV = min[1];
            s.silenceS = in.readDouble();
            s.silenceMs = in.readSignedVarLong();
            s.deadline = base + in.readSignedVarLong();
            int flags = in.readByte();
            s.timerPending = (flags & 1) != 0;
            s.silenceOpened = (flags & 2) != 0;
            s.minutes.timer = base + in.readSignedVarLong();
            s.minutes.latenessMs = in.readSignedVarLong();
            s.minutes.pending = new Minutes.Minute[(int) in.readVarLong()];
            for (int i = 0; i < s.minutes.pending.length; i++) {
                s.minutes.pending[i] = readMinute(base, in);
            }
            in.expectEnd("SensorRules state");
        } catch (IOException | RuntimeException e) {
            throw new IllegalStateException("SensorRules state: unreadable", e);
        }
        return s;
    }

    static byte[] encodeMinute(Minutes.Minute m) {
        Writer out = new Writer(64 + m.pairsLength);
        try {
            out.writeLong(m.start);
            writeMinute(m, m.start, out);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.getCopyOfBuffer();
    }

    static Minutes.Minute decodeMinute(byte[] bytes) {
        Reader in = new Reader(bytes);
        try {
            long base = in.readLong();
            Minutes.Minute m = readMinute(base, in);
            in.expectEnd("a minute");
            return m;
        } catch (IOException | RuntimeException e) {
            throw new IllegalStateException("a minute: unreadable", e);
        }
    }

    /** A minute; its times as differences from {@code base} and from its start. */
    private static void writeMinute(Minutes.Minute m, long base, Writer out) throws IOException {
        out.writeSignedVarLong(m.start - base);
        out.writeVarLong(m.count);
        out.writeDouble(m.sum);
        out.writeDouble(m.min);
        out.writeDouble(m.max);
        out.writeSignedVarLong(m.lastTs - m.start);
        out.writeSite(m.site);
        out.writeSignedVarLong(m.pairTs - m.start);
        out.writeSignedVarLong(m.pairSeq);
        out.writeVarLong(m.pairsLength);
        out.write(m.pairs, 0, m.pairsLength);
    }

    private static Minutes.Minute readMinute(long base, Reader in) throws IOException {
        Minutes.Minute m = new Minutes.Minute();
        m.start = base + in.readSignedVarLong();
        m.count = in.readVarLong();
        m.sum = in.readDouble();
        m.min = in.readDouble();
        m.max = in.readDouble();
        m.lastTs = m.start + in.readSignedVarLong();
        m.site = in.readSite();
        m.pairTs = m.start + in.readSignedVarLong();
        m.pairSeq = in.readSignedVarLong();
        m.pairsLength = (int) in.readVarLong();
        m.pairs = new byte[m.pairsLength];
        in.readFully(m.pairs);
        return m;
    }

    private static void writeEpisode(SensorRules.Episode e, long base, Writer out)
            throws IOException {
        out.writeByte(e.state);
        out.writeSignedVarLong(e.at - base);
        out.writeSignedVarLong(e.x);
        out.writeSite(e.site);
    }

    private static void readEpisode(SensorRules.Episode e, long base, Reader in)
            throws IOException {
        e.state = in.readByte();
        e.at = base + in.readSignedVarLong();
        e.x = in.readSignedVarLong();
        e.site = in.readSite();
    }

    private static void writeQueue(long[] times, long[] values, long base, Writer out)
            throws IOException {
        out.writeVarLong(times.length);
        for (int i = 0; i < times.length; i++) {
            out.writeSignedVarLong(times[i] - base);
            out.writeSignedVarLong(values[i]);
        }
    }

    private static long[][] readQueue(long base, Reader in) throws IOException {
        int n = (int) in.readVarLong();
        long[] times = new long[n];
        long[] values = new long[n];
        for (int i = 0; i < n; i++) {
            times[i] = base + in.readSignedVarLong();
            values[i] = in.readSignedVarLong();
        }
        return new long[][] {times, values};
    }

    /** A byte array writer with varints and the sites' table. */
    private static final class Writer extends DataOutputSerializer {
        private final List<String> sites = new ArrayList<>(2);

        Writer(int size) {
            super(size);
        }

        void writeVarLong(long v) throws IOException {
            while ((v & ~0x7FL) != 0) {
                writeByte((int) ((v & 0x7F) | 0x80));
                v >>>= 7;
            }
            writeByte((int) v);
        }

        void writeSignedVarLong(long v) throws IOException {
            writeVarLong(Minutes.zigzag(v));
        }

        /** A site: 0 none; {@code 2 * index + 1} the table's; {@code 2 * (length + 1)} new. */
        void writeSite(String site) throws IOException {
            if (site == null) {
                writeVarLong(0);
                return;
            }
            for (int i = 0; i < sites.size(); i++) {
                if (sites.get(i).equals(site)) {
                    writeVarLong(2L * i + 1);
                    return;
                }
            }
            sites.add(site);
            byte[] bytes = site.getBytes(StandardCharsets.UTF_8);
            writeVarLong(2L * (bytes.length + 1));
            write(bytes);
        }
    }

    /** A byte array reader with varints and the sites' table. */
    private static final class Reader extends DataInputDeserializer {
        private final List<String> sites = new ArrayList<>(2);

        Reader(byte[] bytes) {
            super(bytes);
        }

        long readVarLong() throws IOException {
            long v = 0;
            for (int shift = 0; shift < 64; shift += 7) {
                byte b = readByte();
                v |= (long) (b & 0x7F) << shift;
                if (b >= 0) {
                    return v;
                }
            }
            throw new IOException("a varint longer than 10 bytes");
        }

        long readSignedVarLong() throws IOException {
            return Minutes.unzigzag(readVarLong());
        }

        String readSite() throws IOException {
            long tag = readVarLong();
            if (tag == 0) {
                return null;
            }
            if ((tag & 1) == 1) {
                return sites.get((int) (tag >>> 1));
            }
            byte[] bytes = new byte[(int) (tag / 2 - 1)];
            readFully(bytes);
            String site = new String(bytes, StandardCharsets.UTF_8);
            sites.add(site);
            return site;
        }

        void expectEnd(String what) throws IOException {
            if (available() != 0) {
                throw new IOException(what + ": " + available() + " bytes left after it");
            }
        }
    }
}
