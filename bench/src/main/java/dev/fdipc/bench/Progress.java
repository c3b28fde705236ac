package dev.fdipc.bench;

import java.io.PrintStream;

/** The progress line on standard error: {@code [3/24] memfd latency 4096 B ...}, rewritten. */
final class Progress {
  private final PrintStream err;
  private final int total;
  private int done;
  private int width;

  Progress(PrintStream err, int total) {
    this.err = err;
    this.total = total;
  }

  void step(String what) {
    done++;
    show(String.format("[%d/%d] %s ...", done, total, what));
  }

  void clear() {
    show("");
    err.print('\r');
    err.flush();
  }

  private void show(String line) {
    String padded = line.length() < width ? line + " ".repeat(width - line.length()) : line;
    width = line.length();
    err.print('\r' + padded);
    err.flush();
  }
}
