package dev.fdipc;

import static java.nio.charset.StandardCharsets.UTF_8;
import static java.util.concurrent.TimeUnit.SECONDS;
import static dev.fdipc.LiveServerSupport.only;
import static dev.fdipc.LiveServerSupport.openFds;
import static dev.fdipc.LiveServerSupport.readFrame;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.sun.security.auth.module.UnixSystem;
import dev.fdipc.internal.Frame;
import dev.fdipc.internal.Wire;
import dev.fdipc.negotiation.TestPipeProvider;
import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.newsclub.net.unix.AFUNIXSocket;
import org.newsclub.net.unix.AFUNIXSocketAddress;

/**
 * Admission on a real {@link FdipcServer}: the allow lists (from SO_PEERCRED), the cap per uid and
 * the cap on connections still in their handshake. Peers are real clients and raw sockets of this
 * process, so they all have this process's uid and gid; refusing another uid while this one
 * connects is in the e2e {@code AccessControlTest}.
 */
class AdmissionTest {
  private static final long WAIT_SECONDS = 10;
  private static final long UID = new UnixSystem().getUid();
  private static final long GID = new UnixSystem().getGid();

  @TempDir
  Path dir;

  private Path socket;
  private FdipcServer server;
  private final TestPipeProvider provider = new TestPipeProvider("good");
  private final TransportRegistry registry = TransportRegistry.of(provider);
  private final BlockingQueue<String> refused = new LinkedBlockingQueue<>();
  private final BlockingQueue<ClientSession> ended = new LinkedBlockingQueue<>();
  private final List<Closeable> toClose = new ArrayList<>();

  @BeforeEach
  void setUp() {
    socket = dir.resolve("s.sock");
  }

  @AfterEach
  void tearDown() {
    for (Closeable c : toClose) {
      try {
        c.close();
      } catch (IOException ignored) {
        // best effort
      }
    }
    if (server != null) {
      server.close();
    }
  }

  // ---------------------------------------------------------------- allow lists

  @Test
  @Timeout(30)
  void peerMatchingNeitherListIsRefusedBeforeAnyKernelObjectIsCreated() throws Exception {
    startServer(b -> b.allowUids(UID + 1, UID + 2).allowGids(GID + 1));
    assertDenied(); // warm-up: classes loaded, buffers allocated
    Map<String, String> before = openFds();

    for (int i = 0; i < 10; i++) {
      NegotiationException e = assertDenied();
      assertTrue(e.getMessage().contains("uid " + UID + " (primary gid " + GID + ")"),
          e::getMessage);
      assertTrue(e.getMessage().contains("--allow-uid=" + UID), e::getMessage);
      assertTrue(e.getMessage().contains("--allow-gid=" + GID), e::getMessage);
    }

    assertEquals(0, provider.created(), "a refused peer made the provider create a transport");
    awaitSameFds(before, "descriptors left open by 10 refused peers");
    assertEquals(0, server.sessionCount());
    String reported = refused.poll(WAIT_SECONDS, SECONDS);
    assertNotNull(reported, "the refusal was not reported to the listener");
    assertTrue(reported.contains("ACCESS_DENIED"), reported);
  }

  @Test
  @Timeout(30)
  void refusedRawPeerGetsAccessDeniedWithoutSendingAnything() throws Exception {
    startServer(b -> b.allowUids(UID + 1));
    try (AFUNIXSocket raw = rawConnect()) {
      Frame f = readFrame(raw.getInputStream(), true);
      assertNotNull(f, "the server closed without an ERROR frame");
      assertEquals(Frame.ERROR, f.type());
      assertEquals(ErrorCode.ACCESS_DENIED, Wire.decodeError(f.body()).code());
      assertEquals(-1, raw.getInputStream().read(), "expected end of stream after the ERROR");
    }
    assertEquals(0, provider.created());
  }

  @Test
  @Timeout(30)
  void peerWithAnAllowedUidOrPrimaryGidIsAdmitted() throws Exception {
    startServer(b -> b.allowUids(UID));
    roundTrip(connect(client()), "by uid");
    server.close();

    startServer(b -> b.allowUids(UID + 1).allowGids(GID));
    roundTrip(connect(client()), "by gid");
    server.close();

    startServer(b -> b.allowGids(List.of(GID + 1, GID)));
    roundTrip(connect(client()), "by gid alone");
  }

  @Test
  void invalidIdsAndCapsAreRejectedByTheBuilder() {
    FdipcServer.Builder b = FdipcServer.builder();
    assertThrows(IllegalArgumentException.class, () -> b.allowUids(-1));
    assertThrows(IllegalArgumentException.class, () -> b.allowGids(1L << 32));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> b.maxConnectionsPerUid(0));
    assertTrue(e.getMessage().contains("maxConnectionsPerUid"), e::getMessage);
    assertThrows(IllegalArgumentException.class, () -> b.maxPendingHandshakes(0));
  }

  // ---------------------------------------------------------------- connections per uid

  @Test
  @Timeout(30)
  void uidOverItsCapIsRefusedWithBusyUntilOneOfItsConnectionsCloses() throws Exception {
    startServer(b -> b.maxConnectionsPerUid(3));
    List<IpcChannel> open = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      open.add(connect(client().clientId(i)));
    }

    NegotiationException e = assertThrows(NegotiationException.class,
        () -> connect(client().clientId(3)));
    assertEquals(ErrorCode.BUSY, e.code(), e::getMessage);
    assertTrue(e.getMessage().contains("uid " + UID + " already has 3 connections"),
        e::getMessage);
    assertTrue(e.getMessage().contains("--max-connections-per-uid (now 3)"), e::getMessage);
    assertEquals(3, provider.created());

    open.get(0).close();
    assertNotNull(ended.poll(WAIT_SECONDS, SECONDS), "the closed session did not end");
    roundTrip(connect(client().clientId(4)), "room again");
    for (IpcChannel ch : open.subList(1, 3)) {
      roundTrip(ch, "still served");
    }
  }

  @Test
  @Timeout(30)
  void connectionsStillInTheirHandshakeCountAgainstTheUidCap() throws Exception {
    startServer(b -> b.maxConnectionsPerUid(2).handshakeTimeout(Duration.ofSeconds(30)));
    AFUNIXSocket silent = rawConnect(); // says nothing: handshaking until the timeout
    connect(client().clientId(1));

    NegotiationException e = assertThrows(NegotiationException.class,
        () -> connect(client().clientId(2)));
    assertEquals(ErrorCode.BUSY, e.code(), e::getMessage);

    silent.close();
    awaitRoom(() -> connect(client().clientId(3)));
  }

  // ---------------------------------------------------------------- pending handshakes

  @Test
  @Timeout(30)
  void overThePendingHandshakeCapANewConnectionIsRefusedWithBusy() throws Exception {
    startServer(b -> b.maxPendingHandshakes(4).handshakeTimeout(Duration.ofSeconds(30)));
    int threadsBefore = sessionThreads();
    List<AFUNIXSocket> silent = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      silent.add(rawConnect());
    }
    // The accept loop takes connections in order: these come after the four silent ones.
    for (int i = 0; i < 20; i++) {
      try (AFUNIXSocket late = rawConnect()) {
        Frame f = readFrame(late.getInputStream(), true);
        assertNotNull(f, "connection " + i + " over the cap was closed without an ERROR");
        Wire.Error err = Wire.decodeError(f.body());
        assertEquals(ErrorCode.BUSY, err.code(), err.message());
        assertTrue(err.message().contains("4 connections are already waiting to complete their "
            + "handshake"), err.message());
        assertTrue(err.message().contains("--max-pending-handshakes (now 4)"), err.message());
      }
    }
    NegotiationException e = assertThrows(NegotiationException.class,
        () -> connect(client().clientId(9)));
    assertEquals(ErrorCode.BUSY, e.code(), e::getMessage);
    assertTrue(sessionThreads() - threadsBefore <= 4, "silent peers hold "
        + (sessionThreads() - threadsBefore) + " session threads; the cap is 4");

    silent.get(0).close(); // one handshake ends (EOF): room for one real client
    awaitRoom(() -> roundTrip(connect(client().clientId(10)), "after a silent one left"));
    assertEquals(1, provider.created(), "only the admitted client got a transport");
  }

  @Test
  @Timeout(60)
  void silentClientsAreDroppedAtTheHandshakeTimeoutWhileRealClientsAreServed() throws Exception {
    startServer(b -> b.handshakeTimeout(Duration.ofSeconds(2)));
    for (int i = 0; i < 3; i++) { // warm-up: the fds a first session allocates for good
      try (IpcChannel ch = client().clientId(100 + i).connect()) {
        roundTrip(ch, "warm-up");
      }
      assertNotNull(ended.poll(WAIT_SECONDS, SECONDS));
    }
    Map<String, String> before = openFds();
    long start = System.nanoTime();
    List<AFUNIXSocket> silent = new ArrayList<>();
    for (int i = 0; i < 64; i++) {
      AFUNIXSocket s = AFUNIXSocket.newInstance();
      s.connect(AFUNIXSocketAddress.of(socket));
      s.setSoTimeout((int) SECONDS.toMillis(WAIT_SECONDS));
      silent.add(s);
    }

    for (int i = 0; i < 3; i++) {
      try (IpcChannel ch = client().clientId(i).connect()) {
        roundTrip(ch, "served while 64 peers are silent");
      }
    }
    assertEquals(0, silent.get(63).getInputStream().available(),
        "the real clients were served only after the silent ones were dropped");

    for (AFUNIXSocket s : silent) {
      Frame f = readFrame(s.getInputStream(), true);
      long millis = (System.nanoTime() - start) / 1_000_000;
      assertNotNull(f, "a silent peer was closed without an ERROR");
      Wire.Error err = Wire.decodeError(f.body());
      assertEquals(ErrorCode.HANDSHAKE_TIMEOUT, err.code(), err.message());
      assertTrue(millis >= 1900, "dropped after " + millis + " ms, before the 2 s timeout");
      assertEquals(-1, s.getInputStream().read(), "expected end of stream after the ERROR");
      s.close();
    }
    for (int i = 0; i < 3; i++) {
      assertNotNull(ended.poll(WAIT_SECONDS, SECONDS));
    }
    awaitSameFds(before, "descriptors left open by 64 silent peers and 3 real clients");
    assertEquals(3 + 3, provider.created(), "a silent peer got a transport");
  }

  @Test
  @Timeout(30)
  void theDefaultHandshakeTimeoutIsFiveSeconds() throws Exception {
    assertEquals(Duration.ofSeconds(5), FdipcServer.DEFAULT_HANDSHAKE_TIMEOUT);
    startServer(b -> { });
    long start = System.nanoTime();
    try (AFUNIXSocket raw = rawConnect()) {
      Frame f = readFrame(raw.getInputStream(), true);
      long millis = (System.nanoTime() - start) / 1_000_000;
      assertNotNull(f);
      Wire.Error err = Wire.decodeError(f.body());
      assertEquals(ErrorCode.HANDSHAKE_TIMEOUT, err.code(), err.message());
      assertEquals("no HELLO within 5000 ms", err.message());
      assertTrue(millis >= 4900, "dropped after " + millis + " ms");
    }
  }

  // ---------------------------------------------------------------- helpers

  private NegotiationException assertDenied() {
    NegotiationException e = assertThrows(NegotiationException.class,
        () -> connect(client()));
    assertEquals(ErrorCode.ACCESS_DENIED, e.code(), e::getMessage);
    return e;
  }

  private interface Attempt {
    void run() throws IOException;
  }

  /**
   * Retries {@code attempt} while the server still answers BUSY: the server frees a place when
   * it sees the peer leave, a moment after the test closed it.
   */
  private static void awaitRoom(Attempt attempt) throws Exception {
    long deadline = System.nanoTime() + SECONDS.toNanos(WAIT_SECONDS);
    while (true) {
      try {
        attempt.run();
        return;
      } catch (NegotiationException e) {
        if (e.code() != ErrorCode.BUSY || System.nanoTime() > deadline) {
          throw e;
        }
        Thread.sleep(20); // no signal for "the server has seen the close"
      }
    }
  }

  private void startServer(Consumer<FdipcServer.Builder> config) throws IOException {
    FdipcServer.Builder b = FdipcServer.builder().socket(socket).registry(registry)
        .handler(LiveServerSupport::echo).shutdownTimeout(Duration.ofSeconds(2))
        .listener(new ServerListener() {
          @Override
          public void refused(PeerCredentials peer, String reason) {
            refused.add(reason);
          }

          @Override
          public void sessionEnded(ClientSession session) {
            ended.add(session);
          }
        });
    config.accept(b);
    server = b.start();
  }

  private FdipcClient.Builder client() {
    return FdipcClient.builder().socket(socket).registry(registry)
        .handshakeTimeout(Duration.ofSeconds(WAIT_SECONDS));
  }

  private IpcChannel connect(FdipcClient.Builder b) throws IOException {
    IpcChannel ch = b.connect();
    toClose.add(ch);
    return ch;
  }

  private AFUNIXSocket rawConnect() throws IOException {
    AFUNIXSocket s = AFUNIXSocket.newInstance();
    toClose.add(s);
    s.connect(AFUNIXSocketAddress.of(socket));
    s.setSoTimeout((int) SECONDS.toMillis(WAIT_SECONDS));
    return s;
  }

  private static void roundTrip(IpcChannel ch, String text) throws IOException {
    ch.send(text.getBytes(UTF_8));
    byte[] back = ch.receive(WAIT_SECONDS, SECONDS);
    assertNotNull(back, "end of stream instead of the echo of '" + text + "'");
    assertEquals(text, new String(back, UTF_8));
  }

  /** Session threads of the server (one per connection; control connections share one watcher). */
  private static int sessionThreads() {
    return (int) Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.getName().startsWith("fdipc-session-"))
        .count();
  }

  /**
   * Waits until every descriptor opened since {@code before} is closed again: the server closes a
   * refused connection a moment after the client has read the refusal.
   */
  private static void awaitSameFds(Map<String, String> before, String what) throws Exception {
    long deadline = System.nanoTime() + SECONDS.toNanos(WAIT_SECONDS);
    Map<String, String> extra;
    while (!(extra = only(openFds(), before)).isEmpty()) {
      if (System.nanoTime() > deadline) {
        fail(what + ": " + extra);
      }
      Thread.sleep(20); // no signal for "the server closed its end"
    }
  }

}
