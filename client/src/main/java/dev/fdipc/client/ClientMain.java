package dev.fdipc.client;

import dev.fdipc.FdipcClient;
import dev.fdipc.FdipcDefaults;
import dev.fdipc.IpcChannel;
import dev.fdipc.MessageTooLargeException;
import dev.fdipc.NegotiationException;
import dev.fdipc.PeerClosedException;
import dev.fdipc.TransportRegistry;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.ConnectException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** The {@code client} command. */
@Command(name = "client", mixinStandardHelpOptions = true, sortOptions = false,
    versionProvider = ClientMain.Version.class,
    description = {
        "Connects to an fdipc server, negotiates a transport, then sends each line of standard "
            + "input and prints the server's reply. 'exit' or end of input ends the client.",
        ""},
    exitCodeListHeading = "%nExit status:%n",
    exitCodeList = {
        "0:ended by 'exit' or end of input",
        "1:could not connect (no server, connection failed)",
        "2:bad command line",
        "3:the server went away (goodbye or crash)",
        "4:the server refused: no common transport, or another refusal"})
public final class ClientMain implements Callable<Integer> {
  static final int EXIT_SERVER_GONE = 3;

  @Parameters(index = "0", arity = "0..1", defaultValue = "0", paramLabel = "ID",
      description = "This client's id, 0 to 4294967295. Default: ${DEFAULT-VALUE}.")
  private long id;

  @Option(names = "--socket", paramLabel = "PATH",
      description = "Socket path. Default: $FDIPC_SOCKET, else $XDG_RUNTIME_DIR/fdipc.sock, else "
          + "/tmp/fdipc-<uid>/fdipc.sock.")
  private Path socket;

  @Option(names = "--transport", split = ",", paramLabel = "NAME",
      description = "Transports to accept, most preferred first. Default: any this client has.")
  private List<String> transports;

  @Option(names = "--max-message-size", paramLabel = "BYTES",
      description = "Largest message wanted; the server may lower it. Default: 1048576.")
  private Integer maxMessageSize;

  @Option(names = "--transport-option", paramLabel = "KEY=VALUE",
      description = "An option for a transport, keyed <transport>.<option>. Repeatable.")
  private java.util.Map<String, String> transportOptions = new java.util.LinkedHashMap<>();

  @Option(names = "--debug", description = "Show stack traces.")
  private boolean debug;

  private final PrintStream out = System.out;
  private final PrintStream err = System.err;
  /** Held while a line is sent and its reply printed, so a goodbye never cuts a reply off. */
  private final Object exchange = new Object();
  private volatile boolean leaving;

  static final UsageErrors USAGE = new UsageErrors("client", Map.of(
      "ID", "an integer from 0 to 4294967295",
      "--max-message-size", "an integer from 1 to " + FdipcDefaults.MAX_MESSAGE_SIZE_LIMIT,
      "--transport-option", "<transport>.<option>=<value>, such as memfd.ring-size=65536"));

  /** Runs the command and exits with its status. */
  public static void main(String[] args) {
    CommandLine cl = new CommandLine(new ClientMain());
    cl.setParameterExceptionHandler(USAGE);
    cl.setExecutionExceptionHandler((e, cmd, parsed) -> {
      System.err.println("client: " + e);
      if (((ClientMain) cmd.getCommand()).debug) {
        e.printStackTrace();
      }
      return 1;
    });
    System.exit(cl.execute(args));
  }

  @Override
  public Integer call() {
    // Like the server: a plugin that failed to load is named once, with its jar and the cause.
    for (String w : TransportRegistry.getDefault().warnings()) {
      err.println("warning: " + w);
    }
    String usage = checkArguments(TransportRegistry.getDefault());
    if (usage != null) {
      return USAGE.print(new java.io.PrintWriter(err, true), usage);
    }
    Path path = FdipcDefaults.socketPath(socket, System.getenv());
    IpcChannel ch;
    try {
      FdipcClient.Builder b = FdipcClient.builder()
          .socket(path)
          .clientId(id)
          .transports(transports)
          .onServerGone(this::serverGone);
      if (maxMessageSize != null) {
        b.maxMessageSize(maxMessageSize);
      }
      transportOptions.forEach(b::option);
      ch = b.connect();
    } catch (IllegalArgumentException e) { // an unknown or unavailable transport
      return USAGE.print(new java.io.PrintWriter(err, true), e.getMessage());
    } catch (NegotiationException e) {
      return fail(4, e);
    } catch (ConnectException e) {
      return fail(1, e);
    } catch (IOException e) {
      return fail(1, e);
    }
    out.println("connected to " + path + " as client " + id + " via " + ch.transport());
    try (ch) {
      return converse(ch);
    } catch (IOException e) {
      return fail(1, e);
    }
  }

  /**
   * What is wrong with the command line beyond what picocli checks, in the words of
   * {@link UsageErrors}, or {@code null}: caught here rather than by the server (a duplicate
   * transport in a HELLO is a malformed frame) or never (an option for no transport).
   */
  private String checkArguments(TransportRegistry registry) {
    if (id < 0 || id > 0xffffffffL) {
      return USAGE.invalid("ID", id);
    }
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
            registry.all().stream().map(dev.fdipc.TransportInfo::name).toList()) + ")";
      }
    }
    return null;
  }

  private int converse(IpcChannel ch) throws IOException {
    BufferedReader in = new BufferedReader(new InputStreamReader(Stdin.open(),
        StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null) {
      if (line.strip().equals("exit")) {
        break;
      }
      synchronized (exchange) {
        byte[] reply;
        try {
          ch.send(line.getBytes(StandardCharsets.UTF_8));
          reply = ch.receive();
        } catch (MessageTooLargeException e) {
          err.println("client: line not sent: " + e.getMessage());
          continue;
        } catch (PeerClosedException e) {
          reply = null;
        }
        if (reply == null) {
          return leave("client: the server went away");
        }
        out.println(new String(reply, StandardCharsets.UTF_8));
      }
    }
    leaving = true;
    return 0;
  }

  /**
   * Called on the library's event loop when the server says goodbye or dies; leaves on a thread of
   * its own, since the loop must not block (System.exit waits for shutdown hooks).
   */
  private void serverGone(boolean goodbye, String message) {
    Thread t = new Thread(() -> {
      synchronized (exchange) { // let a reply already on its way be printed first
        if (leaving) {
          return;
        }
        System.exit(leave(goodbye ? "client: the server said goodbye: " + message
            : "client: the server went away: " + message));
      }
    }, "client-exit");
    t.start();
  }

  private int leave(String message) {
    leaving = true;
    err.println(message);
    return EXIT_SERVER_GONE;
  }

  private int fail(int status, Exception e) {
    err.println("client: " + e.getMessage());
    if (debug) {
      e.printStackTrace();
    }
    return status;
  }

  /** The version from the jar's manifest. */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String v = ClientMain.class.getPackage().getImplementationVersion();
      return new String[] {"fdipc client " + (v == null ? "(development build)" : v)};
    }
  }
}
