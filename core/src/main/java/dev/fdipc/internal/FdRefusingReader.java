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
  // struct msghdr on LP64 Linux: name(8) namelen(4)+pad iov(8) iovlen(8) control(8)
  // controllen(8) flags(4)+pad = 56 bytes; struct iovec: base(8) len(8).
  private static final int MSGHDR_SIZE = 56;
  private static final int IOV_OFFSET = MSGHDR_SIZE;
  private static final int CMSG_HEADER = 16; // cmsg_len(8) cmsg_level(4) cmsg_type(4)
  private static final int CONTROL_SIZE =
      CMSG_HEADER + ((LibC.SCM_MAX_FD * 4 + 7) & ~7); // CMSG_SPACE(253 * sizeof(int))
  private static final int CONTROL_OFFSET = IOV_OFFSET + 16;
  private static final int POLL_OFFSET = CONTROL_OFFSET + CONTROL_SIZE;
  private static final int DATA_OFFSET = POLL_OFFSET + 8;
  private static final int DATA_SIZE = 4096;

  private final int fd;
  private final Memory mem = new Memory(DATA_OFFSET + DATA_SIZE);
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
    while (true) {
      int want = Math.min(len, DATA_SIZE);
      long base = com.sun.jna.Pointer.nativeValue(mem);
      mem.clear(DATA_OFFSET);
      mem.setLong(IOV_OFFSET, base + DATA_OFFSET);
      mem.setLong(IOV_OFFSET + 8, want);
      mem.setLong(16, base + IOV_OFFSET); // msg_iov
      mem.setLong(24, 1); // msg_iovlen
      mem.setLong(32, base + CONTROL_OFFSET); // msg_control
      mem.setLong(40, CONTROL_SIZE); // msg_controllen
      long n = LibC.recvmsg(fd, base, LibC.MSG_CMSG_CLOEXEC | LibC.MSG_DONTWAIT);
      if (n < 0) {
        int errno = LibC.errno();
        if (errno == LibC.EINTR) {
          continue;
        }
        if (errno == LibC.EAGAIN) {
          return 0;
        }
        if (errno == LibC.ECONNRESET) {
          throw new SocketException("Connection reset");
        }
        throw new NativeIoException("recvmsg", errno);
      }
      refuseFds((int) n);
      if (n == 0) {
        return -1;
      }
      mem.read(DATA_OFFSET, b, off, (int) n);
      return (int) n;
    }
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
      mem.setInt(POLL_OFFSET, fd);
      mem.setShort(POLL_OFFSET + 4, LibC.POLLIN);
      mem.setShort(POLL_OFFSET + 6, (short) 0);
      int r = LibC.poll(com.sun.jna.Pointer.nativeValue(mem) + POLL_OFFSET, 1, wait);
      if (r > 0) {
        return; // readable, end of stream, or an error recvmsg will report
      }
      if (r < 0 && LibC.errno() != LibC.EINTR) {
        throw NativeIoException.lastError("poll");
      }
    }
  }

  /** Closes every fd in the control data; throws if there was any (or the kernel cut some off). */
  private void refuseFds(int bytes) throws IOException {
    long controllen = mem.getLong(40);
    int flags = mem.getInt(48);
    int count = 0;
    long pos = 0;
    while (pos + CMSG_HEADER <= controllen) {
      long cmsgLen = mem.getLong(CONTROL_OFFSET + pos);
      if (cmsgLen < CMSG_HEADER || pos + cmsgLen > controllen) {
        break;
      }
      int level = mem.getInt(CONTROL_OFFSET + pos + 8);
      int type = mem.getInt(CONTROL_OFFSET + pos + 12);
      if (level == LibC.SOL_SOCKET && type == LibC.SCM_RIGHTS) {
        int n = (int) ((cmsgLen - CMSG_HEADER) / 4);
        for (int i = 0; i < n; i++) {
          LibC.close(mem.getInt(CONTROL_OFFSET + pos + CMSG_HEADER + 4L * i));
        }
        count += n;
      }
      pos += (cmsgLen + 7) & ~7L;
    }
    boolean truncated = (flags & LibC.MSG_CTRUNC) != 0;
    if (count > 0 || truncated) {
      throw new ProtocolException(ErrorCode.FDS_REFUSED, "received "
          + (truncated ? "more than " + count : Integer.toString(count))
          + " file descriptor(s) on the control connection, which accepts none here;"
          + " all were closed and the connection is dropped. Send fds only where the protocol"
          + " says so (see PROTOCOL.md)");
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
