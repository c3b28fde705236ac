package dev.fdipc.spi;

import com.sun.jna.Pointer;
import dev.fdipc.internal.LibC;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Blocking waits that {@link AbstractIpcChannel#close()} and {@link TransportChannel#peerGone()}
 * can always interrupt: {@code poll(2)} on the descriptor being waited for together with an
 * eventfd that {@link #signal()} makes readable for good. Each thread role (sender, receiver) takes
 * its own {@link Waiter}.
 *
 * <pre>{@code
 * Wakeup wakeup = new Wakeup();
 * Wakeup.Waiter receiving = wakeup.newWaiter();
 * ...
 * if (!receiving.await(fd, LibC.POLLIN, deadline)) throw new IpcTimeoutException(...);
 * ...
 * protected void wakeUp() { wakeup.signal(); }
 * protected void release() { ...; wakeup.close(); }
 * }</pre>
 */
public final class Wakeup implements Closeable {
  /** The 8 bytes every signal writes; only read, so one copy serves every eventfd. */
  private static final com.sun.jna.Memory ONE = new com.sun.jna.Memory(8);
  private static final long ONE_ADDRESS;

  static {
    ONE.setLong(0, 1);
    ONE_ADDRESS = Pointer.nativeValue(ONE);
  }

  private final Fd eventfd;
  /** The waiters' native memory, freed by {@link #close()} (no cleaner left to run after GC). */
  private final java.util.List<com.sun.jna.Memory> waiterMemory =
      new java.util.concurrent.CopyOnWriteArrayList<>();

  /** Creates the eventfd (close-on-exec, non-blocking). */
  public Wakeup() throws NativeIoException {
    int fd = LibC.eventfd(0, LibC.EFD_CLOEXEC | LibC.EFD_NONBLOCK);
    if (fd < 0) {
      throw NativeIoException.lastError("eventfd");
    }
    eventfd = Fd.of(fd);
  }

  /**
   * Makes every current and future {@link Waiter#await} return at once. Never blocks; does nothing
   * after {@link #close()}, so it cannot write to a descriptor number reused by someone else.
   */
  public void signal() {
    synchronized (eventfd) {
      if (eventfd.isOpen()) {
        // The counter is never read back: once signalled, the eventfd stays readable.
        LibC.write(eventfd.intValue(), ONE_ADDRESS, 8);
      }
    }
  }

  /** A waiter for one thread role; not thread-safe itself. */
  public Waiter newWaiter() {
    return new Waiter();
  }

  /** Closes the eventfd. Call it once nobody waits any more (from {@code release()}). */
  @Override
  public void close() throws IOException {
    synchronized (eventfd) {
      eventfd.close();
    }
    for (com.sun.jna.Memory m : waiterMemory) {
      m.close();
    }
    waiterMemory.clear();
  }

  /** Waits for one descriptor at a time, interruptibly; owned by one thread role. */
  public final class Waiter {
    private final com.sun.jna.Memory memory = new com.sun.jna.Memory(16);
    // through a plain Pointer, not Memory.getByteBuffer, which keeps the Memory in JNA's global
    // holder until a later view purges it (see FdStreamChannel.view)
    private final ByteBuffer pollfds = new Pointer(Pointer.nativeValue(memory))
        .getByteBuffer(0, 16).order(ByteOrder.nativeOrder());
    private final long pollfdsAddress = Pointer.nativeValue(memory);

    private Waiter() {
      waiterMemory.add(memory);
    }

    /**
     * Waits until {@code fd} is ready for {@code events}, {@link #signal()} was called, or
     * {@code deadline} passes. The caller then checks why: {@link #readyEvents()}, its channel's
     * open and peer-gone state, and the clock.
     *
     * @param deadline a {@link System#nanoTime()} value, or {@link AbstractIpcChannel#NO_DEADLINE}
     * @return false if the deadline passed first
     */
    public boolean await(int fd, short events, long deadline) throws IOException {
      pollfds.putInt(0, fd).putShort(4, events).putShort(6, (short) 0);
      pollfds.putInt(8, eventfd.intValue()).putShort(12, LibC.POLLIN).putShort(14, (short) 0);
      while (true) {
        int timeout = AbstractIpcChannel.pollMillis(deadline);
        if (timeout == 0 && deadline != AbstractIpcChannel.NO_DEADLINE) {
          return false;
        }
        int r = LibC.poll(pollfdsAddress, 2, timeout);
        if (r > 0) {
          return true;
        }
        if (r == 0) {
          if (AbstractIpcChannel.expired(deadline)) {
            return false;
          }
        } else if (LibC.errno() != LibC.EINTR) {
          throw NativeIoException.lastError("poll");
        }
      }
    }

    /** The events {@code fd} reported in the last {@link #await} that returned true. */
    public short readyEvents() {
      return pollfds.getShort(6);
    }
  }
}
