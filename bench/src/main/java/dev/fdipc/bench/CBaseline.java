package dev.fdipc.bench;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The C baselines: {@code pingpong.c}, shipped in this jar, compiled with the machine's C compiler
 * on first use, measures round trips and one-way throughput between two processes over a pipe, a
 * socket pair, two POSIX message queues, and a spinning shared-memory ring (whose throughput is
 * memcpy bandwidth between two processes). fdipc's own figures are then read as ratios to these,
 * taken in the same run on the same machine and the same {@link Placement}.
 */
final class CBaseline {
  /** The baselines' names in tables and JSON, each {@code c-} and the pingpong kind. */
  static final List<String> NAMES = List.of("c-spin-ring", "c-pipe", "c-socketpair",
      "c-mqueue");

  private static Path binary;
  private static String unavailable;

  private CBaseline() {}

  static boolean isBaseline(String name) {
    return NAMES.contains(name);
  }

  /** Compiles the program once; null if there is no C compiler, with the reason kept. */
  static synchronized Path binary() {
    if (binary != null || unavailable != null) {
      return binary;
    }
    try {
      Path dir = Files.createTempDirectory("fdipc-bench-c");
      dir.toFile().deleteOnExit();
      Path source = dir.resolve("pingpong.c");
      try (InputStream in = CBaseline.class.getResourceAsStream("pingpong.c")) {
        Files.copy(in, source);
      }
      Path out = dir.resolve("pingpong");
      String cc = System.getenv().getOrDefault("CC", "cc");
      Process p = new ProcessBuilder(cc, "-O2", "-o", out.toString(), source.toString())
          .redirectErrorStream(true).start();
      String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
        unavailable = cc + " failed: " + log.strip();
        return null;
      }
      source.toFile().deleteOnExit();
      out.toFile().deleteOnExit();
      binary = out;
    } catch (IOException e) {
      unavailable = "no C compiler (" + e.getMessage() + "); install gcc or set $CC";
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      unavailable = "interrupted";
    }
    return binary;
  }

  /** Why the baselines cannot run, or null. */
  static synchronized String unavailability() {
    binary();
    return unavailable;
  }

  /** Round-trip latency of {@code name} ({@code c-pipe} ...) at {@code size} bytes. */
  static Measurement latency(String name, int size, double warmup, double duration,
      Placement placement) throws IOException {
    long[] f = run("latency", name, size, warmup, duration, placement, 5);
    return new Measurement(name, Mode.LATENCY, size, 1, f[0], f[1], f[2], f[3], f[4],
        Double.NaN, Double.NaN, Map.of());
  }

  /**
   * One-way throughput of {@code name} at {@code size} bytes: for {@code c-spin-ring}, memcpy
   * bandwidth between two processes through a shared ring.
   */
  static Measurement throughput(String name, int size, double warmup, double duration,
      Placement placement) throws IOException {
    long[] f = run("throughput", name, size, warmup, duration, placement, 2);
    return Measurement.ofRate(name, size, 1, f[0], f[1]);
  }

  private static long[] run(String mode, String name, int size, double warmup, double duration,
      Placement placement, int fields) throws IOException {
    Path bin = binary();
    if (bin == null) {
      throw new IOException(name + ": " + unavailable);
    }
    String kind = name.substring(2);
    Process p = new ProcessBuilder(bin.toString(), mode, kind, Integer.toString(size),
        String.format(Locale.ROOT, "%.3f", warmup), String.format(Locale.ROOT, "%.3f", duration),
        Integer.toString(placement.clientCpu()), Integer.toString(placement.serverCpu()))
        .redirectErrorStream(true).start(); // its reason for failing belongs in the exception
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
    try {
      if (!p.waitFor(60 + (long) (warmup + duration), TimeUnit.SECONDS) || p.exitValue() != 0) {
        p.destroyForcibly();
        throw new IOException(name + ": pingpong " + mode + " failed: " + out);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException(name + ": interrupted", e);
    }
    String[] f = out.substring(out.lastIndexOf('\n') + 1).split(" ");
    if (f.length != fields) {
      throw new IOException(name + ": unexpected pingpong output: " + out);
    }
    long[] v = new long[fields];
    for (int i = 0; i < fields; i++) {
      v[i] = Long.parseLong(f[i]);
    }
    return v;
  }
}
