package dev.fdipc.server;

/** Text from clients, cut to a length that cannot flood the server's log. */
final class LogText {
  /** The most characters of one client message that the log shows. */
  static final int MAX = 200;
  /** The most characters of a warning that the log shows. */
  static final int WARNING_MAX = 4000;

  private LogText() {}

  /**
   * {@code printable} itself, or its first {@link #MAX} characters followed by
   * {@code … (N bytes)}, N being the message's size on the wire.
   */
  static String cut(String printable, int bytes) {
    return cut(printable, bytes, MAX);
  }

  /** Like {@link #cut(String, int)}, keeping at most {@code max} characters. */
  static String cut(String printable, int bytes, int max) {
    if (printable.length() <= max) {
      return printable;
    }
    int end = max;
    if (Character.isHighSurrogate(printable.charAt(end - 1))) {
      end--;
    }
    return printable.substring(0, end) + "… (" + bytes + " bytes)";
  }
}
