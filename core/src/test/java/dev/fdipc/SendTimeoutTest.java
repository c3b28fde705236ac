package dev.fdipc;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fdipc.negotiation.TestPipeProvider;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link FdipcServer.Builder#sendTimeout}: a handler sending to a client that never reads is
 * released with {@link PeerClosedException} once the client's buffer has stayed full for the
 * timeout, the listener hears why, and another client is served meanwhile.
 */
@Timeout(30)
class SendTimeoutTest {
  @TempDir
  Path dir;

  private final TransportRegistry reg = TransportRegistry.of(new TestPipeProvider("pipe"));
  private final BlockingQueue<String> dropped = new LinkedBlockingQueue<>();
  private final BlockingQueue<Object> outcome = new LinkedBlockingQueue<>();
  private Path socket;
  private FdipcServer server;

  @BeforeEach
  void setUp() {
    socket = dir.resolve("s.sock");
  }

  @AfterEach
  void tearDown() {
    if (server != null) {
      server.close();
    }
  }

  @Test
  void handlerSendToClientThatNeverReadsFailsAfterTheTimeout() throws Exception {
    startServer(s -> {
      if (s.clientId() == 2) { // a well-behaved echo client
        LiveServerSupport.echo(s);
        return;
      }
      sendUntilFailure(s, 1000);
    });
    try (IpcChannel deaf = FdipcClient.builder().socket(socket).registry(reg).clientId(1)
            .connect();
        IpcChannel echo = FdipcClient.builder().socket(socket).registry(reg).clientId(2)
            .connect()) {
      Object o = outcome.poll(10, SECONDS);
      assertNotNull(o, "the handler's send never failed");
      assertTrue(o instanceof PeerClosedException, () -> "unexpected " + o);
      String why = dropped.poll(10, SECONDS);
      assertNotNull(why, "the listener was not told");
      assertTrue(why.startsWith("client 1 dropped: it has not read for "), why);
      assertTrue(why.contains("its transport buffer is full"), why);
      byte[] m = {1, 2, 3};
      echo.send(m);
      assertArrayEquals(m, echo.receive(10, SECONDS));
      assertEquals(null, dropped.poll(), "only the client that stopped reading is dropped");
    }
  }

  @Test
  void clientThatReadsSlowlyButSteadilyIsNotDropped() throws Exception {
    // The handler always has a send under way, but each one completes well within the timeout:
    // the watchdog must time single sends, not how long the handler has been sending.
    startServer(s -> sendUntilFailure(s, 16_000));
    try (IpcChannel slow = FdipcClient.builder().socket(socket).registry(reg).clientId(1)
        .connect()) {
      long end = System.nanoTime() + Duration.ofMillis(1500).toNanos();
      while (System.nanoTime() - end < 0) {
        assertNotNull(slow.receive(10, SECONDS),
            () -> "the channel ended; the listener heard: " + dropped.peek());
        // The slow reader under test. The pipe holds 4 messages and the client may have read
        // them all ahead, so one send waits up to about 5 sleeps: well below the timeout.
        Thread.sleep(20);
      }
      assertEquals(null, dropped.poll(), "a client that keeps reading was dropped");
      assertEquals(null, outcome.poll(), "the handler's send failed");
    }
  }

  /** Starts a server with a 300 ms send timeout whose listener records drops. */
  private void startServer(SessionHandler handler) throws IOException {
    server = FdipcServer.builder().socket(socket).registry(reg)
        .sendTimeout(Duration.ofMillis(300))
        .listener(new ServerListener() {
          @Override
          public void dropped(ClientSession session, String reason) {
            dropped.add(reason);
          }
        })
        .handler(handler)
        .start();
  }

  /** Sends messages of {@code size} bytes until a send fails, and records the failure. */
  private void sendUntilFailure(ClientSession s, int size) {
    try {
      while (true) {
        s.channel().send(new byte[size]);
      }
    } catch (IOException e) {
      outcome.add(e);
    }
  }

  @Test
  void negativeSendTimeoutIsRejected() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> FdipcServer.builder().sendTimeout(Duration.ofSeconds(-1)));
    assertTrue(e.getMessage().contains("0 (none) or positive"), e.getMessage());
  }
}
