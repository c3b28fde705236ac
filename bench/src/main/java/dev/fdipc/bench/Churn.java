package dev.fdipc.bench;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.PrintStream;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Connection churn against the real {@code server} command: {@code --clients} connections held by
 * {@code --workers} client processes ({@link ChurnWorker}), each connection living a random time
 * (mean {@code clients / rate} seconds) while it talks, then reconnecting. A tenth of the clients
 * live in "victim" processes: every {@code --kill-every} seconds each victim is made to send large
 * messages back to back and is killed with SIGKILL a quarter second later, in the middle of them,
 * and a fresh victim takes its place. At the end every worker stops cleanly, and the server's
 * descriptors, threads, memfd mappings and heap after a full GC are compared with their values
 * before the churn.
 */
@Command(name = "churn", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Churns connections on one server command, SIGKILLing a tenth of the clients "
        + "mid-message now and then, and checks that the server's fds, threads, memfd mappings "
        + "and heap after GC come back to their baseline.",
        "Exit status 1 if they do not."})
final class Churn implements Callable<Integer> {
  @Option(names = "--transport", split = ",", paramLabel = "NAME",
      description = "Transports to churn, one run each. Default: ${DEFAULT-VALUE}.")
  List<String> transports = List.of("socketpair");

  @Option(names = "--clients", paramLabel = "N",
      description = "Concurrent connections. Default: ${DEFAULT-VALUE}.")
  int clients = 6000;

  @Option(names = "--duration", paramLabel = "SECONDS",
      description = "How long to churn. Default: ${DEFAULT-VALUE}.")
  int duration = 300;

  @Option(names = "--workers", paramLabel = "N",
      description = "Client processes; a tenth of them (at least one) are victims. "
          + "Default: ${DEFAULT-VALUE}.")
  int workers = 10;

  @Option(names = "--rate", paramLabel = "PER_SECOND",
      description = "Reconnects per second over all clients (sets their mean lifetime). "
          + "Default: ${DEFAULT-VALUE}.")
  int rate = 500;

  @Option(names = "--kill-every", paramLabel = "SECONDS",
      description = "Seconds between SIGKILLs of the victims. Default: ${DEFAULT-VALUE}.")
  int killEvery = 20;

  @Option(names = "--json", paramLabel = "FILE", description = "Also write the figures as JSON.")
  Path json;

  /** The heap after GC may end at most this much above its start. */
  static final double HEAP_TOLERANCE = 0.10;

  record Row(String transport, int clients, int seconds, long connects, long killed,
      long failures, ServerCommand.Proc base, ServerCommand.Proc end, long peakThreads,
      double peakRssMiB, long baseHeap, long endHeap, boolean baseline) {}

  @Override
  public Integer call() throws Exception {
    if (clients < workers || workers < 2 || duration < 1 || rate < 1 || killEvery < 1) {
      throw new IllegalArgumentException("need --clients >= --workers >= 2, and --duration, "
          + "--rate and --kill-every of at least 1");
    }
    PrintStream out = System.out;
    List<Row> rows = new ArrayList<>();
    for (String t : transports) {
      Row r = churn(t, out);
      rows.add(r);
      out.printf(Locale.ROOT, "%s: %d connections in %d s (%d killed by SIGKILL, %d failed); "
          + "server fds %d -> %d, threads %d -> %d (peak %d), memfd maps %d -> %d, "
          + "heap after GC %.1f -> %.1f MiB (%+.1f%%), peak RSS %.0f MiB: %s%n",
          t, r.connects(), r.seconds(), r.killed(), r.failures(), r.base().fds(), r.end().fds(),
          r.base().appThreads(), r.end().appThreads(), r.peakThreads(), r.base().memfdMaps(),
          r.end().memfdMaps(), r.baseHeap() / 1048576.0, r.endHeap() / 1048576.0,
          100.0 * (r.endHeap() - r.baseHeap()) / r.baseHeap(), r.peakRssMiB(),
          r.baseline() ? "back to baseline" : "NOT back to baseline");
      out.flush();
    }
    if (json != null) {
      Files.writeString(json, toJson(rows), StandardCharsets.UTF_8);
    }
    return rows.stream().allMatch(Row::baseline) ? 0 : 1;
  }

  private Row churn(String transport, PrintStream out) throws Exception {
    Path dir = Files.createTempDirectory("fdipc-churn");
    Path socket = dir.resolve("s.sock");
    Process server = ServerCommand.start(socket, transport, 2 * clients + 64);
    List<Worker> running = new ArrayList<>();
    try {
      long pid = server.pid();
      long idleFds = ServerCommand.Proc.read(pid).fds();
      // warm-up, so that the baseline is taken after class loading and compilation
      Worker warm = Worker.start(socket, transport, Math.min(200, clients), 100, 0);
      Thread.sleep(3000);
      warm.stop();
      long settled = ServerCommand.awaitFds(pid, idleFds);
      if (settled != idleFds) { // a baseline with the warm-up's descriptors would hide leaks
        throw new IOException("the server still holds " + settled + " descriptors 30 s after the"
            + " warm-up's clients left, against " + idleFds + " before them");
      }
      // the heap first: jcmd's first use adds the JVM's attach listener (a thread and a socket)
      Map<String, long[]> baseHistogram = ServerCommand.histogram(pid);
      long baseHeap = ServerCommand.heapAfterGc(baseHistogram);
      ServerCommand.Proc base = ServerCommand.Proc.read(pid);

      int victims = Math.max(1, Math.round(workers / 10f));
      long lifetime = Math.max(1, 1000L * clients / rate);
      for (int i = 0; i < workers; i++) {
        int n = clients / workers + (i < clients % workers ? 1 : 0);
        running.add(Worker.start(socket, transport, n, lifetime, i + 1));
      }
      long start = System.nanoTime();
      long end = start + TimeUnit.SECONDS.toNanos(duration);
      long nextKill = start + TimeUnit.SECONDS.toNanos(killEvery);
      long connects = 0;
      long killed = 0;
      long failures = 0;
      long peakThreads = 0;
      long peakRss = 0;
      int seed = workers + 1;
      while (System.nanoTime() - end < 0) {
        ServerCommand.Proc now = ServerCommand.Proc.read(pid);
        peakThreads = Math.max(peakThreads, now.appThreads());
        peakRss = Math.max(peakRss, now.rssKiB());
        if (System.nanoTime() - nextKill >= 0) {
          for (int i = 0; i < victims; i++) {
            Worker v = running.get(i);
            Worker.Stats s = v.stats();
            v.busyThenKill();
            connects += s.connects();
            failures += s.failures();
            killed += s.live();
            running.set(i, Worker.start(socket, transport, v.n, lifetime, seed++));
          }
          nextKill += TimeUnit.SECONDS.toNanos(killEvery);
          long t = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - start);
          out.printf(Locale.ROOT, "  %s t=%ds: %d killed so far; server threads %d, RSS %.0f MiB,"
              + " fds %d%n", transport, t, killed, now.appThreads(), now.rssKiB() / 1024.0,
              now.fds());
          out.flush();
        }
        Thread.sleep(1000); // sampling another process's /proc: no event to wait for
      }
      for (Worker w : running) {
        Worker.Stats s = w.stats();
        connects += s.connects();
        failures += s.failures();
      }
      for (Worker w : running) {
        w.stop();
      }
      running.clear();
      int seconds = (int) TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - start);
      ServerCommand.Proc after = awaitBaseline(pid, base);
      Map<String, long[]> endHistogram = ServerCommand.histogram(pid);
      long endHeap = ServerCommand.heapAfterGc(endHistogram);
      boolean heapBack = endHeap <= baseHeap * (1 + HEAP_TOLERANCE);
      if (!heapBack) {
        out.print("  heap grew; the classes that grew most:\n"
            + ServerCommand.growth(baseHistogram, endHistogram, 12));
      }
      boolean ok = connects > clients && failures == 0 && after.fds() <= base.fds()
          && after.appThreads() <= base.appThreads() && after.memfdMaps() <= base.memfdMaps()
          && heapBack;
      return new Row(transport, clients, seconds, connects, killed, failures, base, after,
          peakThreads, peakRss / 1024.0, baseHeap, endHeap, ok);
    } finally {
      for (Worker w : running) {
        w.process.destroyForcibly();
      }
      ServerCommand.stop(server, dir);
    }
  }

  /** Waits (up to 30 s) for fds, threads and memfd mappings to come back to {@code base}. */
  private static ServerCommand.Proc awaitBaseline(long pid, ServerCommand.Proc base)
      throws IOException, InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    ServerCommand.Proc now = ServerCommand.Proc.read(pid);
    while ((now.appThreads() > base.appThreads() || now.memfdMaps() > base.memfdMaps()
        || now.fds() > base.fds()) && System.nanoTime() - deadline < 0) {
      Thread.sleep(50); // another process's /proc: there is no event for it
      now = ServerCommand.Proc.read(pid);
    }
    return now;
  }

  /** A {@link ChurnWorker} process and its command pipe. */
  private static final class Worker {
    record Stats(long connects, long failures, long live) {}

    final Process process;
    final int n;
    private final BufferedReader in;
    private final Writer cmd;

    private Worker(Process process, int n) {
      this.process = process;
      this.n = n;
      this.in = new BufferedReader(new InputStreamReader(process.getInputStream(),
          StandardCharsets.UTF_8));
      this.cmd = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
    }

    static Worker start(Path socket, String transport, int n, long lifetimeMillis, long seed)
        throws IOException {
      Process p = new ProcessBuilder(ServerCommand.java(), "--enable-native-access=ALL-UNNAMED",
          "-XX:+UseSerialGC", "-Xmx256m", "-cp", System.getProperty("java.class.path"),
          ChurnWorker.class.getName(), socket.toString(), transport, Integer.toString(n),
          Long.toString(lifetimeMillis), Long.toString(seed))
          .redirectError(ProcessBuilder.Redirect.INHERIT).start();
      Worker w = new Worker(p, n);
      w.expect("ready");
      return w;
    }

    private String expect(String prefix) throws IOException {
      String line;
      while ((line = in.readLine()) != null) {
        if (line.startsWith(prefix)) {
          return line;
        }
      }
      throw new IOException("churn worker ended before '" + prefix + "' (exit "
          + (process.isAlive() ? "?" : Integer.toString(process.exitValue())) + ")");
    }

    private void send(String command) throws IOException {
      cmd.write(command + "\n");
      cmd.flush();
    }

    Stats stats() throws IOException {
      send("stats");
      Map<String, Long> v = new LinkedHashMap<>();
      for (String kv : expect("stats ").substring(6).split(" ")) {
        String[] p = kv.split("=", 2);
        v.put(p[0], Long.parseLong(p[1]));
      }
      return new Stats(v.get("connects"), v.get("failures"), v.get("live"));
    }

    void busyThenKill() throws IOException, InterruptedException {
      send("busy");
      Thread.sleep(250); // long enough for every connection to be inside a large message
      process.destroyForcibly(); // SIGKILL
      process.waitFor(30, TimeUnit.SECONDS);
    }

    void stop() throws IOException, InterruptedException {
      send("stop");
      String line = expect("stopped");
      if (!line.equals("stopped")) {
        throw new IOException("churn worker did not stop cleanly: " + line);
      }
      process.waitFor(30, TimeUnit.SECONDS);
    }
  }

  private static String toJson(List<Row> rows) {
    List<Map<String, Object>> objects = new ArrayList<>();
    for (Row r : rows) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("mode", "churn");
      m.put("transport", r.transport());
      m.put("clients", r.clients());
      m.put("seconds", r.seconds());
      m.put("connections", r.connects());
      m.put("killed", r.killed());
      m.put("failures", r.failures());
      m.put("server_fds_before", r.base().fds());
      m.put("server_fds_after", r.end().fds());
      m.put("server_threads_before", r.base().appThreads());
      m.put("server_threads_after", r.end().appThreads());
      m.put("server_threads_peak", r.peakThreads());
      m.put("server_memfd_maps_before", r.base().memfdMaps());
      m.put("server_memfd_maps_after", r.end().memfdMaps());
      m.put("server_heap_before", r.baseHeap());
      m.put("server_heap_after", r.endHeap());
      m.put("server_rss_mib_peak", Math.round(r.peakRssMiB() * 10) / 10.0);
      m.put("back_to_baseline", r.baseline());
      m.put("jvm", System.getProperty("java.version"));
      objects.add(m);
    }
    return JsonWriter.objects(objects);
  }
}
