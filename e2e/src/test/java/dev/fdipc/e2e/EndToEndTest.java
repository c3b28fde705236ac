package dev.fdipc.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The server and client commands as a user runs them: separate processes, real signals. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class EndToEndTest {
  private static final Duration WAIT = Commands.WAIT;

  @TempDir
  Path dir;

  private Path socket;
  private Commands cmd;

  @BeforeEach
  void setUp() {
    socket = dir.resolve("s.sock");
    cmd = new Commands(socket, Map.of());
  }

  @AfterEach
  void tearDown() {
    cmd.close();
  }

  @ParameterizedTest
  @ValueSource(strings = {"pipe", "socketpair", "memfd"})
  void conversationOverEachTransport(String transport) throws Exception {
    Proc server = cmd.server("--transport=" + transport);
    assertTrue(server.awaitOut("ready", WAIT).contains("transports: " + transport));
    cmd.converse(server, "2", transport);
  }

  @Test
  void endOfInputEndsTheClientCleanly() throws Exception {
    cmd.server();
    Proc client = cmd.client("5");
    client.send("1");
    client.closeStdin();
    assertEquals(0, client.waitFor(WAIT), client::transcript);
    assertEquals("ok: total 1", client.stdout().get(1));
  }

  @Test
  void transportMismatchGivesTheTypedErrorAndNonZeroExit() throws Exception {
    cmd.server("--transport", "pipe"); // the space-separated form works too
    Proc client = cmd.client("2", "--transport=socketpair");
    assertEquals(4, client.waitFor(WAIT), client::transcript);
    String err = client.awaitErr("socketpair: not offered by this server", WAIT);
    assertTrue(err.contains("the server offers pipe"), err);
    Commands.assertNoStackTrace(client);
  }

  @Test
  void serverChoosesItsPreferredTransportWhenTheClientNamesNone() throws Exception {
    cmd.server();
    Proc client = cmd.client();
    String line = client.awaitOut("connected", WAIT);
    assertTrue(line.contains("as client 0 via memfd"), line);
  }

  @Test
  void severalClientsAtOnceEachOnItsOwnTransport() throws Exception {
    Proc server = cmd.server();
    Proc a = cmd.client("1", "--transport=pipe");
    Proc b = cmd.client("2", "--transport=socketpair");
    a.awaitOut("via pipe", WAIT);
    b.awaitOut("via socketpair", WAIT);
    a.send("10");
    b.send("20");
    a.awaitOut("ok: total 10", WAIT);
    b.awaitOut("ok: total 20", WAIT);
    a.send("END");
    b.send("END");
    a.awaitOut("sum: 10", WAIT);
    b.awaitOut("sum: 20", WAIT);
    assertTrue(server.awaitOut("client 1 connected", WAIT).contains("transport=pipe"));
    assertTrue(server.awaitOut("client 2 connected", WAIT).contains("transport=socketpair"));
  }

  @Test
  void staleSocketLeftByACrashedServerIsReplaced() throws Exception {
    Proc first = cmd.server();
    first.signal("KILL");
    first.waitFor(WAIT);
    assertTrue(Files.exists(socket), "a SIGKILLed server leaves its socket file");
    Proc second = cmd.server();
    Proc client = cmd.client("1");
    client.awaitOut("connected", WAIT);
    client.send("4");
    client.awaitOut("ok: total 4", WAIT);
    assertTrue(second.isAlive());
  }

  @Test
  void liveServerOnThePathMakesTheNewOneRefuseAndStaysUntouched() throws Exception {
    Proc live = cmd.server();
    Proc second = cmd.startServer();
    assertEquals(1, second.waitFor(WAIT), second::transcript);
    String err = second.awaitErr("another fdipc server is running", WAIT);
    assertTrue(err.contains(socket.toString()), err);
    Commands.assertNoStackTrace(second);
    assertTrue(Files.exists(socket));
    Proc client = cmd.client("1");
    client.awaitOut("connected", WAIT);
    client.send("hi");
    client.awaitOut("ok", WAIT);
    assertTrue(live.isAlive());
  }

  @Test
  void sigintSaysGoodbyeToEveryClientRemovesTheSocketAndExitsZero() throws Exception {
    Proc server = cmd.server();
    Assumptions.assumeFalse(server.ignoresSigint(),
        "SIGINT is ignored in this process tree (the tests were started as a background job), "
            + "so Ctrl-C cannot be simulated");
    Proc a = cmd.client("1");
    Proc b = cmd.client("2", "--transport=pipe");
    a.awaitOut("connected", WAIT);
    b.awaitOut("connected", WAIT);
    server.awaitOut("client 2 connected", WAIT);
    server.awaitOut("client 1 connected", WAIT);
    server.signal("INT");
    assertEquals(0, server.waitFor(WAIT), server::transcript);
    assertFalse(Files.exists(socket), "socket file still there after SIGINT");
    server.awaitOut("server stopped", WAIT);
    // Both clients were waiting for input: they leave on the goodbye, not on their stdin.
    assertEquals(3, a.waitFor(WAIT), a::transcript);
    assertEquals(3, b.waitFor(WAIT), b::transcript);
    a.awaitErr("the server said goodbye", WAIT);
    b.awaitErr("the server said goodbye", WAIT);
  }

  @Test
  void sigtermShutsDownCleanlyToo() throws Exception {
    Proc server = cmd.server();
    server.signal("TERM");
    assertEquals(0, server.waitFor(WAIT), server::transcript);
    assertFalse(Files.exists(socket));
  }

  @Test
  void clientKilledIsReportedDisconnectedWhileOthersKeepWorking() throws Exception {
    Proc server = cmd.server();
    Proc victim = cmd.client("1", "--transport=pipe");
    Proc other = cmd.client("2", "--transport=socketpair");
    victim.awaitOut("connected", WAIT);
    other.awaitOut("connected", WAIT);
    other.send("5");
    other.awaitOut("ok: total 5", WAIT);
    victim.signal("KILL");
    server.awaitOut("client 1 disconnected", WAIT);
    other.send("7");
    other.awaitOut("ok: total 12", WAIT);
    other.send("exit");
    assertEquals(0, other.waitFor(WAIT));
    server.awaitOut("client 2 disconnected", WAIT);
  }

  @Test
  void serverKilledMakesAWaitingClientExitNonZero() throws Exception {
    Proc server = cmd.server();
    Proc client = cmd.client("1");
    client.awaitOut("connected", WAIT);
    server.signal("KILL");
    assertEquals(3, client.waitFor(WAIT), client::transcript);
    client.awaitErr("the server went away", WAIT);
    Commands.assertNoStackTrace(client);
  }

  @Test
  void noServerGivesOneLineAndNonZeroExit() throws Exception {
    Proc client = cmd.client("1");
    assertEquals(1, client.waitFor(WAIT), client::transcript);
    assertEquals(1, client.stderr().size(), client::transcript);
    assertTrue(client.stderr().get(0).startsWith("client: no fdipc server at " + socket),
        client::transcript);
  }

  @Test
  void unknownTransportOnTheServerListsWhatIsAvailable() throws Exception {
    Proc server = cmd.startServer("--transport=nope");
    assertEquals(2, server.waitFor(WAIT), server::transcript);
    String err = server.awaitErr("unknown transport 'nope'", WAIT);
    assertTrue(err.contains("available: memfd, socketpair, pipe, mqueue"), err);
    assertFalse(Files.exists(socket));
  }

  @Test
  void listTransportsShowsPriorityAvailabilityAndJar() throws Exception {
    Proc list = cmd.run("server", List.of("--list-transports"));
    assertEquals(0, list.waitFor(WAIT), list::transcript);
    String pipe = list.awaitOut("pipe ", WAIT);
    assertTrue(pipe.matches("pipe\\s+5\\s+available\\s+.*fdipc-transport-pipe-.*\\.jar"), pipe);
    String sp = list.awaitOut("socketpair", WAIT);
    assertTrue(sp.matches("socketpair\\s+6\\s+available\\s+.*fdipc-transport-socketpair-.*\\.jar"),
        sp);
  }

  @Test
  void downFromTheServersOwnUserStopsTheServer() throws Exception {
    Proc server = cmd.server();
    Proc client = cmd.client("7");
    client.awaitOut("connected", WAIT);
    client.send("DOWN");
    client.awaitOut("ok: server shutting down", WAIT);
    assertEquals(0, server.waitFor(WAIT), server::transcript);
    server.awaitOut("client 7 asked the server to shut down", WAIT);
    assertFalse(Files.exists(socket));
    assertEquals(3, client.waitFor(WAIT), client::transcript);
  }

  @Test
  void downFromAnotherUserIsRefused() throws Exception {
    Assumptions.assumeTrue(isRoot() && hasCommand("setpriv"),
        "needs root and setpriv(1) to run a client as another uid");
    Files.setPosixFilePermissions(dir, java.nio.file.attribute.PosixFilePermissions.fromString(
        "rwxr-xr-x"));
    Proc server = cmd.server("--socket-mode=0666");
    Proc client = Proc.startRaw("client-nobody", List.of("setpriv", "--reuid=65534",
        "--regid=65534", "--clear-groups", Proc.ROOT.resolve("bin/client").toString(), "9",
        "--socket=" + socket), Map.of("HOME", "/tmp"));
    cmd.track(client);
    client.awaitOut("connected", WAIT);
    client.send("DOWN");
    String reply = client.awaitOut("refused", WAIT);
    assertTrue(reply.contains("you are uid 65534"), reply);
    client.send("exit");
    assertEquals(0, client.waitFor(WAIT), client::transcript);
    assertTrue(server.isAlive());
    server.awaitOut("uid=65534", WAIT);
  }

  @Test
  void socketFileIsOwnerOnlyByDefault() throws Exception {
    cmd.server();
    assertEquals("rw-------", java.nio.file.attribute.PosixFilePermissions.toString(
        Files.getPosixFilePermissions(socket)));
  }

  @Test
  void helpAndVersionWork() throws Exception {
    Proc help = cmd.run("server", List.of("--help"));
    assertEquals(0, help.waitFor(WAIT));
    assertTrue(String.join("\n", help.stdout()).contains("--transport=NAME"));
    Proc version = cmd.run("client", List.of("--version"));
    assertEquals(0, version.waitFor(WAIT));
    assertTrue(version.stdout().get(0).startsWith("fdipc client 0."), version::transcript);
  }

  @Test
  void runsOnJdk25WithoutWarnings() throws Exception {
    Path jdk25 = Path.of("/usr/lib/jvm/temurin-25-jdk-amd64");
    Assumptions.assumeTrue(Files.isExecutable(jdk25.resolve("bin/java")),
        "no JDK 25 at " + jdk25);
    Map<String, String> env = Map.of("JAVA_HOME", jdk25.toString());
    Proc server = Proc.start("server", List.of("--socket=" + socket), env);
    cmd.track(server);
    server.awaitOut("ready", WAIT);
    Proc client = Proc.start("client", List.of("1", "--socket=" + socket), env);
    cmd.track(client);
    client.send("1");
    client.send("exit");
    assertEquals(0, client.waitFor(WAIT), client::transcript);
    server.signal("TERM");
    assertEquals(0, server.waitFor(WAIT), server::transcript);
    assertEquals(List.of(), client.stderr(), client::transcript);
    assertEquals(List.of(), server.stderr(), server::transcript);
  }

  private static boolean isRoot() throws IOException {
    return ((Number) Files.getAttribute(Path.of("/proc/self"), "unix:uid")).intValue() == 0;
  }

  private static boolean hasCommand(String name) {
    for (String d : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
      if (Files.isExecutable(Path.of(d, name))) {
        return true;
      }
    }
    return false;
  }
}
