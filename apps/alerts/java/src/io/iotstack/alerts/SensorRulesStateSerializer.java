package io.iotstack.alerts;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.base.TypeSerializerSingleton;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.apache.flink.core.memory.DataOutputView;

/**
 * The state of one sensor's rules ({@link SensorRules.State}, the {@code RAW} field of the
 * process table function's state entry), written field by field: in RocksDB at every reading,
 * in checkpoints and savepoints.
 *
 * <p>The last reading's result ({@code step*}) is not state: each {@code eval} sets it and
 * reads it, so it is neither written nor copied. A change
 * of this format is a change of the state's format: state written before it cannot be read
 * (apps/alerts/README.md, "Upgrade note").
 *
 * <p>Format: the length of the body (an {@code int}), then the body, written to and read
 * from a byte array by Flink's {@link DataOutputSerializer} and {@link
 * DataInputDeserializer}: one write and one read on the view Flink passes. Flink reads a
 * {@code RAW} value through a {@code DataInputStream} over a {@code ByteArrayInputStream},
 * where each {@code readLong} is a synchronized call; read field by field from it, this
 * state's deserialization was 17 % of the TaskManager's CPU samples in a 1,000-sensor drain
 * (JFR). Sites are UTF-8 bytes after their length ({@code -1}: none).
 */
public final class SensorRulesStateSerializer extends TypeSerializerSingleton<SensorRules.State> {

    private static final long serialVersionUID = 1L;

    /** Flink creates the {@code rawSerializer} with this constructor. */
    public SensorRulesStateSerializer() {}

    @Override
    public boolean isImmutableType() {
        return false;
    }

    @Override
    public SensorRules.State createInstance() {
        return new SensorRules.State();
    }

    @Override
    public SensorRules.State copy(SensorRules.State from) {
        SensorRules.State to = new SensorRules.State();
        to.applied = from.applied;
        to.newestTs = from.newestTs;
        to.newestSite = from.newestSite;
        copyEpisode(from.hi, to.hi);
        copyEpisode(from.lo, to.lo);
        copyEpisode(from.rt, to.rt);
        to.maxTs = from.maxTs.clone();
        to.maxV = from.maxV.clone();
        to.minTs = from.minTs.clone();
        to.minV = from.minV.clone();
        to.silenceS = from.silenceS;
        to.silenceMs = from.silenceMs;
        to.deadline = from.deadline;
        to.timerPending = from.timerPending;
        to.silenceOpened = from.silenceOpened;
        return to;
    }

    private static void copyEpisode(SensorRules.Episode from, SensorRules.Episode to) {
        to.state = from.state;
        to.at = from.at;
        to.x = from.x;
        to.site = from.site;
    }

    @Override
    public SensorRules.State copy(SensorRules.State from, SensorRules.State reuse) {
        return copy(from);
    }

    @Override
    public int getLength() {
        return -1;
    }

    @Override
    public void serialize(SensorRules.State s, DataOutputView out) throws IOException {
        DataOutputSerializer body = new DataOutputSerializer(256);
        body.writeLong(s.applied);
        body.writeLong(s.newestTs);
        writeSite(s.newestSite, body);
        writeEpisode(s.hi, body);
        writeEpisode(s.lo, body);
        writeEpisode(s.rt, body);
        writeQueue(s.maxTs, s.maxV, body);
        writeQueue(s.minTs, s.minV, body);
        body.writeDouble(s.silenceS);
        body.writeLong(s.silenceMs);
        body.writeLong(s.deadline);
        body.writeBoolean(s.timerPending);
        body.writeBoolean(s.silenceOpened);
        out.writeInt(body.length());
        out.write(body.getSharedBuffer(), 0, body.length());
    }

    private static void writeSite(String site, DataOutputSerializer out) throws IOException {
        if (site == null) {
            out.writeInt(-1);
            return;
        }
        byte[] bytes = site.getBytes(StandardCharsets.UTF_8);
        out.writeInt(bytes.length);
        out.write(bytes);
    }

    private static void writeEpisode(SensorRules.Episode e, DataOutputSerializer out)
            throws IOException {
        out.writeByte(e.state);
        out.writeLong(e.at);
        out.writeLong(e.x);
        writeSite(e.site, out);
    }

    private static void writeQueue(long[] times, long[] values, DataOutputSerializer out)
            throws IOException {
        out.writeInt(times.length);
        for (int i = 0; i < times.length; i++) {
            out.writeLong(times[i]);
            out.writeLong(values[i]);
        }
    }

    @Override
    public SensorRules.State deserialize(DataInputView view) throws IOException {
        byte[] bytes = new byte[view.readInt()];
        view.readFully(bytes);
        DataInputDeserializer in = new DataInputDeserializer(bytes);
        SensorRules.State s = new SensorRules.State();
        s.applied = in.readLong();
        s.newestTs = in.readLong();
        s.newestSite = readSite(in);
        readEpisode(s.hi, in);
        readEpisode(s.lo, in);
        readEpisode(s.rt, in);
        long[][] max = readQueue(in);
        s.maxTs = max[0];
        s.maxV = max[1];
        long[][] min = readQueue(in);
        s.minTs = min[0];
        s.minV = min[1];
        s.silenceS = in.readDouble();
        s.silenceMs = in.readLong();
        s.deadline = in.readLong();
        s.timerPending = in.readBoolean();
        s.silenceOpened = in.readBoolean();
        if (in.available() != 0) {
            throw new IOException(
                    "SensorRules state: " + in.available() + " bytes left after the state");
        }
        return s;
    }

    private static String readSite(DataInputDeserializer in) throws IOException {
        int length = in.readInt();
        if (length < 0) {
            return null;
        }
        byte[] bytes = new byte[length];
        in.readFully(bytes);
        return new String(bytes, StandardCharsets.UTF_8);
    }

    private static void readEpisode(SensorRules.Episode e, DataInputDeserializer in)
            throws IOException {
        e.state = in.readByte();
        e.at = in.readLong();
        e.x = in.readLong();
        e.site = readSite(in);
    }

    private static long[][] readQueue(DataInputDeserializer in) throws IOException {
        int n = in.readInt();
        long[] times = new long[n];
        long[] values = new long[n];
        for (int i = 0; i < n; i++) {
            times[i] = in.readLong();
            values[i] = in.readLong();
        }
        return new long[][] {times, values};
    }

    @Override
    public SensorRules.State deserialize(SensorRules.State reuse, DataInputView in)
            throws IOException {
        return deserialize(in);
    }

    @Override
    public void copy(DataInputView in, DataOutputView out) throws IOException {
        serialize(deserialize(in), out);
    }

    @Override
    public TypeSerializerSnapshot<SensorRules.State> snapshotConfiguration() {
        return new Snapshot();
    }

    /** The serializer's snapshot in checkpoints and savepoints. */
    public static final class Snapshot extends SimpleTypeSerializerSnapshot<SensorRules.State> {
        public Snapshot() {
            super(SensorRulesStateSerializer::new);
        }
    }
}
