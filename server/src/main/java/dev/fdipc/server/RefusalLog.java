package dev.fdipc.server;

import dev.fdipc.PeerCredentials;
import java.io.PrintStream;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The server's log of refused connections, rate-limited the way syslog does it: the first
 * {@link #BURST} refusals of every {@link #WINDOW_SECONDS}-second window are shown whole, the rest
 * are counted by reason and summed up in one line when the window is over, so that a flood of bad
 * connections costs a line every ten seconds instead of a line each.
 */
final class RefusalLog {
  static final int BURST = 5;
  static final long WINDOW_SECONDS = 10;
  private static final long WINDOW_NANOS = TimeUnit.SECONDS.toNanos(WINDOW_SECONDS);
  /** The error code in a refusal's reason, such as {@code (BUSY)}. */
  private static final Pattern CODE = Pattern.compile("\\(([A-Z][A-Z_]+)\\)");

  private final PrintStream out;
  private final LongSupplier nanoTime;
  private final Map<String, Integer> suppressed = new TreeMap<>();
  private long windowStart;
  private int shown;
  private int suppressedTotal;

  RefusalLog(PrintStream out, LongSupplier nanoTime) {
    this.out = out;
    this.nanoTime = nanoTime;
    this.windowStart = nanoTime.getAsLong();
  }

  synchronized void refused(PeerCredentials peer, String reason) {
    if (nanoTime.getAsLong() - windowStart >= WINDOW_NANOS) {
      flush();
    }
    if (shown < BURST) {
      shown++;
      out.println("refused: " + LogText.cut(reason, reason.length()) + (peer == null ? ""
          : " (pid " + peer.pid() + ", uid " + peer.uid() + ")"));
      return;
    }
    suppressedTotal++;
    suppressed.merge(codeOf(reason), 1, Integer::sum);
  }

  /** Prints the summary if the current window is over; called by a timer. */
  synchronized void flushIfDue() {
    if (nanoTime.getAsLong() - windowStart >= WINDOW_NANOS) {
      flush();
    }
  }

  /** Prints the summary of the refusals not shown, if any, and starts a new window. */
  synchronized void flush() {
    if (suppressedTotal > 0) {
      StringBuilder by = new StringBuilder();
      suppressed.forEach((code, n) -> by.append(by.length() == 0 ? "" : ", ").append(code)
          .append(": ").append(n));
      out.println("refused: " + suppressedTotal + " more refusal" + (suppressedTotal == 1 ? "" : "s")
          + " (" + by + ") in the last " + WINDOW_SECONDS + " s");
    }
    suppressed.clear();
    suppressedTotal = 0;
    shown = 0;
    windowStart = nanoTime.getAsLong();
  }

  static String codeOf(String reason) {
    Matcher m = CODE.matcher(reason);
    if (m.find()) {
      return m.group(1);
    }
    if (reason.startsWith("connection closed during the handshake")
        || reason.contains("left during the handshake")) {
      return "LEFT";
    }
    return "OTHER";
  }
}
