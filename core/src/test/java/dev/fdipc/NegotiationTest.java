package dev.fdipc;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static java.nio.charset.StandardCharsets.UTF_8;
import static java.util.concurrent.TimeUnit.SECONDS;
import static dev.fdipc.LiveServerSupport.echo;
import static dev.fdipc.LiveServerSupport.only;
import static dev.fdipc.LiveServerSupport.openFds;
import static dev.fdipc.LiveServerSupport.readFrame;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.params.provider.Arguments.arguments;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import com.sun.security.auth.module.UnixSystem;
import dev.fdipc.internal.ControlSocket;
import dev.fdipc.internal.Frame;
import dev.fdipc.internal.LibC;
import dev.fdipc.internal.Wire;
import dev.fdipc.negotiation.FailingProvider;
import dev.fdipc.negotiation.TestPipeProvider;
import dev.fdipc.negotiation.UnavailableTestProvider;
import dev.fdipc.spi.Fd;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.SocketException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.newsclub.net.unix.AFUNIXSocket;
import org.newsclub.net.unix.AFUNIXSocketAddress;
import org.newsclub.net.unix.FileDescriptorCast;

/**
 * Negotiation between a real {@link FdipcServer} and {@link FdipcClient} (or raw sockets) on a
 * socket in a temporary directory, with test transports from {@code dev.fdipc.negotiation}: a
 * working pipe-like one under any name, one whose creation fails, and an unavailable one.
 */
class NegotiationTest {
  /** Upper bound for waiting on any single event; tests never wait this long when they pass. */
  private static final long WAIT_SECONDS = 5;

  @TempDir
  Path dir;

  private Path socket;
  private FdipcServer server;
  private final RecordingListener listener = new RecordingListener();
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

  // ---------------------------------------------------------------- 1. creation failure

  @Test
  @Timeout(20)
  void creationFailureOfFirstChoiceFallsBackToNextChoice() throws Exception {
    FailingProvider full = new FailingProvider("full", "no room left");
    TestPipeProvider good = new TestPipeProvider("good");
    TransportRegistry reg = TransportRegistry.of(full, good);
    startServer(reg, b -> { }, LiveServerSupport::echo);

    IpcChannel ch = connect(client(reg).transports("full", "good"));

    assertEquals("good", ch.transport());
    assertEquals(1, full.attempts(), "the server must have tried the client's first choice");
    roundTrip(ch, "after fallback");
    String warning = listener.warnings.poll(WAIT_SECONDS, SECONDS);
    assertNotNull(warning, "the listener got no warning about the failed creation");
    assertTrue(warning.contains("no room left"), warning);
    assertTrue(warning.contains("full"), warning);
  }

  @Test
  @Timeout(20)
  void everyChoiceFailingToBeCreatedIsNoTransportWithCreateFailedRefusals() throws Exception {
    FailingProvider fullA = new FailingProvider("full-a", "no room left");
    FailingProvider fullB = new FailingProvider("full-b", "no room left for b either");
    TransportRegistry reg = TransportRegistry.of(fullA, fullB, new TestPipeProvider("good"));
    startServer(reg, b -> { }, LiveServerSupport::echo);

    NegotiationException e = assertThrows(NegotiationException.class,
        () -> connect(client(reg).transports("full-a", "full-b")));

    assertEquals(ErrorCode.NO_TRANSPORT, e.code());
    assertEquals(2, e.refusals().size(), e.refusals()::toString);
    Refusal a = e.refusals().get(0);
    assertEquals("full-a", a.transport());
    assertEquals(Refusal.Reason.CREATE_FAILED, a.reason());
    assertTrue(a.detail().contains("no room left"), a.detail());
    Refusal b = e.refusals().get(1);
    assertEquals("full-b", b.transport());
    assertEquals(Refusal.Reason.CREATE_FAILED, b.reason());
    assertTrue(b.detail().contains("no room left for b either"), b.detail());
    assertTrue(e.getMessage().contains("full-a: could not be created (no room left)"),
        e.getMessage());
    assertEquals(server.offeredTransports(), e.offered());
  }

  // ---------------------------------------------------------------- 2. refusal reasons

  @Test
  @Timeout(20)
  void eachCandidateIsRefusedWithItsReason() throws Exception {
    TransportRegistry serverReg = TransportRegistry.of(new TestPipeProvider("good"),
        new TestPipeProvider("zeta"), new TestPipeProvider("spare"),
        new UnavailableTestProvider("broken", "needs kernel 9.9"));
    // The client lists only transports it has and can use itself (it refuses others locally).
    TransportRegistry clientReg = TransportRegistry.of(new TestPipeProvider("nosuch"),
        new TestPipeProvider("broken"), new TestPipeProvider("spare"),
        new TestPipeProvider("good"));
    startServer(serverReg, b -> b.transports("zeta", "good"), LiveServerSupport::echo);

    NegotiationException e = assertThrows(NegotiationException.class,
        () -> connect(client(clientReg).transports("nosuch", "broken", "spare")));

    assertEquals(ErrorCode.NO_TRANSPORT, e.code());
    assertEquals(List.of(
        new Refusal("nosuch", Refusal.Reason.UNKNOWN, ""),
        new Refusal("broken", Refusal.Reason.UNAVAILABLE, "needs kernel 9.9"),
        new Refusal("spare", Refusal.Reason.NOT_OFFERED, "")), e.refusals());
    assertEquals(List.of("zeta", "good"), e.offered());
    assertEquals(server.offeredTransports(), e.offered());
    String m = e.getMessage();
    assertTrue(m.contains("nosuch: unknown to this server"), m);
    assertTrue(m.contains("broken: unavailable on this server"), m);
    assertTrue(m.contains("needs kernel 9.9"), m);
    assertTrue(m.contains("spare: not offered by this server"), m);
    assertTrue(m.contains("the server offers zeta, good"), m);
    String refused = listener.refused.poll(WAIT_SECONDS, SECONDS);
    assertNotNull(refused, "the server listener was not told about the refusal");
    assertTrue(refused.contains("NO_TRANSPORT"), refused);
  }

  @Test
  @Timeout(20)
  void clientRefusesLocallyToListATransportItDoesNotHave() throws Exception {
    TransportRegistry reg = TransportRegistry.of(new TestPipeProvider("good"),
        new UnavailableTestProvider("broken", "needs kernel 9.9"));
    startServer(reg, b -> { }, LiveServerSupport::echo);

    IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class,
        () -> connect(client(reg).transports("nosuch")));
    assertTrue(unknown.getMessage().contains("nosuch"), unknown.getMessage());
    IllegalArgumentException unavailable = assertThrows(IllegalArgumentException.class,
        () -> connect(client(reg).transports("broken")));
    assertTrue(unavailable.getMessage().contains("needs kernel 9.9"), unavailable.getMessage());
  }

  // ---------------------------------------------------------------- 3. server's choice

  @Test
  @Timeout(20)
  void emptyClientListGetsTheServersFirstOfferedTransport() throws Exception {
    TestPipeProvider first = new TestPipeProvider("first");
    TestPipeProvider second = new TestPipeProvider("second");
    // Registry order would be "first", "second" (same priority, by name); the server reverses it.
    TransportRegistry reg = TransportRegistry.of(first, second);
    startServer(reg, b -> b.transports("second", "first"), LiveServerSupport::echo);

    IpcChannel ch = connect(client(reg).transports(List.of()));

    assertEquals("second", ch.transport());
    assertEquals(0, first.created(), "the server created a transport it did not choose");
    roundTrip(ch, "server's choice");
  }

  // ---------------------------------------------------------------- 4. max message size

  @Test
  @Timeout(20)
  void clientsSmallerMaxMessageSizeIsAgreed() throws Exception {
    TransportRegistry reg = TransportRegistry.of(new TestPipeProvider("good"));
    CompletableFuture<Integer> serverMax = new CompletableFuture<>();
    CompletableFuture<Throwable> serverOversize = new CompletableFuture<>();
    startServer(reg, b -> b.maxMessageSize(1 << 20), s -> {
      serverMax.complete(s.channel().maxMessageSize());
      try {
        s.channel().send(new byte[4097]);
        serverOversize.complete(null);
      } catch (IOException e) {
        serverOversize.complete(e);
      }
      echo(s);
    });

    IpcChannel ch = connect(client(reg).maxMessageSize(4096));

    assertEquals(4096, ch.maxMessageSize());
    assertEquals(4096, serverMax.get(WAIT_SECONDS, SECONDS));
    assertInstanceOf(MessageTooLargeException.class, serverOversize.get(WAIT_SECONDS, SECONDS),
        "the server's channel let a 4097-byte message through");
    MessageTooLargeException e = assertThrows(MessageTooLargeException.class,
        () -> ch.send(new byte[4097]));
    assertEquals(4097, e.size());
    assertEquals(4096, e.maxMessageSize());
    byte[] biggest = new byte[4096];
    biggest[4095] = 42;
    ch.send(biggest);
    assertArrayEquals(biggest, ch.receive(WAIT_SECONDS, SECONDS));
  }

  @Test
  @Timeout(20)
  void serversSmallerMaxMessageSizeIsAgreed() throws Exception {
    TransportRegistry reg = TransportRegistry.of(new TestPipeProvider("good"));
    CompletableFuture<Integer> serverMax = new CompletableFuture<>();
    startServer(reg, b -> b.maxMessageSize(2048), s -> {
      serverMax.complete(s.channel().maxMessageSize());
      echo(s);
    });

    IpcChannel ch = connect(client(reg));

    assertEquals(2048, ch.maxMessageSize());
    assertEquals(2048, serverMax.get(WAIT_SECONDS, SECONDS));
    assertThrows(MessageTooLargeException.class, () -> ch.send(new byte[2049]));
  }

  // ---------------------------------------------------------------- 5. who the client is

  private record Seen(long clientId, PeerCredentials peer, String transport, FdipcServer server) {}

  @Test
  @Timeout(20)
  void clientIdAndPeerCredentialsReachTheSession() throws Exception {
    TransportRegistry reg = TransportRegistry.of(new TestPipeProvider("good"));
    CompletableFuture<Seen> seen = new CompletableFuture<>();
    startServer(reg, b -> { }, s -> {
      seen.complete(new Seen(s.clientId(), s.peer(), s.transport(), s.server()));
      echo(s);
    });

    connect(client(reg).clientId(4_000_000_000L));

    Seen s = seen.get(WAIT_SECONDS, SECONDS);
    UnixSystem me = new UnixSystem();
    assertEquals(4_000_000_000L, s.clientId());
    assertEquals(ProcessHandle.current().pid(), s.peer().pid());
    assertEquals(me.getUid(), s.peer().uid());
    assertEquals(me.getGid(), s.peer().gid());
    assertEquals("good", s.transport());
    assertSame(server, s.server());
  }

  // ---------------------------------------------------------------- 6. handshake timeout

  @Test
  @Timeout(20)
  void silentClientGetsHandshakeTimeoutThenEndOfStream() throws Exception {
    TransportRegistry reg = TransportRegistry.of(new TestPipeProvider("good"));
    startServer(reg, b -> b.handshakeTimeout(Duration.ofMillis(300)), LiveServerSupport::echo);

    try (AFUNIXSocket raw = rawConnect()) {
      long start = System.nanoTime();
      Frame f = readFrame(raw.getInputStream(), false);
      long millis = (System.nanoTime() - start) / 1_000_000;

      assertNotNull(f, "the server closed without an ERROR frame");
      assertEquals(Frame.ERROR, f.type(), () -> "got " + Frame.typeName(f.type()));
      Wire.Error e = Wire.decodeError(f.body());
      assertEquals(ErrorCode.HANDSHAKE_TIMEOUT, e.code(), e::message);
      assertTrue(millis >= 250, "timed out after " + millis + " ms, before the 300 ms deadline");
      assertEquals(-1, raw.getInputStream().read(), "expected end of stream after the ERROR");
    }
    awaitRefusedSessionEnd();
  }

  @Test
  @Timeout(20)
  void tricklingClientIsCutOffByTheDeadlineNotResetByEachByte() throws Exception {
    TransportRegistry reg = TransportRegistry.of(new TestPipeProvider("good"));
    startServer(reg, b -> b.handshakeTimeout(Duration.ofMillis(300)), LiveServerSupport::echo);
    // A valid HELLO: if every byte reset the timeout, the server would answer it with ACCEPT.
    byte[] frame = Wire.frame(Frame.HELLO, 0,
        Wire.encodeHello(new Wire.Hello(1, 4096, List.of("good"))));
    int bodyLength = frame.length - Frame.HEADER_SIZE; // 18 bytes: 1.8 s at one per 100 ms

    ScheduledExecutorService trickler = Executors.newSingleThreadScheduledExecutor();
    try (AFUNIXSocket raw = rawConnect()) {
      OutputStream out = raw.getOutputStream();
      AtomicInteger sent = new AtomicInteger();
      long start = System.nanoTime();
      out.write(frame, 0, Frame.HEADER_SIZE);
      // The trickled bytes go out with write(2): junixsocket closes its socket when a write fails
      // with EPIPE (the server hung up), which would fail the read of the ERROR below.
      int fd = FileDescriptorCast.using(raw.getFileDescriptor()).as(Integer.class);
      Memory oneByte = new Memory(1);
      AtomicBoolean hungUp = new AtomicBoolean();
      trickler.scheduleAtFixedRate(() -> {
        int i = sent.get();
        if (i >= bodyLength || hungUp.get()) {
          return;
        }
        oneByte.setByte(0, frame[Frame.HEADER_SIZE + i]);
        if (LibC.write(fd, Pointer.nativeValue(oneByte), 1) == 1) {
          sent.incrementAndGet();
        } else {
          hungUp.set(true); // the server hung up: stop trickling
        }
      }, 100, 100, TimeUnit.MILLISECONDS);

      Frame f = readFrame(raw.getInputStream(), false);
      long millis = (System.nanoTime() - start) / 1_000_000;
      int sentBeforeAnswer = sent.get();

      assertNotNull(f, "the server closed without an ERROR frame");
      assertEquals(Frame.ERROR, f.type(), () -> "got " + Frame.typeName(f.type())
          + " after " + millis + " ms: the deadline was reset by the trickled bytes");
      assertEquals(ErrorCode.HANDSHAKE_TIMEOUT, Wire.decodeError(f.body()).code());
      assertTrue(sentBeforeAnswer < bodyLength,
          "the whole HELLO was sent before the server gave up (" + millis + " ms)");
      assertTrue(millis < 1500, "the server gave up only after " + millis + " ms");
      assertEndOfStream(raw.getInputStream(), true);
    } finally {
      trickler.shutdownNow();
    }
    awaitRefusedSessionEnd();
  }

  // ---------------------------------------------------------------- 7. hostile raw clients

  static Stream<Arguments> hostileClients() {
    byte[] hello = Wire.encodeHello(new Wire.Hello(1, 4096, List.of("good")));
    byte[] badMagic = hello.clone();
    System.arraycopy("XXXX".getBytes(US_ASCII), 0, badMagic, 0, 4);
    return Stream.of(
        arguments("garbage bytes",
            "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".getBytes(US_ASCII),
            ErrorCode.MALFORMED_FRAME),
        arguments("version 2", concat(header(8 + hello.length, 2, Frame.HELLO, 0), hello),
            ErrorCode.UNSUPPORTED_VERSION),
        arguments("length 7", header(7, 1, Frame.HELLO, 0), ErrorCode.MALFORMED_FRAME),
        arguments("length 2^31-1", header(Integer.MAX_VALUE, 1, Frame.HELLO, 0),
            ErrorCode.MALFORMED_FRAME),
        arguments("HELLO with bad magic", Wire.frame(Frame.HELLO, 0, badMagic),
            ErrorCode.MALFORMED_FRAME),
        arguments("ACCEPT sent by the client", Wire.frame(Frame.ACCEPT, 0,
            Wire.encodeAccept(new Wire.Accept("good", 4096, Map.of()))),
            ErrorCode.UNEXPECTED_FRAME),
        arguments("HELLO with fd_count=1", Wire.frame(Frame.HELLO, 1, hello),
            ErrorCode.FDS_REFUSED));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("hostileClients")
  @Timeout(20)
  void hostileClientIsRefusedAndTheServerKeepsServing(String what, byte[] bytes,
      ErrorCode expected) throws Exception {
    TransportRegistry reg = TransportRegistry.of(new TestPipeProvider("good"));
    startServer(reg, b -> { }, LiveServerSupport::echo);

    try (AFUNIXSocket raw = rawConnect()) {
      raw.getOutputStream().write(bytes);
      Frame f = readFrame(raw.getInputStream(), false);
      assertNotNull(f, "the server closed without an ERROR frame");
      assertEquals(Frame.ERROR, f.type(), () -> "got " + Frame.typeName(f.type()));
      Wire.Error e = Wire.decodeError(f.body());
      assertEquals(expected, e.code(), e::message);
      assertEquals(server.offeredTransports(), e.offered());
      // The server may not have read all we sent (a bad header): then Linux reports a reset.
      assertEndOfStream(raw.getInputStream(), true);
    }
    String refused = listener.refused.poll(WAIT_SECONDS, SECONDS);
    assertNotNull(refused, "the listener was not told about the refusal");
    assertTrue(refused.contains(expected.name()), refused);
    awaitRefusedSessionEnd();
    assertEquals(0, server.sessionCount());

    IpcChannel ch = connect(client(reg));
    roundTrip(ch, "still serving after " + what);
    ch.close();
    assertNotNull(listener.ended.poll(WAIT_SECONDS, SECONDS), "the normal session did not end");
    assertEquals(0, server.sessionCount());
  }

  // ---------------------------------------------------------------- 8. HELLO after handshake

  @Test
  @Timeout(20)
  void secondHelloAfterTheHandshakeEndsTheSession() throws Exception {
    TransportRegistry reg = TransportRegistry.of(new TestPipeProvider("good"));
    CompletableFuture<Optional<byte[]>> serverReceived = new CompletableFuture<>();
    startServer(reg, b -> { }, s -> {
      try {
        serverReceived.complete(Optional.ofNullable(s.channel().receive()));
      } catch (IOException e) {
        serverReceived.completeExceptionally(e);
      }
    });
    byte[] hello = Wire.encodeHello(new Wire.Hello(7, 4096, List.of("good")));

    int control = ControlSocket.connect(socket);
    toClose.add(() -> LibC.close(control));
    ControlSocket.write(control, Wire.frame(Frame.HELLO, 0, hello), List.of(),
        System.nanoTime() + SECONDS.toNanos(WAIT_SECONDS));
    ControlSocket.Received accepted = ControlSocket.read(control, true,
        System.nanoTime() + SECONDS.toNanos(WAIT_SECONDS));
    try {
      assertNotNull(accepted, "the server closed instead of answering the HELLO");
      assertEquals(Frame.ACCEPT, accepted.frame().type());
      assertEquals(2, accepted.fds().size());
      assertFalse(serverReceived.isDone(), "the server's receive returned before the second HELLO");

      // the client keeps its pipe ends open
      ControlSocket.write(control, Wire.frame(Frame.HELLO, 0, hello), List.of(),
          System.nanoTime() + SECONDS.toNanos(WAIT_SECONDS));

      Optional<byte[]> got = serverReceived.get(WAIT_SECONDS, SECONDS);
      assertTrue(got.isEmpty(), "the server's receive should report end of stream");
      String refused = listener.refused.poll(WAIT_SECONDS, SECONDS);
      assertNotNull(refused, "the listener was not told about the second HELLO");
      assertTrue(refused.contains("HELLO"), refused);
      ControlSocket.Received error = ControlSocket.read(control, false,
          System.nanoTime() + SECONDS.toNanos(WAIT_SECONDS));
      assertNotNull(error, "no ERROR frame for the second HELLO");
      assertEquals(Frame.ERROR, error.frame().type());
      assertEquals(ErrorCode.UNEXPECTED_FRAME, Wire.decodeError(error.frame().body()).code());
      assertNotNull(listener.ended.poll(WAIT_SECONDS, SECONDS), "the session did not end");
      assertEquals(0, server.sessionCount());
    } finally {
      if (accepted != null) {
        Fd.closeAll(accepted.fds());
      }
    }
  }

  // ---------------------------------------------------------------- 9. shutdown

  @Test
  @Timeout(30)
  void shutdownSaysGoodbyeToEveryClientAndRemovesTheSocket() throws Exception {
    TransportRegistry reg = TransportRegistry.of(new TestPipeProvider("good"));
    startServer(reg, b -> { }, LiveServerSupport::echo);
    CompletableFuture<Boolean> gone1 = new CompletableFuture<>();
    CompletableFuture<Boolean> gone2 = new CompletableFuture<>();
    CompletableFuture<String> message1 = new CompletableFuture<>();
    IpcChannel c1 = connect(client(reg).clientId(1).onServerGone((goodbye, message) -> {
      message1.complete(message);
      gone1.complete(goodbye);
    }));
    IpcChannel c2 = connect(client(reg).clientId(2)
        .onServerGone((goodbye, message) -> gone2.complete(goodbye)));
    roundTrip(c1, "one");
    roundTrip(c2, "two");
    assertEquals(2, server.sessionCount());
    assertTrue(Files.exists(socket, LinkOption.NOFOLLOW_LINKS));

    server.close();

    assertTrue(gone1.get(WAIT_SECONDS, SECONDS), "client 1 was not told goodbye");
    assertTrue(gone2.get(WAIT_SECONDS, SECONDS), "client 2 was not told goodbye");
    assertEquals("server is shutting down", message1.get(WAIT_SECONDS, SECONDS));
    assertNull(c1.receive(WAIT_SECONDS, SECONDS));
    assertNull(c2.receive(WAIT_SECONDS, SECONDS));
    assertFalse(Files.exists(socket, LinkOption.NOFOLLOW_LINKS), "the socket file is still there");
    assertThrows(ConnectException.class, () -> connect(client(reg)));
    assertEquals(0, server.sessionCount());
    assertNotNull(listener.ended.poll(WAIT_SECONDS, SECONDS));
    assertNotNull(listener.ended.poll(WAIT_SECONDS, SECONDS));
  }

  // ---------------------------------------------------------------- 10. no fd leak

  @Test
  @Timeout(60)
  void connectCloseCyclesLeakNoDescriptors() throws Exception {
    TransportRegistry reg = TransportRegistry.of(new TestPipeProvider("good"));
    startServer(reg, b -> { }, LiveServerSupport::echo);
    for (int i = 0; i < 20; i++) {
      cycle(reg, i);
    }
    Map<String, String> before = openFds();
    for (int i = 0; i < 100; i++) {
      cycle(reg, i);
    }
    Map<String, String> after = openFds();
    // Compared as sets (number -> target, with socket and pipe inodes): garbage left by earlier
    // tests may be closed by the GC meanwhile, which must not hide or fake a leak here.
    assertEquals(Map.of(), only(after, before),
        () -> "descriptors opened by 100 connect/close cycles and still open; before "
            + before.size() + ", after " + after.size());
    assertEquals(0, server.sessionCount());
  }

  @Test
  @Timeout(20)
  void failedConnectLeavesNoDescriptorOpen() throws Exception {
    TransportRegistry reg = TransportRegistry.of(new TestPipeProvider("good"));
    assertThrows(ConnectException.class, () -> client(reg).connect()); // warm-up
    Map<String, String> before = openFds();
    for (int i = 0; i < 10; i++) {
      assertThrows(ConnectException.class, () -> client(reg).connect()); // no server at all
    }
    Map<String, String> after = openFds();
    assertEquals(Map.of(), only(after, before), "descriptors left open by 10 failed connects");
  }

  @Test
  @Timeout(20)
  void replacingAStaleSocketLeavesNoDescriptorOpen() throws Exception {
    TransportRegistry reg = TransportRegistry.of(new TestPipeProvider("good"));
    Map<String, String> before = null;
    for (int i = 0; i < 6; i++) { // the first round is a warm-up
      try (org.newsclub.net.unix.AFUNIXServerSocket crashed =
          org.newsclub.net.unix.AFUNIXServerSocket.newInstance()) {
        crashed.setDeleteOnClose(false); // leaves a socket file nobody listens on
        crashed.bind(AFUNIXSocketAddress.of(socket));
      }
      startServer(reg, b -> { }, LiveServerSupport::echo);
      server.close();
      server = null;
      if (i == 0) {
        before = openFds();
      }
    }
    Map<String, String> after = openFds();
    assertEquals(Map.of(), only(after, before),
        "descriptors left open by 5 servers that replaced a stale socket");
  }

  private void cycle(TransportRegistry reg, int i) throws Exception {
    try (IpcChannel ch = client(reg).clientId(i).connect()) {
      roundTrip(ch, "cycle " + i);
    }
    ClientSession ended = listener.ended.poll(WAIT_SECONDS, SECONDS);
    assertNotNull(ended, "session " + i + " did not end");
    assertEquals(i, ended.clientId());
  }

  // ---------------------------------------------------------------- helpers

  /** Records what the server reports, and on which thread refusals were reported. */
  private static final class RecordingListener implements ServerListener {
    final BlockingQueue<String> refused = new LinkedBlockingQueue<>();
    final BlockingQueue<Thread> refusedThreads = new LinkedBlockingQueue<>();
    final BlockingQueue<String> warnings = new LinkedBlockingQueue<>();
    final BlockingQueue<ClientSession> ended = new LinkedBlockingQueue<>();

    @Override
    public void refused(PeerCredentials peer, String reason) {
      refusedThreads.add(Thread.currentThread()); // the session's own thread
      refused.add(reason);
    }

    @Override
    public void warning(String message, Throwable cause) {
      warnings.add(message);
    }

    @Override
    public void sessionEnded(ClientSession session) {
      ended.add(session);
    }
  }

  private void startServer(TransportRegistry reg, Consumer<FdipcServer.Builder> config,
      SessionHandler handler) throws IOException {
    FdipcServer.Builder b = FdipcServer.builder().socket(socket).registry(reg).handler(handler)
        .listener(listener).shutdownTimeout(Duration.ofSeconds(2));
    config.accept(b);
    server = b.start();
  }

  private FdipcClient.Builder client(TransportRegistry reg) {
    return FdipcClient.builder().socket(socket).registry(reg)
        .handshakeTimeout(Duration.ofSeconds(WAIT_SECONDS));
  }

  private IpcChannel connect(FdipcClient.Builder b) throws IOException {
    IpcChannel ch = b.connect();
    toClose.add(ch);
    return ch;
  }

  private static void roundTrip(IpcChannel ch, String text) throws IOException {
    ch.send(text.getBytes(UTF_8));
    byte[] back = ch.receive(WAIT_SECONDS, SECONDS);
    assertNotNull(back, "end of stream instead of the echo of '" + text + "'");
    assertEquals(text, new String(back, UTF_8));
  }

  /**
   * Waits for the last refusal to be reported and for the server to have released the refused
   * connection (refused sessions get no {@code sessionEnded}). The loop releases it in the same
   * turn as it reports the refusal, so the wait is short; there is no event to wait on.
   */
  private void awaitRefusedSessionEnd() throws InterruptedException {
    Thread t = listener.refusedThreads.poll(WAIT_SECONDS, SECONDS);
    assertNotNull(t, "no refusal was reported");
    long deadline = System.nanoTime() + SECONDS.toNanos(WAIT_SECONDS);
    while (server.sessionCount() != 0 && System.nanoTime() - deadline < 0) {
      Thread.yield();
    }
    assertEquals(0, server.sessionCount(), "the refused connection was not released");
  }

  private AFUNIXSocket rawConnect() throws IOException {
    AFUNIXSocket s = AFUNIXSocket.connectTo(AFUNIXSocketAddress.of(socket));
    s.setSoTimeout((int) SECONDS.toMillis(WAIT_SECONDS * 2));
    toClose.add(s);
    return s;
  }

  private static void assertEndOfStream(InputStream in, boolean resetAllowed) throws IOException {
    try {
      assertEquals(-1, in.read(), "expected end of stream after the ERROR frame");
    } catch (SocketException e) {
      if (!resetAllowed) {
        throw e;
      }
      // ECONNRESET: the server closed with bytes of ours unread (PROTOCOL.md 3.4)
    }
  }

  private static byte[] header(int length, int version, int type, int fdCount) {
    return ByteBuffer.allocate(Frame.HEADER_SIZE).putInt(length).put((byte) version)
        .put((byte) type).put((byte) fdCount).put((byte) 0).array();
  }

  private static byte[] concat(byte[] a, byte[] b) {
    byte[] r = new byte[a.length + b.length];
    System.arraycopy(a, 0, r, 0, a.length);
    System.arraycopy(b, 0, r, a.length, b.length);
    return r;
  }
}
