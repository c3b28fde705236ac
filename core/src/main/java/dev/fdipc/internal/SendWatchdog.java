package dev.fdipc.internal;

import java.io.Closeable;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Drops clients that stop reading. A session handler's send blocks while the client's transport
 * buffer is full (backpressure); a client that never reads again would hold the handler's thread
 * forever. One thread per server looks at every session a few times per timeout and drops each
 * session whose current send has waited longer than the timeout.
 *
 * <p>Sends only count their start and end (two volatile writes, no clock read: {@code nanoTime}
 * was a measurable part of a memfd round trip). The watchdog times a send from the first look
 * that finds it under way, which is at most one period after it began: it is never dropped early,
 * and at most two periods, a quarter of the timeout (and at most 1 s), late.
 */
public final class SendWatchdog implements Closeable {
  private final long timeoutNanos;
  private final Map<ServerSession, Sighting> watched = new ConcurrentHashMap<>();
  private final Thread thread;
  private volatile boolean closed;

  /**
   * @param timeout how long one send may wait for the client; {@link Duration#ZERO} disables the
   *     watchdog (sends wait as long as the client takes)
   * @param threadName the watchdog thread's name
   */
  public SendWatchdog(Duration timeout, String threadName) {
    this.timeoutNanos = timeout.toNanos();
    if (timeoutNanos <= 0) {
      thread = null;
      return;
    }
    thread = new Thread(this::run, threadName);
    thread.setDaemon(true);
    thread.start();
  }

  /** The timeout, for messages. */
  public Duration timeout() {
    return Duration.ofNanos(timeoutNanos);
  }

  void watch(ServerSession session) {
    if (thread != null) {
      watched.put(session, new Sighting());
    }
  }

  void unwatch(ServerSession session) {
    watched.remove(session);
  }

  private void run() {
    long period = Math.max(TimeUnit.MILLISECONDS.toNanos(5),
        Math.min(timeoutNanos / 8, TimeUnit.MILLISECONDS.toNanos(500)));
    while (!closed) {
      LockSupport.parkNanos(this, period);
      long now = System.nanoTime();
      for (Map.Entry<ServerSession, Sighting> e : watched.entrySet()) {
        ServerSession s = e.getKey();
        Sighting seen = e.getValue();
        long events = s.sendEvents();
        if ((events & 1) == 0) {
          seen.events = -1; // no send under way
        } else if (events != seen.events) {
          seen.events = events; // a send not seen before: it began at most one period ago
          seen.since = now;
        } else if (now - seen.since >= timeoutNanos) {
          watched.remove(s);
          s.dropSlowReader(now - seen.since);
        }
      }
    }
  }

  /** What the watchdog thread last saw of one session; touched by that thread only. */
  private static final class Sighting {
    long events = -1;
    long since;
  }

  /** Stops the watchdog thread. */
  @Override
  public void close() {
    closed = true;
    if (thread != null) {
      LockSupport.unpark(thread);
    }
  }
}
