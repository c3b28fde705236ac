package dev.fdipc.transport.mqueue;

import com.sun.jna.Library;
import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.NativeLong;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Platform;
import com.sun.jna.Pointer;
import dev.fdipc.spi.Fd;
import dev.fdipc.spi.NativeIoException;
import java.util.List;

/**
 * The C calls this transport makes, through JNA. The {@code mq_*} functions live in libc since
 * glibc 2.34 (and on musl); older glibc keeps them in librt, so the library is chosen by looking
 * the symbol up. Calls on the message path are direct-mapped; {@code mq_open} and {@code fcntl}
 * are variadic and go through interface mappings (direct mapping does not set up varargs).
 *
 * <p>errno is read with {@link #errno()} right after a call that failed.
 */
final class MqNative {
  static final int O_RDONLY = 0;
  static final int O_WRONLY = 1;
  static final int O_RDWR = 2;
  static final int O_ACCMODE = 3;
  static final int O_CREAT = 0100;
  static final int O_EXCL = 0200;
  static final int O_NONBLOCK = 04000;
  static final int O_CLOEXEC = 02000000;

  static final int ENOENT = 2;
  static final int EINTR = 4;
  static final int EBADF = 9;
  static final int EAGAIN = 11;
  static final int ENOMEM = 12;
  static final int EACCES = 13;
  static final int EEXIST = 17;
  static final int EINVAL = 22;
  static final int ENFILE = 23;
  static final int EMFILE = 24;
  static final int ENOSPC = 28;
  static final int ENOSYS = 38;
  static final int EPERM = 1;

  static final short POLLIN = 0x1;
  static final short POLLOUT = 0x4;
  static final short POLLERR = 0x8;
  static final short POLLHUP = 0x10;
  static final short POLLNVAL = 0x20;
  static final short POLLRDHUP = 0x2000;

  static final int F_GETFL = 3;

  static final int RLIMIT_NOFILE = 7;
  static final int RLIMIT_MSGQUEUE = 12;
  /** {@code RLIM_INFINITY}: all bits set, -1 as a signed long. */
  static final long RLIM_INFINITY = -1L;

  static final int AF_UNIX = 1;
  static final int SOCK_STREAM = 1;
  static final int SOCK_CLOEXEC = O_CLOEXEC;

  static final int EPOLL_CLOEXEC = O_CLOEXEC;
  static final int EPOLL_CTL_ADD = 1;
  static final int EPOLLIN = 0x1;
  static final int EPOLLOUT = 0x4;
  static final int EPOLLRDHUP = 0x2000;
  /**
   * {@code struct epoll_event}: {@code uint32_t events; uint64_t data}, packed on x86 (12 bytes,
   * data at 4), naturally aligned elsewhere (16 bytes, data at 8).
   */
  static final int EPOLL_EVENT_SIZE = Platform.isIntel() ? 12 : 16;
  static final int EPOLL_DATA_OFFSET = Platform.isIntel() ? 4 : 8;

  /** {@code struct mq_attr}: four longs (flags, maxmsg, msgsize, curmsgs) and four reserved. */
  static final int MQ_ATTR_SIZE = 8 * Native.LONG_SIZE;

  /** The library that has the {@code mq_*} functions: libc, else librt. */
  static final String MQ_LIBRARY = mqLibrary();

  static {
    Native.register(MqNative.class, MQ_LIBRARY);
  }

  private MqNative() {}

  private static String mqLibrary() {
    try {
      NativeLibrary.getInstance(Platform.C_LIBRARY_NAME).getFunction("mq_timedreceive");
      return Platform.C_LIBRARY_NAME;
    } catch (UnsatisfiedLinkError e) {
      return "rt"; // glibc before 2.34
    }
  }

  static native int mq_timedsend(int mqd, long msg, long length, int priority, long absTimeout);

  static native long mq_timedreceive(int mqd, long msg, long length, long priority,
      long absTimeout);

  static native int mq_unlink(String name);

  static native int mq_getattr(int mqd, Pointer attr);

  /** {@code mq_open(3)}, variadic, from the library that has the {@code mq_*} functions. */
  interface Variadic extends Library {
    Variadic MQ = Native.load(MQ_LIBRARY, Variadic.class);

    int mq_open(String name, int oflag, Object... args);
  }

  /** Plain libc calls. */
  static final class Libc {
    static {
      Native.register(Libc.class, Platform.C_LIBRARY_NAME);
    }

    private Libc() {}

    static native int getrlimit(int resource, Pointer rlim);

    static native int setrlimit(int resource, Pointer rlim);

    static native int socketpair(int domain, int type, int protocol, int[] sv);

    static native int poll(long fds, long nfds, int timeoutMillis);

    static native int epoll_create1(int flags);

    static native int epoll_ctl(int epfd, int op, int fd, long event);
  }

  /** fcntl(2), variadic. */
  interface Fcntl extends Library {
    Fcntl INSTANCE = Native.load(Platform.C_LIBRARY_NAME, Fcntl.class);

    int fcntl(int fd, int cmd, Object... args);
  }

  /** Creates a queue: {@code mq_open(name, oflag | O_CREAT, mode, attr)}. */
  static int mqCreate(String name, int oflag, int mode, long maxMessages, long messageSize) {
    Memory attr = new Memory(MQ_ATTR_SIZE);
    attr.clear();
    attr.setNativeLong(Native.LONG_SIZE, new NativeLong(maxMessages));
    attr.setNativeLong(2L * Native.LONG_SIZE, new NativeLong(messageSize));
    return Variadic.MQ.mq_open(name, oflag | O_CREAT, mode, attr);
  }

  /** Opens an existing queue. */
  static int mqOpen(String name, int oflag) {
    return Variadic.MQ.mq_open(name, oflag);
  }

  /** The attributes of a queue, or {@code null} (errno set) if {@code mqd} is not one. */
  static long[] mqGetattr(int mqd) {
    Memory attr = new Memory(MQ_ATTR_SIZE);
    attr.clear();
    if (mq_getattr(mqd, attr) != 0) {
      return null;
    }
    return new long[] {
        attr.getNativeLong(0).longValue(),
        attr.getNativeLong(Native.LONG_SIZE).longValue(),
        attr.getNativeLong(2L * Native.LONG_SIZE).longValue(),
        attr.getNativeLong(3L * Native.LONG_SIZE).longValue()};
  }

  /**
   * The soft and hard values of a resource limit; {@link #RLIM_INFINITY} for unlimited.
   *
   * @return {@code null} if the call failed
   */
  static long[] getrlimit(int resource) {
    Memory rlim = new Memory(2L * Native.LONG_SIZE);
    if (Libc.getrlimit(resource, rlim) != 0) {
      return null;
    }
    return new long[] {rlim.getNativeLong(0).longValue(),
        rlim.getNativeLong(Native.LONG_SIZE).longValue()};
  }

  /** Sets a resource limit of this process; returns 0 or -1 (errno set). */
  static int setrlimit(int resource, long soft, long hard) {
    Memory rlim = new Memory(2L * Native.LONG_SIZE);
    rlim.setNativeLong(0, new NativeLong(soft));
    rlim.setNativeLong(Native.LONG_SIZE, new NativeLong(hard));
    return Libc.setrlimit(resource, rlim);
  }

  /**
   * A new epoll descriptor (close-on-exec) watching {@code fd} for {@code fdEvents} and
   * {@code link} for {@code linkEvents}; the data of each registration is its descriptor number.
   *
   * @throws NativeIoException if a call fails; nothing stays open then
   */
  static Fd epollOf(int fd, int fdEvents, int link, int linkEvents) throws NativeIoException {
    int epfd = Libc.epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
      throw NativeIoException.lastError("epoll_create1");
    }
    Fd epoll = Fd.of(epfd);
    Memory event = new Memory(16);
    for (int[] member : new int[][] {{fd, fdEvents}, {link, linkEvents}}) {
      event.clear();
      event.setInt(0, member[1]);
      event.setLong(EPOLL_DATA_OFFSET, member[0]);
      if (Libc.epoll_ctl(epfd, EPOLL_CTL_ADD, member[0], Pointer.nativeValue(event)) != 0) {
        NativeIoException e = NativeIoException.lastError("epoll_ctl");
        Fd.closeAllAfter(e, List.of(epoll));
        throw e;
      }
    }
    java.lang.ref.Reference.reachabilityFence(event);
    return epoll;
  }

  /** {@code fcntl(fd, F_GETFL)}: the open file description's status flags, or -1. */
  static int statusFlags(int fd) {
    return Fcntl.INSTANCE.fcntl(fd, F_GETFL);
  }

  static int errno() {
    return Native.getLastError();
  }
}
