package dev.fdipc.spi;

import dev.fdipc.internal.LibC;
import java.io.Closeable;
import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.IOException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.newsclub.net.unix.FileDescriptorCast;

/**
 * One owned file descriptor. {@link #close()} releases it exactly once, however many threads call
 * it; after that {@link #intValue()} throws instead of handing out a number the kernel may already
 * have given to someone else.
 *
 * <p>An {@code Fd} either closes its number with {@code close(2)} or, when it was created with
 * {@link #adopt(int, Closeable)}, asks the object that really owns it (a junixsocket channel, say) to
 * close it. Transports hand {@code Fd}s to core in {@link ServerEnd}; core hands received ones to
 * {@link TransportProvider#openClient}.
 */
public final class Fd implements Closeable {
  private final int fd;
  private final Closeable owner;
  private final AtomicBoolean closed = new AtomicBoolean();

  private Fd(int fd, Closeable owner) {
    if (fd < 0) {
      throw new IllegalArgumentException("not a file descriptor: " + fd);
    }
    this.fd = fd;
    this.owner = owner;
  }

  /** Takes ownership of {@code fd}; {@link #close()} calls {@code close(2)} on it. */
  public static Fd of(int fd) {
    return new Fd(fd, null);
  }

  /**
   * Wraps {@code fd} whose life belongs to {@code owner}; {@link #close()} closes {@code owner}.
   * Use it for descriptors created through junixsocket ({@code AFPipe}, socket pairs).
   */
  public static Fd adopt(int fd, Closeable owner) {
    return new Fd(fd, owner);
  }

  /**
   * Takes ownership of a {@link FileDescriptor}. Closing the {@code Fd} closes it through the JDK,
   * which marks the {@code FileDescriptor} invalid so that nobody closes the number twice (a
   * junixsocket socket closes the descriptors it received and that are still valid).
   */
  public static Fd of(FileDescriptor descriptor) throws IOException {
    int n = FileDescriptorCast.using(descriptor).as(Integer.class);
    return new Fd(n, () -> new FileInputStream(descriptor).close());
  }

  /**
   * Takes ownership of the descriptor behind a junixsocket channel (an {@code AFPipe} end, a socket
   * pair's socket). {@link #close()} closes only this descriptor, through the channel's
   * {@link FileDescriptor}: closing the junixsocket channel itself would also {@code shutdown(2)} a
   * socket, cutting it for the process it was passed to.
   *
   * <p>The {@code Fd} keeps the channel reachable until it is closed: junixsocket closes the
   * descriptor of a channel that is garbage collected while its descriptor is still valid. After
   * {@link #close()} the shared {@code FileDescriptor} is invalid, so the abandoned channel never
   * touches the number again.
   *
   * @throws IOException if the channel does not expose its descriptor
   */
  public static Fd adopt(java.nio.channels.Channel channel) throws IOException {
    if (!(channel instanceof org.newsclub.net.unix.FileDescriptorAccess)) {
      throw new IOException("cannot take the descriptor of " + channel.getClass().getName());
    }
    FileDescriptor d = ((org.newsclub.net.unix.FileDescriptorAccess) channel).getFileDescriptor();
    int n = FileDescriptorCast.using(d).as(Integer.class);
    return new Fd(n, () -> {
      try {
        new FileInputStream(d).close();
      } finally {
        java.lang.ref.Reference.reachabilityFence(channel);
      }
    });
  }

  /**
   * A new pipe, created by junixsocket, both ends close-on-exec.
   *
   * @return the read end, then the write end
   */
  public static java.util.List<Fd> pipe() throws IOException {
    org.newsclub.net.unix.AFPipe p = org.newsclub.net.unix.AFPipe.open();
    return java.util.List.of(adopt(p.source()), adopt(p.sink()));
  }

  /** The descriptor's number. */
  public int intValue() {
    if (closed.get()) {
      throw new IllegalStateException("fd " + fd + " is closed");
    }
    return fd;
  }

  /** A {@link FileDescriptor} for the same number, for junixsocket calls; it does not own it. */
  public FileDescriptor fileDescriptor() throws IOException {
    return FileDescriptorCast.unsafeUsing(intValue()).getFileDescriptor();
  }

  /** True until {@link #close()} has been called. */
  public boolean isOpen() {
    return !closed.get();
  }

  /** A new descriptor for the same open file, close-on-exec, owned by the returned {@code Fd}. */
  public Fd duplicate() throws IOException {
    int n = LibC.fcntl(intValue(), LibC.F_DUPFD_CLOEXEC, 0);
    if (n < 0) {
      throw NativeIoException.lastError("fcntl(F_DUPFD_CLOEXEC)");
    }
    return of(n);
  }

  /** Sets or clears {@code FD_CLOEXEC}. */
  public void setCloseOnExec(boolean on) throws IOException {
    int flags = LibC.fcntl(intValue(), LibC.F_GETFD);
    if (flags < 0) {
      throw NativeIoException.lastError("fcntl(F_GETFD)");
    }
    int updated = on ? flags | LibC.FD_CLOEXEC : flags & ~LibC.FD_CLOEXEC;
    if (updated != flags && LibC.fcntl(fd, LibC.F_SETFD, updated) < 0) {
      throw NativeIoException.lastError("fcntl(F_SETFD)");
    }
  }

  /** Whether {@code FD_CLOEXEC} is set. */
  public boolean isCloseOnExec() throws IOException {
    int flags = LibC.fcntl(intValue(), LibC.F_GETFD);
    if (flags < 0) {
      throw NativeIoException.lastError("fcntl(F_GETFD)");
    }
    return (flags & LibC.FD_CLOEXEC) != 0;
  }

  /** Sets or clears {@code O_NONBLOCK} on the open file description. */
  public void setNonBlocking(boolean on) throws IOException {
    int flags = LibC.fcntl(intValue(), LibC.F_GETFL);
    if (flags < 0) {
      throw NativeIoException.lastError("fcntl(F_GETFL)");
    }
    int updated = on ? flags | LibC.O_NONBLOCK : flags & ~LibC.O_NONBLOCK;
    if (updated != flags && LibC.fcntl(fd, LibC.F_SETFL, updated) < 0) {
      throw NativeIoException.lastError("fcntl(F_SETFL)");
    }
  }

  /** Closes the descriptor the first time it is called; later calls do nothing. */
  @Override
  public void close() throws IOException {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    if (owner != null) {
      owner.close();
    } else if (LibC.close(fd) != 0) {
      int errno = LibC.errno();
      if (errno != LibC.EINTR) { // Linux releases the number even when close reports EINTR
        throw new NativeIoException("close", errno);
      }
    }
  }

  /**
   * Closes each of {@code all}, going on after a failure; throws the first failure with the later
   * ones suppressed.
   */
  public static void closeAll(Iterable<? extends Closeable> all) throws IOException {
    IOException failure = null;
    for (Closeable f : all) {
      try {
        f.close();
      } catch (IOException e) {
        if (failure == null) {
          failure = e;
        } else {
          failure.addSuppressed(e);
        }
      }
    }
    if (failure != null) {
      throw failure;
    }
  }

  /**
   * Closes each of {@code all} while {@code failure} is propagating: a failure to close is added
   * to it as suppressed instead of hiding it. For the cleanup path of a factory method.
   */
  public static void closeAllAfter(Throwable failure, Iterable<? extends Closeable> all) {
    try {
      closeAll(all);
    } catch (IOException e) {
      failure.addSuppressed(e);
    }
  }

  @Override
  public String toString() {
    return closed.get() ? "fd(" + fd + ", closed)" : "fd(" + fd + ")";
  }
}
