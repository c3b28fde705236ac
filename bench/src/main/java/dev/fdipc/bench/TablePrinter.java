package dev.fdipc.bench;

import java.util.List;
import java.util.Locale;

/** The readable table: one line per measurement, times in microseconds. */
final class TablePrinter {
  private TablePrinter() {}

  static String table(List<Measurement> measurements) {
    StringBuilder sb = new StringBuilder();
    sb.append(String.format(Locale.ROOT, "%-18s %-10s %8s %7s %9s %9s %9s %9s %10s %11s %9s%n",
        "transport", "mode", "size", "clients", "p50 us", "p90 us", "p99 us", "p99.9 us",
        "max us", "msgs/s", "MB/s"));
    for (Measurement m : measurements) {
      if (m.mode() == Mode.IDLE) {
        continue;
      }
      sb.append(String.format(Locale.ROOT, "%-18s %-10s %8s %7d %9s %9s %9s %9s %10s %11s %9s%n",
          m.transport(), m.mode().id(), m.mode() == Mode.CONNECT ? "-" : m.size(), m.clients(),
          us(m.p50Ns()), us(m.p90Ns()), us(m.p99Ns()), us(m.p999Ns()), us(m.maxNs()),
          m.hasRates() ? String.format(Locale.ROOT, "%.0f", m.msgsPerS()) : "",
          m.hasRates() ? String.format(Locale.ROOT, "%.1f", m.mbPerS()) : ""));
    }
    boolean idle = measurements.stream().anyMatch(m -> m.mode() == Mode.IDLE);
    if (idle) {
      sb.append(String.format(Locale.ROOT, "%nserver cost per idle client%n%-18s %7s %14s %14s "
          + "%16s%n", "transport", "clients", "threads/client", "heap B/client",
          "CPU %core/client"));
      for (Measurement m : measurements) {
        if (m.mode() == Mode.IDLE) {
          sb.append(String.format(Locale.ROOT, "%-18s %7d %14.2f %14.0f %16.3f%n", m.transport(),
              m.clients(), m.extra().get("server_threads_per_client"),
              m.extra().get("server_heap_bytes_per_client"),
              m.extra().get("server_cpu_pct_per_client")));
        }
      }
    }
    return sb.toString().replaceAll("(?m) +$", ""); // no trailing blanks where rates are empty
  }

  private static String us(long nanos) {
    return nanos < 0 ? "" : String.format(Locale.ROOT, "%.2f", nanos / 1000.0);
  }
}
