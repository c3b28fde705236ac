package dev.fdipc.e2e;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Starts {@link LoadServer} and {@link LoadClient} in JVMs of their own, through
 * {@code bin/fdipc-java} like the real commands (same jars from {@code dist/target/lib}, same JVM
 * flags), with this module's test classes added through {@code $CLASSPATH}.
 */
final class LoadProcs {
  private LoadProcs() {}

  /** {@code main} of this module's test classes in a new JVM. */
  static Proc java(String name, Class<?> main, List<String> args) throws IOException {
    return java(name, main, args, "");
  }

  /** Like {@link #java(String, Class, List)}, with extra JVM options. */
  static Proc java(String name, Class<?> main, List<String> args, String javaOpts)
      throws IOException {
    List<String> cmd = new ArrayList<>();
    cmd.add(Proc.ROOT.resolve("bin/fdipc-java").toString());
    cmd.add(main.getName());
    cmd.addAll(args);
    return Proc.startRaw(name, cmd, Map.of("CLASSPATH", testClasses(), "FDIPC_JAVA_OPTS",
        javaOpts));
  }

  private static String testClasses() {
    try {
      return Path.of(LoadProcs.class.getProtectionDomain().getCodeSource().getLocation().toURI())
          .toString();
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }

  /** {@code key=value} fields of a line such as {@code stats threads=12 heap=...}. */
  static Map<String, String> fields(String line) {
    Map<String, String> m = new LinkedHashMap<>();
    for (String f : line.split(" ")) {
      int eq = f.indexOf('=');
      if (eq > 0) {
        m.put(f.substring(0, eq), f.substring(eq + 1));
      }
    }
    return m;
  }

  /** A {@link LoadServer} process and its {@code stats} answers. */
  static final class Server implements AutoCloseable {
    private final Proc proc;
    private final int mqueueCapacity;
    private int statsAsked;
    private int peakResets;

    Server(Path socket, List<String> options) throws Exception {
      List<String> args = new ArrayList<>();
      args.add(socket.toString());
      args.addAll(options);
      // Soft references cleared by every GC: "heap after GC" is then what is strongly reachable,
      // not what the JVM happened to keep as a cache since its start.
      proc = java("load-server", LoadServer.class, args, "-XX:SoftRefLRUPolicyMSPerMB=0");
      try {
        String ready = proc.awaitOut("ready pid=", Duration.ofMinutes(3)); // may build first
        mqueueCapacity = Integer.parseInt(fields(ready).get("mqueue-capacity"));
      } catch (Throwable t) {
        proc.close();
        throw t;
      }
    }

    Proc proc() {
      return proc;
    }

    /** What {@code MqueueTransportProvider.capacity()} stated in the server; -1 if unknown. */
    int mqueueCapacity() {
      return mqueueCapacity;
    }

    Stats stats() throws Exception {
      proc.send("stats");
      return new Stats(fields(proc.awaitNthOut("stats ", ++statsAsked, Duration.ofSeconds(60))));
    }

    void resetPeak() throws Exception {
      proc.send("reset-peak");
      proc.awaitNthOut("peak-reset", ++peakResets, Duration.ofSeconds(30));
    }

    /**
     * Asks for stats until every session has ended and the fd count and the threads (as
     * {@code /proc} counts them: an ended Java thread takes a moment to leave) are back to those of
     * {@code start}, or {@code timeout} has passed (there is no signal for "the server has released
     * everything"); the last answer either way.
     */
    Stats awaitSettled(Stats start, Duration timeout) throws Exception {
      long deadline = System.nanoTime() + timeout.toNanos();
      Stats s;
      while (true) {
        s = stats();
        boolean settled = s.get("sessions") == 0 && s.get("fds") == start.get("fds")
            && s.get("threads") <= start.get("threads") + 2;
        if (settled || System.nanoTime() > deadline) {
          return s;
        }
        Thread.sleep(200);
      }
    }

    /** Stops the server through end of input and checks that it stopped cleanly. */
    int stop() throws Exception {
      proc.closeStdin();
      return proc.waitFor(Duration.ofSeconds(60));
    }

    @Override
    public void close() {
      proc.close();
    }
  }

  /** One {@code stats} answer of the server. */
  record Stats(Map<String, String> fields) {
    long get(String key) {
      String v = fields.get(key);
      if (v == null) {
        throw new AssertionError("no " + key + " in " + fields);
      }
      return Long.parseLong(v);
    }

    String raw(String key) {
      return fields.get(key);
    }

    @Override
    public String toString() {
      return fields.toString();
    }
  }
}
