package dev.fdipc.server;

import dev.fdipc.FdipcDefaults;
import dev.fdipc.FdipcServer;
import dev.fdipc.PeerCredentials;
import dev.fdipc.ServerListener;
import dev.fdipc.TransportInfo;
import dev.fdipc.TransportRegistry;
import dev.fdipc.internal.CloseOnExec;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** The {@code server} command. */
@Command(name = "server", mixinStandardHelpOptions = true, sortOptions = false,
    versionProvider = ServerMain.Version.class,
    description = {
        "Serves fdipc clients on a UNIX socket: negotiates a transport with each, creates a fresh "
            + "kernel object for it, passes its file descriptors, and shows every message with "
            + "its author. Integers add up per client; END answers the sum; DOWN stops the "
            + "server (same user only). Ctrl-C says goodbye to every client and exits.",
        ""},
    exitCodeListHeading = "%nExit status:%n",
    exitCodeList = {
        "0:stopped cleanly (Ctrl-C, SIGTERM or DOWN)",
        "1:could not start (socket in use, not a socket, no directory, ...)",
        "2:bad command line (unknown option, unknown or unavailable transport)"})
public final class ServerMain implements Callable<Integer> {
  @Option(names = "--socket", paramLabel = "PATH",
      description = "Socket path. Default: $FDIPC_SOCKET, else $XDG_RUNTIME_DIR/fdipc.sock, else "
          + "/tmp/fdipc-<uid>/fdipc.sock.")
  private Path socket;

  @Option(names = "--transport", split = ",", paramLabel = "NAME",
      description = "Transports to offer, in order of preference. Default: every available one.")
  private List<String> transports;

  @Option(names = "--list-transports",
      description = "List every transport found, with priority, availability and jar, and exit.")
  private boolean listTransports;

  @Option(names = "--max-message-size", paramLabel = "BYTES",
      description = "Largest message accepted. Default: 1048576.")
  private Integer maxMessageSize;

  @Option(names = "--socket-mode", paramLabel = "OCTAL", defaultValue = "0600",
      description = "Permissions of the socket file. Default: ${DEFAULT-VALUE} (this user only); "
          + "0660 lets the socket's group connect, 0666 everyone.")
  private String socketMode;

  @Option(names = "--socket-group", paramLabel = "GROUP",
      description = "Group of the socket file, a name or a number; with --socket-mode=0660 its "
          + "members can connect. This user must belong to it. Default: this user's group.")
  private String socketGroup;

  @Option(names = "--allow-uid", split = ",", paramLabel = "UID",
      description = "Admit only clients with this uid (or a gid from --allow-gid); others are "
          + "refused with ACCESS_DENIED before anything is created for them. Repeatable. The "
          + "server's own uid is not implied. Identity comes from the kernel (SO_PEERCRED).")
  private List<Long> allowUids;

  @Option(names = "--allow-gid", split = ",", paramLabel = "GID",
      description = "Admit clients whose primary (effective) gid is this one, as SO_PEERCRED "
          + "reports it at connect time; supplementary groups do not count. Repeatable.")
  private List<Long> allowGids;

  @Option(names = "--max-connections-per-uid", paramLabel = "N",
      defaultValue = "" + FdipcServer.DEFAULT_MAX_CONNECTIONS_PER_UID,
      description = "Most connections one uid may hold at once, handshaking or in session; one "
          + "more is refused with BUSY. Default: ${DEFAULT-VALUE}.")
  private int maxConnectionsPerUid;

  @Option(names = "--max-pending-handshakes", paramLabel = "N",
      defaultValue = "" + FdipcServer.DEFAULT_MAX_PENDING_HANDSHAKES,
      description = "Most connections accepted but not yet through their handshake (each has 5 s "
          + "to send its HELLO); one more is refused with BUSY. Default: ${DEFAULT-VALUE}.")
  private int maxPendingHandshakes;

  @Option(names = "--transport-option", paramLabel = "KEY=VALUE",
      description = "An option for a transport, keyed <transport>.<option>, such as "
          + "memfd.ring-size=1048576. Repeatable.")
  private java.util.Map<String, String> transportOptions = new java.util.LinkedHashMap<>();

  @Option(names = "--send-timeout", paramLabel = "DURATION", defaultValue = "10s",
      description = "Drop a client that has not read for this long while the server waits to "
          + "send to it (its transport buffer is full), such as 10s, 500ms or 2m; 0 never drops. "
          + "Default: ${DEFAULT-VALUE}.")
  private String sendTimeout;

  @Option(names = "--debug", description = "Show stack traces.")
  private boolean debug;

  private final PrintStream out = System.out;
  private final PrintStream err = System.err;

  static final UsageErrors USAGE = new UsageErrors("server", java.util.Map.of(
      "--max-message-size", "an integer from 1 to " + FdipcDefaults.MAX_MESSAGE_SIZE_LIMIT,
      "--transport-option", "<transport>.<option>=<value>, such as memfd.ring-size=1048576",
      "--allow-uid", "a uid, an integer from 0 to 4294967294",
      "--allow-gid", "a gid, an integer from 0 to 4294967294",
      "--max-connections-per-uid", "a whole number, at least 1",
      "--max-pending-handshakes", "a whole number, at least 1"));

  /** Runs the command and exits with its status. */
  public static void main(String[] args) {
    CommandLine cl = new CommandLine(new ServerMain());
    cl.setParameterExceptionHandler(USAGE);
    cl.setExecutionExceptionHandler((e, cmd, parsed) -> {
      System.err.println("server: " + e);
      if (((ServerMain) cmd.getCommand()).debug) {
        e.printStackTrace();
      }
      return 1;
    });
    System.exit(cl.execute(args));
  }

  @Override
  public Integer call() throws Exception {
    TransportRegistry registry = TransportRegistry.getDefault();
    if (listTransports) {
      for (String w : registry.warnings()) {
        err.println("warning: " + w);
      }
      String usage = checkArguments(registry);
      if (usage == null) {
        usage = checkTransportOptions(registry); // so that each capacity reflects them
      }
      if (usage != null) {
        return USAGE.print(new java.io.PrintWriter(err, true), usage);
      }
      list(registry);
      return 0;
    }
    String usage = checkArguments(registry);
    if (usage != null) {
      return USAGE.print(new java.io.PrintWriter(err, true), usage);
    }
    CountDownLatch stop = new CountDownLatch(1);
    long uid = FdipcDefaults.currentUid();
    RefusalLog refusals = new RefusalLog(out, System::nanoTime);
    FdipcServer.Builder builder = FdipcServer.builder()
        .socket(socket)
        .registry(registry)
        .transports(transports)
        .listener(new ServerListener() {
          @Override
          public void refused(PeerCredentials peer, String reason) {
            refusals.refused(peer, reason);
          }

          @Override
          public void sessionEnded(dev.fdipc.ClientSession session) {
            out.println("client " + session.clientId() + " disconnected (pid "
                + session.peer().pid() + ")");
          }

          @Override
          public void warning(String message, Throwable cause) {
            // Long enough for a plugin's stack of causes; short enough that no client can
            // flood the log through a warning that quotes what it sent.
            err.println("warning: " + LogText.cut(message, message.length(), LogText.WARNING_MAX));
            if (debug && cause != null) {
              cause.printStackTrace();
            }
          }
        })
        .messageHandler(new ConversationHandler(out, uid, stop::countDown));
    FdipcServer server;
    try {
      if (maxMessageSize != null) {
        builder.maxMessageSize(maxMessageSize);
      }
      builder.socketMode(socketMode);
      builder.socketGroup(socketGroup)
          .maxConnectionsPerUid(maxConnectionsPerUid)
          .maxPendingHandshakes(maxPendingHandshakes);
      if (allowUids != null) {
        builder.allowUids(allowUids);
      }
      if (allowGids != null) {
        builder.allowGids(allowGids);
      }
      builder.sendTimeout(duration("--send-timeout", sendTimeout));
      transportOptions.forEach(builder::option);
      server = builder.start();
    } catch (IllegalArgumentException e) {
      return USAGE.print(new java.io.PrintWriter(err, true), e.getMessage());
    } catch (IOException e) {
      err.println("server: " + e.getMessage());
      if (debug) {
        e.printStackTrace();
      }
      return 1;
    }
    Signals.onInterruptOrTerminate(stop::countDown);
    java.util.concurrent.ScheduledExecutorService timer =
        java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
          Thread t = new Thread(r, "refusal-summary");
          t.setDaemon(true);
          return t;
        });
    timer.scheduleAtFixedRate(refusals::flushIfDue, 1, 1, java.util.concurrent.TimeUnit.SECONDS);
    // Nothing this process holds may leak into a program some native code runs: see CloseOnExec.
    CloseOnExec.markAll();
    out.println("fdipc server ready on " + server.socketPath() + " (pid "
        + ProcessHandle.current().pid() + "); transports: "
        + String.join(", ", server.offeredTransports()));
    stop.await();
    timer.shutdownNow();
    refusals.flush();
    out.println("shutting down: saying goodbye to " + server.sessionCount() + " client(s)");
    server.close();
    out.println("server stopped; removed " + server.socketPath());
    return 0;
  }

  /**
   * What is wrong with the command line beyond what picocli checks, or {@code null}: a transport
   * listed twice, an option for a transport that does not exist (a typo would go unnoticed), an
   * out-of-range size named by its flag rather than by the builder's property.
   */
  private String checkArguments(TransportRegistry registry) {
    if (maxMessageSize != null && (maxMessageSize < 1
        || maxMessageSize > FdipcDefaults.MAX_MESSAGE_SIZE_LIMIT)) {
      return USAGE.invalid("--max-message-size", maxMessageSize);
    }
    if (transports != null) {
      java.util.Set<String> seen = new java.util.HashSet<>();
      for (String t : transports) {
        if (!seen.add(t)) {
          return "invalid --transport '" + String.join(",", transports) + "': " + t
              + " is listed twice; list each transport once";
        }
      }
    }
    for (String key : transportOptions.keySet()) {
      int dot = key.indexOf('.');
      if (dot <= 0 || dot == key.length() - 1) {
        return USAGE.invalid("--transport-option", key + "=" + transportOptions.get(key));
      }
      String t = key.substring(0, dot);
      if (registry.lookup(t).isEmpty()) {
        return "invalid --transport-option '" + key + "=" + transportOptions.get(key)
            + "': there is no transport '" + t + "' (known: " + String.join(", ",
            registry.all().stream().map(TransportInfo::name).toList()) + ")";
      }
    }
    return null;
  }

  /** Lets every available transport check the options, as a starting server does. */
  private String checkTransportOptions(TransportRegistry registry) {
    dev.fdipc.spi.TransportSettings settings = new dev.fdipc.spi.TransportSettings(
        maxMessageSize == null ? FdipcDefaults.MAX_MESSAGE_SIZE : maxMessageSize,
        transportOptions);
    for (TransportInfo t : registry.all()) {
      if (t.isAvailable()) {
        try {
          t.provider().checkOptions(settings);
        } catch (IllegalArgumentException e) {
          return t.name() + ": " + e.getMessage();
        } catch (RuntimeException | LinkageError e) { // a plugin's bug must not break the listing
          err.println("warning: " + t.name() + ": checking its options failed: " + e);
        }
      }
    }
    return null;
  }

  /** Parses {@code 500ms}, {@code 10s}, {@code 2m} or a plain number of seconds. */
  static java.time.Duration duration(String option, String text) {
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("([0-9]{1,9})(ms|s|m)?")
        .matcher(text.strip());
    if (!m.matches()) {
      throw new IllegalArgumentException(option + "=" + text + " is not a duration; write it as "
          + "a whole number with ms, s or m, such as 500ms, 10s or 2m");
    }
    long n = Long.parseLong(m.group(1));
    String unit = m.group(2) == null ? "s" : m.group(2);
    return switch (unit) {
      case "ms" -> java.time.Duration.ofMillis(n);
      case "m" -> java.time.Duration.ofMinutes(n);
      default -> java.time.Duration.ofSeconds(n);
    };
  }

  private void list(TransportRegistry registry) {
    if (registry.all().isEmpty()) {
      out.println("no transports found: add a transport jar to plugins/ or $CLASSPATH");
      return;
    }
    out.printf("%-12s %-8s %-40s %s%n", "TRANSPORT", "PRIORITY", "STATUS", "FROM");
    for (TransportInfo t : registry.all()) {
      out.printf("%-12s %-8d %-40s %s%n", t.name(), t.priority(),
          t.isAvailable() ? "available" : "unavailable: " + t.reason(), t.origin());
    }
    for (TransportInfo t : registry.all()) {
      String capacity = t.isAvailable() ? capacityOf(t) : "";
      if (!capacity.isEmpty()) {
        out.println(t.name() + " capacity: " + capacity);
      }
    }
  }

  private static String capacityOf(TransportInfo t) {
    try {
      return t.provider().capacity();
    } catch (RuntimeException | LinkageError e) { // a plugin's bug must not break the listing
      return "unknown (" + e + ")";
    }
  }

  /** The version from the jar's manifest. */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String v = ServerMain.class.getPackage().getImplementationVersion();
      return new String[] {"fdipc server " + (v == null ? "(development build)" : v)};
    }
  }
}
