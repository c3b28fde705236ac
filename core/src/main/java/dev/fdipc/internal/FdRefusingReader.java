package dev.fdipc.internal;

import dev.fdipc.ErrorCode;
import dev.fdipc.ProtocolException;
import com.sun.jna.Memory;
import java.io.Closeable;
import java.io.IOException;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import dev.fdipc.spi.NativeIoException;

/**
 * Reads a UNIX stream socket with our own {@code recvmsg(2)} and a control buffer big enough for
 * {@code SCM_MAX_FD} (253) fds, so that fds a peer sends are seen, closed and reported instead of
 * silently discarded or leaked. junixsocket cannot do this: without an ancillary buffer the kernel
 * discards fds unseen, and with one it holds at most 60 and leaks the rest when 61 or more arrive.
 *
 * <p>Reads a duplicate of the socket's fd, so the socket's owner can close its own fd at any time;
 * the duplicate is closed when {@link #close()} has been called and no read is in flight, never
 * under a reader (which could then read from an unrelated file that reused the number).
 */
final class FdRefusingReader implements Closeable {
  /** recvmsg(2) that refuses fds: the same code the server's loops read control sockets with. */
  private final ControlIo io = new ControlIo();
  /** One struct pollfd for the timed reads; also the lock that guards closing. */
  private final Memory mem = new Memory(8);
  private final int fd;
  private int readers;
  private boolean closed;
  private boolean fdClosed;

  /** Duplicates {@code socketFd} (close-on-exec); the caller keeps its own fd. */
  FdRefusingReader(int socketFd) throws IOException {
    int d = LibC.fcntl(socketFd, LibC.F_DUPFD_CLOEXEC, 0);
    if (d < 0) {
      throw NativeIoException.lastError("fcntl(F_DUPFD_CLOEXEC)");
    }
    this.fd = d;
  }

  /**
   * Reads up to {@code len} bytes, waiting at most {@code timeoutMillis} (0: forever).
   *
   * @return the number of bytes read, or -1 at end of stream
   * @throws ProtocolException {@link ErrorCode#FDS_REFUSED} if fds arrived with the data; they
   *     have all been closed
   * @throws SocketTimeoutException if nothing arrived in time
   */
  synchronized int read(byte[] b, int off, int len, int timeoutMillis) throws IOException {
    enter();
    try {
      long deadline = timeoutMillis > 0 ? System.nanoTime() + timeoutMillis * 1_000_000L : 0;
      while (true) {
        awaitReadable(deadline, timeoutMillis);
        int n = receive(b, off, len);
        if (n != 0) {
          return n;
        }
      }
    } finally {
      leave();
    }
  }

  /**
   * Reads what is there without waiting ({@code MSG_DONTWAIT}): for a caller that polls the
   * {@link #fd()} itself.
   *
   * @return the number of bytes read, 0 if there is nothing to read now, or -1 at end of stream
   * @throws ProtocolException {@link ErrorCode#FDS_REFUSED} if fds arrived with the data; they
   *     have all been closed
   */
  synchronized int readNow(byte[] b, int off, int len) throws IOException {
    if (len <= 0) {
      throw new IllegalArgumentException("len must be positive: " + len);
    }
    enter();
    try {
      return receive(b, off, len);
    } finally {
      leave();
    }
  }

  /**
   * The duplicate this reader reads, for {@code poll(2)}. Valid until {@link #close()}: a caller
   * that polls it must stop before closing.
   */
  int fd() {
    return fd;
  }

  /** One {@code recvmsg(2)} that does not wait: bytes read, 0 if none now, -1 at end of stream. */
  private int receive(byte[] b, int off, int len) throws IOException {
    return io.read(fd, b, off, len);
  }

  private void awaitReadable(long deadline, int timeoutMillis) throws IOException {
    while (true) {
      int wait = -1;
      if (deadline != 0) {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          throw new SocketTimeoutException("nothing to read within " + timeoutMillis + " ms");
        }
        wait = (int) Math.max(1, left / 1_000_000);
      }
      mem.setInt(0, fd);
      mem.setShort(4, LibC.POLLIN);
      mem.setShort(6, (short) 0);
      int r = LibC.poll(com.sun.jna.Pointer.nativeValue(mem), 1, wait);
      if (r > 0) {
        return; // readable, end of stream, or an error recvmsg will report
      }
      if (r < 0 && LibC.errno() != LibC.EINTR) {
        throw NativeIoException.lastError("poll");
      }
    }
  }

  private void enter() throws SocketException {
    synchronized (mem) {
      if (closed) {
        throw new SocketException("Socket closed");
      }
      readers++;
    }
  }

  private void leave() {
    synchronized (mem) {
      readers--;
      if (closed && readers == 0) {
        closeFd();
        mem.notifyAll();
      }
    }
  }

  /**
   * Closes the duplicate: wakes a read in flight with end of stream and waits (a moment: the read
   * returns as soon as it wakes) for it to leave, so that the fd is gone when this returns.
   */
  @Override
  public void close() {
    synchronized (mem) {
      if (closed) {
        return;
      }
      closed = true;
      if (readers > 0) {
        LibC.shutdown(fd, LibC.SHUT_RDWR);
        long deadline = System.nanoTime() + 2_000_000_000L;
        boolean interrupted = false;
        while (readers > 0 && System.nanoTime() < deadline) {
          try {
            mem.wait(100);
          } catch (InterruptedException e) {
            interrupted = true;
          }
        }
        if (interrupted) {
          Thread.currentThread().interrupt();
        }
        if (readers > 0) {
          return; // the last reader out closes it
        }
      }
      closeFd();
    }
  }

  private void closeFd() {
    if (!fdClosed) {
      fdClosed = true;
      LibC.close(fd);
    }
  }
}
