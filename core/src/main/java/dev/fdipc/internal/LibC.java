package dev.fdipc.internal;

import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Platform;

/**
 * The few libc calls core needs that junixsocket does not offer. Hot-path calls are direct-mapped
 * (about 60 ns a call); {@code fcntl} is variadic and goes through an interface mapping.
 *
 * <p>Internal: not part of the API. errno is read with {@link Native#getLastError()} right after a
 * call that returned -1.
 */
public final class LibC {
  public static final int EINTR = 4;
  public static final int EAGAIN = 11;
  public static final int EBADF = 9;
  public static final int EPIPE = 32;
  public static final int ECONNRESET = 104;

  public static final int O_NONBLOCK = 04000;
  public static final int O_CLOEXEC = 02000000;
  public static final int FD_CLOEXEC = 1;

  public static final int F_DUPFD_CLOEXEC = 1030;
  public static final int F_GETFD = 1;
  public static final int F_SETFD = 2;
  public static final int F_GETFL = 3;
  public static final int F_SETFL = 4;

  public static final short POLLIN = 0x1;
  public static final short POLLOUT = 0x4;
  public static final short POLLERR = 0x8;
  public static final short POLLHUP = 0x10;
  public static final short POLLNVAL = 0x20;

  public static final int EFD_CLOEXEC = O_CLOEXEC;
  public static final int EFD_NONBLOCK = O_NONBLOCK;

  static {
    Native.register(Platform.C_LIBRARY_NAME);
  }

  private LibC() {}

  public static native long read(int fd, long buf, long count);

  public static native long write(int fd, long buf, long count);

  public static native int poll(long fds, long nfds, int timeoutMillis);

  public static native int close(int fd);

  public static native int eventfd(int initval, int flags);

  public static native long strerror(int errnum);

  public static native int fchmod(int fd, int mode);

  public static final int AF_UNIX = 1;
  public static final int SOCK_STREAM = 1;
  public static final int SOCK_CLOEXEC = O_CLOEXEC;

  public static native int socket(int domain, int type, int protocol);

  /** {@code addr} is a whole {@code struct sockaddr_un} as laid out in memory. */
  public static native int bind(int fd, byte[] addr, int addrLength);

  public static native int listen(int fd, int backlog);

  /** Variadic calls: direct mapping does not set up varargs correctly. */
  interface Variadic extends Library {
    Variadic INSTANCE = Native.load(Platform.C_LIBRARY_NAME, Variadic.class);

    int fcntl(int fd, int cmd, Object... args);
  }

  public static int fcntl(int fd, int cmd, int arg) {
    return Variadic.INSTANCE.fcntl(fd, cmd, arg);
  }

  public static int fcntl(int fd, int cmd) {
    return Variadic.INSTANCE.fcntl(fd, cmd);
  }

  public static int errno() {
    return Native.getLastError();
  }

  /** The C library's text for an errno value, e.g. "Too many open files". */
  public static String describe(int errno) {
    long p = strerror(errno);
    return p == 0 ? "errno " + errno : new com.sun.jna.Pointer(p).getString(0);
  }
}
