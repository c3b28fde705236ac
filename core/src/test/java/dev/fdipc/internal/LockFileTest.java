package dev.fdipc.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@code PATH.lock}: gone after a clean stop and after a refused start, and still exclusive. */
@Timeout(60)
class LockFileTest {
  private static final Set<PosixFilePermission> MODE = PosixFilePermissions.fromString("rw-------");

  @TempDir
  Path dir;

  @Test
  void shouldRemoveTheLockFileAtCloseAndAfterARefusedStart() throws IOException {
    Path socket = dir.resolve("s.sock");
    Path lock = dir.resolve("s.sock.lock");
    SocketBinding b = SocketBinding.bind(socket, MODE);
    assertTrue(Files.exists(lock));
    IOException busy = assertThrows(IOException.class, () -> SocketBinding.bind(socket, MODE));
    assertTrue(busy.getMessage().startsWith("another fdipc server is running or starting on "),
        busy.getMessage());
    assertTrue(Files.exists(lock), "a refused start must not remove the holder's lock file");
    b.close();
    assertFalse(Files.exists(lock), "left after a clean stop");

    Path file = Files.writeString(dir.resolve("f.sock"), "not a socket");
    IOException e = assertThrows(IOException.class, () -> SocketBinding.bind(file, MODE));
    assertTrue(e.getMessage().contains("is not a socket"), e.getMessage());
    assertFalse(Files.exists(dir.resolve("f.sock.lock")), "left after a refused start");
  }

  /**
   * Servers starting and stopping on one path in a loop: with the lock file removed at each stop,
   * two of them must still never hold the path at once.
   */
  @Test
  void shouldStayExclusiveWhileLockFilesComeAndGo() throws Exception {
    Path socket = dir.resolve("race.sock");
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try {
      AtomicInteger holders = new AtomicInteger();
      AtomicInteger overlaps = new AtomicInteger();
      List<Future<Integer>> runs = new ArrayList<>();
      for (int t = 0; t < 4; t++) {
        runs.add(pool.submit(() -> {
          int won = 0;
          for (int i = 0; i < 200; i++) {
            SocketBinding b;
            try {
              b = SocketBinding.bind(socket, MODE);
            } catch (IOException refused) {
              continue; // another one holds it: the expected refusal
            }
            if (holders.incrementAndGet() > 1) {
              overlaps.incrementAndGet();
            }
            won++;
            holders.decrementAndGet();
            b.close();
          }
          return won;
        }));
      }
      int won = 0;
      for (Future<Integer> f : runs) {
        won += f.get();
      }
      assertTrue(won > 0, "nobody ever bound");
      assertEquals(0, overlaps.get(), "times two held the path at once");
      assertFalse(Files.exists(dir.resolve("race.sock.lock")));
    } finally {
      pool.shutdownNow();
    }
  }
}
