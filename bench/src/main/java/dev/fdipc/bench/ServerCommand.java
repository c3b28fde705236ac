package dev.fdipc.bench;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The real {@code server} command in a child JVM, for {@code bin/bench scale} and
 * {@code bin/bench churn}, and what can be read of it from outside: threads, resident memory,
 * descriptors and memfd mappings from {@code /proc}, heap after a full GC through {@code jcmd}.
 */
final class ServerCommand {
  private ServerCommand() {}

  /**
   * Starts {@code bin/server}'s code with the launcher's GC flags, offering {@code transport},
   * and waits for its "ready" line; its output is drained (it prints every message).
   */
  static Process start(Path socket, String transport, int maxPerUid) throws IOException {
    List<String> cmd = new ArrayList<>();
    cmd.add(java());
    cmd.addAll(List.of("--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC", "-cp",
        System.getProperty("java.class.path"), "dev.fdipc.server.ServerMain",
        "--socket=" + socket, "--transport=" + transport,
        "--max-connections-per-uid=" + maxPerUid));
    Process server = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    try {
      awaitReady(server);
    } catch (IOException | RuntimeException e) {
      server.destroyForcibly();
      throw e;
    }
    return server;
  }

  static String java() {
    return Path.of(System.getProperty("java.home"), "bin", "java").toString();
  }

  /** SIGTERM (the server says goodbye and removes its socket), then removes the directory. */
  static void stop(Process server, Path dir) throws IOException, InterruptedException {
    server.destroy();
    if (!server.waitFor(30, TimeUnit.SECONDS)) {
      server.destroyForcibly();
    }
    Files.deleteIfExists(dir.resolve("s.sock"));
    Files.deleteIfExists(dir.resolve("s.sock.lock"));
    Files.deleteIfExists(dir);
  }

  private static void awaitReady(Process server) throws IOException {
    BufferedReader r = new BufferedReader(new InputStreamReader(server.getInputStream(),
        StandardCharsets.UTF_8));
    String line;
    StringBuilder seen = new StringBuilder();
    while ((line = r.readLine()) != null) {
      if (line.startsWith("fdipc server ready")) {
        Thread drain = new Thread(() -> {
          try {
            while (r.readLine() != null) {
              // the server prints every message; nobody reads it here
            }
          } catch (IOException e) {
            // the server ended
          }
        }, "bench-server-output");
        drain.setDaemon(true);
        drain.start();
        return;
      }
      seen.append(line).append('\n');
    }
    throw new IOException("the server did not start:\n" + seen);
  }

  /** Waits (up to 30 s) for the server's descriptors to come back to {@code base}. */
  static long awaitFds(long pid, long base) throws IOException, InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    long now = Proc.read(pid).fds();
    while (now > base && System.nanoTime() - deadline < 0) {
      Thread.sleep(20); // polling another process's fd count: there is no event for it
      now = Proc.read(pid).fds();
    }
    return now;
  }

  /**
   * A process's threads, resident set and open descriptors, from /proc; also its threads other
   * than the JIT's compiler threads (the JVM adds and removes those as it compiles) and its memfd
   * mappings.
   */
  record Proc(long threads, long rssKiB, long fds, long appThreads, long memfdMaps) {
    static Proc read(long pid) throws IOException {
      long threads = -1;
      long rss = -1;
      for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
        if (line.startsWith("Threads:")) {
          threads = Long.parseLong(line.substring(8).trim());
        } else if (line.startsWith("VmRSS:")) {
          rss = Long.parseLong(line.substring(6).replace("kB", "").trim());
        }
      }
      String[] fds = new java.io.File("/proc/" + pid + "/fd").list();
      long app = 0;
      String[] tasks = new java.io.File("/proc/" + pid + "/task").list();
      for (String t : tasks == null ? new String[0] : tasks) {
        try {
          String comm = Files.readString(Path.of("/proc/" + pid + "/task/" + t + "/comm")).trim();
          if (!comm.contains("CompilerThre")) {
            app++;
          }
        } catch (IOException e) {
          // the thread ended meanwhile
        }
      }
      long memfd;
      try (var lines = Files.lines(Path.of("/proc/" + pid + "/maps"))) {
        memfd = lines.filter(l -> l.contains("/memfd:")).count();
      }
      if (fds == null || threads < 0 || rss < 0) {
        throw new IOException("cannot read /proc/" + pid + " (the server is gone?)");
      }
      return new Proc(threads, rss, fds.length, app, memfd);
    }
  }

  /**
   * The server's live heap: the bytes of every object left after the full GC that
   * {@code jcmd GC.class_histogram} runs first. (Not the collector's "used" figure, which also
   * counts what the attach machinery allocated since.)
   */
  static long heapAfterGc(Map<String, long[]> histogram) {
    return histogram.values().stream().mapToLong(v -> v[1]).sum();
  }

  /**
   * The server's live objects by class after a full GC ({@code jcmd GC.class_histogram}): class
   * name to {instances, bytes}.
   */
  static Map<String, long[]> histogram(long pid) throws IOException, InterruptedException {
    // A first full GC lets the reference handler run the cleaners of what it found dead, which
    // would otherwise be counted as live by the histogram right after it.
    jcmd(pid, "GC.run");
    Map<String, long[]> h = new HashMap<>();
    Matcher m = HISTOGRAM_ROW.matcher(jcmd(pid, "GC.class_histogram"));
    while (m.find()) {
      h.put(m.group(3), new long[] {Long.parseLong(m.group(1)), Long.parseLong(m.group(2))});
    }
    return h;
  }

  private static final Pattern HISTOGRAM_ROW =
      Pattern.compile("(?m)^\\s*\\d+:\\s+(\\d+)\\s+(\\d+)\\s+(\\S+)");

  /** The {@code limit} classes whose bytes grew most from {@code before} to {@code after}. */
  static String growth(Map<String, long[]> before, Map<String, long[]> after, int limit) {
    StringBuilder b = new StringBuilder();
    after.entrySet().stream()
        .map(e -> Map.entry(e.getKey(), new long[] {
            e.getValue()[0] - before.getOrDefault(e.getKey(), new long[2])[0],
            e.getValue()[1] - before.getOrDefault(e.getKey(), new long[2])[1]}))
        .filter(e -> e.getValue()[1] > 0)
        .sorted((x, y) -> Long.compare(y.getValue()[1], x.getValue()[1]))
        .limit(limit)
        .forEach(e -> b.append(String.format(java.util.Locale.ROOT, "    %+9d bytes %+7d x %s%n",
            e.getValue()[1], e.getValue()[0], e.getKey())));
    return b.toString();
  }

  private static String jcmd(long pid, String command) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "jcmd")
        .toString(), Long.toString(pid), command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
      throw new IOException("jcmd " + pid + " " + command + " failed:\n" + out);
    }
    return out;
  }
}
