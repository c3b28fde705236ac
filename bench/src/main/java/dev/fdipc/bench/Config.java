package dev.fdipc.bench;

import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * What one run of the benchmark measures, parsed and checked from the command line by
 * {@link Bench}.
 *
 * @param transports configurations such as {@code memfd:wait=spin} or a baseline name; null means
 *     every available one
 * @param latencySizes message sizes for latency
 * @param throughputSizes message sizes for throughput
 * @param modes what to measure
 * @param warmupSeconds warm-up before each figure
 * @param durationSeconds measuring time of each figure
 * @param clients numbers of concurrent clients to measure each figure with
 * @param json where to write the JSON, or null
 * @param report where to write the chart ({@code .svg}, {@code .html} or {@code .png}), or null
 */
record Config(List<String> transports, List<Integer> latencySizes, List<Integer> throughputSizes,
    Set<Mode> modes, double warmupSeconds, double durationSeconds, List<Integer> clients,
    Path json, Path report) {

  static final List<Integer> LATENCY_SIZES = List.of(64, 4096, 65536);
  static final List<Integer> THROUGHPUT_SIZES = List.of(64, 4096, 65536, 1 << 20);

  Config {
    modes = Set.copyOf(modes.isEmpty() ? EnumSet.allOf(Mode.class) : modes);
    for (int size : latencySizes) {
      checkSize(size);
    }
    for (int size : throughputSizes) {
      checkSize(size);
    }
    for (int n : clients) {
      if (n < 1 || n > 1000) {
        throw new IllegalArgumentException("--clients: " + n + " is not in [1, 1000]");
      }
    }
    if (!(durationSeconds > 0) || !(warmupSeconds >= 0)) {
      throw new IllegalArgumentException("--duration must be > 0 and --warmup >= 0");
    }
    if (report != null && !(report.toString().endsWith(".svg")
        || report.toString().endsWith(".html") || report.toString().endsWith(".png"))) {
      throw new IllegalArgumentException("--report: " + report
          + " must end in .svg, .html or .png");
    }
  }

  private static void checkSize(int size) {
    if (size < 8 || size > Bench.MAX_MESSAGE) {
      throw new IllegalArgumentException("--sizes: " + size + " is not in [8, "
          + Bench.MAX_MESSAGE + "] (a message carries its 8-byte sequence number)");
    }
  }

  boolean measures(Mode mode) {
    return modes.contains(mode);
  }
}
