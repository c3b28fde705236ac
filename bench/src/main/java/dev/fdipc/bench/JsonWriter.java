package dev.fdipc.bench;

import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Writes measurements as the JSON array the README documents: one object per (transport, mode,
 * size, clients) with keys {@code transport}, {@code mode}, {@code size}, {@code clients},
 * {@code cpus} (the {@link Placement}: {@code "A,B"} or {@code "none"}), then the
 * figures that apply: {@code p50_ns}, {@code p90_ns}, {@code p99_ns}, {@code p999_ns},
 * {@code max_ns} (latency, connect), {@code msgs_per_s}, {@code mb_per_s} (throughput; latency:
 * round trips per second), and the
 * idle mode's per-client costs.
 */
final class JsonWriter {
  private JsonWriter() {}

  static String write(List<Measurement> measurements, String cpus) {
    StringBuilder sb = new StringBuilder("[");
    String sep = "\n  ";
    for (Measurement m : measurements) {
      sb.append(sep);
      sep = ",\n  ";
      sb.append("{\"transport\": ").append(string(m.transport()))
          .append(", \"mode\": ").append(string(m.mode().id()))
          .append(", \"size\": ").append(m.size())
          .append(", \"clients\": ").append(m.clients())
          .append(", \"cpus\": ").append(string(cpus));
      if (m.hasTimes()) {
        sb.append(", \"p50_ns\": ").append(m.p50Ns())
            .append(", \"p90_ns\": ").append(m.p90Ns())
            .append(", \"p99_ns\": ").append(m.p99Ns())
            .append(", \"p999_ns\": ").append(m.p999Ns())
            .append(", \"max_ns\": ").append(m.maxNs());
      }
      if (m.hasRates()) {
        sb.append(", \"msgs_per_s\": ").append(number(m.msgsPerS()))
            .append(", \"mb_per_s\": ").append(number(m.mbPerS()));
      }
      for (Map.Entry<String, Double> e : m.extra().entrySet()) {
        sb.append(", ").append(string(e.getKey())).append(": ").append(number(e.getValue()));
      }
      sb.append('}');
    }
    return sb.append(measurements.isEmpty() ? "]\n" : "\n]\n").toString();
  }

  /**
   * A JSON array of flat objects, one per line, keys in their map's order: strings and booleans
   * as such, other values as numbers.
   */
  static String objects(List<Map<String, Object>> rows) {
    StringBuilder b = new StringBuilder("[\n");
    for (int i = 0; i < rows.size(); i++) {
      b.append("  {");
      int k = 0;
      for (Map.Entry<String, Object> e : rows.get(i).entrySet()) {
        b.append(k++ == 0 ? "" : ", ").append(string(e.getKey())).append(": ");
        Object v = e.getValue();
        b.append(v instanceof String t ? string(t) : v instanceof Boolean ? String.valueOf(v)
            : number(((Number) v).doubleValue()));
      }
      b.append(i + 1 < rows.size() ? "},\n" : "}\n");
    }
    return b.append("]\n").toString();
  }

  /** A JSON number; JSON has no NaN or infinity, so those become null. */
  static String number(double v) {
    if (Double.isNaN(v) || Double.isInfinite(v)) {
      return "null";
    }
    if (v == Math.rint(v) && Math.abs(v) < 1e15) {
      return Long.toString((long) v);
    }
    return String.format(Locale.ROOT, "%.3f", v);
  }

  /** A JSON string literal, escaped per RFC 8259. */
  static String string(String s) {
    StringBuilder sb = new StringBuilder(s.length() + 2).append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> sb.append("\\\"");
        case '\\' -> sb.append("\\\\");
        case '\n' -> sb.append("\\n");
        case '\r' -> sb.append("\\r");
        case '\t' -> sb.append("\\t");
        case '\b' -> sb.append("\\b");
        case '\f' -> sb.append("\\f");
        default -> {
          if (c < 0x20 || c == '\u2028' || c == '\u2029') {
            sb.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
          } else {
            sb.append(c);
          }
        }
      }
    }
    return sb.append('"').toString();
  }
}
