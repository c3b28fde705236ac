package dev.fdipc.internal;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import dev.fdipc.ErrorCode;
import dev.fdipc.ProtocolException;
import dev.fdipc.ServerListener;
import dev.fdipc.spi.NativeIoException;
import java.io.Closeable;
import java.io.EOFException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Watches the control connection of every session past its handshake, on one thread per server,
 * for the one thing a client may still send there: GOODBYE, or the end of the connection. Whatever
 * comes ends the watch and is handed to the session's {@link Handler} (ServerSession's
 * {@code controlEnded}), which marks the client gone and answers a forbidden frame as PROTOCOL.md
 * 8.1 says.
 *
 * <p>One {@code poll(2)} covers every watched connection plus an eventfd that {@link #watch} and
 * {@link #unwatch} signal to make the thread take in the change. Reads never wait
 * ({@code MSG_DONTWAIT}) and keep a frame's progress per session (its 8-byte header and a count of
 * body bytes, which are read into a shared scratch buffer and dropped: the server examines no body
 * after the handshake), so a client that sends half a frame and stops holds up nobody.
 *
 * <p>{@link #unwatch} returns only once the thread has taken the connection out of its poll set
 * and finished whatever it was doing with it; only then may the connection be closed. Otherwise the
 * thread could poll or read a descriptor number that the kernel has already given to the next
 * client's connection, and steal its HELLO.
 */
public final class ControlWatcher implements Closeable {
  /** Told, on the watcher's thread, how a watched control connection ended; once per watch. */
  interface Handler {
    /**
     * @param frameType the type of the whole frame that arrived, or -1 for none
     * @param failure why the connection could not be read on, or null for a whole frame or a clean
     *     end of stream (a {@link ProtocolException} for a malformed frame or refused fds, an
     *     {@link EOFException} for a stream that ended inside a frame)
     */
    void controlEnded(int frameType, IOException failure);
  }

  private static final int POLLFD_SIZE = 8; // struct pollfd: fd(4) events(2) revents(2)
  private static final int SCRATCH_SIZE = 4096;

  private final ServerListener listener;
  private final int eventfd;
  private final Memory one = new Memory(8);
  private final Thread thread;

  private final Object lock = new Object();
  // Guarded by lock:
  private final Map<Handler, Watched> registered = new HashMap<>();
  private final List<Watched> toAdd = new ArrayList<>();
  private final List<Watched> toRemove = new ArrayList<>();
  private long requested; // changes asked for so far
  private long applied; // changes the thread had taken in when it last went back to poll
  private boolean closed;
  private boolean ended;

  // Owned by the thread:
  private final Set<Watched> polled = new LinkedHashSet<>();
  private final byte[] scratch = new byte[SCRATCH_SIZE];
  private final Memory drain = new Memory(8);
  private Memory pollfds = new Memory(64 * POLLFD_SIZE);

  /**
   * Creates the eventfd and starts the thread.
   *
   * @param listener told about failures of the watcher itself
   * @param threadName the thread's name
   */
  public ControlWatcher(ServerListener listener, String threadName) throws IOException {
    this.listener = listener;
    int fd = LibC.eventfd(0, LibC.EFD_CLOEXEC | LibC.EFD_NONBLOCK);
    if (fd < 0) {
      throw NativeIoException.lastError("eventfd");
    }
    this.eventfd = fd;
    one.setLong(0, 1);
    thread = new Thread(this::run, threadName);
    thread.setDaemon(true);
    thread.start();
  }

  /**
   * Starts watching {@code control} for {@code session}, which identifies the watch in
   * {@link #unwatch}. Bytes that arrived before this call are seen too.
   *
   * @return false if the watcher is closed (the server has ended): nothing is watched
   */
  boolean watch(ControlConnection control, Handler session) {
    synchronized (lock) {
      if (closed || ended) {
        return false;
      }
      Watched w = new Watched(session, control);
      registered.put(session, w);
      toAdd.add(w);
      requested++;
      signal();
      return true;
    }
  }

  /**
   * Stops watching {@code session} and waits until the thread has let go of its connection: when
   * this returns, the connection's descriptor is in no poll set and no read, and the handler is
   * not running and will not be called, so the connection may be closed. Call it from any thread
   * but the watcher's (from there it does not wait; there is no need).
   */
  void unwatch(Handler session) {
    boolean interrupted = false;
    synchronized (lock) {
      Watched w = registered.remove(session);
      if (w == null) {
        return;
      }
      if (toAdd.remove(w)) {
        return; // never polled
      }
      toRemove.add(w);
      long change = ++requested;
      if (Thread.currentThread() == thread) {
        return; // not polling now; the change is taken in before the next poll
      }
      signal();
      // No time limit: giving up would bring back the race this wait exists for, and the thread
      // goes back to poll as soon as the callback it may be running returns.
      while (applied < change && !ended) {
        try {
          lock.wait();
        } catch (InterruptedException e) {
          interrupted = true;
        }
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  /** The number of connections watched now (for tests and diagnostics). */
  int watchedCount() {
    synchronized (lock) {
      return registered.size();
    }
  }

  /** The watcher's thread (for tests). */
  Thread thread() {
    return thread;
  }

  /** Must hold {@link #lock}, so that it never writes to a closed (and reused) descriptor. */
  private void signal() {
    if (!ended) {
      LibC.write(eventfd, Pointer.nativeValue(one), 8);
    }
  }

  /**
   * Stops the thread and waits (a moment: it is woken at once) for it to end; it closes the
   * eventfd on its way out. Sessions still watched are simply no longer watched. Every caller
   * waits, not only the first: the server may be finishing on two threads at once.
   */
  @Override
  public void close() {
    synchronized (lock) {
      if (!closed) {
        closed = true;
        signal();
      }
    }
    if (Thread.currentThread() != thread) {
      try {
        thread.join(TimeUnit.SECONDS.toMillis(5));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  private void run() {
    try {
      while (takeInChanges()) {
        Watched[] watched = polled.toArray(new Watched[0]);
        int n = watched.length + 1;
        if (pollfds.size() < (long) n * POLLFD_SIZE) {
          pollfds = new Memory((long) Math.max(n, 2 * watched.length) * POLLFD_SIZE);
        }
        pollfds.setInt(0, eventfd);
        pollfds.setShort(4, LibC.POLLIN);
        pollfds.setShort(6, (short) 0);
        for (int i = 0; i < watched.length; i++) {
          long at = (long) (i + 1) * POLLFD_SIZE;
          pollfds.setInt(at, watched[i].control.pollFd());
          pollfds.setShort(at + 4, LibC.POLLIN);
          pollfds.setShort(at + 6, (short) 0);
        }
        int r = LibC.poll(Pointer.nativeValue(pollfds), n, -1);
        if (r < 0) {
          int errno = LibC.errno();
          if (errno != LibC.EINTR) {
            listener.warning("the server's control-connection watcher: "
                + new NativeIoException("poll", errno).getMessage() + "; retrying", null);
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(100)); // nothing to wait for
          }
          continue;
        }
        if (pollfds.getShort(6) != 0) {
          LibC.read(eventfd, Pointer.nativeValue(drain), 8); // resets the counter
        }
        for (int i = 0; i < watched.length; i++) {
          if (pollfds.getShort((long) (i + 1) * POLLFD_SIZE + 6) != 0 && service(watched[i])) {
            polled.remove(watched[i]);
          }
        }
      }
    } catch (RuntimeException | Error e) {
      listener.warning("the server's control-connection watcher failed: " + e
          + "; clients that leave are noticed only when their handler next uses the channel", e);
      throw e;
    } finally {
      synchronized (lock) {
        ended = true;
        lock.notifyAll();
        LibC.close(eventfd);
      }
    }
  }

  /**
   * Takes in the changes asked for, then tells {@link #unwatch} callers that they are done with.
   *
   * @return false once the watcher is closed
   */
  private boolean takeInChanges() {
    synchronized (lock) {
      polled.addAll(toAdd);
      toAdd.clear();
      toRemove.forEach(polled::remove);
      toRemove.clear();
      applied = requested;
      lock.notifyAll();
      return !closed;
    }
  }

  /** Reads what arrived for {@code w}; true once its watch is over (the session was told). */
  private boolean service(Watched w) {
    if (!w.readArrived(scratch)) {
      return false;
    }
    try {
      w.session.controlEnded(w.type, w.failure);
    } catch (RuntimeException e) { // a listener that threw, say: the other clients go on
      listener.warning("ending the watch of a client's control connection failed: " + e, e);
    }
    return true;
  }

  /** One watched connection and how far its frame has come. */
  private static final class Watched {
    final Handler session;
    final ControlConnection control;
    final byte[] header = new byte[Frame.HEADER_SIZE];
    int headerFill;
    int bodyLength = -1;
    int bodyFill;
    /** The frame that ended the watch, or -1 for none. */
    int type = -1;
    /** Why the watch ended, or null for a whole frame or a clean end of stream. */
    IOException failure;

    Watched(Handler session, ControlConnection control) {
      this.session = session;
      this.control = control;
    }

    /**
     * Reads what has arrived, without waiting.
     *
     * @return true once the watch is over: a whole frame was read ({@link #type}), the stream
     *     ended, or the read failed ({@link #failure})
     */
    boolean readArrived(byte[] scratch) {
      try {
        while (true) {
          if (headerFill < Frame.HEADER_SIZE) {
            int n = control.readNow(header, headerFill, Frame.HEADER_SIZE - headerFill);
            if (n == 0) {
              return false;
            }
            if (n < 0) {
              if (headerFill > 0) {
                failure = endedInside(headerFill, Frame.HEADER_SIZE);
              }
              return true;
            }
            headerFill += n;
            if (headerFill < Frame.HEADER_SIZE) {
              continue;
            }
            bodyLength = Wire.bodyLength(header);
          }
          if (bodyFill < bodyLength) {
            int n = control.readNow(scratch, 0, Math.min(scratch.length, bodyLength - bodyFill));
            if (n == 0) {
              return false;
            }
            if (n < 0) {
              failure = endedInside(bodyFill, bodyLength);
              return true;
            }
            bodyFill += n;
            continue;
          }
          int frameType = header[5] & 0xff;
          int announced = header[6] & 0xff;
          if (announced != 0) {
            throw new ProtocolException(ErrorCode.FDS_REFUSED, Frame.typeName(frameType)
                + " frame carries " + announced + " fds; this side accepts none");
          }
          type = frameType;
          return true;
        }
      } catch (IOException e) {
        failure = e;
        return true;
      }
    }

    private static EOFException endedInside(int got, int of) {
      return new EOFException("control connection ended inside a frame after " + got + " of "
          + of + " bytes");
    }
  }
}
