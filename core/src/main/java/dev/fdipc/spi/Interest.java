package dev.fdipc.spi;

/**
 * What a channel waits for when it cannot make progress now: one descriptor and the {@code poll(2)}
 * events ({@link #READABLE} or {@link #WRITABLE}) after which progress may be possible. Core waits
 * for it however suits the caller: {@code poll(2)} on a platform thread, the shared event loop for
 * a virtual thread, the server's loop for an event-driven session.
 *
 * <p>Readiness is a hint, not a promise: after the descriptor is reported ready core simply calls
 * {@code tryReceive}/{@code trySend} again, and waits again if that still cannot progress. A
 * transport whose progress depends on more than one descriptor combines them into one (an epoll
 * descriptor is itself pollable). Hang-up and error conditions count as ready.
 *
 * <p>A channel usually creates its two interests once and returns the same objects every time.
 *
 * @param fd the descriptor to wait on; it stays open until the channel's {@code release()}
 * @param events {@link #READABLE} or {@link #WRITABLE}
 */
public record Interest(int fd, short events) {
  /** {@code POLLIN}: the descriptor has data (a pipe or socket), or a counter (an eventfd bell). */
  public static final short READABLE = 0x1;

  /** {@code POLLOUT}: the descriptor can take data. */
  public static final short WRITABLE = 0x4;

  /** Validates the fields. */
  public Interest {
    if (fd < 0) {
      throw new IllegalArgumentException("not a file descriptor: " + fd);
    }
    if (events != READABLE && events != WRITABLE) {
      throw new IllegalArgumentException("events must be READABLE or WRITABLE: " + events);
    }
  }

  /** Waiting for {@code fd} to become readable. */
  public static Interest readable(int fd) {
    return new Interest(fd, READABLE);
  }

  /** Waiting for {@code fd} to become writable. */
  public static Interest writable(int fd) {
    return new Interest(fd, WRITABLE);
  }
}
