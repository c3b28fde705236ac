package dev.fdipc;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.fdipc.negotiation.TestPipeProvider;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A control socket is closed only once the thread that watches it has left its read: a watcher
 * that reached read(2) after the close would read whatever connection got the freed fd number
 * next, another connection's frame (the soak test in e2e once saw a handshake find the body of
 * its ACCEPT where the header belonged).
 */
class ControlSocketCloseTest {
  private static final String CLIENT_WATCHER = "fdipc-client-control";

  @TempDir
  Path dir;

  @Test
  @Timeout(60)
  void closeReturnsOnlyAfterTheClientsWatcherHasEnded() throws Exception {
    TransportRegistry reg = TransportRegistry.of(new TestPipeProvider("good"));
    Path socket = dir.resolve("s.sock");
    try (FdipcServer server = FdipcServer.builder().socket(socket).registry(reg)
        .handler(LiveServerSupport::echo).start()) {
      // Closing at once, before the watcher has had a chance to run, is when it used to be late.
      for (int i = 0; i < 200; i++) {
        Set<Thread> before = watchers();
        IpcChannel ch = FdipcClient.builder().socket(socket).registry(reg)
            .handshakeTimeout(Duration.ofSeconds(10)).connect();
        ch.close();
        List<String> alive = watchers().stream().filter(t -> !before.contains(t))
            .map(Thread::toString).collect(Collectors.toList());
        assertEquals(List.of(), alive, "cycle " + i + ": the watcher outlived close()");
      }
    }
  }

  private static Set<Thread> watchers() {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.getName().equals(CLIENT_WATCHER) && t.isAlive())
        .collect(Collectors.toSet());
  }

}
