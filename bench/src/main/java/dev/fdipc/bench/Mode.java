package dev.fdipc.bench;

import java.util.Locale;

/** What a measurement measures; {@link #id()} is its name on the command line and in JSON. */
enum Mode {
  LATENCY, THROUGHPUT, CONNECT, IDLE;

  String id() {
    return name().toLowerCase(Locale.ROOT);
  }

  static Mode of(String id) {
    for (Mode m : values()) {
      if (m.id().equals(id)) {
        return m;
      }
    }
    throw new IllegalArgumentException("unknown mode '" + id
        + "'; use latency, throughput, connect, idle or all");
  }
}
