package dev.fdipc.bench;

import dev.fdipc.FdipcClient;
import dev.fdipc.IpcChannel;
import dev.fdipc.TransportRegistry;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;
import org.HdrHistogram.Histogram;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Measures transports between two processes: this one (the client) and a {@link BenchServer} in a
 * second JVM, connected through a real fdipc server and negotiation, one server process per
 * configuration.
 *
 * <p>Latency: 64-byte (or {@code --sizes}) ping-pong, every round trip recorded in an HdrHistogram
 * after a warm-up. Throughput: one-way stream with backpressure; the server counts the messages and
 * checksums their bytes, and the client checks both.
 */
@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Measures fdipc transports between two processes.")
public final class Bench implements Callable<Integer> {
  static final int MAX_MESSAGE = 1 << 20;

  @Option(names = "--transport", split = ",", paramLabel = "NAME[:OPT=V...]",
      description = "Configurations to measure: a transport name, optionally with transport "
          + "options for both sides, e.g. memfd:wait=spin. Default: every available transport, "
          + "plus memfd:wait=spin.")
  private List<String> transports;

  @Option(names = "--sizes", split = ",", paramLabel = "BYTES",
      description = "Message sizes. Default: 64,4096,65536.")
  private List<Integer> sizes = List.of(64, 4096, 65536);

  @Option(names = "--mode", paramLabel = "MODE",
      description = "latency, throughput or all. Default: all.")
  private String mode = "all";

  @Option(names = "--duration", paramLabel = "SECONDS",
      description = "Measuring time per figure. Default: 2.")
  private double duration = 2;

  @Option(names = "--warmup", paramLabel = "SECONDS",
      description = "Warm-up time per figure. Default: 1.")
  private double warmup = 1;

  /** Runs the benchmark and exits with its status. */
  public static void main(String[] args) {
    System.exit(new CommandLine(new Bench()).execute(args));
  }

  @Override
  public Integer call() throws Exception {
    List<String> configs = transports;
    if (configs == null) {
      configs = new ArrayList<>(TransportRegistry.getDefault().availableNames());
      if (configs.contains("memfd")) {
        configs.add(configs.indexOf("memfd") + 1, "memfd:wait=spin");
      }
    }
    boolean latency = mode.equals("all") || mode.equals("latency");
    boolean throughput = mode.equals("all") || mode.equals("throughput");
    System.out.printf("%-18s %-10s %8s %9s %9s %9s %9s %9s %11s %9s%n", "transport", "mode",
        "size", "p50 us", "p90 us", "p99 us", "p99.9 us", "max us", "msgs/s", "MB/s");
    for (String config : configs) {
      String name = config.split(":", 2)[0];
      Map<String, String> options = options(config);
      Path dir = Files.createTempDirectory("fdipc-bench");
      Path socket = dir.resolve("s.sock");
      Process server = startServer(socket, options);
      try {
        for (int size : sizes) {
          if (latency) {
            Histogram h = latency(socket, name, options, size);
            System.out.printf("%-18s %-10s %8d %9.2f %9.2f %9.2f %9.2f %9.2f %11s %9s%n", config,
                "latency", size, us(h.getValueAtPercentile(50)), us(h.getValueAtPercentile(90)),
                us(h.getValueAtPercentile(99)), us(h.getValueAtPercentile(99.9)),
                us(h.getMaxValue()), "", "");
          }
        }
        for (int size : sizes) {
          if (throughput) {
            double[] t = throughput(socket, name, options, size);
            System.out.printf("%-18s %-10s %8d %9s %9s %9s %9s %9s %11.0f %9.1f%n", config,
                "throughput", size, "", "", "", "", "", t[0], t[1]);
          }
        }
      } finally {
        server.destroy();
        server.waitFor(10, TimeUnit.SECONDS);
        server.destroyForcibly();
        Files.deleteIfExists(socket);
        Files.deleteIfExists(dir.resolve("s.sock.lock"));
        Files.deleteIfExists(dir);
      }
    }
    return 0;
  }

  private static double us(long nanos) {
    return nanos / 1000.0;
  }

  private static Map<String, String> options(String config) {
    Map<String, String> options = new LinkedHashMap<>();
    String[] parts = config.split(":");
    for (int i = 1; i < parts.length; i++) {
      String[] kv = parts[i].split("=", 2);
      options.put(parts[0] + "." + kv[0], kv.length > 1 ? kv[1] : "");
    }
    return options;
  }

  private static Process startServer(Path socket, Map<String, String> options)
      throws IOException {
    List<String> cmd = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
        BenchServer.class.getName(), socket.toString()));
    options.forEach((k, v) -> cmd.add(k + "=" + v));
    Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(),
        StandardCharsets.UTF_8));
    String line = out.readLine();
    if (!"ready".equals(line)) {
      p.destroyForcibly();
      throw new IOException("bench server did not start: " + line);
    }
    return p;
  }

  private IpcChannel connect(Path socket, String transport, Map<String, String> options,
      char mode) throws IOException {
    FdipcClient.Builder b = FdipcClient.builder().socket(socket).transports(transport)
        .maxMessageSize(MAX_MESSAGE);
    options.forEach(b::option);
    IpcChannel ch = b.connect();
    ch.send(new byte[] {(byte) mode});
    return ch;
  }

  private Histogram latency(Path socket, String transport, Map<String, String> options,
      int size) throws IOException {
    Histogram h = new Histogram(TimeUnit.SECONDS.toNanos(10), 3);
    try (IpcChannel ch = connect(socket, transport, options, 'E')) {
      ByteBuffer out = ByteBuffer.allocateDirect(size);
      ByteBuffer in = ByteBuffer.allocateDirect(size);
      for (int phase = 0; phase < 2; phase++) {
        long end = System.nanoTime() + (long) ((phase == 0 ? warmup : duration) * 1e9);
        long now;
        do {
          out.clear();
          in.clear();
          long t0 = System.nanoTime();
          ch.send(out);
          if (ch.receive(in) != size) {
            throw new IOException(transport + ": echo of " + size + " bytes came back wrong");
          }
          now = System.nanoTime();
          if (phase == 1) {
            h.recordValue(Math.min(now - t0, h.getHighestTrackableValue()));
          }
        } while (now < end);
      }
    }
    return h;
  }

  /** @return messages per second and MB (10^6 bytes) per second */
  private double[] throughput(Path socket, String transport, Map<String, String> options,
      int size) throws IOException {
    double[] result = null;
    for (int phase = 0; phase < 2; phase++) {
      try (IpcChannel ch = connect(socket, transport, options, 'S')) {
        ByteBuffer out = ByteBuffer.allocateDirect(size);
        long count = 0;
        long start = System.nanoTime();
        long end = start + (long) ((phase == 0 ? warmup : duration) * 1e9);
        do {
          for (int i = 0; i < 64; i++) {
            out.clear();
            out.putLong(0, count++);
            ch.send(out);
          }
        } while (System.nanoTime() < end);
        ch.send(new byte[0]);
        byte[] summary = ch.receive();
        long elapsed = System.nanoTime() - start;
        ByteBuffer s = ByteBuffer.wrap(summary);
        long received = s.getLong();
        long crc = s.getLong();
        if (received != count || crc != expectedCrc(size, count)) {
          throw new IOException(transport + ": sent " + count + " messages, the server received "
              + received + (crc != expectedCrc(size, count) ? " with a wrong checksum" : ""));
        }
        result = new double[] {count / (elapsed / 1e9), count * (double) size / elapsed * 1e3};
      }
    }
    return result;
  }

  private static long expectedCrc(int size, long count) {
    CRC32C crc = new CRC32C();
    ByteBuffer m = ByteBuffer.allocate(size);
    for (long i = 0; i < count; i++) {
      m.clear();
      m.putLong(0, i);
      crc.update(m);
    }
    return crc.getValue();
  }
}
