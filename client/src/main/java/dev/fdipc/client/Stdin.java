package dev.fdipc.client;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Standard input, unless it was closed when the process started. Then the kernel gave fd 0 to the
 * first file the JVM opened (the JDK's {@code lib/modules}, or a jar of the class path), and
 * {@code System.in} would read that file as the user's input. The launcher gives such a process
 * /dev/null as its input; this check covers a JVM started without it.
 */
final class Stdin {
  private Stdin() {}

  /** {@code System.in}, or an empty stream if fd 0 is a file this JVM opened for itself. */
  static InputStream open() {
    return isJvmFile(Path.of("/proc/self/fd/0")) ? InputStream.nullInputStream() : System.in;
  }

  static boolean isJvmFile(Path fd0) {
    Path target;
    try {
      target = Files.readSymbolicLink(fd0);
    } catch (IOException | UnsupportedOperationException e) {
      return false; // not Linux's /proc, or nothing to tell: read stdin as it is
    }
    Path home = Path.of(System.getProperty("java.home")).toAbsolutePath();
    try {
      home = home.toRealPath(); // /proc shows the real path of what fd 0 points to
    } catch (IOException e) {
      // compare with the path as it is
    }
    if (target.startsWith(home)) {
      return true;
    }
    for (String entry : System.getProperty("java.class.path", "").split(java.io.File.pathSeparator)) {
      if (!entry.isEmpty() && target.equals(Path.of(entry).toAbsolutePath().normalize())) {
        return true;
      }
    }
    return false;
  }
}
