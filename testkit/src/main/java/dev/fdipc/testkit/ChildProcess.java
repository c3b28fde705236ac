package dev.fdipc.testkit;

import dev.fdipc.FdipcClient;
import dev.fdipc.FdipcServer;
import dev.fdipc.IpcChannel;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A second JVM that plays one side of a connection and then waits to be killed, so that tests can
 * see what a peer's death looks like from the other process. It prints {@code ready} on stdout once
 * its side is set up.
 *
 * <ul>
 *   <li>{@code client SOCKET TRANSPORT}: connects, sends {@code hello}, prints {@code ready}.</li>
 *   <li>{@code server SOCKET TRANSPORT}: serves; each session gets {@code hello}; prints
 *       {@code ready} once listening.</li>
 * </ul>
 */
public final class ChildProcess {
  private ChildProcess() {}

  /** Entry point of the child JVM. */
  public static void main(String[] args) throws Exception {
    Path socket = Path.of(args[1]);
    String transport = args[2];
    if (args[0].equals("client")) {
      IpcChannel ch = FdipcClient.builder().socket(socket).transports(transport).connect();
      ch.send("hello".getBytes(StandardCharsets.UTF_8));
      System.out.println("ready");
    } else {
      FdipcServer.builder().socket(socket).transports(transport).handler(session -> {
        session.channel().send("hello".getBytes(StandardCharsets.UTF_8));
        while (session.channel().receive() != null) {
          // wait to be killed
        }
      }).start();
      System.out.println("ready");
    }
    System.out.flush();
    Thread.sleep(Long.MAX_VALUE); // stays alive until the test kills it
  }

  /**
   * Starts the child with this JVM's classpath and waits for its {@code ready} line.
   *
   * @throws IOException with the child's output if it exits or stays silent for 30 s
   */
  public static Process start(String role, Path socket, String transport) throws IOException {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.add("--enable-native-access=ALL-UNNAMED");
    cmd.add("-cp");
    cmd.add(System.getProperty("java.class.path"));
    cmd.add(ChildProcess.class.getName());
    cmd.add(role);
    cmd.add(socket.toString());
    cmd.add(transport);
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    BufferedReader out = new BufferedReader(
        new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
    StringBuilder seen = new StringBuilder();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    String line;
    while ((line = out.readLine()) != null) {
      if (line.equals("ready")) {
        return p;
      }
      seen.append(line).append('\n');
      if (System.nanoTime() > deadline) {
        break;
      }
    }
    p.destroyForcibly();
    throw new IOException("child " + role + " did not become ready; its output:\n" + seen);
  }
}
