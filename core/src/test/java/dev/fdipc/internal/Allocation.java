package dev.fdipc.internal;

import java.lang.management.ManagementFactory;

/** Bytes allocated on the heap by the current thread, for "no allocation beyond the limits". */
final class Allocation {
  private static final com.sun.management.ThreadMXBean THREADS =
      (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

  private Allocation() {}

  static long current() {
    return THREADS.getCurrentThreadAllocatedBytes();
  }
}
