package dev.fdipc.server;

import sun.misc.Signal;

/**
 * SIGINT and SIGTERM as a clean shutdown request. A JVM shutdown hook cannot do this: the JVM
 * exits with 130 or 143 after the hooks run, and the server must exit 0 after a Ctrl-C.
 * {@code sun.misc.Signal} is in the {@code jdk.unsupported} module, which JDK 17 and 25 both export
 * for exactly this use.
 */
final class Signals {
  private Signals() {}

  static void onInterruptOrTerminate(Runnable action) {
    Signal.handle(new Signal("INT"), s -> action.run());
    Signal.handle(new Signal("TERM"), s -> action.run());
  }
}
