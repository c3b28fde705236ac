package dev.fdipc.bench;

import java.io.BufferedReader;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** A {@link BenchServer} in a second JVM, started with the same JVM flags and class path. */
final class ServerProcess implements Closeable {
  /** What {@code stats} answered: live threads, heap after GC (bytes), CPU time (ns). */
  record Stats(long threads, long heapBytes, long cpuNanos) {}

  private final Path dir;
  private final Path aeronDir;
  private final Process process;
  private final BufferedReader out;
  private final Writer in;
  private Thread cleanup;
  private volatile boolean closed;

  private ServerProcess(Path dir, Path aeronDir, Process process) {
    this.dir = dir;
    this.aeronDir = aeronDir;
    this.process = process;
    this.out = new BufferedReader(new InputStreamReader(process.getInputStream(),
        StandardCharsets.UTF_8));
    this.in = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
  }

  /** Starts a server whose fdipc side uses {@code options} (full keys, e.g. memfd.wait). */
  static ServerProcess start(Map<String, String> options, boolean aeron, Placement placement)
      throws IOException {
    Path dir = Files.createTempDirectory("fdipc-bench");
    Path shm = Path.of("/dev/shm");
    // Aeron's term buffers belong in memory, not on a disk-backed /tmp
    Path aeronDir = !aeron ? null : Files.isDirectory(shm) && Files.isWritable(shm)
        ? Files.createTempDirectory(shm, "fdipc-bench-aeron") : dir.resolve("aeron");
    List<String> cmd = new ArrayList<>(placement.serverPrefix());
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments());
    // Pinned to one CPU from its start, the server JVM would size itself for one (serial GC,
    // one compiler thread); this JVM was sized before it pinned itself. Keep the two alike.
    cmd.add("-XX:ActiveProcessorCount=" + Placement.JVM_CPUS);
    cmd.addAll(List.of("-cp", System.getProperty("java.class.path"),
        BenchServer.class.getName(), dir.resolve("fdipc.sock").toString(),
        dir.resolve("uds.sock").toString(), aeronDir == null ? "-" : aeronDir.toString()));
    options.forEach((k, v) -> cmd.add(k + "=" + v));
    Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    ServerProcess server = new ServerProcess(dir, aeronDir, p);
    // Ctrl-C: the child stops by itself when its standard input closes; remove the files here
    Thread cleanup = new Thread(() -> {
      try {
        server.close();
      } catch (IOException e) {
        // best effort while the JVM exits
      }
    }, "bench-server-cleanup");
    server.cleanup = cleanup;
    Runtime.getRuntime().addShutdownHook(cleanup);
    String line = server.out.readLine();
    if (!"ready".equals(line)) {
      server.close();
      throw new IOException("bench server did not start" + (line == null ? "" : ": " + line));
    }
    return server;
  }

  Path fdipcSocket() {
    return dir.resolve("fdipc.sock");
  }

  /** The embedded media driver's directory, or null without one. */
  Path aeronDir() {
    return aeronDir;
  }

  Path udsSocket() {
    return dir.resolve("uds.sock");
  }

  Stats stats() throws IOException {
    in.write("stats\n");
    in.flush();
    String line = out.readLine();
    if (line == null || !line.startsWith("stats ")) {
      throw new IOException("bench server answered '" + line + "' to stats");
    }
    long[] v = new long[3];
    String[] parts = line.substring(6).split(" ");
    for (int i = 0; i < 3; i++) {
      v[i] = Long.parseLong(parts[i].split("=", 2)[1]);
    }
    return new Stats(v[0], v[1], v[2]);
  }

  @Override
  public void close() throws IOException {
    if (closed) {
      return;
    }
    closed = true;
    if (Thread.currentThread() != cleanup && cleanup != null) {
      try {
        Runtime.getRuntime().removeShutdownHook(cleanup);
      } catch (IllegalStateException e) {
        // already shutting down: the hook runs anyway and finds this closed
      }
    }
    try {
      in.close(); // end of input: the server stops cleanly
      if (!process.waitFor(10, TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      process.destroyForcibly();
    } finally {
      deleteTree(dir);
      if (aeronDir != null) {
        deleteTree(aeronDir); // the driver removes it on a clean stop; not after a crash
      }
    }
  }

  private static void deleteTree(Path root) throws IOException {
    if (!Files.exists(root)) {
      return;
    }
    try (var paths = Files.walk(root)) {
      for (Path p : (Iterable<Path>) paths.sorted(java.util.Comparator.reverseOrder())::iterator) {
        Files.deleteIfExists(p);
      }
    }
  }
}
