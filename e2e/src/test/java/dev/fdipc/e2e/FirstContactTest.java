package dev.fdipc.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** What a new user meets first with the real commands (issue 13): each one a defect once. */
@Timeout(120)
class FirstContactTest {
  private static final Duration WAIT = Commands.WAIT;

  @TempDir
  Path dir;

  private Path socket;
  private Commands commands;

  @BeforeEach
  void setUp() {
    socket = dir.resolve("s.sock");
    commands = new Commands(socket, Map.of());
  }

  @AfterEach
  void tearDown() {
    commands.close();
  }

  /** Runs {@code bin/command args} to its end and checks it failed as a bad command line. */
  private Proc usageError(String command, String... args) throws Exception {
    Proc p = commands.run(command, List.of(args));
    assertEquals(2, p.waitFor(WAIT), p::transcript);
    assertEquals(2, p.stderr().size(), p::transcript);
    assertEquals("Try '" + command + " --help' for more information.", p.stderr().get(1),
        p::transcript);
    assertTrue(p.stdout().isEmpty(), p::transcript);
    return p;
  }

  @Test
  void shouldReportABadCommandLineInOneLineNamingTheFlag() throws Exception {
    assertEquals("client: invalid ID 'abc': expected an integer from 0 to 4294967295",
        usageError("client", "abc").stderr().get(0));
    assertEquals("client: invalid ID '4294967296': expected an integer from 0 to 4294967295",
        usageError("client", "4294967296").stderr().get(0));
    assertEquals("client: invalid --max-message-size '0': expected an integer from 1 to 67108864",
        usageError("client", "1", "--max-message-size=0").stderr().get(0));
    assertEquals("server: invalid --max-message-size '0': expected an integer from 1 to 67108864",
        usageError("server", "--max-message-size=0").stderr().get(0));
    assertEquals("server: unknown option '--bogus'", usageError("server", "--bogus").stderr()
        .get(0));
  }

  @Test
  void shouldRefuseADuplicateTransportOrAnOptionForNoTransportBeforeConnecting()
      throws Exception {
    // No server runs: exit 2 (not 1, could not connect) shows the client never tried.
    assertEquals("client: invalid --transport 'pipe,pipe': pipe is listed twice; list each "
        + "transport once", usageError("client", "11", "--transport=pipe,pipe",
        "--socket=" + socket).stderr().get(0));
    assertEquals("server: invalid --transport 'pipe,pipe': pipe is listed twice; list each "
        + "transport once", usageError("server", "--transport=pipe,pipe",
        "--socket=" + socket).stderr().get(0));
    String c = usageError("client", "1", "--transport-option", "bogus.x=1", "--socket=" + socket)
        .stderr().get(0);
    assertTrue(c.startsWith("client: invalid --transport-option 'bogus.x=1': there is no "
        + "transport 'bogus' (known: "), c);
    String s = usageError("server", "--transport-option", "bogus.x=1", "--socket=" + socket)
        .stderr().get(0);
    assertTrue(s.startsWith("server: invalid --transport-option 'bogus.x=1': there is no "
        + "transport 'bogus'"), s);
  }

  @Test
  void shouldTreatAClosedStdinAsEndOfInput() throws Exception {
    Proc server = commands.server("--transport=pipe");
    // As cron or a daemon starts it: fd 0 closed, which the JVM would reuse for lib/modules.
    Proc client = commands.track(Proc.startRaw("client", List.of("bash", "-c",
        "exec \"$0\" 9 --socket=\"$1\" <&-", Proc.ROOT.resolve("bin/client").toString(),
        socket.toString()), Map.of()));
    assertEquals(0, client.waitFor(WAIT), client::transcript);
    server.awaitOut("client 9 disconnected", WAIT);
    assertTrue(server.stdout().stream().noneMatch(l -> l.startsWith("[client 9 ")),
        server::transcript);
  }

  @Test
  void shouldAnswerAMaximalLineOfDigitsAndKeepTheSession() throws Exception {
    Proc server = commands.server("--transport=pipe");
    Proc client = commands.client("3", "--transport=pipe");
    client.awaitOut("via pipe", WAIT);
    client.send("9".repeat(1 << 20)); // exactly the default maximum, too large an integer
    String reply = client.awaitOut("error: ", WAIT);
    assertTrue(reply.endsWith("(1048576 bytes) does not fit in a 64-bit integer; not added, "
        + "total 0"), reply);
    client.send("2");
    client.send("END");
    client.awaitOut("sum: 2", WAIT);
    client.send("exit");
    assertEquals(0, client.waitFor(WAIT), client::transcript);
    String logged = server.awaitOut("[client 3 pid ", WAIT);
    assertTrue(logged.endsWith("… (1048576 bytes)"), logged);
    assertTrue(logged.length() < 300, "the log holds the start of a long line only");
  }

  @Test
  void shouldTellAClientWhatIsAtThePathInsteadOfAdvisingToStartAServer() throws Exception {
    java.nio.file.Files.writeString(socket, "not a socket");
    Proc client = commands.client("1");
    assertEquals(1, client.waitFor(WAIT), client::transcript);
    assertEquals(List.of("client: cannot connect to " + socket + ": it is a regular file, not a "
        + "socket; check --socket (or $FDIPC_SOCKET)"), client.stderr());

    Path longPath = dir.resolve("d".repeat(120) + ".sock");
    Proc tooLong = commands.run("client", List.of("1", "--socket=" + longPath));
    assertEquals(1, tooLong.waitFor(WAIT), tooLong::transcript);
    String err = String.join("\n", tooLong.stderr());
    assertTrue(err.startsWith("client: socket path " + longPath + " is "), err);
    assertTrue(err.endsWith("bytes; UNIX sockets allow 107: choose a shorter --socket"), err);
  }

  @Test
  void shouldNameThePathOfASocketThatNeverAnswers() throws Exception {
    Path silent = dir.resolve("silent.sock");
    try (org.newsclub.net.unix.AFUNIXServerSocket s = org.newsclub.net.unix.AFUNIXServerSocket
        .bindOn(org.newsclub.net.unix.AFUNIXSocketAddress.of(silent))) {
      Proc client = commands.run("client", List.of("1", "--socket=" + silent));
      assertEquals(1, client.waitFor(WAIT), client::transcript);
      String err = String.join("\n", client.stderr());
      assertTrue(err.startsWith("client: the server at " + silent + " did not answer within "),
          err);
      assertTrue(!err.contains("AFUNIXSocketAddress"), err);
    }
  }

  @Test
  void shouldWarnAboutEachPluginJarThatCannotProvideATransport() throws Exception {
    Path plugins = java.nio.file.Files.createDirectory(dir.resolve("plugins"));
    Path zero = java.nio.file.Files.createFile(plugins.resolve("zero.jar"));
    Path garbage = java.nio.file.Files.writeString(plugins.resolve("garbage.jar"), "not a zip");
    Path empty = plugins.resolve("empty.jar");
    try (java.util.zip.ZipOutputStream z = new java.util.zip.ZipOutputStream(
        java.nio.file.Files.newOutputStream(empty))) {
      z.putNextEntry(new java.util.zip.ZipEntry("README"));
      z.write("no provider here".getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }
    Proc list = commands.withEnv(Map.of("FDIPC_PLUGINS", plugins.toString()))
        .run("server", List.of("--list-transports"));
    assertEquals(0, list.waitFor(WAIT), list::transcript);
    String err = String.join("\n", list.stderr());
    assertTrue(err.contains("warning: " + zero + " is empty (0 bytes); ignored"), err);
    assertTrue(err.contains("warning: " + garbage + " is not a jar ("), err);
    assertTrue(err.contains("warning: " + empty + " provides no fdipc transport"), err);
    assertEquals(3, list.stderr().size(), list::transcript);
    list.awaitOut("pipe ", WAIT); // the built-in transports are all still there
  }

  @Test
  void shouldRateLimitRefusalsWithASummaryByReason() throws Exception {
    Proc server = commands.server("--transport=pipe");
    byte[] garbage = "GET / HTTP/1.0\r\n\r\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    int connections = 100;
    for (int i = 0; i < connections; i++) {
      try (org.newsclub.net.unix.AFUNIXSocket s = org.newsclub.net.unix.AFUNIXSocket.connectTo(
          org.newsclub.net.unix.AFUNIXSocketAddress.of(socket))) {
        s.getOutputStream().write(garbage);
        s.getInputStream().read(); // the server's ERROR, or end of stream
      }
    }
    String summary = server.awaitOutMatching("refused: \\d+ more refusals \\(.*\\) in the last 10 s",
        WAIT);
    long shown = server.stdout().stream().filter(l -> l.startsWith("refused: ")).count();
    assertTrue(shown <= 2 * 5 + 2, shown + " refusal lines for " + connections + " connections:\n"
        + server.transcript());
    assertTrue(summary.matches(".*\\([A-Z_]+: \\d+.*"), summary);
  }
}
