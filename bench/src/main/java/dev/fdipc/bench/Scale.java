package dev.fdipc.bench;

import dev.fdipc.ChannelHandler;
import dev.fdipc.EventChannel;
import dev.fdipc.FdipcClient;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.HdrHistogram.Histogram;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * What thousands of clients cost the real {@code server} command: it starts {@code bin/server}'s
 * code in a child JVM (with the launcher's GC flags), connects N clients from this process (the
 * client library's event-driven API, so this side needs no thread per connection either), has
 * each one answered once, and reads the server's threads, resident memory and descriptors from
 * {@code /proc}, before and with the clients, plus the connection rate and connect latency.
 */
@Command(name = "scale", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Holds N concurrent clients on one server command and reports its threads, "
        + "RSS and fds per client, and connections per second.",
        "Each client sends one integer and waits for its answer, then stays connected idle."})
final class Scale implements Callable<Integer> {
  @Option(names = "--transport", split = ",", paramLabel = "NAME",
      description = "Transports to measure. Default: ${DEFAULT-VALUE}.")
  List<String> transports = List.of("socketpair", "memfd");

  @Option(names = "--clients", split = ",", paramLabel = "N",
      description = "Concurrent clients. Default: ${DEFAULT-VALUE}.")
  List<Integer> clients = List.of(1000, 6000);

  @Option(names = "--json", paramLabel = "FILE", description = "Also write the figures as JSON.")
  Path json;

  private static final long ANSWER_SECONDS = 120;

  /** One row of figures. */
  record Row(String transport, int clients, long baseThreads, long threads, double baseRssMiB,
      double rssMiB, long baseFds, long fds, double fdsPerClient, double connectsPerSecond,
      double connectP50Micros, double connectP99Micros, long fdsAfterClose) {}

  @Override
  public Integer call() throws Exception {
    for (int n : clients) {
      if (n < 1 || n > 100_000) {
        throw new IllegalArgumentException("--clients: " + n + " is not in [1, 100000]");
      }
    }
    PrintStream out = System.out;
    List<Row> rows = new ArrayList<>();
    out.printf(Locale.ROOT, "%-11s %7s %8s %9s %10s %9s %11s %9s %9s %8s%n", "transport",
        "clients", "threads", "RSS MiB", "fds/client", "conn/s", "connect p50", "p99",
        "idle thr", "idle RSS");
    for (String t : transports) {
      for (int n : clients) {
        Row r = measure(t, n);
        rows.add(r);
        out.printf(Locale.ROOT, "%-11s %7d %8d %9.1f %10.2f %9.0f %9.0f µs %6.0f µs %9d %8.1f%n",
            r.transport(), r.clients(), r.threads(), r.rssMiB(), r.fdsPerClient(),
            r.connectsPerSecond(), r.connectP50Micros(), r.connectP99Micros(), r.baseThreads(),
            r.baseRssMiB());
        out.flush();
      }
    }
    if (json != null) {
      Files.writeString(json, toJson(rows), StandardCharsets.UTF_8);
    }
    return 0;
  }

  private Row measure(String transport, int n) throws Exception {
    Path dir = Files.createTempDirectory("fdipc-scale");
    Path socket = dir.resolve("s.sock");
    Process server = ServerCommand.start(socket, transport, n + 16);
    try {
      long pid = server.pid();
      ServerCommand.Proc base = ServerCommand.Proc.read(pid);
      List<EventChannel> open = new ArrayList<>(n);
      CountDownLatch answered = new CountDownLatch(n);
      AtomicReference<Throwable> failure = new AtomicReference<>();
      Histogram connect = new Histogram(3);
      ChannelHandler handler = new ChannelHandler() {
        @Override
        public void opened(EventChannel ch) throws IOException {
          ch.send("1".getBytes(StandardCharsets.UTF_8));
        }

        @Override
        public void received(EventChannel ch, ByteBuffer reply) {
          answered.countDown();
        }

        @Override
        public void closed(EventChannel ch, Throwable e) {
          if (e != null) {
            failure.compareAndSet(null, e);
          }
        }
      };
      long t0 = System.nanoTime();
      try {
        for (int i = 0; i < n; i++) {
          long c0 = System.nanoTime();
          open.add(FdipcClient.builder().socket(socket).transports(transport).clientId(i)
              .connect(handler));
          connect.recordValue((System.nanoTime() - c0) / 1000);
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        if (!answered.await(ANSWER_SECONDS, TimeUnit.SECONDS)) {
          throw new IOException(answered.getCount() + " of " + n + " clients got no answer in "
              + ANSWER_SECONDS + " s" + (failure.get() == null ? "" : ": " + failure.get()));
        }
        ServerCommand.Proc held = ServerCommand.Proc.read(pid);
        for (EventChannel ch : open) {
          ch.close();
        }
        open.clear();
        long after = ServerCommand.awaitFds(pid, base.fds());
        return new Row(transport, n, base.threads(), held.threads(), base.rssKiB() / 1024.0,
            held.rssKiB() / 1024.0, base.fds(), held.fds(), (held.fds() - base.fds()) / (double) n,
            n / seconds, connect.getValueAtPercentile(50), connect.getValueAtPercentile(99), after);
      } finally {
        for (EventChannel ch : open) {
          ch.close();
        }
      }
    } finally {
      ServerCommand.stop(server, dir);
    }
  }

  private static String toJson(List<Row> rows) {
    List<Map<String, Object>> objects = new ArrayList<>();
    for (Row r : rows) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("mode", "scale");
      m.put("transport", r.transport());
      m.put("clients", r.clients());
      m.put("server_threads", r.threads());
      m.put("server_threads_idle", r.baseThreads());
      m.put("server_rss_mib", round(r.rssMiB()));
      m.put("server_rss_mib_idle", round(r.baseRssMiB()));
      m.put("server_fds", r.fds());
      m.put("server_fds_idle", r.baseFds());
      m.put("server_fds_per_client", round(r.fdsPerClient()));
      m.put("server_fds_after_close", r.fdsAfterClose());
      m.put("connections_per_second", round(r.connectsPerSecond()));
      m.put("connect_p50_us", round(r.connectP50Micros()));
      m.put("connect_p99_us", round(r.connectP99Micros()));
      m.put("jvm", System.getProperty("java.version"));
      m.put("cpus", Runtime.getRuntime().availableProcessors());
      objects.add(m);
    }
    return JsonWriter.objects(objects);
  }

  private static double round(double v) {
    return Math.round(v * 100) / 100.0;
  }
}
