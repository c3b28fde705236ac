package dev.fdipc.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A client killed with SIGKILL at each stage of its life, on every transport, against the real
 * server command: within 5 s the server holds exactly the descriptors it held before (by kind:
 * pipes, sockets, eventfds, memfds, queues) and no memfd mapping is left in its address space.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class ClientKilledTest {
  /** The stages of {@link FaultClient}, in the order a client reaches them. */
  private static final List<String> STAGES = List.of("silent", "hello", "fds", "mid");
  private static final Duration FREED_WITHIN = Duration.ofSeconds(5);

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
  void killedClientLeavesNothingBehindAtAnyStage(String transport) throws Exception {
    Proc server = commands.server("--transport=" + transport, "--max-message-size=67108864");
    // One full session first, so that what the server opens once (jars, its eventfds) is in the
    // baseline and not counted as a leak.
    killAt(server, transport, "mid", 100);
    awaitSettled(server, null);
    Map<String, Integer> fds = fdKinds(server.pid());
    long memfdMaps = memfdMappings(server.pid());
    for (int i = 0; i < STAGES.size(); i++) {
      killAt(server, transport, STAGES.get(i), 101 + i);
      awaitSettled(server, new State(fds, memfdMaps));
    }
    server.signal("TERM");
    assertEquals(0, server.waitFor(Commands.WAIT), server::transcript);
    Commands.assertNoStackTrace(server);
  }

  private void killAt(Proc server, String transport, String stage, long id) throws Exception {
    Proc client = FaultClient.start(commands, socket, transport, stage, id);
    client.awaitOut("stage: " + stage, Commands.WAIT);
    if (!stage.equals("silent")) {
      // The server has created the client's kernel object by the time it has read the HELLO;
      // for "hello" the ACCEPT and its fds may still be queued on the unread socket.
      server.awaitOut("client " + id + " connected", Commands.WAIT);
    }
    client.signal("KILL");
    client.waitFor(Commands.WAIT);
    if (!stage.equals("silent")) {
      server.awaitOut("client " + id + " disconnected", Commands.WAIT);
    }
    if (stage.equals("mid")) {
      assertTrue(server.stdout().stream().noneMatch(l -> l.startsWith("[client " + id + " pid ")),
          "the 64 MiB message arrived whole: the client was not killed in the middle of it");
    }
  }

  private record State(Map<String, Integer> fdKinds, long memfdMappings) {}

  /**
   * Polls until the server's descriptors and memfd mappings equal {@code expected} (until they are
   * steady for {@code null}), failing after {@link #FREED_WITHIN}.
   */
  private static void awaitSettled(Proc server, State expected) throws Exception {
    long deadline = System.nanoTime() + FREED_WITHIN.toNanos();
    State last = null;
    while (true) {
      State now = new State(fdKinds(server.pid()), memfdMappings(server.pid()));
      if (expected == null ? now.equals(last) : now.equals(expected)) {
        return;
      }
      if (System.nanoTime() > deadline) {
        throw new AssertionError("server pid " + server.pid() + " after " + FREED_WITHIN
            + ": " + now + ", expected " + (expected == null ? "a steady state" : expected)
            + "\n" + server.transcript());
      }
      last = now;
      Thread.sleep(50); // polling the kernel's view: there is no event for "freed"
    }
  }

  /** The server's open descriptors counted by kind: pipe, socket, anon_inode:[eventfd], ... */
  private static Map<String, Integer> fdKinds(long pid) throws IOException {
    Map<String, Integer> kinds = new TreeMap<>();
    try (Stream<Path> s = Files.list(Path.of("/proc/" + pid + "/fd"))) {
      for (Path p : (Iterable<Path>) s::iterator) {
        String target;
        try {
          target = Files.readSymbolicLink(p).toString();
        } catch (IOException e) {
          continue; // closed while listing
        }
        String kind = target.replaceAll(":\\[\\d+\\]$", "").replaceAll("^/memfd:.*", "memfd")
            .replaceAll("^/fdipc-[0-9a-f]+.*", "mqueue");
        kinds.merge(kind, 1, Integer::sum);
      }
    }
    return kinds;
  }

  /** Mappings of memfd regions in the server's address space. */
  private static long memfdMappings(long pid) throws IOException {
    try (Stream<String> lines = Files.lines(Path.of("/proc/" + pid + "/maps"))) {
      return lines.filter(l -> l.contains("/memfd:")).count();
    }
  }
}
