package dev.fdipc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fdipc.negotiation.TestPipeProvider;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.newsclub.net.unix.AFUNIXServerSocket;
import org.newsclub.net.unix.AFUNIXSocket;
import org.newsclub.net.unix.AFUNIXSocketAddress;

/**
 * Two servers starting at the same moment on one stale socket path: exactly one wins, the other
 * fails with a message that says why and deletes nothing; and a server removes the socket file at
 * shutdown only if it is still the one it created.
 */
class ServerStartRaceTest {
  private static final int TRIALS = 100;

  @TempDir
  Path dir;

  private final ExecutorService pool = Executors.newFixedThreadPool(2);

  @AfterEach
  void tearDown() {
    pool.shutdownNow();
  }

  @Test
  @Timeout(60)
  void twoServersRacingForAStalePathExactlyOneWins() throws Exception {
    Path socket = dir.resolve("s.sock");
    TransportRegistry reg = TransportRegistry.of(new TestPipeProvider("pipe"));
    for (int trial = 0; trial < TRIALS; trial++) {
      leaveStaleSocket(socket);
      CyclicBarrier together = new CyclicBarrier(2);
      List<Future<FdipcServer>> starts = new ArrayList<>();
      for (int i = 0; i < 2; i++) {
        starts.add(pool.submit(() -> {
          FdipcServer.Builder b = FdipcServer.builder().socket(socket).registry(reg)
              .shutdownTimeout(Duration.ofSeconds(2)).handler(s -> { });
          together.await(10, TimeUnit.SECONDS);
          return b.start();
        }));
      }
      List<FdipcServer> winners = new ArrayList<>();
      List<String> losers = new ArrayList<>();
      int t = trial;
      for (Future<FdipcServer> f : starts) {
        try {
          winners.add(f.get(20, TimeUnit.SECONDS));
        } catch (java.util.concurrent.ExecutionException e) {
          assertTrue(e.getCause() instanceof IOException,
              () -> "trial " + t + ": unexpected failure " + e.getCause());
          losers.add(e.getCause().getMessage());
        }
      }
      String context = "trial " + trial + ": winners " + winners.size() + ", losers " + losers;
      assertEquals(1, winners.size(), context);
      String why = losers.get(0);
      assertTrue(why.contains("another fdipc server is running or starting on " + socket)
          || why.contains("a server is already listening on " + socket), why);
      assertTrue(why.contains("choose another --socket"), why);
      try (FdipcServer winner = winners.get(0)) {
        // The loser deleted nothing: the winner's socket is in place and answers.
        try (AFUNIXSocket probe = AFUNIXSocket.connectTo(AFUNIXSocketAddress.of(socket))) {
          assertTrue(probe.isConnected(), context);
        }
      }
      assertFalse(Files.exists(socket, LinkOption.NOFOLLOW_LINKS),
          context + ": the winner must remove its socket at shutdown");
    }
  }

  @Test
  @Timeout(30)
  void socketFileReplacedWhileRunningSurvivesShutdown() throws Exception {
    Path socket = dir.resolve("s.sock");
    TransportRegistry reg = TransportRegistry.of(new TestPipeProvider("pipe"));
    FdipcServer server = FdipcServer.builder().socket(socket).registry(reg)
        .shutdownTimeout(Duration.ofSeconds(2)).handler(s -> { }).start();
    Files.delete(socket);
    try (AFUNIXServerSocket other = AFUNIXServerSocket.newInstance()) {
      other.setDeleteOnClose(false);
      other.bind(AFUNIXSocketAddress.of(socket)); // someone else's live socket, same path
      Object theirs = fileKey(socket);
      server.close();
      assertTrue(Files.exists(socket, LinkOption.NOFOLLOW_LINKS),
          "the server deleted a socket file it did not create");
      assertEquals(theirs, fileKey(socket));
      try (AFUNIXSocket probe = AFUNIXSocket.connectTo(AFUNIXSocketAddress.of(socket))) {
        assertTrue(probe.isConnected(), "the other listener must still be reachable");
      }
    }
  }

  @Test
  @Timeout(30)
  void regularFileThatReplacedTheSocketSurvivesShutdown() throws Exception {
    Path socket = dir.resolve("s.sock");
    TransportRegistry reg = TransportRegistry.of(new TestPipeProvider("pipe"));
    FdipcServer server = FdipcServer.builder().socket(socket).registry(reg)
        .shutdownTimeout(Duration.ofSeconds(2)).handler(s -> { }).start();
    Files.delete(socket);
    Files.writeString(socket, "not yours");
    server.close();
    assertTrue(server.awaitTermination(Duration.ofSeconds(10)), "server did not terminate");
    assertEquals("not yours", Files.readString(socket));
  }

  /** Leaves a socket file nobody listens on, as a crashed server does. */
  private static void leaveStaleSocket(Path socket) throws IOException {
    try (AFUNIXServerSocket s = AFUNIXServerSocket.newInstance()) {
      s.setDeleteOnClose(false);
      s.bind(AFUNIXSocketAddress.of(socket));
    }
    assertNotNull(fileKey(socket), "no stale socket left");
  }

  private static Object fileKey(Path p) throws IOException {
    return Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS)
        .fileKey();
  }
}
