package dev.fdipc.internal;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import dev.fdipc.ErrorCode;
import dev.fdipc.PeerCredentials;
import dev.fdipc.ProtocolException;
import dev.fdipc.spi.Fd;
import dev.fdipc.spi.NativeIoException;
import java.io.IOException;
import java.net.SocketException;
import java.util.List;

/**
 * Non-blocking control-socket I/O on raw descriptors: {@code recvmsg(2)} that refuses fds or
 * takes them (the client's handshake), {@code sendmsg(2)} that attaches them, and {@code SO_PEERCRED}. One instance per loop thread, so
 * the native scratch memory (about 5 KiB) is shared by every connection the loop serves instead of
 * being held by each (the client's handshake, in {@link ControlSocket}, takes one per read or write
 * and frees it at once). Not thread-safe.
 *
 * <p>Reads receive with a control buffer big enough for {@code SCM_MAX_FD} (253) fds, so that fds
 * a peer sends are seen, closed and reported ({@link ErrorCode#FDS_REFUSED}) rather than silently
 * discarded.
 */
public final class ControlIo {
  // struct msghdr on LP64 Linux: name(8) namelen(4)+pad iov(8) iovlen(8) control(8)
  // controllen(8) flags(4)+pad = 56 bytes; struct iovec: base(8) len(8).
  private static final int MSGHDR_SIZE = 56;
  private static final int IOV_OFFSET = MSGHDR_SIZE;
  private static final int CMSG_HEADER = 16; // cmsg_len(8) cmsg_level(4) cmsg_type(4)
  private static final int CONTROL_SIZE = CMSG_HEADER + ((LibC.SCM_MAX_FD * 4 + 7) & ~7);
  private static final int CONTROL_OFFSET = IOV_OFFSET + 16;
  private static final int DATA_OFFSET = CONTROL_OFFSET + CONTROL_SIZE;
  /** Largest read or write in one call; frames are at most 64 KiB, most under 1 KiB. */
  private static final int DATA_SIZE = 4096;

  private final Memory mem = new Memory(DATA_OFFSET + DATA_SIZE);
  private final long base = Pointer.nativeValue(mem);

  /**
   * One {@code recvmsg(2)} that does not wait.
   *
   * @return bytes read, 0 if none now, -1 at end of stream
   * @throws ProtocolException {@link ErrorCode#FDS_REFUSED} if fds arrived; all were closed
   */
  public int read(int fd, byte[] b, int off, int len) throws IOException {
    return read(fd, b, off, len, null);
  }

  /**
   * One {@code recvmsg(2)} that does not wait, taking the fds that arrive into {@code fds} (owned
   * by the caller from then on, close-on-exec already); with {@code fds} null, any fd that arrives
   * is closed and refused as {@link #read(int, byte[], int, int)} does.
   *
   * @return bytes read, 0 if none now, -1 at end of stream
   */
  public int read(int fd, byte[] b, int off, int len, List<Fd> fds) throws IOException {
    while (true) {
      int want = Math.min(len, DATA_SIZE);
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
      takeFds(fds);
      if (n == 0) {
        return -1;
      }
      mem.read(DATA_OFFSET, b, off, (int) n);
      return (int) n;
    }
  }

  /**
   * Takes every fd in the control data into {@code into}, or, with {@code into} null, closes them
   * all and throws if there was any. Either way, a control buffer the kernel had to cut short
   * (more fds than it holds) closes everything and throws.
   */
  private void takeFds(List<Fd> into) throws IOException {
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
          int got = mem.getInt(CONTROL_OFFSET + pos + CMSG_HEADER + 4L * i);
          if (into != null) {
            into.add(Fd.of(got));
          } else {
            LibC.close(got);
          }
        }
        count += n;
      }
      pos += (cmsgLen + 7) & ~7L;
    }
    boolean truncated = (flags & LibC.MSG_CTRUNC) != 0;
    if (into != null) {
      if (truncated) {
        Fd.closeAll(into);
        into.clear();
        throw new ProtocolException(ErrorCode.MALFORMED_FRAME, "received more file descriptors"
            + " than one frame can carry (" + LibC.SCM_MAX_FD + "); all were closed");
      }
      return;
    }
    if (count > 0 || truncated) {
      throw new ProtocolException(ErrorCode.FDS_REFUSED, "received "
          + (truncated ? "more than " + count : Integer.toString(count))
          + " file descriptor(s) on the control connection, which accepts none here;"
          + " all were closed and the connection is dropped. Send fds only where the protocol"
          + " says so (see PROTOCOL.md)");
    }
  }

  /**
   * One {@code sendmsg(2)} that does not wait, with {@code fds} attached when not empty.
   *
   * @return bytes written, 0 if the socket buffer is full
   * @throws IOException EPIPE, ECONNRESET and the like: the peer is gone
   */
  public int write(int fd, byte[] b, int off, int len, List<Fd> fds) throws IOException {
    int want = Math.min(len, DATA_SIZE);
    mem.write(DATA_OFFSET, b, off, want);
    mem.clear(MSGHDR_SIZE);
    mem.setLong(IOV_OFFSET, base + DATA_OFFSET);
    mem.setLong(IOV_OFFSET + 8, want);
    mem.setLong(16, base + IOV_OFFSET);
    mem.setLong(24, 1);
    if (!fds.isEmpty()) {
      int n = fds.size();
      long cmsgLen = CMSG_HEADER + 4L * n;
      mem.setLong(CONTROL_OFFSET, cmsgLen);
      mem.setInt(CONTROL_OFFSET + 8, LibC.SOL_SOCKET);
      mem.setInt(CONTROL_OFFSET + 12, LibC.SCM_RIGHTS);
      for (int i = 0; i < n; i++) {
        mem.setInt(CONTROL_OFFSET + CMSG_HEADER + 4L * i, fds.get(i).intValue());
      }
      mem.setLong(32, base + CONTROL_OFFSET);
      mem.setLong(40, (cmsgLen + 7) & ~7L); // CMSG_SPACE
    }
    while (true) {
      long n = LibC.sendmsg(fd, base, LibC.MSG_NOSIGNAL | LibC.MSG_DONTWAIT);
      if (n >= 0) {
        return (int) n;
      }
      int errno = LibC.errno();
      if (errno == LibC.EAGAIN) {
        return 0;
      }
      if (errno != LibC.EINTR) {
        throw new NativeIoException("sendmsg", errno);
      }
    }
  }

  /** The peer's pid, uid and gid from {@code SO_PEERCRED}. */
  public PeerCredentials peerCredentials(int fd) throws IOException {
    int[] length = {12};
    if (LibC.getsockopt(fd, LibC.SOL_SOCKET, LibC.SO_PEERCRED, base + DATA_OFFSET, length) != 0) {
      throw NativeIoException.lastError("getsockopt(SO_PEERCRED)");
    }
    return new PeerCredentials(mem.getInt(DATA_OFFSET) & 0xffffffffL,
        mem.getInt(DATA_OFFSET + 4) & 0xffffffffL, mem.getInt(DATA_OFFSET + 8) & 0xffffffffL);
  }

  /**
   * Waits until {@code fd} is readable or {@code deadline} ({@link System#nanoTime()}; 0 for
   * none) passes: a virtual thread parks on the shared loop, a platform thread waits in
   * {@code poll(2)}.
   *
   * @return false if the deadline passed first
   */
  public boolean awaitReadable(int fd, long deadline) throws IOException {
    return await(fd, dev.fdipc.spi.Interest.READABLE, deadline);
  }

  /** Waits until {@code fd} is writable, as {@link #awaitReadable} does for reading. */
  public boolean awaitWritable(int fd, long deadline) throws IOException {
    return await(fd, dev.fdipc.spi.Interest.WRITABLE, deadline);
  }

  private boolean await(int fd, short interest, long deadline) throws IOException {
    if (VirtualThreads.isCurrentVirtual()) {
      ParkingLot.shared().await(new dev.fdipc.spi.Interest(fd, interest),
          deadline == 0 ? Long.MAX_VALUE : deadline);
      if (Thread.currentThread().isInterrupted()) { // park returns at once: do not spin on it
        throw new java.io.InterruptedIOException("interrupted while waiting on the control socket");
      }
      return deadline == 0 || System.nanoTime() - deadline < 0;
    }
    short events = interest == dev.fdipc.spi.Interest.READABLE ? LibC.POLLIN : LibC.POLLOUT;
    while (true) {
      int timeout = -1;
      if (deadline != 0) {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          return false;
        }
        timeout = (int) Math.min(Integer.MAX_VALUE, (left + 999_999) / 1_000_000);
      }
      mem.setInt(DATA_OFFSET, fd);
      mem.setShort(DATA_OFFSET + 4, events);
      mem.setShort(DATA_OFFSET + 6, (short) 0);
      int n = LibC.poll(base + DATA_OFFSET, 1, timeout);
      if (n > 0) {
        return true;
      }
      if (n < 0 && LibC.errno() != LibC.EINTR) {
        throw NativeIoException.lastError("poll");
      }
    }
  }

  /** Frees the native memory. */
  public void close() {
    mem.close();
  }
}
