package dev.fdipc.internal;

import java.io.File;

/**
 * Marks every descriptor of this process close-on-exec. For a process that fdipc owns (the
 * {@code server} command), not for a library embedded in someone's application: the JVM opens its
 * jars, {@code /dev/random} and the like without {@code O_CLOEXEC} (its own process launcher
 * closes them in the child instead), junixsocket keeps one socket from its start-up checks without
 * it, and the JDK's {@code FileChannel} opens the socket's lock file without it. Native code that
 * runs a program by any other route would hand all of them to that program.
 */
public final class CloseOnExec {
  private CloseOnExec() {}

  /**
   * Sets {@code FD_CLOEXEC} on every open descriptor above 2.
   *
   * @return the number of descriptors that lacked it
   */
  public static int markAll() {
    String[] names = new File("/proc/self/fd").list();
    if (names == null) {
      return 0;
    }
    int changed = 0;
    for (String name : names) {
      int fd;
      try {
        fd = Integer.parseInt(name);
      } catch (NumberFormatException e) {
        continue;
      }
      if (fd <= 2) {
        continue;
      }
      int flags = LibC.fcntl(fd, LibC.F_GETFD);
      if (flags >= 0 && (flags & LibC.FD_CLOEXEC) == 0
          && LibC.fcntl(fd, LibC.F_SETFD, flags | LibC.FD_CLOEXEC) == 0) {
        changed++;
      }
    }
    return changed;
  }
}
