package dev.fdipc.testkit;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * For tests of transports built on POSIX message queues: lists the queues that have a name, from the mqueue filesystem: where it is mounted already, or,
 * as root, from a mount made in a private mount namespace ({@code unshare --mount}) that disappears
 * with the listing process and leaves the machine's mounts untouched.
 */
public final class MqueueFs {
  private MqueueFs() {}

  /** Why names cannot be listed here, or empty if they can. */
  public static Optional<String> unavailableReason() {
    if (mountPoint().isPresent()) {
      return Optional.empty();
    }
    if (!isRoot()) {
      return Optional.of("the mqueue filesystem is not mounted (mount -t mqueue none /dev/mqueue) "
          + "and only root can mount it for the test");
    }
    if (!onPath("unshare") || !onPath("mount")) {
      return Optional.of("the mqueue filesystem is not mounted and unshare(1) or mount(8) is "
          + "missing");
    }
    return Optional.empty();
  }

  /** The names of every queue that has one, without the leading slash. */
  public static Set<String> names() throws IOException, InterruptedException {
    Optional<Path> mount = mountPoint();
    if (mount.isPresent()) {
      try (Stream<Path> s = Files.list(mount.get())) {
        return new TreeSet<>(s.map(p -> p.getFileName().toString()).toList());
      }
    }
    Path dir = Files.createTempDirectory("fdipc-mqueue");
    try {
      Process p = new ProcessBuilder("unshare", "--mount", "sh", "-c",
          "mount -t mqueue none \"$1\" && ls -1A \"$1\"", "sh", dir.toString())
          .redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
        p.destroyForcibly();
        throw new IOException("listing the mqueue filesystem failed: " + out);
      }
      return new TreeSet<>(out.lines().filter(l -> !l.isBlank()).toList());
    } finally {
      Files.deleteIfExists(dir);
    }
  }

  private static Optional<Path> mountPoint() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
        // id parent major:minor root mount-point options ... - fstype source super-options
        String[] f = line.split(" ");
        int dash = List.of(f).indexOf("-");
        if (dash > 0 && dash + 1 < f.length && f[dash + 1].equals("mqueue")) {
          return Optional.of(Path.of(f[4].replace("\\040", " ")));
        }
      }
    } catch (IOException e) {
      // no /proc: treat as not mounted
    }
    return Optional.empty();
  }

  private static boolean isRoot() {
    try {
      return ((Number) Files.getAttribute(Path.of("/proc/self"), "unix:uid")).intValue() == 0;
    } catch (IOException e) {
      return false;
    }
  }

  private static boolean onPath(String command) {
    for (String d : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
      if (Files.isExecutable(Path.of(d, command))) {
        return true;
      }
    }
    return false;
  }
}
