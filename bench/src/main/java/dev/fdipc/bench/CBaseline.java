package dev.fdipc.bench;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * The C baselines: {@code pingpong.c}, shipped in this jar, compiled with the machine's C compiler
 * on first use, measures round trips between two processes over a pipe, a socket pair, and a
 * spinning shared-memory ring. fdipc's own figures are then read as ratios to these, taken in the
 * same run on the same machine.
 */
final class CBaseline {
  /** The baselines' names in tables and JSON, each {@code c-} and the pingpong kind. */
  static final List<String> NAMES = List.of("c-spin-ring", "c-pipe", "c-socketpair");

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
  static Measurement latency(String name, int size, double warmup, double duration)
      throws IOException {
    Path bin = binary();
    if (bin == null) {
      throw new IOException(name + ": " + unavailable);
    }
    String kind = name.substring(2);
    Process p = new ProcessBuilder(bin.toString(), kind, Integer.toString(size),
        String.format(Locale.ROOT, "%.3f", warmup), String.format(Locale.ROOT, "%.3f", duration))
        .redirectError(ProcessBuilder.Redirect.INHERIT).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
    try {
      if (!p.waitFor(60 + (long) (warmup + duration), TimeUnit.SECONDS) || p.exitValue() != 0) {
        p.destroyForcibly();
        throw new IOException(name + ": pingpong failed: " + out);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException(name + ": interrupted", e);
    }
    String[] f = out.split(" ");
    if (f.length != 5) {
      throw new IOException(name + ": unexpected pingpong output: " + out);
    }
    return new Measurement(name, Mode.LATENCY, size, 1, Long.parseLong(f[0]),
        Long.parseLong(f[1]), Long.parseLong(f[2]), Long.parseLong(f[3]), Long.parseLong(f[4]),
        Double.NaN, Double.NaN, java.util.Map.of());
  }
}
