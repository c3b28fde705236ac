package dev.fdipc.transport.mqueue;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.fdipc.FdipcClient;
import dev.fdipc.FdipcServer;
import dev.fdipc.IpcChannel;
import dev.fdipc.TransportRegistry;
import dev.fdipc.transport.pipe.PipeTransportProvider;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * Figures, not a test: round-trip latency of 64-byte messages and one-way throughput of 4 KiB
 * messages between two processes, over mqueue and over pipe in the same run, alternating, so that
 * the two can be compared on a shared machine whose speed drifts. Nothing is asserted about time.
 *
 * <pre>
 * mvn -o -q -B -pl transport-mqueue -am test -Dtest=MqueueVsPipeMeasurement \
 *     -Dsurefire.failIfNoSpecifiedTests=false -Dfdipc.measure=true
 * cat transport-mqueue/target/mqueue-vs-pipe.txt
 * </pre>
 *
 * The server is a child JVM ({@link #main}) that echoes or counts; this JVM is the client.
 */
@EnabledIfSystemProperty(named = "fdipc.measure", matches = "true",
    disabledReason = "measurement: run with -Dtest=MqueueVsPipeMeasurement -Dfdipc.measure=true")
class MqueueVsPipeMeasurement {
  private static final int ROUNDS = 3;
  private static final int WARMUP_ROUND_TRIPS = 20_000;
  private static final int ROUND_TRIPS = 100_000;
  private static final int SMALL = 64;
  private static final int LARGE = 4096;
  private static final int STREAMED = 250_000; // 1 GB of 4 KiB messages per measurement
  private static final List<String> TRANSPORTS = List.of("pipe", "mqueue");

  private static TransportRegistry registry() {
    return TransportRegistry.of(new PipeTransportProvider(), new MqueueTransportProvider());
  }

  @Test
  @Timeout(value = 15, unit = TimeUnit.MINUTES)
  void measure() throws Exception {
    Path dir = Files.createTempDirectory("fdipc-measure");
    Path socket = dir.resolve("s.sock");
    Process child = startServer(socket);
    List<String> lines = new ArrayList<>();
    try {
      lines.add(String.format(Locale.ROOT, "%-7s %-6s %10s %10s %10s %12s %12s", "round",
          "transp", "p50 us", "p99 us", "p99.9 us", "4KiB MB/s", "4KiB msg/s"));
      for (int round = 1; round <= ROUNDS; round++) {
        for (String t : round % 2 == 1 ? TRANSPORTS : List.of("mqueue", "pipe")) {
          double[] rtt = roundTrips(socket, t);
          double[] stream = throughput(socket, t);
          String line = String.format(Locale.ROOT, "%-7d %-6s %10.1f %10.1f %10.1f %12.0f %12.0f",
              round, t, rtt[0], rtt[1], rtt[2], stream[0], stream[1]);
          lines.add(line);
          System.out.println(line);
        }
      }
      lines.add("");
      lines.add("round trip: " + ROUND_TRIPS + " x " + SMALL + "-byte send + echo, after "
          + WARMUP_ROUND_TRIPS + " warm-up; throughput: " + STREAMED + " x " + LARGE
          + "-byte messages one way, timed to the server's count; " + Runtime.getRuntime()
          .availableProcessors() + " CPUs; mqueue queues: " + QueueSizes.defaults(
              MqueueLimits.read()));
      Path out = Path.of("target", "mqueue-vs-pipe.txt");
      Files.write(out, lines);
      System.out.println("written to " + out.toAbsolutePath());
    } finally {
      child.destroyForcibly();
      child.waitFor(10, TimeUnit.SECONDS);
      Files.deleteIfExists(socket);
      Files.deleteIfExists(dir.resolve("s.sock.lock"));
      Files.deleteIfExists(dir);
    }
  }

  /** p50, p99 and p99.9 of the round trip, in microseconds. */
  private static double[] roundTrips(Path socket, String transport) throws IOException {
    try (IpcChannel ch = connect(socket, transport)) {
      ch.send("echo".getBytes(StandardCharsets.US_ASCII));
      ByteBuffer out = ByteBuffer.allocate(SMALL);
      ByteBuffer in = ByteBuffer.allocate(SMALL);
      long[] samples = new long[ROUND_TRIPS];
      for (int i = -WARMUP_ROUND_TRIPS; i < ROUND_TRIPS; i++) {
        out.clear();
        out.putInt(0, i);
        in.clear();
        long t0 = System.nanoTime();
        ch.send(out);
        int n = ch.receive(in);
        long t1 = System.nanoTime();
        if (n != SMALL || in.getInt(0) != i) {
          throw new IOException("bad echo " + n + " for " + i);
        }
        if (i >= 0) {
          samples[i] = t1 - t0;
        }
      }
      Arrays.sort(samples);
      return new double[] {micros(samples, 0.50), micros(samples, 0.99), micros(samples, 0.999)};
    }
  }

  private static double micros(long[] sorted, double quantile) {
    return sorted[(int) Math.min(sorted.length - 1, Math.round(quantile * sorted.length))] / 1e3;
  }

  /** MB/s and messages/s of 4 KiB messages sent one way. */
  private static double[] throughput(Path socket, String transport) throws IOException {
    try (IpcChannel ch = connect(socket, transport)) {
      ch.send("sink".getBytes(StandardCharsets.US_ASCII));
      ByteBuffer m = ByteBuffer.allocate(LARGE);
      for (int i = 0; i < STREAMED / 10; i++) { // warm-up, counted by the server too
        m.clear();
        ch.send(m);
      }
      ch.send(new byte[0]);
      ByteBuffer reply = ByteBuffer.allocate(8);
      ch.receive(reply);
      long t0 = System.nanoTime();
      for (int i = 0; i < STREAMED; i++) {
        m.clear();
        ch.send(m);
      }
      ch.send(new byte[0]);
      reply.clear();
      ch.receive(reply);
      long nanos = System.nanoTime() - t0;
      assertEquals(STREAMED, reply.getLong(0), "messages counted by the server");
      double seconds = nanos / 1e9;
      return new double[] {(double) STREAMED * LARGE / seconds / 1e6, STREAMED / seconds};
    }
  }

  private static IpcChannel connect(Path socket, String transport) throws IOException {
    return FdipcClient.builder().socket(socket).registry(registry()).transports(transport)
        .connect();
  }

  private static Process startServer(Path socket) throws IOException {
    List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
        MqueueVsPipeMeasurement.class.getName(), socket.toString());
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(),
        StandardCharsets.UTF_8));
    String line;
    while ((line = r.readLine()) != null) {
      if (line.equals("ready")) {
        return p;
      }
      System.out.println("server: " + line);
    }
    throw new IOException("the measuring server exited before it was ready");
  }

  /**
   * The server side, in its own JVM: each session's first message says what to do. {@code echo}:
   * send every message back. {@code sink}: count messages until an empty one, answer the count
   * (8 bytes), start counting again.
   */
  public static void main(String[] args) throws Exception {
    FdipcServer.builder().socket(Path.of(args[0])).registry(registry()).handler(session -> {
      IpcChannel ch = session.channel();
      ByteBuffer buf = ByteBuffer.allocate(ch.maxMessageSize());
      int n = ch.receive(buf);
      String mode = new String(buf.array(), 0, Math.max(n, 0), StandardCharsets.US_ASCII);
      long count = 0;
      while (true) {
        buf.clear();
        n = ch.receive(buf);
        if (n < 0) {
          return;
        }
        if (mode.equals("echo")) {
          buf.flip();
          ch.send(buf);
        } else if (n == 0) {
          ch.send(ByteBuffer.allocate(8).putLong(0, count));
          count = 0;
        } else {
          count++;
        }
      }
    }).start();
    System.out.println("ready");
    System.out.flush();
    Thread.sleep(Long.MAX_VALUE);
  }
}
