package dev.fdipc.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fdipc.testkit.MqueueFs;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The mqueue transport between real bin/server and bin/client processes: the conversation, the
 * capacity that RLIMIT_MSGQUEUE allows with the refusal or fallback beyond it, and no queue left in
 * the mqueue filesystem by a server killed with SIGKILL.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class MqueueEndToEndTest {
  private static final Duration WAIT = Duration.ofSeconds(30);
  /** Room for two clients of 165,760 bytes (two queues of 10 x 8192) and not for a third. */
  private static final long TWO_CLIENTS = 400_000;

  @TempDir
  Path dir;

  private Path socket;
  private final List<Proc> procs = new ArrayList<>();

  @BeforeEach
  void setUp() {
    socket = dir.resolve("s.sock");
  }

  @AfterEach
  void tearDown() {
    procs.forEach(Proc::close);
  }

  /** bin/server with RLIMIT_MSGQUEUE lowered by the shell first (no privilege needed to lower). */
  private Proc server(long msgqueueLimit, String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of("bash", "-c",
        "ulimit -q " + msgqueueLimit + " && exec \"$0\" \"$@\"",
        Proc.ROOT.resolve("bin/server").toString(), "--socket=" + socket));
    cmd.addAll(List.of(args));
    Proc p = Proc.startRaw("server", cmd, Map.of());
    procs.add(p);
    p.awaitOut("ready", WAIT);
    return p;
  }

  private Proc server(String... args) throws Exception {
    List<String> a = new ArrayList<>(List.of("--socket=" + socket));
    a.addAll(List.of(args));
    Proc p = Proc.start("server", a, Map.of());
    procs.add(p);
    p.awaitOut("ready", WAIT);
    return p;
  }

  private Proc client(String... args) throws IOException {
    List<String> a = new ArrayList<>(List.of(args));
    a.add("--socket=" + socket);
    Proc p = Proc.start("client", a, Map.of());
    procs.add(p);
    return p;
  }

  private static void assertNoStackTrace(Proc p) {
    for (String l : p.stderr()) {
      assertFalse(l.startsWith("\tat ") || l.contains("Exception in thread"),
          () -> "stack trace on stderr:\n" + p.transcript());
    }
  }

  @Test
  void conversationAndSumOverMqueue() throws Exception {
    Proc server = server("--transport=mqueue");
    assertTrue(server.awaitOut("ready", WAIT).contains("transports: mqueue"));
    Proc client = client("2", "--transport=mqueue");
    client.awaitOut("via mqueue", WAIT);
    for (String line : List.of("hello world", "5", "7", "END", "3", "END")) {
      client.send(line);
    }
    client.send("exit");
    assertEquals(0, client.waitFor(WAIT), client::transcript);
    assertEquals(List.of("ok: not a number, total unchanged", "ok: total 5", "ok: total 12", "sum: 12", "ok: total 3", "sum: 3"),
        client.stdout().subList(1, 7), client::transcript);
    assertTrue(server.awaitOut("client 2 connected", WAIT).contains("transport=mqueue"));
    server.awaitOut("[client 2 pid " + client.pid() + "] hello world", WAIT);
    server.awaitOut("client 2 disconnected", WAIT);
  }

  @Test
  void listTransportsStatesTheMqueueCapacity() throws Exception {
    Proc list = Proc.start("server", List.of("--list-transports"), Map.of());
    procs.add(list);
    assertEquals(0, list.waitFor(WAIT), list::transcript);
    String row = list.awaitOut("mqueue ", WAIT);
    assertTrue(row.matches("mqueue\\s+3\\s+available\\s+.*fdipc-transport-mqueue-.*\\.jar"), row);
    String capacity = list.awaitOut("mqueue capacity: ", WAIT);
    // Queues sized to the budget left: dozens of clients, not the four of 10 x 8192 bytes.
    assertTrue(capacity.matches("mqueue capacity: about \\d+ clients \\(RLIMIT_MSGQUEUE .*"
        + "2 queues per client of 10 x \\d+ bytes now.*fix the size with mqueue.msg-size\\)"),
        capacity);

    // The capacity follows the options given with the listing, as a server's would.
    Proc fixed = Proc.start("server", List.of("--list-transports", "--transport-option",
        "mqueue.msg-size=8192"), Map.of());
    procs.add(fixed);
    assertEquals(0, fixed.waitFor(WAIT), fixed::transcript);
    String fixedCapacity = fixed.awaitOut("mqueue capacity: ", WAIT);
    assertTrue(fixedCapacity.matches("mqueue capacity: about \\d+ clients? \\(RLIMIT_MSGQUEUE .*"
        + "165760 per client: 2 queues of 10 x 8192 bytes.*raise with ulimit -q\\)"),
        fixedCapacity);

    Proc lowered = Proc.startRaw("server", List.of("bash", "-c", "ulimit -q " + TWO_CLIENTS
        + " && exec \"$0\" --list-transports", Proc.ROOT.resolve("bin/server").toString()),
        Map.of());
    procs.add(lowered);
    assertEquals(0, lowered.waitFor(WAIT), lowered::transcript);
    assertTrue(lowered.awaitOut("mqueue capacity: ", WAIT).startsWith(
        "mqueue capacity: about 31 clients (RLIMIT_MSGQUEUE 400000 bytes per user"),
        lowered::transcript);

    // No room at all is a limit, not a missing feature: still available, with no capacity.
    Proc none = Proc.startRaw("server", List.of("bash", "-c", "ulimit -q 0 && exec \"$0\" "
        + "--list-transports", Proc.ROOT.resolve("bin/server").toString()), Map.of());
    procs.add(none);
    assertEquals(0, none.waitFor(WAIT), none::transcript);
    assertTrue(none.awaitOut("mqueue ", WAIT).matches("mqueue\\s+3\\s+available\\s+.*"),
        none::transcript);
    assertTrue(none.awaitOut("mqueue capacity: ", WAIT).startsWith(
        "mqueue capacity: about 0 clients (RLIMIT_MSGQUEUE 0 bytes per user"), none::transcript);
  }

  /**
   * RLIMIT_MSGQUEUE counts every queue of the user, so this expects no other process of the user
   * to hold message queues meanwhile; if one does, the refusal comes one client early and says so.
   */
  @Test
  void clientsBeyondCapacityGetTheLimitOrTheirNextTransport() throws Exception {
    // A fixed message size: queues sized to the budget left would fit dozens of clients.
    Proc server = server(TWO_CLIENTS, "--transport=mqueue,pipe", "--transport-option",
        "mqueue.msg-size=8192");
    Proc first = client("1", "--transport=mqueue");
    first.awaitOut("via mqueue", WAIT);
    Proc second = client("2", "--transport=mqueue");
    second.awaitOut("via mqueue", WAIT);

    Proc refused = client("3", "--transport=mqueue");
    assertEquals(4, refused.waitFor(WAIT), refused::transcript);
    String err = refused.awaitErr("no transport could be negotiated", WAIT);
    assertTrue(err.contains("mqueue: could not be created (RLIMIT_MSGQUEUE is full: it is 400000 "
        + "bytes for the server's user"), err);
    assertTrue(err.contains("this server holds 4 queues (331520 bytes)"), err);
    assertTrue(err.contains("raise the limit with ulimit -q BYTES"), err);
    assertEquals(1, refused.stderr().size(), refused::transcript);
    assertNoStackTrace(refused);

    Proc fallback = client("4", "--transport=mqueue,pipe");
    fallback.awaitOut("via pipe", WAIT);
    fallback.send("40");
    fallback.send("2");
    fallback.send("END");
    fallback.awaitOut("sum: 42", WAIT);
    assertTrue(server.awaitOut("client 4 connected", WAIT).contains("transport=pipe"));

    // A client that leaves gives its queues back: the next one gets mqueue again.
    first.send("exit");
    assertEquals(0, first.waitFor(WAIT), first::transcript);
    server.awaitOut("client 1 disconnected", WAIT);
    Proc again = client("5", "--transport=mqueue");
    again.awaitOut("via mqueue", WAIT);
    again.send("6");
    again.send("END");
    again.awaitOut("sum: 6", WAIT);
    second.send("END");
    second.awaitOut("sum: 0", WAIT);
  }

  @Test
  void serverKilledWithSigkillLeavesNoQueueBehind() throws Exception {
    Assumptions.assumeTrue(MqueueFs.unavailableReason().isEmpty(),
        () -> "cannot list queue names: " + MqueueFs.unavailableReason().orElse(""));
    Set<String> before = fdipcNames();
    Proc server = server("--transport=mqueue");
    Proc a = client("1", "--transport=mqueue");
    Proc b = client("2", "--transport=mqueue");
    a.awaitOut("via mqueue", WAIT);
    b.awaitOut("via mqueue", WAIT);
    a.send("7");
    a.awaitOut("ok: total 7", WAIT);
    Set<String> during = fdipcNames();
    during.removeAll(before);
    assertEquals(Set.of(), during, "queue names while two clients are connected");

    server.signal("KILL");
    server.waitFor(WAIT);
    // Both clients were blocked waiting: their channels report end of stream and they leave.
    assertEquals(3, a.waitFor(WAIT), a::transcript);
    assertEquals(3, b.waitFor(WAIT), b::transcript);
    a.awaitErr("the server went away", WAIT);
    assertNoStackTrace(a);
    Set<String> after = fdipcNames();
    after.removeAll(before);
    assertEquals(Set.of(), after, "queue names left in the mqueue filesystem after SIGKILL");
  }

  @Test
  void clientKilledIsSeenByTheServerWhileAnotherGoesOn() throws Exception {
    Proc server = server("--transport=mqueue");
    Proc victim = client("1", "--transport=mqueue");
    Proc other = client("2", "--transport=mqueue");
    victim.awaitOut("via mqueue", WAIT);
    other.awaitOut("via mqueue", WAIT);
    victim.signal("KILL");
    server.awaitOut("client 1 disconnected", WAIT);
    other.send("5");
    other.awaitOut("ok: total 5", WAIT);
    other.send("exit");
    assertEquals(0, other.waitFor(WAIT), other::transcript);
    server.awaitOut("client 2 disconnected", WAIT);
  }

  private static Set<String> fdipcNames() throws IOException, InterruptedException {
    Set<String> names = new TreeSet<>();
    for (String n : MqueueFs.names()) {
      if (n.startsWith("fdipc-")) {
        names.add(n);
      }
    }
    return names;
  }
}
