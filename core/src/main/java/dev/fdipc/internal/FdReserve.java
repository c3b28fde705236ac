package dev.fdipc.internal;

import java.io.Closeable;

/**
 * One spare descriptor (an eventfd, close-on-exec) held so that a process out of fds can still
 * accept a connection to tell the client why it is refused: give the spare up, accept into the
 * freed slot, answer, close, take the spare back.
 */
public final class FdReserve implements Closeable {
  private int fd = -1;

  /** Takes the spare if it can; {@link #isHeld()} says whether it did. */
  public FdReserve() {
    refill();
  }

  public synchronized boolean isHeld() {
    return fd >= 0;
  }

  /**
   * Closes the spare, freeing one descriptor slot.
   *
   * @return false if there was no spare to give up
   */
  public synchronized boolean release() {
    if (fd < 0) {
      return false;
    }
    LibC.close(fd);
    fd = -1;
    return true;
  }

  /**
   * Takes the spare back if it is not held.
   *
   * @return true if it is held now; false while the process is still out of fds
   */
  public synchronized boolean refill() {
    if (fd < 0) {
      fd = LibC.eventfd(0, LibC.EFD_CLOEXEC);
    }
    return fd >= 0;
  }

  @Override
  public void close() {
    release();
  }
}
