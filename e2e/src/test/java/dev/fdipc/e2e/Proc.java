package dev.fdipc.e2e;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/** A real process of ours (bin/server, bin/client) with its output collected line by line. */
final class Proc implements AutoCloseable {
  static final Path ROOT = Path.of(System.getProperty("fdipc.root", "..")).toAbsolutePath()
      .normalize();

  /**
   * The plugin directory every process gets unless a test says otherwise: empty, so that jars a
   * developer keeps in {@code plugins/} cannot change what the tests see.
   */
  static final Path NO_PLUGINS = ROOT.resolve("e2e/target/no-plugins");

  private final String name;
  private final Process process;
  private final List<String> out = new ArrayList<>();
  private final List<String> err = new ArrayList<>();
  private final OutputStream stdin;
  private final Thread outPump;
  private final Thread errPump;

  private Proc(String name, Process process) {
    this.name = name;
    this.process = process;
    this.stdin = process.getOutputStream();
    this.outPump = pump(process.getInputStream(), out, name + "-out");
    this.errPump = pump(process.getErrorStream(), err, name + "-err");
  }

  /** Starts {@code bin/<command> args...}. */
  static Proc start(String command, List<String> args, Map<String, String> env)
      throws IOException {
    List<String> cmd = new ArrayList<>();
    cmd.add(ROOT.resolve("bin").resolve(command).toString());
    cmd.addAll(args);
    return startRaw(command, cmd, env);
  }

  /**
   * Starts an arbitrary command line with {@code env} added to an environment without
   * {@code FDIPC_SOCKET} and {@code CLASSPATH}, and with {@code FDIPC_PLUGINS} set to
   * {@link #NO_PLUGINS} ({@code FDIPC_PLUGINS=""} in {@code env} restores the launcher's default).
   */
  static Proc startRaw(String name, List<String> cmd, Map<String, String> env) throws IOException {
    ProcessBuilder pb = new ProcessBuilder(cmd);
    pb.environment().remove("FDIPC_SOCKET");
    pb.environment().remove("CLASSPATH");
    Files.createDirectories(NO_PLUGINS);
    pb.environment().put("FDIPC_PLUGINS", NO_PLUGINS.toString());
    // The reactor built the jars for this run; a source edited meanwhile is not this run's.
    pb.environment().put("FDIPC_NO_STALE_CHECK", "1");
    pb.environment().putAll(env);
    return new Proc(name, pb.start());
  }

  private Thread pump(InputStream in, List<String> into, String threadName) {
    Thread t = new Thread(() -> {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(in,
          StandardCharsets.UTF_8))) {
        String line;
        while ((line = r.readLine()) != null) {
          synchronized (this) {
            into.add(line);
            notifyAll();
          }
        }
      } catch (IOException e) {
        // the process is gone
      } finally {
        synchronized (this) {
          notifyAll();
        }
      }
    }, threadName);
    t.setDaemon(true);
    t.start();
    return t;
  }

  long pid() {
    return process.pid();
  }

  /** Waits for a stdout line containing {@code text} and returns it. */
  String awaitOut(String text, Duration timeout) throws InterruptedException {
    return await(out, l -> l.contains(text), "stdout line containing '" + text + "'", timeout);
  }

  /** Waits for a stdout line that matches {@code regex} whole and returns it. */
  String awaitOutMatching(String regex, Duration timeout) throws InterruptedException {
    java.util.regex.Pattern p = java.util.regex.Pattern.compile(regex);
    return await(out, l -> p.matcher(l).matches(), "stdout line matching '" + regex + "'",
        timeout);
  }

  /** Waits for a stderr line containing {@code text} and returns it. */
  String awaitErr(String text, Duration timeout) throws InterruptedException {
    return await(err, l -> l.contains(text), "stderr line containing '" + text + "'", timeout);
  }

  /**
   * Waits for the {@code n}-th stdout line (1-based) that starts with {@code prefix} and returns
   * it: for a process that answers the same request more than once.
   */
  String awaitNthOut(String prefix, int n, Duration timeout) throws InterruptedException {
    int[] seen = {0};
    return await(out, l -> l.startsWith(prefix) && ++seen[0] == n,
        "stdout line #" + n + " starting with '" + prefix + "'", timeout, () -> seen[0] = 0);
  }

  private String await(List<String> lines, Predicate<String> p, String what, Duration timeout)
      throws InterruptedException {
    return await(lines, p, what, timeout, () -> { });
  }

  private synchronized String await(List<String> lines, Predicate<String> p, String what,
      Duration timeout, Runnable beforeEachScan) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      beforeEachScan.run();
      for (String l : lines) {
        if (p.test(l)) {
          return l;
        }
      }
      long left = deadline - System.nanoTime();
      if (left <= 0) {
        throw new AssertionError(name + ": no " + what + " within " + timeout + "\n" + transcript());
      }
      TimeUnit.NANOSECONDS.timedWait(this, left);
    }
  }

  /** Writes one line to the process's stdin. */
  void send(String line) throws IOException {
    stdin.write((line + "\n").getBytes(StandardCharsets.UTF_8));
    stdin.flush();
  }

  void closeStdin() throws IOException {
    stdin.close();
  }

  /** Waits for the exit status, failing with the transcript if the process does not end. */
  int waitFor(Duration timeout) throws InterruptedException {
    if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
      throw new AssertionError(name + " still running after " + timeout + "\n" + transcript());
    }
    outPump.join(5000); // the last lines may still be in the pipe
    errPump.join(5000);
    return process.exitValue();
  }

  /** Sends a signal by name ("INT", "TERM", "KILL"). */
  void signal(String sig) throws IOException, InterruptedException {
    Process k = new ProcessBuilder("kill", "-" + sig, Long.toString(process.pid())).start();
    if (!k.waitFor(10, TimeUnit.SECONDS) || k.exitValue() != 0) {
      throw new AssertionError("kill -" + sig + " " + process.pid() + " failed");
    }
  }

  /** True if the process inherited SIGINT as ignored (a background job of a script does). */
  boolean ignoresSigint() throws IOException {
    for (String l : Files.readAllLines(Path.of("/proc/" + process.pid() + "/status"))) {
      if (l.startsWith("SigIgn:")) {
        return (Long.parseUnsignedLong(l.substring(7).trim(), 16) & (1L << 1)) != 0;
      }
    }
    return false;
  }

  synchronized List<String> stdout() {
    return List.copyOf(out);
  }

  synchronized List<String> stderr() {
    return List.copyOf(err);
  }

  synchronized String transcript() {
    return "--- " + name + " stdout:\n" + String.join("\n", out) + "\n--- " + name
        + " stderr:\n" + String.join("\n", err);
  }

  boolean isAlive() {
    return process.isAlive();
  }

  @Override
  public void close() {
    process.destroyForcibly();
    try {
      process.waitFor(10, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
