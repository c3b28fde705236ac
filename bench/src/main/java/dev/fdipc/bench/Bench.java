package dev.fdipc.bench;

import dev.fdipc.TransportRegistry;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Measures transports between two processes: this one (the clients) and a {@link BenchServer} in a
 * second JVM, connected through a real fdipc server and negotiation, one server process per
 * configuration. Beside fdipc's transports it measures the baselines a Java user would pick
 * instead, through the same runners.
 */
@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false,
    subcommands = {Scale.class, Churn.class},
    versionProvider = Bench.Version.class,
    description = {"Measures fdipc transports and baselines between two processes.",
        "The defaults measure every available transport and both baselines in all modes, with "
            + "1 client, in under two minutes on 2 vCPUs, and print a table. "
            + "Scaling: --clients=1,10,100 (about 3 times as long; see the README)."},
    footer = {"", "Baselines: " + UdsChannel.NAME + " (a hand-written junixsocket UNIX stream "
        + "socket with length framing) and " + AeronChannel.NAME + " (Aeron " + "IPC, embedded "
        + "media driver in the server process). C baselines: c-spin-ring, c-pipe, c-socketpair, "
        + "c-mqueue (pingpong.c, compiled with $CC or cc on first use; warm-up at most 0.2 s), "
        + "each measured right after the transport it is compared with.",
        "Progress goes to standard error, the table to standard output."})
public final class Bench implements Callable<Integer> {
  static final int MAX_MESSAGE = 1 << 20;
  /** The C baselines' warm-up at most. */
  static final double C_WARMUP_SECONDS = 0.2;

  @Option(names = "--transport", split = ",", paramLabel = "NAME[:OPT=V...]",
      description = "Configurations to measure: a transport name, optionally with transport "
          + "options for both sides (e.g. memfd:wait=spin), or a baseline name. Default: every "
          + "available transport, memfd:wait=spin, the Java baselines, and the C baseline of "
          + "each available transport.")
  List<String> transports;

  @Option(names = "--sizes", split = ",", paramLabel = "BYTES",
      description = "Message sizes for latency and throughput. Default: 64,4096,65536 for "
          + "latency and 64,4096,65536,1048576 for throughput.")
  List<Integer> sizes;

  @Option(names = "--mode", split = ",", paramLabel = "MODE",
      description = "latency, throughput, connect, idle (server cost per idle client) or all. "
          + "Default: all.")
  List<String> modes = List.of("all");

  @Option(names = "--duration", paramLabel = "SECONDS",
      description = "Measuring time per figure. Default: ${DEFAULT-VALUE}.")
  double duration = 0.8;

  @Option(names = "--warmup", paramLabel = "SECONDS",
      description = "Warm-up time before each figure. Default: ${DEFAULT-VALUE}.")
  double warmup = 0.3;

  @Option(names = "--clients", split = ",", paramLabel = "N",
      description = "Concurrent clients, one thread and one connection each, e.g. 1,10,100. "
          + "Default: 1.")
  List<Integer> clients = List.of(1);

  @Option(names = "--cpus", paramLabel = "A,B|none",
      description = "Pin the client side (this JVM, the C parent) to CPU A and the server side "
          + "(the server JVM, the C child) to CPU B, for fdipc, baselines and C alike; A may equal "
          + "B. none: leave placement to the scheduler. Default: the first two CPUs this process "
          + "may use, when there are two and taskset exists.")
  String cpus;

  @Option(names = "--json", paramLabel = "FILE",
      description = "Also write the figures as a JSON array (schema in the README).")
  Path json;

  @Option(names = "--report", paramLabel = "FILE.svg|FILE.html|FILE.png",
      description = "Also write a chart: latency percentiles per transport and throughput per "
          + "size, as SVG, as HTML with the chart and the table, or as PNG (needs rsvg-convert, "
          + "from Debian's librsvg2-bin).")
  Path report;

  /** Runs the benchmark and exits with its status. */
  public static void main(String[] args) {
    CommandLine cl = new CommandLine(new Bench());
    cl.setExecutionExceptionHandler((e, cmd, parsed) -> {
      if (e instanceof IllegalArgumentException) {
        cmd.getErr().println("bench: " + e.getMessage());
        return 2;
      }
      cmd.getErr().println("bench: " + e);
      if (Boolean.getBoolean("fdipc.debug")) {
        e.printStackTrace(cmd.getErr());
      }
      return 1;
    });
    System.exit(cl.execute(args));
  }

  /** The checked configuration this command line asks for. */
  Config config() {
    Set<Mode> set = EnumSet.noneOf(Mode.class);
    for (String m : modes) {
      if (!m.equals("all")) {
        set.add(Mode.of(m));
      }
    }
    return new Config(transports, sizes != null ? sizes : Config.LATENCY_SIZES,
        sizes != null ? sizes : Config.THROUGHPUT_SIZES, set, warmup, duration, clients, json,
        report);
  }

  @Override
  public Integer call() throws Exception {
    Config config = config();
    List<String> configs = config.transports() != null ? config.transports()
        : defaultTransports();
    checkTransports(configs);
    if (config.report() != null) {
      Report.checkCanWrite(config.report()); // before the run, not after it
    }
    Placement placement = Placement.of(cpus);
    placement.pinThisProcess(); // before the C compiler, the server JVMs and client threads start
    Progress progress = new Progress(System.err, steps(config, configs));
    Runners runners = new Runners(config.warmupSeconds(), config.durationSeconds());
    List<Measurement> results = new ArrayList<>();
    List<String> failures = new ArrayList<>();
    for (String label : configs) {
      try {
        measure(label, config, runners, placement, progress, results);
      } catch (IOException | RuntimeException e) {
        // one broken configuration must not cost the figures of the others
        failures.add(label + ": " + e);
        progress.clear();
        System.err.println("bench: " + label + " failed, going on with the others: " + e);
        if (Boolean.getBoolean("fdipc.debug")) {
          e.printStackTrace();
        }
      }
    }
    progress.clear();
    String table = placement.describe() + "\n" + (Runners.CHECKSUM ? ""
        : "diagnostic: -Dfdipc.bench.checksum=false: throughput receivers skip the CRC32C\n")
        + TablePrinter.table(results);
    System.out.print(table);
    String targets = Targets.summary(results);
    if (!targets.isEmpty()) {
      System.out.print("\n" + targets);
    }
    if (config.json() != null) {
      Files.writeString(config.json(), JsonWriter.write(results, placement.id()),
          StandardCharsets.UTF_8);
    }
    if (config.report() != null) {
      Report.writeFile(config.report(), results,
          table + (targets.isEmpty() ? "" : "\n" + targets));
    }
    if (!failures.isEmpty()) {
      System.err.println("bench: " + failures.size() + " configuration(s) failed: "
          + String.join("; ", failures));
      return 1;
    }
    return 0;
  }

  private static void measure(String label, Config config, Runners runners, Placement placement,
      Progress progress, List<Measurement> results) throws IOException {
    String name = label.split(":", 2)[0];
    if (CBaseline.isBaseline(name)) { // one client: what the targets compare with
      // C has no JIT to warm up: a short warm-up settles caches and CPU frequency
      double warmup = Math.min(config.warmupSeconds(), C_WARMUP_SECONDS);
      if (config.measures(Mode.LATENCY)) {
        for (int size : config.latencySizes()) {
          progress.step(label + " latency " + size + " B");
          results.add(CBaseline.latency(name, size, warmup, config.durationSeconds(),
              placement));
        }
      }
      if (config.measures(Mode.THROUGHPUT)) {
        for (int size : config.throughputSizes()) {
          progress.step(label + " throughput " + size + " B");
          results.add(CBaseline.throughput(name, size, warmup, config.durationSeconds(),
              placement));
        }
      }
      return;
    }
    boolean aeron = name.equals(AeronChannel.NAME);
    try (ServerProcess server = ServerProcess.start(options(label), aeron, placement);
        Endpoint endpoint = aeron ? new AeronEndpoint(server.udsSocket(), server.aeronDir())
            : name.equals(UdsChannel.NAME) ? Endpoint.uds(server.udsSocket())
            : Endpoint.fdipc(label, server.fdipcSocket(), name, options(label))) {
      for (int n : config.clients()) {
        if (config.measures(Mode.LATENCY)) {
          for (int size : config.latencySizes()) {
            progress.step(label + " latency " + size + " B, " + n + " client(s)");
            results.add(runners.latency(endpoint, size, n));
          }
        }
        if (config.measures(Mode.THROUGHPUT)) {
          for (int size : config.throughputSizes()) {
            progress.step(label + " throughput " + size + " B, " + n + " client(s)");
            results.add(runners.throughput(endpoint, size, n));
          }
        }
        if (config.measures(Mode.CONNECT)) {
          progress.step(label + " connect, " + n + " client(s)");
          results.add(runners.connect(endpoint, n));
        }
        if (config.measures(Mode.IDLE)) {
          progress.step(label + " idle, " + n + " client(s)");
          results.add(runners.idle(endpoint, n, server));
        }
      }
    }
  }

  /**
   * Every available transport, memfd:wait=spin, the baselines; each C baseline right after the
   * transport it is compared with, so that a change in the machine's load between the two
   * figures of a ratio is as unlikely as it can be.
   */
  static List<String> defaultTransports() {
    List<String> configs = new ArrayList<>();
    boolean c = CBaseline.unavailability() == null;
    if (!c) {
      System.err.println("bench: no C baselines: " + CBaseline.unavailability());
    }
    for (String name : TransportRegistry.getDefault().availableNames()) {
      configs.add(name);
      if (name.equals("memfd")) {
        configs.add("memfd:wait=spin");
      }
      String baseline = "c-" + (name.equals("memfd") ? "spin-ring" : name);
      if (c && CBaseline.isBaseline(baseline)) {
        configs.add(baseline);
      }
    }
    configs.add(UdsChannel.NAME);
    configs.add(AeronChannel.NAME);
    return configs;
  }

  private static void checkTransports(List<String> configs) {
    List<String> fdipc = new ArrayList<>();
    for (String c : configs) {
      String name = c.split(":", 2)[0];
      options(c); // a malformed OPT=V fails now, not after the configurations before it
      if (!name.equals(UdsChannel.NAME) && !name.equals(AeronChannel.NAME)
          && !CBaseline.isBaseline(name)) {
        fdipc.add(name);
      }
    }
    if (!fdipc.isEmpty()) {
      TransportRegistry.getDefault().requireAvailable(fdipc);
    }
  }

  private static int steps(Config c, List<String> configs) {
    int perClients = (c.measures(Mode.LATENCY) ? c.latencySizes().size() : 0)
        + (c.measures(Mode.THROUGHPUT) ? c.throughputSizes().size() : 0)
        + (c.measures(Mode.CONNECT) ? 1 : 0) + (c.measures(Mode.IDLE) ? 1 : 0);
    int steps = 0;
    for (String label : configs) {
      steps += CBaseline.isBaseline(label.split(":", 2)[0])
          ? (c.measures(Mode.LATENCY) ? c.latencySizes().size() : 0)
              + (c.measures(Mode.THROUGHPUT) ? c.throughputSizes().size() : 0)
          : c.clients().size() * perClients;
    }
    return steps;
  }

  /** {@code memfd:wait=spin:spin-micros=5} to {@code memfd.wait=spin, memfd.spin-micros=5}. */
  static Map<String, String> options(String config) {
    Map<String, String> options = new LinkedHashMap<>();
    String[] parts = config.split(":");
    for (int i = 1; i < parts.length; i++) {
      String[] kv = parts[i].split("=", 2);
      if (kv.length < 2) {
        throw new IllegalArgumentException("--transport " + config + ": '" + parts[i]
            + "' is not OPTION=VALUE");
      }
      options.put(parts[0] + "." + kv[0], kv[1]);
    }
    return options;
  }


  /** The version from the jar's manifest. */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String v = Bench.class.getPackage().getImplementationVersion();
      return new String[] {"fdipc bench " + (v == null ? "(development build)" : v)};
    }
  }
}
