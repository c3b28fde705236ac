package dev.fdipc.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fdipc.ErrorCode;
import dev.fdipc.FdipcClient;
import dev.fdipc.IpcChannel;
import dev.fdipc.NegotiationException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.newsclub.net.unix.AFUNIXSocket;
import org.newsclub.net.unix.AFUNIXSocketAddress;

/**
 * The real server run with {@code ulimit -n 256} and 1,000 connection attempts, the successful ones
 * held open so that it truly runs out of fds: it keeps running, answers every other attempt with a
 * clear refusal naming the cause, uses little CPU while out (no accept spin), leaks nothing, and
 * serves a new client once the load goes away.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class FdExhaustionEndToEndTest {
  private static final Duration WAIT = Duration.ofSeconds(30);
  private static final int LIMIT = 256;
  private static final int ATTEMPTS = 1000;
  /** Clock ticks per second of /proc/PID/stat's utime and stime (USER_HZ, 100 on Linux). */
  private static final double TICKS = 100.0;

  @TempDir
  Path dir;

  private final List<Proc> procs = new ArrayList<>();
  private final List<IpcChannel> held = new ArrayList<>();

  @AfterEach
  void tearDown() throws IOException {
    for (IpcChannel c : held) {
      c.close();
    }
    procs.forEach(Proc::close);
  }

  /**
   * Over pipe (a client costs the server its control socket, that socket's duplicate and two pipe
   * ends), socketpair (one socket) and memfd (four doorbells and a mapping): each fails at another
   * step when the fds run out, and must leave nothing half made.
   */
  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"pipe", "socketpair", "memfd"})
  void shouldRefuseClearlyWhileOutOfFdsAndRecoverWhenTheLoadGoes(String transport)
      throws Exception {
    this.transport = transport;
    Path socket = dir.resolve("s.sock");
    Proc server = Proc.startRaw("server", List.of("bash", "-c",
        "ulimit -n " + LIMIT + " && exec \"$0\" \"$@\"", Proc.ROOT.resolve("bin/server").toString(),
        "--socket=" + socket, "--transport=" + transport), Map.of());
    procs.add(server);
    server.awaitOut("ready", WAIT);
    // One conversation first, so that what a session loads lazily is loaded before the count.
    try (IpcChannel warm = connect(socket, 0)) {
      warm.send(new byte[] {'h', 'i'});
      assertTrue(warm.receive(30, TimeUnit.SECONDS) != null, "no reply from the warm-up client");
    }
    int baseline = awaitStableFdCount(server);
    long mappings = memfdMappings(server);

    int served = 0;
    int busy = 0;
    int otherRefusals = 0;
    long cpuAtFirstRefusal = -1;
    long firstRefusalNanos = 0;
    List<String> messages = new ArrayList<>();
    for (int i = 1; i <= ATTEMPTS; i++) {
      try {
        held.add(connect(socket, i));
        served++;
      } catch (NegotiationException e) {
        if (cpuAtFirstRefusal < 0) {
          cpuAtFirstRefusal = cpuTicks(server);
          firstRefusalNanos = System.nanoTime();
        }
        if (e.code() == ErrorCode.BUSY) {
          busy++;
          assertTrue(e.getMessage().contains("out of file descriptors (limit " + LIMIT
              + " open files)"), e.getMessage());
        } else {
          otherRefusals++; // the last fds went while the session was being set up
          assertTrue(e.getMessage().contains("server is out of file descriptors (limit " + LIMIT
              + " open files), try again later: "), e.getMessage());
        }
        if (messages.isEmpty()) {
          messages.add(e.getMessage());
        }
      }
    }
    assertTrue(server.isAlive(), server::transcript);
    assertTrue(busy + otherRefusals > 0, "the server never ran out: " + served + " served");
    assertEquals(ATTEMPTS, served + busy + otherRefusals);

    // A real client while out of fds sees the message too.
    Proc client = Proc.start("client", List.of("1001", "--transport=" + transport,
        "--socket=" + socket), Map.of());
    procs.add(client);
    assertTrue(client.waitFor(WAIT) != 0, client::transcript);
    // BUSY when it could not even set up the connection; NO_TRANSPORT naming EMFILE when it could,
    // but not create the transport's kernel object.
    String outOfFds = "out of file descriptors (limit " + LIMIT + " open files)";
    assertTrue(client.stderr().stream().anyMatch(l -> l.contains(outOfFds)), client::transcript);
    Commands.assertNoStackTrace(client);

    // Silent connections take the server's last fds (one each; a memfd client needs up to 10
    // more than the server had) until the handshake timeout (5 s): now not even a connection can
    // be set up, and every client gets BUSY from the accept loop's spare fd.
    List<AFUNIXSocket> silent = new ArrayList<>();
    try {
      for (int i = 0; i < 12; i++) {
        silent.add(AFUNIXSocket.connectTo(AFUNIXSocketAddress.of(socket)));
      }
      for (int i = 0; i < 10; i++) {
        try {
          held.add(connect(socket, 3000 + i));
          throw new AssertionError("served with its last fds taken");
        } catch (NegotiationException e) {
          assertEquals(ErrorCode.BUSY, e.code(), e.getMessage());
          assertTrue(e.getMessage().contains(outOfFds), e.getMessage());
          busy++;
          if (messages.size() < 3) {
            messages.add(e.getMessage());
          }
        }
      }
    } finally {
      for (AFUNIXSocket s : silent) {
        s.close();
      }
    }

    // Still out of fds with nothing to do: the accept loop must not burn CPU.
    TimeUnit.SECONDS.sleep(2); // the measurement window itself, not a wait for an event
    long cpuExhausted = cpuTicks(server) - cpuAtFirstRefusal;
    double exhaustedSeconds = (System.nanoTime() - firstRefusalNanos) / 1e9;
    assertTrue(cpuExhausted / TICKS < 0.5 * exhaustedSeconds + 1.0, "server used "
        + cpuExhausted / TICKS + " s CPU in " + exhaustedSeconds + " s out of fds: spinning?");

    for (IpcChannel c : held) {
      c.close();
    }
    held.clear();
    long released = System.nanoTime();
    IpcChannel after = null;
    int busyAfter = 0;
    while (after == null) {
      try {
        after = connect(socket, 2000);
      } catch (NegotiationException e) {
        busyAfter++; // sessions of the closed clients are still ending
        assertTrue(System.nanoTime() - released < WAIT.toNanos(), "no recovery: " + e);
        TimeUnit.MILLISECONDS.sleep(10);
      }
    }
    double recoveryMillis = (System.nanoTime() - released) / 1e6;
    try (IpcChannel c = after) {
      c.send(new byte[] {'o', 'k'});
      assertTrue(c.receive(30, TimeUnit.SECONDS) != null, "no reply after recovery");
    }
    server.awaitErr("file descriptors available again", WAIT);
    assertEquals(baseline, awaitFdCount(server, baseline),
        "server fds after the load went away:" + fds(server));
    assertEquals(mappings, memfdMappings(server), "memfd mappings of the server");
    assertTrue(server.isAlive(), server::transcript);
    Commands.assertNoStackTrace(server);
    System.out.printf("fd exhaustion over %s: limit %d, %d attempts + 10 with the last fds "
        + "taken: %d served, %d BUSY, %d other refusals; server CPU %.2f s over %.1f s out of "
        + "fds; first client served %.0f ms after the load closed (%d refused meanwhile); "
        + "messages: %s%n", transport, LIMIT, ATTEMPTS, served, busy, otherRefusals,
        cpuExhausted / TICKS, exhaustedSeconds, recoveryMillis, busyAfter, messages);
  }

  private String transport;

  private IpcChannel connect(Path socket, long id) throws IOException {
    return FdipcClient.builder().socket(socket).clientId(id).transports(transport).connect();
  }

  private static long memfdMappings(Proc p) throws IOException {
    try (Stream<String> lines = Files.lines(Path.of("/proc/" + p.pid() + "/maps"))) {
      return lines.filter(l -> l.contains("/memfd:")).count();
    }
  }

  /** utime + stime of the process, in clock ticks. */
  private static long cpuTicks(Proc p) throws IOException {
    String stat = Files.readString(Path.of("/proc/" + p.pid() + "/stat"));
    String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
    return Long.parseLong(f[11]) + Long.parseLong(f[12]); // fields 14 and 15 of stat(5)
  }

  private static int fdCount(Proc p) throws IOException {
    try (Stream<Path> s = Files.list(Path.of("/proc/" + p.pid() + "/fd"))) {
      return (int) s.count();
    }
  }

  private static int awaitStableFdCount(Proc p) throws Exception {
    int last = fdCount(p);
    for (int same = 0; same < 5; ) {
      TimeUnit.MILLISECONDS.sleep(50); // no event for "the server closed its last fd": poll
      int now = fdCount(p);
      same = now == last ? same + 1 : 0;
      last = now;
    }
    return last;
  }

  private static int awaitFdCount(Proc p, int expected) throws Exception {
    long deadline = System.nanoTime() + WAIT.toNanos();
    int now = fdCount(p);
    while (now != expected && System.nanoTime() < deadline) {
      TimeUnit.MILLISECONDS.sleep(20); // no event for "the server closed an fd": poll /proc
      now = fdCount(p);
    }
    return now;
  }

  private static String fds(Proc p) throws IOException {
    TreeMap<Integer, String> fds = new TreeMap<>();
    try (Stream<Path> s = Files.list(Path.of("/proc/" + p.pid() + "/fd"))) {
      s.forEach(f -> {
        try {
          fds.put(Integer.parseInt(f.getFileName().toString()),
              Files.readSymbolicLink(f).toString());
        } catch (IOException e) {
          // closed while listing
        }
      });
    }
    return fds.toString();
  }
}
