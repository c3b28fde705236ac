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
  public static final int EPERM = 1;
  public static final int ENOENT = 2;
  public static final int EACCES = 13;
  public static final int ECONNREFUSED = 111;
  public static final int EISCONN = 106;
  public static final int EMFILE = 24;
  public static final int ENFILE = 23;

  public static final int SOL_SOCKET = 1;
  public static final int SCM_RIGHTS = 1;
  public static final int MSG_CTRUNC = 0x8;
  public static final int MSG_DONTWAIT = 0x40;
  public static final int MSG_CMSG_CLOEXEC = 0x40000000;
  public static final int SHUT_RDWR = 2;
  public static final int MSG_NOSIGNAL = 0x4000;
  public static final int SO_TYPE = 3;
  public static final int SO_DOMAIN = 39;
  /** The kernel's limit of fds in one {@code SCM_RIGHTS} message ({@code SCM_MAX_FD}). */
  public static final int SCM_MAX_FD = 253;

  public static final int O_NONBLOCK = 04000;
  public static final int O_CLOEXEC = 02000000;
  public static final int O_WRONLY = 01;
  public static final int O_CREAT = 0100;
  public static final int O_NOFOLLOW = 0400000;
  public static final int LOCK_EX = 2;
  public static final int LOCK_NB = 4;
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

  /** {@code recvmsg(2)} with a {@code struct msghdr} the caller laid out (x86-64/aarch64 LP64). */
  public static native long recvmsg(int fd, long msghdr, int flags);

  public static native int shutdown(int fd, int how);

  public static native long recv(int fd, long buf, long count, int flags);

  public static native long send(int fd, long buf, long count, int flags);

  /** {@code getsockopt(2)} for an int option: {@code value} and {@code length} have one element. */
  public static native int getsockopt(int fd, int level, int name, int[] value, int[] length);

  /** True if {@code fd} is an {@code AF_UNIX} {@code SOCK_STREAM} socket. */
  public static boolean isUnixStreamSocket(int fd) {
    return intSocketOption(fd, SO_DOMAIN) == AF_UNIX
        && intSocketOption(fd, SO_TYPE) == SOCK_STREAM;
  }

  /** An int {@code SOL_SOCKET} option, or -1 if {@code fd} is not a socket. */
  private static int intSocketOption(int fd, int name) {
    int[] value = new int[1];
    int[] length = {4};
    return getsockopt(fd, SOL_SOCKET, name, value, length) == 0 ? value[0] : -1;
  }

  public static final int RLIMIT_NOFILE = 7;

  /** {@code getrlimit(2)} into a {@code struct rlimit} (two 64-bit values: soft, hard). */
  public static native int getrlimit(int resource, long rlimit);

  /** The soft limit on open files ({@code ulimit -n}), or -1 if it cannot be read. */
  public static long openFileLimit() {
    try (com.sun.jna.Memory m = new com.sun.jna.Memory(16)) {
      return getrlimit(RLIMIT_NOFILE, com.sun.jna.Pointer.nativeValue(m)) == 0 ? m.getLong(0) : -1;
    }
  }

  /**
   * True if the process is at (or within a few fds of) its open-file limit: listing
   * {@code /proc/self/fd} fails, or lists nearly as many fds as the limit allows. Tells a real
   * shortage from an EMFILE that means something else ({@code mq_open} reports a full
   * RLIMIT_MSGQUEUE with it).
   */
  public static boolean isNearFdLimit() {
    String[] fds = new java.io.File("/proc/self/fd").list();
    long limit = openFileLimit();
    return fds == null || limit > 0 && fds.length >= limit - 16;
  }

  /** True if {@code e} or a cause reports EMFILE or ENFILE: the process or system is out of fds. */
  public static boolean isOutOfFds(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof dev.fdipc.spi.NativeIoException n
          && (n.errno() == EMFILE || n.errno() == ENFILE)) {
        return true;
      }
      String m = String.valueOf(t.getMessage());
      if (m.contains("Too many open files")) { // junixsocket's and the JDK's text for both
        return true;
      }
    }
    return false;
  }

  public static final int AF_UNIX = 1;
  public static final int SOCK_STREAM = 1;
  public static final int SOCK_CLOEXEC = O_CLOEXEC;

  public static native int socket(int domain, int type, int protocol);

  /** {@code addr} is a whole {@code struct sockaddr_un} as laid out in memory. */
  public static native int bind(int fd, byte[] addr, int addrLength);

  /** {@code addr} is a whole {@code struct sockaddr_un} as laid out in memory. */
  public static native int connect(int fd, byte[] addr, int addrLength);

  public static native int listen(int fd, int backlog);

  public static final int SOCK_NONBLOCK = O_NONBLOCK;

  /** {@code accept4(2)} without the peer's address. */
  public static native int accept4(int fd, long addr, long addrLength, int flags);

  /** {@code sendmsg(2)} with a {@code struct msghdr} the caller laid out (LP64). */
  public static native long sendmsg(int fd, long msghdr, int flags);

  public static final int SO_PEERCRED = 17;

  /** {@code getsockopt(2)} into memory the caller owns (a {@code struct ucred}, say). */
  public static native int getsockopt(int fd, int level, int name, long value, int[] length);

  // epoll(7)
  public static final int EPOLL_CLOEXEC = O_CLOEXEC;
  public static final int EPOLL_CTL_ADD = 1;
  public static final int EPOLL_CTL_DEL = 2;
  public static final int EPOLL_CTL_MOD = 3;
  public static final int EPOLLIN = 0x1;
  public static final int EPOLLOUT = 0x4;
  public static final int EPOLLERR = 0x8;
  public static final int EPOLLHUP = 0x10;
  public static final int EPOLLRDHUP = 0x2000;
  public static final int EPOLLONESHOT = 1 << 30;
  /**
   * {@code struct epoll_event}: {@code uint32_t events; uint64_t data}. Packed on x86-64 (12
   * bytes, data at 4); naturally aligned elsewhere (16 bytes, data at 8).
   */
  public static final int EPOLL_EVENT_SIZE = Platform.isIntel() ? 12 : 16;
  public static final int EPOLL_DATA_OFFSET = Platform.isIntel() ? 4 : 8;

  public static native int epoll_create1(int flags);

  public static native int epoll_ctl(int epfd, int op, int fd, long event);

  public static native int epoll_wait(int epfd, long events, int maxEvents, int timeoutMillis);

  public static native int flock(int fd, int operation);

  /** Variadic calls: direct mapping does not set up varargs correctly. */
  interface Variadic extends Library {
    Variadic INSTANCE = Native.load(Platform.C_LIBRARY_NAME, Variadic.class);

    int fcntl(int fd, int cmd, Object... args);

    int open(String path, int flags, Object... mode);
  }

  /** open(2) with a mode, for {@code O_CREAT}. */
  public static int open(String path, int flags, int mode) {
    return Variadic.INSTANCE.open(path, flags, mode);
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
