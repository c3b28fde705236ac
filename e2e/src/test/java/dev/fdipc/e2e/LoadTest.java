package dev.fdipc.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Many concurrent clients over every transport against one server process, each sending numbered,
 * checksummed messages and checking every reply; the server's threads, heap and fds measured by the
 * server itself. The server ({@link LoadServer}) and the clients ({@link LoadClient}) run in
 * JVMs of their own.
 *
 * <p>Size: {@code -Dfdipc.load.clients=1000 -Dfdipc.load.messages=1000} (the CI size is
 * {@value #CI_CLIENTS} clients of 1,000 messages), {@code -Dfdipc.load.jvms=4} client processes.
 * Transport options: {@code -Dfdipc.load.serverOptions=memfd.ring-size=65536,memfd.wait=park}
 * and {@code -Dfdipc.load.clientOptions=memfd.wait=park}; which transports:
 * {@code -Dfdipc.load.transports=memfd} (default pipe,socketpair,memfd) and
 * {@code -Dfdipc.load.mqueue=N} clients over mqueue (default: as many as the server's
 * RLIMIT_MSGQUEUE has room for); {@code -Dfdipc.load.maxPendingHandshakes=8} lowers the server's
 * cap on half-open connections (default 128) so that clients are refused with BUSY and retry. The figures go to standard output as a
 * {@code LOAD FIGURES} line, which surefire keeps in
 * {@code e2e/target/surefire-reports/dev.fdipc.e2e.LoadTest-output.txt}. Alone, from the root:
 * {@code mvn -o -B -pl e2e -am test -Dtest=LoadTest -Dsurefire.failIfNoSpecifiedTests=false}.
 */
@Timeout(value = 20, unit = TimeUnit.MINUTES) // the full size included; every wait has its own
class LoadTest {
  static final int CI_CLIENTS = 1000;
  private static final String SPREAD = "pipe,socketpair,memfd";

  @TempDir
  Path dir;

  @Test
  void concurrentClientsOverEveryTransportLoseDuplicateAndReorderNothing() throws Exception {
    int clients = Integer.getInteger("fdipc.load.clients", CI_CLIENTS);
    int messages = Integer.getInteger("fdipc.load.messages", 1000);
    int jvms = Integer.getInteger("fdipc.load.jvms", 4);
    int window = Integer.getInteger("fdipc.load.window", 4);
    List<String> serverOptions = new ArrayList<>(list(System.getProperty(
        "fdipc.load.serverOptions", "")));
    Integer pending = Integer.getInteger("fdipc.load.maxPendingHandshakes");
    if (pending != null) { // below the burst of connections: exercises the clients' BUSY retries
      serverOptions.add("--max-pending-handshakes=" + pending);
    }
    List<String> clientOptions = list(System.getProperty("fdipc.load.clientOptions", ""));
    List<String> spread = list(System.getProperty("fdipc.load.transports", SPREAD));
    Integer mqueueWanted = Integer.getInteger("fdipc.load.mqueue");
    Duration phase = Duration.ofSeconds(Math.max(120, (long) clients * messages / 2000));
    Path socket = dir.resolve("load.sock");

    try (LoadProcs.Server server = new LoadProcs.Server(socket, serverOptions)) {
      // mqueue: only as many clients as RLIMIT_MSGQUEUE allows a server that is not root; each
      // may fall back to pipe: other processes of this user may hold queues the server cannot see.
      int mqueue = Math.max(0, Math.min(mqueueWanted != null ? mqueueWanted
          : server.mqueueCapacity(), clients));
      int[] perJvm = new int[jvms];
      List<Map<String, Integer>> plans = plans(clients, mqueue, spread, jvms, perJvm);
      LoadProcs.Stats start = server.stats();
      server.resetPeak();

      long t0 = System.nanoTime();
      List<Proc> procs = new ArrayList<>();
      try {
        for (int j = 0; j < jvms; j++) {
          List<String> args = new ArrayList<>(List.of("load", "--socket=" + socket,
              "--id-base=" + (1 + j * 1_000_000L), "--plan=" + plan(plans.get(j)),
              "--messages=" + messages, "--window=" + window));
          clientOptions.forEach(o -> args.add("--option=" + o));
          procs.add(LoadProcs.java("load-clients-" + j, LoadClient.class, args));
        }
        Map<String, Integer> transports = new TreeMap<>();
        long busy = 0;
        for (Proc p : procs) {
          Map<String, String> c = LoadProcs.fields(p.awaitOut("connected ", phase));
          assertEquals("0", c.get("failed"), p::transcript);
          busy += Long.parseLong(c.get("busy"));
          for (String tn : c.get("transports").replaceAll("[{}]", "").split(",")) {
            if (!tn.isEmpty()) {
              String[] kv = tn.split("=");
              transports.merge(kv[0], Integer.parseInt(kv[1]), Integer::sum);
            }
          }
        }
        long connectedNanos = System.nanoTime() - t0;
        LoadProcs.Stats connected = server.stats();
        assertEquals(clients, connected.get("sessions"), connected::toString);
        for (String t : spread) {
          assertTrue(transports.getOrDefault(t, 0) > 0, () -> "no client over " + t + ": "
              + transports);
        }
        if (mqueue > 0) {
          assertTrue(transports.getOrDefault("mqueue", 0) > 0, () -> "no client got mqueue "
              + "although the server stated room for " + mqueue + ": " + transports);
        }

        long t1 = System.nanoTime();
        procs.forEach(p -> send(p, "go"));
        long clientMillis = 0;
        long fastest = Long.MAX_VALUE;
        long slowest = 0;
        List<Long> medians = new ArrayList<>();
        for (int j = 0; j < jvms; j++) {
          Proc p = procs.get(j);
          Map<String, String> d = LoadProcs.fields(p.awaitOut("done ", phase));
          assertEquals("0", d.get("failed"), p::transcript);
          assertEquals((long) perJvm[j] * messages, Long.parseLong(d.get("replies")),
              p::transcript);
          clientMillis = Math.max(clientMillis, Long.parseLong(d.get("elapsedMs")));
          fastest = Math.min(fastest, Long.parseLong(d.get("clientMsMin")));
          slowest = Math.max(slowest, Long.parseLong(d.get("clientMsMax")));
          medians.add(Long.parseLong(d.get("clientMsMedian")));
        }
        long exchangeNanos = System.nanoTime() - t1;
        LoadProcs.Stats loaded = server.stats();
        assertEquals(0, loaded.get("violations"), () -> server.proc().transcript());
        assertEquals((long) clients * messages, loaded.get("messages"), loaded::toString);
        assertEquals(clients, loaded.get("sessions"), loaded::toString);

        procs.forEach(p -> send(p, "close"));
        for (Proc p : procs) {
          p.awaitOut("closed", phase);
          assertEquals(0, p.waitFor(phase), p::transcript);
        }
        long totalNanos = System.nanoTime() - t0;
        LoadProcs.Stats end = server.awaitSettled(start, Duration.ofSeconds(60));

        long peak = loaded.get("peakJavaThreads");
        double perClient = (double) (peak - start.get("javaThreads")) / clients;
        System.out.printf("LOAD FIGURES: clients=%d (%s; %d client JVMs) messages=%d window=%d"
            + " serverOptions=%s clientOptions=%s | connect all %.1f s, exchange %.1f s"
            + " (slowest JVM %.1f s; one client's 1,000 messages took %.1f s to %.1f s, medians"
            + " per JVM %s ms), total %.1f s, %.0f round trips/s | server threads"
            + " (/proc) start=%d connected=%d after=%d; java threads start=%d peak=%d"
            + " (%.2f per client) | heap after GC start=%.1f MiB connected=%.1f MiB"
            + " loaded=%.1f MiB (%.1f KiB per client) after=%.1f MiB; reachable start=%.1f MiB"
            + " loaded=%.1f MiB after=%.1f MiB | fds start=%d connected=%d %s after=%d"
            + " | memfd mappings connected=%d after=%d | server RSS start=%.0f MiB"
            + " loaded=%.0f MiB after=%.0f MiB | BUSY refusals retried=%d%n",
            clients, transports, jvms, messages, window, serverOptions, clientOptions,
            connectedNanos / 1e9, exchangeNanos / 1e9, clientMillis / 1e3, fastest / 1e3,
            slowest / 1e3, medians, totalNanos / 1e9,
            clients * (double) messages / (exchangeNanos / 1e9),
            start.get("threads"), connected.get("threads"), end.get("threads"),
            start.get("javaThreads"), peak, perClient,
            mib(start.get("heap")), mib(connected.get("heap")), mib(loaded.get("heap")),
            (loaded.get("heap") - start.get("heap")) / 1024.0 / clients, mib(end.get("heap")),
            mib(start.get("live")), mib(loaded.get("live")), mib(end.get("live")),
            start.get("fds"), connected.get("fds"), connected.raw("fdKinds"), end.get("fds"),
            connected.get("memfdMaps"),
            end.get("memfdMaps"), start.get("rss") / 1024.0, loaded.get("rss") / 1024.0,
            end.get("rss") / 1024.0, busy);

        // Bounded: a session costs the server one thread, its handler's (one thread per server
        // watches every control connection), nothing grows with the number of messages, and all
        // of it is returned.
        assertTrue(peak <= start.get("javaThreads") + clients + 8,
            () -> "peak java threads " + peak + " for " + clients + " clients, from "
                + start.get("javaThreads"));
        assertTrue(loaded.get("heap") - start.get("heap") < 64L * 1024 * clients,
            () -> "heap after GC grew by more than 64 KiB per client: " + start + " -> " + loaded);
        assertEquals(0, end.get("sessions"), end::toString);
        assertEquals(start.get("fds"), end.get("fds"), () -> "server fds " + start + " -> " + end);
        assertEquals(start.get("memfdMaps"), end.get("memfdMaps"), end::toString);
        assertEquals(start.get("mqueueFds"), end.get("mqueueFds"), end::toString);
        assertTrue(end.get("threads") <= start.get("threads") + 2,
            () -> "threads left behind: " + start + " -> " + end);
        assertEquals(0, server.stop(), () -> server.proc().transcript());
      } finally {
        procs.forEach(Proc::close);
      }
    }
  }

  /**
   * Per client JVM, how many clients over which transports: {@code mqueue} first (as
   * {@code mqueue+pipe}), the rest spread evenly over {@code spread}, every JVM a mix.
   */
  private static List<Map<String, Integer>> plans(int clients, int mqueue, List<String> spread,
      int jvms, int[] perJvm) {
    List<Map<String, Integer>> plans = new ArrayList<>();
    for (int j = 0; j < jvms; j++) {
      plans.add(new LinkedHashMap<>());
    }
    List<String> order = new ArrayList<>();
    for (int i = 0; i < mqueue; i++) {
      order.add("mqueue+pipe");
    }
    for (int i = 0; order.size() < clients; i++) {
      order.add(spread.get(i % spread.size()));
    }
    for (int i = 0; i < clients; i++) {
      plans.get(i % jvms).merge(order.get(i), 1, Integer::sum);
      perJvm[i % jvms]++;
    }
    return plans;
  }

  private static String plan(Map<String, Integer> p) {
    StringBuilder sb = new StringBuilder();
    p.forEach((t, n) -> sb.append(sb.length() == 0 ? "" : ",").append(t).append(':').append(n));
    return sb.toString();
  }

  private static List<String> list(String csv) {
    return csv.isBlank() ? List.of() : Arrays.asList(csv.split(","));
  }

  private static double mib(long bytes) {
    return bytes / 1024.0 / 1024.0;
  }

  private static void send(Proc p, String line) {
    try {
      p.send(line);
    } catch (java.io.IOException e) {
      throw new AssertionError("cannot write to " + p.pid() + ": " + e + "\n" + p.transcript());
    }
  }
}
