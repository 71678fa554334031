package io.iotstack.alerts;

import org.apache.flink.table.annotation.ArgumentHint;
import org.apache.flink.table.annotation.ArgumentTrait;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.StateHint;
import org.apache.flink.table.functions.ProcessTableFunction;
import org.apache.flink.types.Row;

/**
 * The silence rule's timer: emits a sensor's last applied reading once the watermark shows
 * that no reading can still end its silence.
 *
 * <p>A process table function (Flink's PTF), called from SQL (alerts.sql_rules) as {@code
 * SILENCE_TIMER(input => TABLE rules_silence_input PARTITION BY sensor_id, lateness_ms =>
 * ...)} on the applied readings, whose {@code ts} increase strictly per sensor in arrival
 * order. Without an {@code on_time} argument: with one, the PTF drops every row behind the
 * watermark, and an applied reading may be (by up to the allowed lateness). Its timers still
 * fire on the input's watermark. Silence means a gap of strictly more than {@code
 * silence_ms} to the next applied reading; a reading that would end it has {@code ts <= last +
 * silence_ms} and is on time while {@code watermark <= ts + lateness_ms}. So the silence after
 * {@code last} is certain once the watermark reaches {@code deadline = last + silence_ms +
 * lateness_ms + 1} ({@code alerts.rules.silence_timer_at}); then this function emits {@code
 * (last_ts, site, silence_s, silence_ms)} of that reading, once.
 *
 * <p>Per reading: one state read and write, no timer call. A sensor has at most one timer: a
 * reading registers one at its deadline only if none is pending; when a timer fires before the
 * deadline of the sensor's newest reading (newer readings came), it moves to that deadline.
 * State (Flink's {@code table.exec.state.ttl}, the job's {@code STATE_TTL_S}) expires without
 * access; a timer that then fires finds no state and emits nothing.
 */
@DataTypeHint("ROW<last_ts BIGINT, site STRING, silence_s DOUBLE, silence_ms BIGINT>")
public final class SilenceTimer extends ProcessTableFunction<Row> {

    /** One sensor's newest applied reading and its pending timer. */
    public static final class Last {
        public Long ts;
        public String site;
        public Double silenceS;
        public Long silenceMs;
        /** When its silence becomes certain. */
        public Long deadline;
        /** The pending timer's time (NULL: none). */
        public Long timerAt;
    }

    /** Remembers the reading; registers a timer at its deadline if none is pending. */
    public void eval(
            Context ctx,
            @StateHint Last last,
            @ArgumentHint(
                            name = "input",
                            value = {ArgumentTrait.SET_SEMANTIC_TABLE})
                    Row reading,
            @ArgumentHint(name = "lateness_ms") Long latenessMs) {
        Long ts = reading.getFieldAs("ts");
        Long silenceMs = reading.getFieldAs("silence_ms");
        if (ts == null || silenceMs == null || latenessMs == null
                || (last.ts != null && ts <= last.ts)) {
            return;
        }
        last.ts = ts;
        last.site = reading.getFieldAs("site");
        last.silenceS = reading.getFieldAs("silence_s");
        last.silenceMs = silenceMs;
        last.deadline = ts + silenceMs + latenessMs + 1;
        if (last.timerAt == null) {
            ctx.timeContext(Long.class).registerOnTime(last.deadline);
            last.timerAt = last.deadline;
        }
    }

    /** The watermark reached a timer: emit the silence, or wait for the newest deadline. */
    public void onTimer(OnTimerContext ctx, Last last) {
        if (last.ts == null || last.timerAt == null) {
            return; // expired state: the sensor is forgotten
        }
        // The watermark is at least the timer's time and at least what the timer service
        // reports (a timer registered at or before the latter is ignored, so the moved timer
        // must be later than both).
        TimeContext<Long> time = ctx.timeContext(Long.class);
        Long fired = time.time();
        Long watermark = time.currentWatermark();
        long now = Math.max(fired == null ? Long.MIN_VALUE : fired,
                watermark == null ? Long.MIN_VALUE : watermark);
        last.timerAt = null;
        if (now >= last.deadline) {
            collect(Row.of(last.ts, last.site, last.silenceS, last.silenceMs));
        } else {
            time.registerOnTime(last.deadline);
            last.timerAt = last.deadline;
        }
    }
}
