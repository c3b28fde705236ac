package dev.fdipc.server;

import java.nio.charset.StandardCharsets;
import java.util.regex.Pattern;

/**
 * The server's side of one client's conversation: every line is acknowledged, integers add up to a
 * running total, {@code END} answers with the total and resets it, {@code DOWN} asks the server to
 * shut down and is honoured only for the server's own user.
 *
 * <p>A reply never repeats more than {@link #ECHO_MAX} characters of what the client sent: a
 * maximal message must get a reply that fits in the same maximum, or the session would die on it.
 */
final class Conversation {
  private static final Pattern INTEGER = Pattern.compile("[+-]?[0-9]+");
  /** The most characters of a client's line that a reply repeats. */
  static final int ECHO_MAX = 40;

  private final long serverUid;
  private long total;

  /** What to answer, and whether the server should now shut down. */
  record Reply(String text, boolean shutdown) {
    static Reply of(String text) {
      return new Reply(text, false);
    }
  }

  /** @param serverUid the server's own uid: only this user may send {@code DOWN} */
  Conversation(long serverUid) {
    this.serverUid = serverUid;
  }

  /**
   * Handles one line.
   *
   * @param peerUid the client's uid as the kernel reports it (SO_PEERCRED)
   */
  Reply onLine(String line, long peerUid) {
    String t = line.strip();
    if (t.equals("END")) {
      long sum = total;
      total = 0;
      return Reply.of("sum: " + sum);
    }
    if (t.equals("DOWN")) {
      if (peerUid == serverUid) {
        return new Reply("ok: server shutting down", true);
      }
      return Reply.of("refused: DOWN is honoured only for the server's user (uid " + serverUid
          + "); you are uid " + peerUid);
    }
    if (INTEGER.matcher(t).matches()) {
      long value;
      try {
        value = Long.parseLong(t);
      } catch (NumberFormatException e) {
        return Reply.of("error: " + echo(t) + " does not fit in a 64-bit integer; not added, total "
            + total);
      }
      try {
        total = Math.addExact(total, value);
      } catch (ArithmeticException e) {
        return Reply.of("error: adding " + value + " would overflow the 64-bit total; not added, "
            + "total " + total);
      }
      return Reply.of("ok: total " + total);
    }
    return Reply.of("ok: not a number, total unchanged");
  }

  /** {@code text}, or its start and its length when it is longer than {@link #ECHO_MAX}. */
  static String echo(String text) {
    if (text.length() <= ECHO_MAX) {
      return text;
    }
    int cut = ECHO_MAX;
    if (Character.isHighSurrogate(text.charAt(cut - 1))) {
      cut--;
    }
    return text.substring(0, cut) + "… (" + text.getBytes(StandardCharsets.UTF_8).length
        + " bytes)";
  }

  /** The running total. */
  long total() {
    return total;
  }
}
