package dev.fdipc.testkit;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.TreeMap;
import java.util.stream.Stream;

/** Counts and lists this process's open descriptors, from {@code /proc/self/fd}. */
public final class FdCount {
  private FdCount() {}

  /** The number of open descriptors. */
  public static int count() {
    String[] names = new File("/proc/self/fd").list();
    return names == null ? -1 : names.length - 1; // minus the one list() itself opened
  }

  /**
   * The descriptors open now that were not in {@code before} (a {@link #snapshot()}): by number
   * and what they refer to, so a number the kernel reused for another object counts as opened.
   * What a leak check should look at rather than the count, which also drops when a cleaner of
   * the JVM or of an earlier test closes something meanwhile.
   */
  public static java.util.Map<Integer, String> openedSince(java.util.Map<Integer, String> before) {
    java.util.Map<Integer, String> opened = new TreeMap<>();
    for (var e : snapshot().entrySet()) {
      if (!e.getValue().equals(before.get(e.getKey()))) {
        opened.put(e.getKey(), e.getValue());
      }
    }
    return opened;
  }

  /** What changed between two {@link #snapshot()}s: descriptors opened and closed. */
  public static String diff(java.util.Map<Integer, String> before,
      java.util.Map<Integer, String> after) {
    StringBuilder sb = new StringBuilder();
    for (var e : after.entrySet()) {
      if (!e.getValue().equals(before.get(e.getKey()))) {
        sb.append("\n  opened ").append(e.getKey()).append(" -> ").append(e.getValue());
      }
    }
    for (var e : before.entrySet()) {
      if (!e.getValue().equals(after.get(e.getKey()))) {
        sb.append("\n  closed ").append(e.getKey()).append(" -> ").append(e.getValue());
      }
    }
    return sb.toString();
  }

  /**
   * Each open descriptor and what it refers to, leaving out the directory descriptor the listing
   * itself uses.
   */
  public static java.util.Map<Integer, String> snapshot() {
    TreeMap<Integer, String> fds = new TreeMap<>();
    try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
      s.forEach(p -> {
        try {
          String target = Files.readSymbolicLink(p).toString();
          if (!target.matches("/proc/\\d+/fd")) {
            fds.put(Integer.parseInt(p.getFileName().toString()), target);
          }
        } catch (IOException | NumberFormatException e) {
          // closed while listing
        }
      });
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    return fds;
  }

  /** Each open descriptor and what it refers to, for failure messages. */
  public static String describe() {
    TreeMap<Integer, String> fds = new TreeMap<>();
    try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
      s.forEach(p -> {
        try {
          fds.put(Integer.parseInt(p.getFileName().toString()),
              Files.readSymbolicLink(p).toString());
        } catch (IOException | NumberFormatException e) {
          // closed while listing
        }
      });
    } catch (IOException e) {
      return "cannot list /proc/self/fd: " + e;
    }
    return fds.toString();
  }
}
