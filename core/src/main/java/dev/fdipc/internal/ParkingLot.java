package dev.fdipc.internal;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import dev.fdipc.spi.Interest;
import dev.fdipc.spi.NativeIoException;
import java.io.IOException;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * Where a virtual thread waits for a channel's {@link Interest} without a native call: it adds the
 * descriptor to one of two epoll sets (readable waits, writable waits; one descriptor may be
 * waited on in both directions at once) with {@code EPOLLONESHOT} and a token, then parks. The
 * shared {@link Reactor} polls both sets and unparks the thread whose token comes up. A thread
 * blocked in a native call would pin its carrier; a parked virtual thread frees it.
 *
 * <p>The waiting thread removes its own registration after it wakes, and before it lets go of the
 * channel's lock: the channel cannot close the descriptor while it is still in a set.
 */
public final class ParkingLot {
  private static final int BATCH = 64;
  private static volatile ParkingLot shared;

  private final int[] sets = new int[2];
  private final Map<Long, Thread> parked = new ConcurrentHashMap<>();
  private final AtomicLong tokens = new AtomicLong();
  private final Queue<Memory> scratch = new ConcurrentLinkedQueue<>();
  private final Memory ready = new Memory((long) BATCH * LibC.EPOLL_EVENT_SIZE); // loop only

  private ParkingLot(Reactor loop) throws IOException {
    for (int i = 0; i < 2; i++) {
      int ep = LibC.epoll_create1(LibC.EPOLL_CLOEXEC);
      if (ep < 0) {
        NativeIoException e = NativeIoException.lastError("epoll_create1");
        if (i == 1) {
          LibC.close(sets[0]);
        }
        throw e;
      }
      sets[i] = ep;
    }
    loop.execute(() -> {
      for (int set : sets) {
        try {
          loop.register(set, LibC.EPOLLIN, events -> unparkReady(set));
        } catch (NativeIoException e) {
          throw new IllegalStateException("cannot watch the parking set: " + e.getMessage(), e);
        }
      }
    });
  }

  /** The process's parking lot, on {@link Reactor#shared()}. */
  public static ParkingLot shared() throws IOException {
    ParkingLot p = shared;
    if (p == null) {
      synchronized (ParkingLot.class) {
        p = shared;
        if (p == null) {
          p = new ParkingLot(Reactor.shared());
          shared = p;
        }
      }
    }
    return p;
  }

  /**
   * Parks the calling thread until {@code interest} is ready, {@code deadline} passes, or somebody
   * unparks it (a close or peer-gone wake-up). Returns in every case; the caller checks why.
   *
   * @param deadline a {@link System#nanoTime()} value, or {@code Long.MAX_VALUE} for none
   */
  public void await(Interest interest, long deadline) throws IOException {
    int set = sets[interest.events() == Interest.READABLE ? 0 : 1];
    int events = (interest.events() == Interest.READABLE ? LibC.EPOLLIN : LibC.EPOLLOUT)
        | LibC.EPOLLONESHOT;
    long token = tokens.incrementAndGet();
    Memory ev = scratch.poll();
    if (ev == null) {
      ev = new Memory(16);
    }
    try {
      ev.setInt(0, events);
      ev.setLong(LibC.EPOLL_DATA_OFFSET, token);
      parked.put(token, Thread.currentThread());
      if (LibC.epoll_ctl(set, LibC.EPOLL_CTL_ADD, interest.fd(), Pointer.nativeValue(ev)) != 0) {
        parked.remove(token);
        throw NativeIoException.lastError("epoll_ctl(ADD)");
      }
      try {
        if (deadline == Long.MAX_VALUE) {
          LockSupport.park(this);
        } else {
          long left = deadline - System.nanoTime();
          if (left > 0) {
            LockSupport.parkNanos(this, left);
          }
        }
      } finally {
        LibC.epoll_ctl(set, LibC.EPOLL_CTL_DEL, interest.fd(), Pointer.nativeValue(ev));
        parked.remove(token);
      }
    } finally {
      scratch.add(ev);
    }
  }

  private void unparkReady(int set) {
    long base = Pointer.nativeValue(ready);
    int n = LibC.epoll_wait(set, base, BATCH, 0);
    for (int i = 0; i < n; i++) {
      long token = new Pointer(base + (long) i * LibC.EPOLL_EVENT_SIZE)
          .getLong(LibC.EPOLL_DATA_OFFSET);
      Thread t = parked.get(token);
      if (t != null) {
        LockSupport.unpark(t);
      }
    }
  }
}
