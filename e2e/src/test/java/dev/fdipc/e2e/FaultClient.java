package dev.fdipc.e2e;

import dev.fdipc.FdipcClient;
import dev.fdipc.IpcChannel;
import dev.fdipc.PeerClosedException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.newsclub.net.unix.AFUNIXSocket;
import org.newsclub.net.unix.AFUNIXSocketAddress;

/**
 * A misbehaving client for the fault tests, run as its own process with the built classpath. It
 * prints {@code stage: <name>} once it has reached its stage, so that a test can kill it at a known
 * point, then waits for its stdin to close (or does what its mode says).
 *
 * <pre>
 * FaultClient SOCKET TRANSPORT MODE [CLIENT_ID]   (client id 7 by default)
 *   silent   connects and says nothing
 *   hello    connects and sends its HELLO, reads nothing (the ACCEPT and its fds stay queued)
 *   fds      negotiates with FdipcClient: holds the transport's fds
 *   mid      negotiates, then sends one message of 64 MiB minus 1 KiB, printing its stage just
 *            before the send starts; the server (given --max-message-size=67108864) takes longer
 *            to receive it than the test takes to kill the client
 *   flood    negotiates, then sends lines and never reads a reply; prints "dropped: ..." and
 *            exits 0 once the server has dropped it
 * </pre>
 */
public final class FaultClient {
  private static final java.util.concurrent.CountDownLatch SERVER_GONE =
      new java.util.concurrent.CountDownLatch(1);

  private FaultClient() {}

  public static void main(String[] args) throws Exception {
    Path socket = Path.of(args[0]);
    String transport = args[1];
    String mode = args[2];
    long id = args.length > 3 ? Long.parseLong(args[3]) : 7;
    switch (mode) {
      case "silent" -> {
        try (AFUNIXSocket s = AFUNIXSocket.connectTo(AFUNIXSocketAddress.of(socket))) {
          stage("silent");
          waitForStdin();
        }
      }
      case "hello" -> {
        try (AFUNIXSocket s = AFUNIXSocket.connectTo(AFUNIXSocketAddress.of(socket))) {
          OutputStream out = s.getOutputStream();
          out.write(hello(id, transport));
          out.flush();
          stage("hello");
          waitForStdin();
        }
      }
      case "fds" -> {
        try (IpcChannel ch = connect(socket, transport, id)) {
          stage("fds");
          waitForStdin();
        }
      }
      case "mid" -> {
        try (IpcChannel ch = connect(socket, transport, id)) {
          byte[] big = new byte[64 * 1024 * 1024 - 1024];
          stage("mid");
          ch.send(big);
          waitForStdin();
        }
      }
      case "flood" -> {
        try (IpcChannel ch = connect(socket, transport, id)) {
          stage("flood");
          byte[] line = "1".getBytes(StandardCharsets.UTF_8);
          long sent = 0;
          try {
            while (true) {
              ch.send(line);
              sent++;
            }
          } catch (PeerClosedException e) {
            // The send fails as soon as the channel learns the server is gone; the listener runs
            // just after, and not at all once the channel is closed: wait for it first.
            SERVER_GONE.await(10, java.util.concurrent.TimeUnit.SECONDS);
            System.out.println("dropped: after " + sent + " messages: " + e.getMessage());
          }
        }
      }
      default -> throw new IllegalArgumentException("unknown mode " + mode);
    }
  }

  /**
   * Starts this class as a process with the built jars of {@code dist/target/lib} (transports
   * included) and the test classes, tracked by {@code commands}.
   */
  static Proc start(Commands commands, Path socket, String transport, String mode)
      throws Exception {
    return start(commands, socket, transport, mode, 7);
  }

  /** Like {@link #start(Commands, Path, String, String)}, with the client id to use. */
  static Proc start(Commands commands, Path socket, String transport, String mode, long id)
      throws Exception {
    String classes = Path.of(FaultClient.class.getProtectionDomain().getCodeSource().getLocation()
        .toURI()).toString();
    Path lib = Proc.ROOT.resolve("dist/target/lib");
    if (!java.nio.file.Files.isDirectory(lib)) {
      throw new AssertionError(lib + " does not exist: build it first with mvn -DskipTests package "
          + "(mvn verify does it before the e2e tests)");
    }
    String cp = lib + "/*:" + classes;
    String javaBin = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    return commands.track(Proc.startRaw("fault-client-" + mode, List.of(javaBin,
        "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC", "-cp", cp,
        FaultClient.class.getName(), socket.toString(), transport, mode, Long.toString(id)),
        java.util.Map.of()));
  }

  private static IpcChannel connect(Path socket, String transport, long id) throws IOException {
    return FdipcClient.builder().socket(socket).clientId(id).transports(transport)
        .maxMessageSize(64 * 1024 * 1024)
        .onServerGone((goodbye, message) -> {
          System.out.println("server gone: " + message);
          SERVER_GONE.countDown();
        })
        .connect();
  }

  private static void stage(String name) {
    System.out.println("stage: " + name);
    System.out.flush();
  }

  private static void waitForStdin() throws IOException {
    while (System.in.read() >= 0) {
      // the test kills us; a closed stdin (test gone) ends us too
    }
  }

  /** A HELLO frame as PROTOCOL.md section 4.2 lays it out. */
  static byte[] hello(long clientId, String... transports) {
    ByteArrayOutputStream body = new ByteArrayOutputStream();
    putInt(body, 0x46444950);
    putInt(body, (int) clientId);
    putInt(body, 1 << 20);
    body.write(transports.length);
    for (String t : List.of(transports)) {
      byte[] n = t.getBytes(StandardCharsets.US_ASCII);
      body.write(n.length);
      body.writeBytes(n);
    }
    ByteArrayOutputStream frame = new ByteArrayOutputStream();
    putInt(frame, 8 + body.size());
    frame.writeBytes(new byte[] {1, 1, 0, 0});
    frame.writeBytes(body.toByteArray());
    return frame.toByteArray();
  }

  private static void putInt(ByteArrayOutputStream out, int v) {
    out.write(v >>> 24);
    out.write(v >>> 16);
    out.write(v >>> 8);
    out.write(v);
  }
}
