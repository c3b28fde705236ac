package dev.fdipc.internal;

import java.io.Closeable;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Drops clients that stop reading. A session handler's send blocks while the client's transport
 * buffer is full (backpressure); a client that never reads again would hold the handler's thread
 * forever. One thread per server looks at every session a few times per timeout and drops each
 * session whose current send has waited longer than the timeout.
 *
 * <p>Sends only publish their start time (two volatile writes), so the check costs nothing on the
 * message path. A send is dropped at most a quarter of the timeout (and at most 1 s) late.
 */
public final class SendWatchdog implements Closeable {
  private final long timeoutNanos;
  private final Set<ServerSession> watched = ConcurrentHashMap.newKeySet();
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
      watched.add(session);
    }
  }

  void unwatch(ServerSession session) {
    watched.remove(session);
  }

  private void run() {
    long period = Math.max(TimeUnit.MILLISECONDS.toNanos(10),
        Math.min(timeoutNanos / 4, TimeUnit.SECONDS.toNanos(1)));
    while (!closed) {
      LockSupport.parkNanos(this, period);
      long now = System.nanoTime();
      for (ServerSession s : watched) {
        long since = s.sendingSince();
        if (since != 0 && now - since >= timeoutNanos) {
          watched.remove(s);
          s.dropSlowReader(now - since);
        }
      }
    }
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
