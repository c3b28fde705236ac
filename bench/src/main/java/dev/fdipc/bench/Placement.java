package dev.fdipc.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * Where the two processes of every measurement run: the client side (this JVM, the C parent) on
 * one CPU and the server side (the server JVM, the C child) on another, or both left to the
 * scheduler. A kernel round trip costs several times more when its wake-up crosses CPUs than when
 * both ends share one, so without pinning, fdipc and the C baseline it is compared with can land
 * on different placements and their ratio flips between runs. The same placement is applied to
 * fdipc, the Java baselines and the C programs.
 *
 * @param clientCpu the client side's CPU, or -1 when not pinned
 * @param serverCpu the server side's CPU, or -1 when not pinned
 * @param note why the run is not pinned, or null
 */
record Placement(int clientCpu, int serverCpu, String note) {
  static final String NONE = "none";
  /** The CPUs this JVM sized itself for, read when this class loads: before it pins itself. */
  static final int JVM_CPUS = Runtime.getRuntime().availableProcessors();

  static Placement unpinned(String why) {
    return new Placement(-1, -1, why);
  }

  boolean pinned() {
    return clientCpu >= 0;
  }

  /**
   * The placement {@code --cpus} asks for: {@code A,B} (client side on A, server side on B; A may
   * equal B), {@code none}, or null for the default: the first two CPUs this process may use, when
   * there are two and {@code taskset} exists, else unpinned.
   *
   * @throws IllegalArgumentException if the value is malformed or names a CPU this process may
   *     not use, or pinning was asked for without {@code taskset}
   */
  static Placement of(String spec) {
    List<Integer> allowed = allowedCpus();
    if (NONE.equals(spec)) {
      return unpinned("--cpus=none");
    }
    if (spec == null) {
      if (allowed.size() < 2) {
        return unpinned("fewer than 2 CPUs available (" + allowed + ")");
      }
      if (taskset() == null) {
        return unpinned("no taskset (util-linux) on the PATH");
      }
      return new Placement(allowed.get(0), allowed.get(1), null);
    }
    String[] parts = spec.split(",", -1);
    int[] cpus = new int[2];
    if (parts.length != 2) {
      throw new IllegalArgumentException("--cpus=" + spec + ": give two CPU numbers A,B (client "
          + "side on A, server side on B), or none");
    }
    for (int i = 0; i < 2; i++) {
      try {
        cpus[i] = Integer.parseInt(parts[i].trim());
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("--cpus=" + spec + ": '" + parts[i]
            + "' is not a CPU number; give A,B or none");
      }
      if (!allowed.contains(cpus[i])) {
        throw new IllegalArgumentException("--cpus=" + spec + ": CPU " + cpus[i]
            + " is not one this process may run on " + allowed);
      }
    }
    if (taskset() == null) {
      throw new IllegalArgumentException("--cpus=" + spec + " needs taskset (util-linux) on the "
          + "PATH; install it or pass --cpus=none");
    }
    return new Placement(cpus[0], cpus[1], null);
  }

  /** The value of the {@code cpus} key in the JSON: {@code "A,B"} or {@code "none"}. */
  String id() {
    return pinned() ? clientCpu + "," + serverCpu : NONE;
  }

  /** One line for the output. */
  String describe() {
    if (!pinned()) {
      return "placement: not pinned (" + note + "); kernel round trips then depend on where the "
          + "scheduler puts each process: compare ratios across runs";
    }
    return String.format(Locale.ROOT, "placement: client side on CPU %d, server side on CPU %d "
        + "(--cpus=%s; C baselines: parent on %d, child on %d)", clientCpu, serverCpu, id(),
        clientCpu, serverCpu);
  }

  /** Pins every thread of this JVM, and so the threads and processes it starts later. */
  void pinThisProcess() throws IOException {
    if (!pinned()) {
      return;
    }
    List<String> cmd = List.of(taskset(), "-a", "-p", "-c", Integer.toString(clientCpu),
        Long.toString(ProcessHandle.current().pid()));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
    try {
      if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
        p.destroyForcibly();
        throw new IOException(String.join(" ", cmd) + " failed: " + out
            + "; pass --cpus=none to run unpinned");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while pinning", e);
    }
  }

  /** What to put before the server process's command line: taskset, or nothing. */
  List<String> serverPrefix() {
    return pinned() ? List.of(taskset(), "-c", Integer.toString(serverCpu)) : List.of();
  }

  /** The CPUs this process may run on, from /proc/self/status; [0] if that cannot be read. */
  static List<Integer> allowedCpus() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith("Cpus_allowed_list:")) {
          return parseList(line.substring(line.indexOf(':') + 1).trim());
        }
      }
    } catch (IOException | RuntimeException e) {
      // not Linux as we know it: fall through to one CPU, which means unpinned
    }
    return List.of(0);
  }

  /** A kernel CPU list such as {@code 0-2,4} as CPU numbers. */
  static List<Integer> parseList(String list) {
    List<Integer> cpus = new ArrayList<>();
    for (String range : list.split(",")) {
      if (range.isBlank()) {
        continue;
      }
      String[] ends = range.trim().split("-");
      int from = Integer.parseInt(ends[0]);
      int to = ends.length > 1 ? Integer.parseInt(ends[1]) : from;
      for (int c = from; c <= to; c++) {
        cpus.add(c);
      }
    }
    return cpus;
  }

  private static String taskset() {
    String path = System.getenv().getOrDefault("PATH", "/usr/bin:/bin");
    for (String dir : path.split(":")) {
      Path p = Path.of(dir.isEmpty() ? "." : dir, "taskset");
      if (Files.isExecutable(p)) {
        return p.toString();
      }
    }
    return null;
  }
}
