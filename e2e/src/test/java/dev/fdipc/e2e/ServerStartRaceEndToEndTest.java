package dev.fdipc.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.newsclub.net.unix.AFUNIXServerSocket;
import org.newsclub.net.unix.AFUNIXSocket;
import org.newsclub.net.unix.AFUNIXSocketAddress;

/**
 * Two real server processes started together on a stale socket path, a few times (core's
 * ServerStartRaceTest runs the hundred trials in one JVM): one serves, the other exits with status
 * 1 and a message that says why, and deletes nothing.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ServerStartRaceEndToEndTest {
  private static final int TRIALS = 3;

  @TempDir
  Path dir;

  @Test
  void twoServerProcessesOnAStalePathExactlyOneServes() throws Exception {
    Path socket = dir.resolve("s.sock");
    for (int trial = 0; trial < TRIALS; trial++) {
      try (AFUNIXServerSocket stale = AFUNIXServerSocket.newInstance()) {
        stale.setDeleteOnClose(false);
        stale.bind(AFUNIXSocketAddress.of(socket));
      }
      try (Commands commands = new Commands(socket, Map.of())) {
        List<Proc> both = List.of(commands.startServer("--transport=pipe"),
            commands.startServer("--transport=pipe"));
        Proc winner = null;
        Proc loser = null;
        for (Proc p : both) {
          // The loser exits on its own; the winner runs until told to stop.
          if (p.isAlive() && !exitsSoon(p)) {
            assertEquals(null, winner, "two servers running\n" + both.get(0).transcript() + "\n"
                + both.get(1).transcript());
            winner = p;
          } else {
            loser = p;
          }
        }
        assertTrue(winner != null && loser != null, "trial " + trial + ": expected one winner");
        Proc lost = loser;
        assertEquals(1, loser.waitFor(Commands.WAIT), loser::transcript);
        String why = String.join("\n", loser.stderr());
        assertTrue(why.contains("another fdipc server is running or starting on " + socket)
            || why.contains("a server is already listening on " + socket), lost::transcript);
        Commands.assertNoStackTrace(loser);
        winner.awaitOut("ready", Commands.WAIT);
        try (AFUNIXSocket probe = AFUNIXSocket.connectTo(AFUNIXSocketAddress.of(socket))) {
          assertTrue(probe.isConnected());
        }
        winner.signal("TERM");
        assertEquals(0, winner.waitFor(Commands.WAIT), winner::transcript);
        assertFalse(Files.exists(socket, LinkOption.NOFOLLOW_LINKS), "socket left behind");
      }
    }
  }

  /**
   * Waits for {@code p} either to print its ready line (false) or to exit (true), whichever comes
   * first.
   */
  private static boolean exitsSoon(Proc p) throws InterruptedException {
    long deadline = System.nanoTime() + Commands.WAIT.toNanos();
    while (System.nanoTime() < deadline) {
      if (!p.isAlive()) {
        return true;
      }
      if (p.stdout().stream().anyMatch(l -> l.contains("ready"))) {
        return false;
      }
      Thread.sleep(20); // polling two signals at once: a ready line or an exit
    }
    throw new AssertionError("server neither ready nor exited\n" + p.transcript());
  }
}
