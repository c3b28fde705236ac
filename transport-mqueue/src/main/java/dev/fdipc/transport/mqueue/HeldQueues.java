package dev.fdipc.transport.mqueue;

import java.util.concurrent.atomic.AtomicLong;

/**
 * What the queues this process created and still holds are charged against
 * {@code RLIMIT_MSGQUEUE}: for the capacity line and for error messages. The kernel keeps charging
 * a queue until its last descriptor closes, which may be a client's, so this is a lower bound.
 */
final class HeldQueues {
  private static final AtomicLong BYTES = new AtomicLong();
  private static final AtomicLong QUEUES = new AtomicLong();

  private HeldQueues() {}

  static void add(long queues, long bytes) {
    QUEUES.addAndGet(queues);
    BYTES.addAndGet(bytes);
  }

  static long bytes() {
    return BYTES.get();
  }

  static long queues() {
    return QUEUES.get();
  }
}
