package dev.fdipc.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A client that sends and never reads, against the real server command: the server's reply send
 * waits while the client's transport buffer is full, then the send timeout drops that client alone
 * with a logged reason; another client keeps talking, and shutdown is never held up.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class SlowReaderTest {
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

  @ParameterizedTest
  @ValueSource(strings = {"pipe", "socketpair", "memfd", "mqueue"})
  void clientThatStopsReadingIsDroppedAloneWithReason(String transport) throws Exception {
    Proc server = commands.server("--transport=" + transport, "--send-timeout=1s");
    Proc good = commands.client("2", "--transport=" + transport);
    good.awaitOut("as client 2 via " + transport, WAIT);
    good.send("5");
    good.awaitOut("ok: total 5", WAIT);

    Proc flood = FaultClient.start(commands, socket, transport, "flood");
    flood.awaitOut("stage: flood", WAIT);
    good.send("7"); // served while the other client's session waits on its full buffer
    good.awaitOut("ok: total 12", WAIT);

    String why = server.awaitErr("client 7 dropped: it has not read for", WAIT);
    assertTrue(why.contains("its transport buffer is full"), why);
    flood.awaitOut("server gone: dropped by the server: you have not read for", WAIT);
    flood.awaitOut("dropped: after", WAIT);
    assertEquals(0, flood.waitFor(WAIT), flood::transcript);
    server.awaitOut("client 7 disconnected", WAIT);

    good.send("END");
    good.awaitOut("sum: 12", WAIT);
    good.send("exit");
    assertEquals(0, good.waitFor(WAIT), good::transcript);
    server.signal("TERM");
    assertEquals(0, server.waitFor(WAIT), server::transcript);
    Commands.assertNoStackTrace(server);
  }

  @Test
  void shutdownIsNotHeldUpByAClientThatNeverReads() throws Exception {
    Proc server = commands.server("--transport=pipe", "--send-timeout=0");
    Proc flood = FaultClient.start(commands, socket, "pipe", "flood");
    flood.awaitOut("stage: flood", WAIT);
    // The server's replies fill the client's pipe; its handler then waits in send for good, as
    // the send timeout is off. Shutdown's goodbye must still end that session at once.
    server.awaitOutMatching("\\[client 7 pid \\d+\\] 1", WAIT);
    server.signal("TERM");
    assertEquals(0, server.waitFor(WAIT), server::transcript);
    server.awaitOut("client 7 disconnected", WAIT);
    assertTrue(server.stderr().stream().noneMatch(l -> l.contains("dropped")),
        server::transcript);
  }
}
