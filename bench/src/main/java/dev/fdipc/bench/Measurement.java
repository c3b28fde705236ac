package dev.fdipc.bench;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import org.HdrHistogram.Histogram;

/**
 * One figure of the benchmark: a (transport, mode, size, clients) and what was measured for it.
 * Times are nanoseconds; a figure that does not apply to the mode is {@code -1} (times) or
 * {@code NaN} (rates) and is left out of the JSON.
 *
 * @param extra further figures by JSON key, in order (the idle mode's per-client costs)
 */
record Measurement(String transport, Mode mode, int size, int clients, long p50Ns, long p90Ns,
    long p99Ns, long p999Ns, long maxNs, double msgsPerS, double mbPerS,
    Map<String, Double> extra) {

  Measurement {
    extra = Collections.unmodifiableMap(new LinkedHashMap<>(extra)); // keeps the key order
  }

  static Measurement ofHistogram(String transport, Mode mode, int size, int clients,
      Histogram h) {
    return new Measurement(transport, mode, size, clients, h.getValueAtPercentile(50),
        h.getValueAtPercentile(90), h.getValueAtPercentile(99), h.getValueAtPercentile(99.9),
        h.getMaxValue(), Double.NaN, Double.NaN, Map.of());
  }

  /**
   * Round trips with their rate: {@code h} holds every round trip of all clients over
   * {@code elapsedNanos}, so the messages per second are the round trips per second of them all
   * (what many busy clients get out of the server), and the MB/s their payload one way.
   */
  static Measurement ofRoundTrips(String transport, int size, int clients, Histogram h,
      long elapsedNanos) {
    double perSecond = h.getTotalCount() / (elapsedNanos / 1e9);
    return new Measurement(transport, Mode.LATENCY, size, clients, h.getValueAtPercentile(50),
        h.getValueAtPercentile(90), h.getValueAtPercentile(99), h.getValueAtPercentile(99.9),
        h.getMaxValue(), perSecond, perSecond * size / 1e6, Map.of());
  }

  static Measurement ofRate(String transport, int size, int clients, long messages,
      long elapsedNanos) {
    double seconds = elapsedNanos / 1e9;
    return new Measurement(transport, Mode.THROUGHPUT, size, clients, -1, -1, -1, -1, -1,
        messages / seconds, messages * (double) size / seconds / 1e6, Map.of());
  }

  static Measurement ofIdle(String transport, int clients, Map<String, Double> perClient) {
    return new Measurement(transport, Mode.IDLE, 0, clients, -1, -1, -1, -1, -1, Double.NaN,
        Double.NaN, perClient);
  }

  boolean hasTimes() {
    return p50Ns >= 0;
  }

  boolean hasRates() {
    return !Double.isNaN(msgsPerS);
  }
}
