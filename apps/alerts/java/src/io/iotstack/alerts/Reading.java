package io.iotstack.alerts;

import java.io.IOException;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.StreamReadConstraints;

/**
 * One reading's message parsed once (Jackson's streaming parser, shaded in flink-dist) and
 * checked against docs/contracts.md ("Reading", "Dead-letter reasons").
 *
 * <p>The checks and their order are docs/contracts.md's and {@code alerts.validation}'s
 * (its docstring says them field by field); apps/alerts/tests/test_alerts_validation.py
 * checks each reason and each range's ends, built from {@code alerts.validation}'s constants,
 * which the limits below copy. One JSON text (RFC 8259): the parser reads the first value,
 * then must find the end of the input (only whitespace after it). A field is the last copy
 * of its key at the top level; a JSON {@code null} is a missing field.
 */
final class Reading {

    static final int SCHEMA_VERSION = 1;
    static final long MAX_TS = 253_402_300_799_999L; // 9999-12-31T23:59:59.999Z
    static final double MIN_TEMPERATURE_C = -273.15;
    static final double MAX_TEMPERATURE_C = 10_000.0;
    static final int MAX_ID_CHARS = 100;

    // alerts.validation.FIELDS, in their order
    private static final String[] FIELDS = {
        "schema_version", "sensor_id", "site", "ts", "temperature_c", "seq"
    };
    private static final int SCHEMA = 0;
    private static final int SENSOR_ID = 1;
    private static final int SITE = 2;
    private static final int TS = 3;
    private static final int TEMPERATURE = 4;
    private static final int SEQ = 5;

    /**
     * Jackson's defaults (numbers of at most 1000 digits, ...) but nesting of at most
     * 999 levels, the message's own object the first: docs/contracts.md's limits.
     */
    static final int MAX_NESTING = 999;
    private static final JsonFactory JSON = JsonFactory.builder()
            .streamReadConstraints(
                    StreamReadConstraints.builder().maxNestingDepth(MAX_NESTING).build())
            .build();

    /** The first reason, or null: the reading is valid (then the fields below are set). */
    final String reason;
    final String sensorId;
    final String site;
    final long ts;
    final double temperatureC;
    final long seq;

    private Reading(String reason, String sensorId, String site, long ts, double temperatureC,
            long seq) {
        this.reason = reason;
        this.sensorId = sensorId;
        this.site = site;
        this.ts = ts;
        this.temperatureC = temperatureC;
        this.seq = seq;
    }

    private static Reading refused(String reason) {
        return new Reading(reason, null, null, 0L, 0.0, 0L);
    }

    /**
     * The payload's fields as the parser saw them: the value's token (null when absent or
     * JSON null), a string's decoded text, a number as a Long, a BigInteger (an integer
     * beyond 64 bits) or a Double (one with a fraction or an exponent).
     */
    private static final class Fields {
        final JsonToken[] tokens = new JsonToken[FIELDS.length];
        final String[] texts = new String[FIELDS.length];
        final Object[] numbers = new Object[FIELDS.length];
    }

    private static int indexOf(String name) {
        switch (name) {
            case "schema_version": return SCHEMA;
            case "sensor_id": return SENSOR_ID;
            case "site": return SITE;
            case "ts": return TS;
            case "temperature_c": return TEMPERATURE;
            case "seq": return SEQ;
            default: return -1;
        }
    }

    /**
     * Parses and checks {@code payload}. {@code recordTimeMs} (the Kafka record's timestamp,
     * or null) and {@code maxAheadMs}: a ts more than maxAheadMs after it is out of range,
     * checked right after ts's own range.
     */
    static Reading check(String payload, Long recordTimeMs, long maxAheadMs) {
        if (payload == null) {
            return refused("empty message (null value)");
        }
        Parsed parsed = LAST_PARSED.get();
        if (parsed == null || !parsed.payload.equals(payload)) {
            parsed = parse(payload);
            LAST_PARSED.set(parsed);
        }
        if (parsed.refusal != null) {
            return refused(parsed.refusal);
        }
        return checkFields(parsed.fields, recordTimeMs, maxAheadMs);
    }

    /**
     * What the parser made of one payload: the reason it was refused before its fields
     * were checked ({@code not JSON}, {@code not a JSON object}), or its fields.
     */
    private static final class Parsed {
        final String payload;
        final String refusal;
        final Fields fields;

        Parsed(String payload, String refusal, Fields fields) {
            this.payload = payload;
            this.refusal = refusal;
            this.fields = fields;
        }
    }

    /**
     * The last payload parsed on this thread. A message is checked more than once in the
     * source's thread, the calls one right after the other: for the event-time column
     * ({@link ReadingEventTime}: the watermark's and the projection's) and by
     * {@link CheckReading}. The parse is a function of the payload's text alone (the record
     * time is applied by {@link #checkFields}, at every call), so a call with the same text
     * as the last one reuses its parse: equal text, equal result, whatever ran in between.
     */
    private static final ThreadLocal<Parsed> LAST_PARSED = new ThreadLocal<>();

    private static Parsed parse(String payload) {
        Fields fields = new Fields();
        boolean object;
        try (JsonParser parser = JSON.createParser(payload)) {
            JsonToken first = parser.nextToken();
            if (first == null) {
                return new Parsed(payload, "not JSON", null);
            }
            object = first == JsonToken.START_OBJECT;
            if (object) {
                readFields(parser, fields);
            } else {
                parser.skipChildren();
            }
            if (parser.nextToken() != null) {
                return new Parsed(payload, "not JSON", null);
            }
        } catch (IOException e) { // JsonParseException, a stream constraint, ...
            return new Parsed(payload, "not JSON", null);
        }
        if (!object) {
            return new Parsed(payload, "not a JSON object", null);
        }
        return new Parsed(payload, null, fields);
    }

    private static void readFields(JsonParser parser, Fields fields) throws IOException {
        JsonToken token;
        while ((token = parser.nextToken()) == JsonToken.FIELD_NAME) {
            int i = indexOf(parser.currentName());
            JsonToken value = parser.nextToken();
            if (i < 0) {
                parser.skipChildren();
                continue;
            }
            fields.tokens[i] = value == JsonToken.VALUE_NULL ? null : value;
            fields.texts[i] = null;
            fields.numbers[i] = null;
            if (value == JsonToken.VALUE_STRING) {
                fields.texts[i] = parser.getText();
            } else if (value == JsonToken.VALUE_NUMBER_INT) {
                fields.numbers[i] = parser.getNumberType() == JsonParser.NumberType.BIG_INTEGER
                        ? parser.getBigIntegerValue() : (Object) parser.getLongValue();
            } else if (value == JsonToken.VALUE_NUMBER_FLOAT) {
                fields.numbers[i] = parser.getDoubleValue();
            } else {
                parser.skipChildren();
            }
        }
        if (token != JsonToken.END_OBJECT) {
            throw new IOException("unexpected " + token);
        }
    }

    private static boolean rightType(int i, JsonToken t) {
        switch (i) {
            case SENSOR_ID:
            case SITE:
                return t == JsonToken.VALUE_STRING;
            case TEMPERATURE:
                return t == JsonToken.VALUE_NUMBER_INT || t == JsonToken.VALUE_NUMBER_FLOAT;
            default:
                return t == JsonToken.VALUE_NUMBER_INT;
        }
    }

    /** The integer (a Long or a BigInteger beyond 64 bits) if it is in 0..max, else -1. */
    private static long inRange(Object integer, long max) {
        if (!(integer instanceof Long)) {
            return -1L;
        }
        long v = (Long) integer;
        return v >= 0 && v <= max ? v : -1L;
    }

    private static boolean idInRange(String id) {
        int chars = id.codePointCount(0, id.length());
        return chars >= 1 && chars <= MAX_ID_CHARS;
    }

    private static Reading checkFields(Fields f, Long recordTimeMs, long maxAheadMs) {
        for (int i = 0; i < FIELDS.length; i++) {
            if (f.tokens[i] == null) {
                return refused("missing field '" + FIELDS[i] + "'");
            }
            if (!rightType(i, f.tokens[i])) {
                return refused("field '" + FIELDS[i] + "' has the wrong type");
            }
        }
        Object version = f.numbers[SCHEMA];
        if (!version.equals((long) SCHEMA_VERSION)) {
            String text = version.toString(); // canonical: -0 is 0
            return refused("unknown schema_version " + text.substring(0, Math.min(20, text.length())));
        }
        String sensorId = f.texts[SENSOR_ID];
        if (!idInRange(sensorId)) {
            return refused("field 'sensor_id' is out of range");
        }
        String site = f.texts[SITE];
        if (!idInRange(site)) {
            return refused("field 'site' is out of range");
        }
        long ts = inRange(f.numbers[TS], MAX_TS);
        if (ts < 0) {
            return refused("field 'ts' is out of range");
        }
        if (recordTimeMs != null && ts - maxAheadMs > recordTimeMs) {
            return refused("field 'ts' is out of range");
        }
        Object t = f.numbers[TEMPERATURE];
        double temperature = ((Number) t).doubleValue(); // the nearest double
        if (!(temperature >= MIN_TEMPERATURE_C && temperature <= MAX_TEMPERATURE_C)) {
            return refused("field 'temperature_c' is out of range");
        }
        long seq = inRange(f.numbers[SEQ], Long.MAX_VALUE);
        if (seq < 0) {
            return refused("field 'seq' is out of range");
        }
        return new Reading(null, sensorId, site, ts, temperature, seq);
    }
}
