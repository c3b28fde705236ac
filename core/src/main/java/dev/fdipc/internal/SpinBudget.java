package dev.fdipc.internal;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * How many threads of this process may spin at once, over all channels and handshakes: half the
 * CPUs, at least one. Spinning pays off only while the peer has a CPU to answer on; with many busy
 * waiters on few cores, spinners would take the CPUs from the peers and the loop they wait for. A
 * wait that finds the budget spent waits at once instead.
 */
public final class SpinBudget {
  private static final int MAX_SPINNERS =
      Math.max(1, Runtime.getRuntime().availableProcessors() / 2);
  /** CPUs online on the machine: a peer may run on one this process is not allowed to use. */
  private static final int ONLINE_CPUS = onlineCpus();
  private static final AtomicInteger SPINNERS = new AtomicInteger();

  private SpinBudget() {}

  /** Takes a place among the spinners; false if all are taken. Pair with {@link #release()}. */
  public static boolean tryAcquire() {
    int n;
    do {
      n = SPINNERS.get();
      if (n >= MAX_SPINNERS) {
        return false;
      }
    } while (!SPINNERS.compareAndSet(n, n + 1));
    return true;
  }

  /** Gives back a place taken by {@link #tryAcquire()}. */
  public static void release() {
    SPINNERS.decrementAndGet();
  }

  /**
   * True when another CPU can run the peer while this thread spins: the machine has more than
   * one online, whether or not this process may use them (a client pinned to one CPU still talks
   * to a server on another).
   */
  public static boolean peerHasCpu() {
    return ONLINE_CPUS > 1;
  }

  /** Counts the CPUs in {@code /sys/devices/system/cpu/online} ("0-3,6"); if unreadable, the CPUs this process may use. */
  static int onlineCpus() {
    try {
      String list = java.nio.file.Files.readString(
          java.nio.file.Path.of("/sys/devices/system/cpu/online")).trim();
      return countCpus(list);
    } catch (java.io.IOException | RuntimeException e) {
      return Math.max(1, Runtime.getRuntime().availableProcessors());
    }
  }

  static int countCpus(String list) {
    int n = 0;
    for (String range : list.split(",")) {
      int dash = range.indexOf('-');
      n += dash < 0 ? 1 : Integer.parseInt(range.substring(dash + 1).trim())
          - Integer.parseInt(range.substring(0, dash).trim()) + 1;
    }
    return Math.max(1, n);
  }
}
