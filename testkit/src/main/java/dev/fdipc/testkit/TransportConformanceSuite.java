package dev.fdipc.testkit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.fdipc.BufferTooSmallException;
import dev.fdipc.FdipcClient;
import dev.fdipc.IpcChannel;
import dev.fdipc.IpcTimeoutException;
import dev.fdipc.MessageTooLargeException;
import dev.fdipc.PeerClosedException;
import dev.fdipc.TransportInfo;
import dev.fdipc.TransportRegistry;
import dev.fdipc.spi.TransportProvider;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.ClosedChannelException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The behaviour every transport owes its users, as one JUnit suite. A transport's tests subclass it
 * and return their provider:
 *
 * <pre>{@code
 * class PipeConformanceTest extends TransportConformanceSuite {
 *   protected TransportProvider provider() { return new PipeTransportProvider(); }
 * }
 * }</pre>
 *
 * <p>Every connection goes through a real server and client (control protocol, SCM_RIGHTS); peer
 * death is a second JVM killed with SIGKILL. Tests other than {@link #isAvailableOnLinux()} are
 * skipped, with the provider's reason, when the transport is unavailable here; that one test fails
 * instead, so that a suite cannot pass by skipping everything on Linux.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
public abstract class TransportConformanceSuite {
  /** The maximum message size the suite negotiates: the framework's default. */
  protected static final int MAX = 1 << 20;

  private Loopback loopback;
  private ExecutorService executor;

  /** The provider under test; a new or shared instance, either works. */
  protected abstract TransportProvider provider();

  /**
   * Whether the transport must be available on Linux. Override to return false only for a
   * transport that needs something most Linux machines lack, and say what in the override.
   */
  protected boolean requiredOnLinux() {
    return true;
  }

  /** Tests that must run, and fail, when the transport is unavailable. */
  private static final java.util.Set<String> RUN_WHEN_UNAVAILABLE =
      java.util.Set.of("isAvailableOnLinux", "isFoundByServiceLoader");

  @BeforeEach
  void start(org.junit.jupiter.api.TestInfo info) throws IOException {
    TransportProvider p = provider();
    String test = info.getTestMethod().map(java.lang.reflect.Method::getName).orElse("");
    if (!RUN_WHEN_UNAVAILABLE.contains(test)) {
      Assumptions.assumeTrue(p.isAvailable(),
          () -> p.name() + " unavailable here: " + p.unavailabilityCause());
      loopback = new Loopback(p, MAX);
    }
    executor = Executors.newCachedThreadPool(r -> {
      Thread t = new Thread(r, "conformance");
      t.setDaemon(true);
      return t;
    });
  }

  @AfterEach
  void stop() throws IOException {
    if (executor != null) {
      executor.shutdownNow();
    }
    if (loopback != null) {
      loopback.close();
    }
  }

  // ------------------------------------------------------------------ discovery and availability

  @Test
  void isAvailableOnLinux() {
    TransportProvider p = provider();
    if (System.getProperty("os.name").equals("Linux") && requiredOnLinux()) {
      Throwable cause = p.unavailabilityCause();
      if (cause != null) {
        throw new AssertionError(p.name() + " must be available on Linux but is not: " + cause,
            cause);
      }
    }
  }

  @Test
  void isFoundByServiceLoader() {
    TransportProvider p = provider();
    TransportRegistry registry = TransportRegistry.load(p.getClass().getClassLoader());
    Optional<TransportInfo> info = registry.lookup(p.name());
    assertTrue(info.isPresent(), () -> p.name() + " is not registered in META-INF/services/"
        + TransportProvider.class.getName() + " (is the auto-service processor configured?); "
        + "found: " + registry.all());
    assertEquals(p.getClass(), info.get().provider().getClass());
  }

  // ------------------------------------------------------------------ messages

  @Test
  void carriesOneMessageEachWay() throws IOException {
    try (Loopback.Pair pair = loopback.connect()) {
      assertEquals(provider().name(), pair.client().transport());
      assertEquals(provider().name(), pair.server().transport());
      pair.client().send(bytes("ping"));
      assertEquals("ping", text(pair.server().receive()));
      pair.server().send(bytes("pong"));
      assertEquals("pong", text(pair.client().receive()));
    }
  }

  @Test
  void deliversTenThousandMessagesInOrderWithoutLossOrDuplicates() throws Exception {
    int count = 10_000;
    try (Loopback.Pair pair = loopback.connect()) {
      Future<?> sender = executor.submit(() -> {
        ByteBuffer b = ByteBuffer.allocate(8);
        for (int i = 0; i < count; i++) {
          b.clear();
          b.putInt(i).putInt(~i).flip();
          pair.client().send(b);
        }
        return null;
      });
      ByteBuffer r = ByteBuffer.allocate(64);
      for (int i = 0; i < count; i++) {
        r.clear();
        assertEquals(8, pair.server().receive(r), "length of message " + i);
        r.flip();
        int seq = r.getInt();
        assertEquals(i, seq, "message out of order, lost or duplicated");
        assertEquals(~i, r.getInt(), "payload of message " + i);
      }
      sender.get(30, TimeUnit.SECONDS);
    }
  }

  @Test
  void carriesEveryMessageSizeUpToTheMaximumBothWays() throws Exception {
    int[] sizes = {0, 1, 4095, 4096, 4097, 65536, MAX};
    try (Loopback.Pair pair = loopback.connect()) {
      for (int size : sizes) {
        byte[] m = pattern(size, size);
        Future<?> send = executor.submit(() -> {
          pair.client().send(m);
          return null;
        });
        byte[] got = pair.server().receive(30, TimeUnit.SECONDS);
        send.get(30, TimeUnit.SECONDS);
        assertNotNull(got, "end of stream instead of a " + size + "-byte message");
        assertArrayEquals(m, got, "client to server, size " + size);
        send = executor.submit(() -> {
          pair.server().send(m);
          return null;
        });
        got = pair.client().receive(30, TimeUnit.SECONDS);
        send.get(30, TimeUnit.SECONDS);
        assertArrayEquals(m, got, "server to client, size " + size);
      }
    }
  }

  @Test
  void rejectsMaximumPlusOneAndStaysUsable() throws IOException {
    try (Loopback.Pair pair = loopback.connect()) {
      assertEquals(MAX, pair.client().maxMessageSize());
      MessageTooLargeException e = assertThrows(MessageTooLargeException.class,
          () -> pair.client().send(new byte[MAX + 1]));
      assertEquals(MAX + 1, e.size());
      assertTrue(e.getMessage().contains("maxMessageSize=" + MAX), e.getMessage());
      assertThrows(MessageTooLargeException.class, () -> pair.server().send(new byte[MAX + 1]));
      pair.client().send(bytes("still fine"));
      assertEquals("still fine", text(pair.server().receive()));
    }
  }

  @Test
  void sendsAndReceivesConcurrentlyInBothDirections() throws Exception {
    int count = 2000;
    byte[] m = pattern(10_000, 7);
    try (Loopback.Pair pair = loopback.connect()) {
      // Both sides send while both receive: a transport whose send blocked its own receive, or that
      // interleaved messages, would deadlock or corrupt here.
      Future<Long> c2s = executor.submit(() -> pump(pair.client(), m.clone(), count));
      Future<Long> s2c = executor.submit(() -> pump(pair.server(), m.clone(), count));
      Future<Long> atServer = executor.submit(() -> drain(pair.server(), count));
      Future<Long> atClient = executor.submit(() -> drain(pair.client(), count));
      assertEquals(c2s.get(50, TimeUnit.SECONDS), atServer.get(50, TimeUnit.SECONDS));
      assertEquals(s2c.get(50, TimeUnit.SECONDS), atClient.get(50, TimeUnit.SECONDS));
    }
  }

  private static long pump(IpcChannel ch, byte[] m, int count) throws IOException {
    CRC32 crc = new CRC32();
    for (int i = 0; i < count; i++) {
      m[0] = (byte) i;
      crc.update(m);
      ch.send(m);
    }
    return crc.getValue();
  }

  private static long drain(IpcChannel ch, int count) throws IOException {
    CRC32 crc = new CRC32();
    for (int i = 0; i < count; i++) {
      byte[] got = ch.receive();
      assertNotNull(got, "end of stream after " + i + " messages");
      crc.update(got);
    }
    return crc.getValue();
  }

  @Test
  void keepsAMessageThatDoesNotFitTheBuffer() throws IOException {
    try (Loopback.Pair pair = loopback.connect()) {
      pair.client().send(pattern(100, 3));
      BufferTooSmallException e = assertThrows(BufferTooSmallException.class,
          () -> pair.server().receive(ByteBuffer.allocate(10)));
      assertEquals(100, e.messageSize());
      ByteBuffer big = ByteBuffer.allocate(100);
      assertEquals(100, pair.server().receive(big));
      assertArrayEquals(pattern(100, 3), big.array());
    }
  }

  @Test
  void timesOutWithoutLosingTheNextMessage() throws IOException {
    try (Loopback.Pair pair = loopback.connect()) {
      assertThrows(IpcTimeoutException.class,
          () -> pair.server().receive(ByteBuffer.allocate(16), 50, TimeUnit.MILLISECONDS));
      pair.client().send(bytes("late"));
      assertEquals("late", text(pair.server().receive(10, TimeUnit.SECONDS)));
    }
  }

  // ------------------------------------------------------------------ end of stream

  @Test
  void clientCloseGivesServerEndOfStreamAfterPendingMessages() throws IOException {
    try (Loopback.Pair pair = loopback.connect()) {
      for (int i = 0; i < 3; i++) {
        pair.client().send(bytes("m" + i));
      }
      pair.client().close();
      for (int i = 0; i < 3; i++) {
        assertEquals("m" + i, text(pair.server().receive(10, TimeUnit.SECONDS)));
      }
      assertNull(pair.server().receive(10, TimeUnit.SECONDS), "end of stream expected");
      assertNull(pair.server().receive(10, TimeUnit.SECONDS), "end of stream is sticky");
    }
  }

  @Test
  void serverCloseGivesClientEndOfStreamAndFailsItsSends() throws IOException {
    try (Loopback.Pair pair = loopback.connect()) {
      pair.server().send(bytes("last"));
      pair.server().close();
      assertEquals("last", text(pair.client().receive(10, TimeUnit.SECONDS)));
      assertNull(pair.client().receive(10, TimeUnit.SECONDS), "end of stream expected");
      assertThrows(PeerClosedException.class, () -> {
        // The first sends may still fit in a buffer nobody will read; the loss is seen soon after.
        for (int i = 0; i < 10_000; i++) {
          pair.client().send(new byte[4096]);
        }
      });
    }
  }

  @Test
  void clientDeathGivesServerEndOfStream() throws Exception {
    Process child = ChildProcess.start("client", loopback.socket(), provider().name());
    try (Loopback.Pair pair = loopback.nextSession(null, Duration.ofSeconds(30))) {
      assertEquals("hello", text(pair.server().receive(10, TimeUnit.SECONDS)));
      child.destroyForcibly();
      assertTrue(child.waitFor(10, TimeUnit.SECONDS), "child did not die");
      assertNull(pair.server().receive(5, TimeUnit.SECONDS),
          "end of stream expected within 5 s of the client's death");
    } finally {
      child.destroyForcibly();
    }
  }

  @Test
  void serverDeathGivesClientEndOfStream() throws Exception {
    Path dir = Files.createTempDirectory("fdipc-child");
    Path socket = dir.resolve("s.sock");
    Process child = ChildProcess.start("server", socket, provider().name());
    CompletableFuture<String> gone = new CompletableFuture<>();
    try (IpcChannel ch = FdipcClient.builder().socket(socket).transports(provider().name())
        .onServerGone((goodbye, message) -> gone.complete(message))
        .registry(TransportRegistry.of(provider())).connect()) {
      assertEquals("hello", text(ch.receive(10, TimeUnit.SECONDS)));
      child.destroyForcibly();
      assertTrue(child.waitFor(10, TimeUnit.SECONDS), "child did not die");
      assertNull(ch.receive(5, TimeUnit.SECONDS),
          "end of stream expected within 5 s of the server's death");
      assertNotNull(gone.get(5, TimeUnit.SECONDS));
    } finally {
      child.destroyForcibly();
      child.waitFor(10, TimeUnit.SECONDS);
      Files.deleteIfExists(socket);
      Files.deleteIfExists(dir.resolve("s.sock.lock"));
      Files.deleteIfExists(dir);
    }
  }

  // ------------------------------------------------------------------ close

  @Test
  void closeTwiceIsHarmlessAndLaterCallsFailClearly() throws IOException {
    Loopback.Pair pair = loopback.connect();
    pair.close();
    pair.close();
    pair.client().close();
    assertFalse(pair.client().isOpen());
    assertThrows(ClosedChannelException.class, () -> pair.client().send(bytes("x")));
    assertThrows(ClosedChannelException.class, () -> pair.client().receive());
  }

  @Test
  void closeWakesABlockedReceiver() throws Exception {
    // A receive that was already waiting when close came fails with AsynchronousCloseException; one
    // that started after it, with ClosedChannelException. Nothing signals "now blocked in poll(2)",
    // so the race is run until the waiting case has been seen; every run must end promptly.
    boolean sawBlocked = false;
    for (int attempt = 0; attempt < 100 && !sawBlocked; attempt++) {
      try (Loopback.Pair pair = loopback.connect()) {
        java.util.concurrent.CountDownLatch calling = new java.util.concurrent.CountDownLatch(1);
        Future<?> receiver = executor.submit(() -> {
          calling.countDown();
          return pair.server().receive();
        });
        calling.await();
        pair.server().close();
        Exception e = assertThrows(java.util.concurrent.ExecutionException.class,
            () -> receiver.get(10, TimeUnit.SECONDS));
        assertTrue(e.getCause() instanceof ClosedChannelException, () -> "got " + e.getCause());
        sawBlocked = e.getCause() instanceof AsynchronousCloseException;
      }
    }
    assertTrue(sawBlocked, "close never interrupted a waiting receive in 100 attempts");
  }

  // ------------------------------------------------------------------ resources

  @Test
  void leaksNoFileDescriptors() throws IOException {
    try (Loopback.Pair warm = loopback.connect()) {
      warm.client().send(bytes("warm-up"));
      warm.server().receive();
    }
    java.util.Map<Integer, String> before = FdCount.snapshot();
    for (int i = 0; i < 200; i++) {
      try (Loopback.Pair pair = loopback.connect()) {
        pair.client().send(bytes("n" + i));
        assertEquals("n" + i, text(pair.server().receive()));
        pair.server().send(bytes("r" + i));
        assertEquals("r" + i, text(pair.client().receive()));
      }
    }
    java.util.Map<Integer, String> opened = FdCount.openedSince(before);
    if (!opened.isEmpty()) {
      fail(opened.size() + " descriptor(s) left open over 200 connections: " + opened);
    }
  }

  // ------------------------------------------------------------------ helpers

  /** UTF-8 bytes of {@code s}. */
  protected static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  /** {@code b} decoded as UTF-8, or null. */
  protected static String text(byte[] b) {
    return b == null ? null : new String(b, StandardCharsets.UTF_8);
  }

  /** {@code size} bytes of a pattern that differs for each seed and position. */
  protected static byte[] pattern(int size, int seed) {
    byte[] b = new byte[size];
    for (int i = 0; i < size; i++) {
      b[i] = (byte) (i * 31 + seed * 7 + (i >>> 8));
    }
    return b;
  }
}
