package dev.fdipc;

import static java.nio.charset.StandardCharsets.UTF_8;
import static java.util.concurrent.TimeUnit.SECONDS;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.fdipc.internal.Frame;
import dev.fdipc.internal.Wire;
import dev.fdipc.negotiation.TestPipeProvider;
import dev.fdipc.spi.Fd;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.newsclub.net.unix.AFUNIXSocket;
import org.newsclub.net.unix.AFUNIXSocketAddress;

/**
 * Bad input from raw sockets against a live server (PROTOCOL.md 3, 4, 8.1). Each case checks that
 * the server says what was wrong (an ERROR frame where the protocol allows one, else a reason
 * given to its listener), drops that client, keeps serving a client connected before it, and
 * ends with as many open descriptors as it started with.
 */
@Timeout(60)
class HostileInputTest {
  private static final long WAIT_SECONDS = 5;

  @TempDir
  Path dir;

  private Path socket;
  private FdipcServer server;
  private IpcChannel bystander;
  private int baseline;
  private final BlockingQueue<String> logged = new LinkedBlockingQueue<>();

  @BeforeEach
  void setUp() throws Exception {
    socket = dir.resolve("s.sock");
    TransportRegistry reg = TransportRegistry.of(new TestPipeProvider("pipe"));
    server = FdipcServer.builder().socket(socket).registry(reg)
        .shutdownTimeout(Duration.ofSeconds(2))
        .listener(new ServerListener() {
          @Override
          public void refused(PeerCredentials peer, String reason) {
            logged.add(reason);
          }

          @Override
          public void warning(String message, Throwable cause) {
            logged.add(message);
          }
        })
        .handler(s -> {
          byte[] m;
          while ((m = s.channel().receive()) != null) {
            s.channel().send(m);
          }
        })
        .start();
    bystander = FdipcClient.builder().socket(socket).registry(reg).clientId(1)
        .transports("pipe").connect();
    // Warm up every path once (classes, lazily opened jars) before taking the baseline.
    baseline = -1;
    secondHelloIsUnexpectedFrame();
    byte[] warm = "warm up".getBytes(UTF_8); // a channel's wake-up eventfd comes with its first wait
    bystander.send(warm);
    assertArrayEquals(warm, bystander.receive(WAIT_SECONDS, SECONDS));
    logged.clear();
    baseline = settledFdCount(-1);
  }

  @AfterEach
  void tearDown() throws IOException {
    if (bystander != null) {
      bystander.close();
    }
    if (server != null) {
      server.close();
    }
  }

  // ------------------------------------------------------------------ truncated frames

  @Test
  void helloCutAtEveryBytePositionThenEofIsLoggedAndDropped() throws Exception {
    byte[] hello = hello(9, "pipe");
    for (int cut = 0; cut < hello.length; cut++) {
      try (AFUNIXSocket s = connect()) {
        s.getOutputStream().write(hello, 0, cut);
        dev.fdipc.internal.HalfClose.output(s);
        assertNull(readFrame(s.getInputStream()), "cut at " + cut + ": the server answered");
      }
      if (cut > 0) {
        String why = logged.poll(WAIT_SECONDS, SECONDS);
        assertNotNull(why, "cut at " + cut + ": no reason logged");
        assertTrue(why.contains("connection closed during the handshake"), why);
      }
      assertServerUnharmed("HELLO cut at byte " + cut);
    }
    assertNull(logged.poll(), "a connection closed before its first byte is not worth a line");
  }

  // ------------------------------------------------------------------ bad header fields

  @ParameterizedTest
  @ValueSource(longs = {0, 1, 7, 65537, 0x7fffffffL, 0x80000000L, 0xffffffffL})
  void lengthOutOfRangeIsMalformedFrameBeforeAnyBodyIsRead(long length) throws Exception {
    // Only the header is sent: an answer proves the server did not wait for (or allocate) a body.
    byte[] header = header((int) length, 1, Frame.HELLO, 0);
    Wire.Error e = expectError(header, ErrorCode.MALFORMED_FRAME);
    assertTrue(e.message().contains(Long.toString(length)), e.message());
    assertServerUnharmed("length " + length);
  }

  @Test
  void unknownVersionIsUnsupportedVersion() throws Exception {
    byte[] frame = hello(9, "pipe");
    frame[4] = 2;
    expectError(frame, ErrorCode.UNSUPPORTED_VERSION);
    assertServerUnharmed("version 2");
  }

  @ParameterizedTest
  @ValueSource(ints = {0, 5, 9, 255})
  void unknownMessageTypeIsUnexpectedFrame(int type) throws Exception {
    byte[] frame = hello(9, "pipe");
    frame[5] = (byte) type;
    expectError(frame, ErrorCode.UNEXPECTED_FRAME);
    assertServerUnharmed("type " + type);
  }

  @Test
  void firstFrameThatIsNotHelloIsUnexpectedFrame() throws Exception {
    byte[] frame = hello(9, "pipe");
    frame[5] = Frame.GOODBYE;
    Wire.Error e = expectError(frame, ErrorCode.UNEXPECTED_FRAME);
    assertTrue(e.message().contains("expected HELLO"), e.message());
    assertServerUnharmed("GOODBYE first");
  }

  @Test
  void unknownTransportIsNoTransportWithUnknownRefusal() throws Exception {
    Wire.Error e = expectError(hello(9, "nosuch"), ErrorCode.NO_TRANSPORT);
    assertEquals(List.of(new Refusal("nosuch", Refusal.Reason.UNKNOWN, "")), e.refusals());
    assertEquals(List.of("pipe"), e.offered());
    assertServerUnharmed("unknown transport");
  }

  // ------------------------------------------------------------------ garbage

  @Test
  void garbageInsteadOfHelloIsMalformedFrame() throws Exception {
    byte[] garbage = garbage(1024);
    garbage[0] = (byte) 0xde; // a length of ~3.7 GB: rejected from the header alone
    expectError(garbage, ErrorCode.MALFORMED_FRAME);
    assertServerUnharmed("garbage first");
  }

  @Test
  void garbageOnTheControlConnectionAfterTheHandshakeIsLoggedAndDropped() throws Exception {
    try (AFUNIXSocket s = connectKeepingFds()) {
      s.getOutputStream().write(hello(9, "pipe"));
      assertEquals(Frame.ACCEPT, readFrame(s.getInputStream()).type());
      byte[] garbage = garbage(1024);
      garbage[0] = (byte) 0xde;
      s.getOutputStream().write(garbage);
      assertNull(readFrame(s.getInputStream()), "the server must close without a frame");
    }
    String why = logged.poll(WAIT_SECONDS, SECONDS);
    assertNotNull(why, "no reason logged");
    assertTrue(why.contains("client 9 sent a malformed frame after the handshake"), why);
    assertServerUnharmed("garbage after the handshake");
  }

  @Test
  void garbageInTheMiddleOfTheDataStreamFailsOnlyThatSession() throws Exception {
    try (AFUNIXSocket s = connect()) {
      s.setAncillaryReceiveBufferSize(256);
      s.getOutputStream().write(hello(9, "pipe"));
      Received accept = readFrame(s.getInputStream());
      assertEquals(Frame.ACCEPT, accept.type());
      FileDescriptor[] fds = s.getReceivedFileDescriptors();
      assertNotNull(fds, "no fds with the ACCEPT");
      assertEquals(2, fds.length);
      List<Fd> owned = List.of(Fd.of(fds[0]), Fd.of(fds[1]));
      try {
        FileOutputStream toServer = new FileOutputStream(fds[1]); // closed through owned
        ByteBuffer good = ByteBuffer.allocate(4 + 3).putInt(3).put("abc".getBytes(UTF_8));
        toServer.write(good.array()); // one good message, then garbage
        byte[] garbage = garbage(1024);
        garbage[0] = (byte) 0x7f; // a length of ~2 GB, over the agreed maximum
        toServer.write(garbage);
        assertNull(readFrame(s.getInputStream()), "the server must end the session");
      } finally {
        Fd.closeAll(owned);
      }
    }
    String why = logged.poll(WAIT_SECONDS, SECONDS);
    assertNotNull(why, "no reason logged");
    assertTrue(why.contains("client 9") && why.contains("the stream is corrupt"), why);
    assertServerUnharmed("garbage in the data stream");
  }

  // ------------------------------------------------------------------ protocol order

  @Test
  void secondHelloIsUnexpectedFrame() throws Exception {
    try (AFUNIXSocket s = connectKeepingFds()) {
      s.getOutputStream().write(hello(9, "pipe"));
      assertEquals(Frame.ACCEPT, readFrame(s.getInputStream()).type());
      s.getOutputStream().write(hello(9, "pipe"));
      Received r = readFrame(s.getInputStream());
      assertNotNull(r, "no answer to a second HELLO");
      assertEquals(Frame.ERROR, r.type());
      Wire.Error e = Wire.decodeError(r.body());
      assertEquals(ErrorCode.UNEXPECTED_FRAME, e.code());
      assertTrue(e.message().contains("client 9 sent HELLO after the handshake"), e.message());
      assertNull(readFrame(s.getInputStream()), "the client must be dropped after the ERROR");
    }
    assertServerUnharmed("second HELLO");
  }

  // ------------------------------------------------------------------ write boundaries

  @Test
  void helloDribbledOneBytePerWriteGetsTheSameAccept() throws Exception {
    byte[] hello = hello(9, "pipe");
    byte[] whole;
    try (AFUNIXSocket s = connect()) {
      s.getOutputStream().write(hello);
      whole = readFrame(s.getInputStream()).raw();
    }
    byte[] dribbled;
    try (AFUNIXSocket s = connect()) {
      OutputStream out = s.getOutputStream();
      for (byte b : hello) {
        out.write(b);
        out.flush();
      }
      dribbled = readFrame(s.getInputStream()).raw();
    }
    assertEquals(Frame.ACCEPT, whole[5]);
    assertArrayEquals(whole, dribbled);
    assertServerUnharmed("dribbled HELLO");
  }

  @Test
  void tenFramesInOneWriteAreReadOneAtATime() throws Exception {
    // A HELLO, then a GOODBYE with it in the same write: the server must take the HELLO alone,
    // answer it, and treat the GOODBYE that follows as the client leaving.
    ByteArrayOutputStream both = new ByteArrayOutputStream();
    both.writeBytes(hello(9, "pipe"));
    for (int i = 0; i < 9; i++) {
      both.writeBytes(Wire.frame(Frame.GOODBYE, 0, Wire.encodeGoodbye(Wire.GOODBYE_CLOSE, "")));
    }
    try (AFUNIXSocket s = connect()) {
      s.getOutputStream().write(both.toByteArray());
      assertEquals(Frame.ACCEPT, readFrame(s.getInputStream()).type());
      assertNull(readFrame(s.getInputStream()), "a GOODBYE after ACCEPT ends the session");
    }
    assertServerUnharmed("HELLO and GOODBYEs in one write");
  }

  // ------------------------------------------------------------------ helpers

  private AFUNIXSocket connect() throws IOException {
    AFUNIXSocket s = AFUNIXSocket.connectTo(AFUNIXSocketAddress.of(socket));
    s.setSoTimeout((int) SECONDS.toMillis(WAIT_SECONDS));
    return s;
  }

  /**
   * A connection that keeps the fds of its ACCEPT (the socket closes them): without them the
   * server's side of the data channel ends at once, and the session with it.
   */
  private AFUNIXSocket connectKeepingFds() throws IOException {
    AFUNIXSocket s = connect();
    s.setAncillaryReceiveBufferSize(256);
    return s;
  }

  /** Sends {@code bytes}, expects an ERROR with {@code code}, then the end of the connection. */
  private Wire.Error expectError(byte[] bytes, ErrorCode code) throws Exception {
    Wire.Error e;
    try (AFUNIXSocket s = connect()) {
      s.getOutputStream().write(bytes);
      Received r = readFrame(s.getInputStream());
      assertNotNull(r, "the server closed without an ERROR");
      assertEquals(Frame.ERROR, r.type());
      e = Wire.decodeError(r.body());
      assertEquals(code, e.code(), e.message());
      assertTrue(code == ErrorCode.NO_TRANSPORT || !e.message().isEmpty(), "empty message");
      assertNull(readFrame(s.getInputStream()), "the client must be dropped after the ERROR");
    }
    String why = logged.poll(WAIT_SECONDS, SECONDS);
    assertNotNull(why, "the refusal was not logged");
    assertTrue(why.contains("(" + code + ")"), why);
    return e;
  }

  /** The bystander still talks, and the process's descriptors are back to the baseline. */
  private void assertServerUnharmed(String after) throws Exception {
    byte[] m = ("still here after " + after).getBytes(UTF_8);
    bystander.send(m);
    assertArrayEquals(m, bystander.receive(WAIT_SECONDS, SECONDS), after);
    settledFdCount(baseline);
  }

  /**
   * Polls the open-descriptor count until it equals {@code expected} (any value for -1, once it
   * is stable) or the deadline passes.
   */
  private static int settledFdCount(int expected) throws InterruptedException {
    long deadline = System.nanoTime() + SECONDS.toNanos(WAIT_SECONDS);
    int last = fdCount();
    while (true) {
      Thread.sleep(5); // polling a count: there is no event for "a descriptor was closed"
      int now = fdCount();
      if (expected < 0 ? now == last : now == expected) {
        return now;
      }
      if (System.nanoTime() > deadline) {
        fail("open descriptors: " + now + ", expected " + expected + ": " + describeFds());
      }
      last = now;
    }
  }

  private static int fdCount() {
    String[] names = new java.io.File("/proc/self/fd").list();
    return names == null ? -1 : names.length - 1; // minus the one list() itself opened
  }

  private static String describeFds() {
    StringBuilder sb = new StringBuilder();
    String[] names = new java.io.File("/proc/self/fd").list();
    for (String n : names == null ? new String[0] : names) {
      try {
        sb.append("\n  ").append(n).append(" -> ")
            .append(java.nio.file.Files.readSymbolicLink(Path.of("/proc/self/fd", n)));
      } catch (IOException e) {
        // closed while listing
      }
    }
    return sb.toString();
  }

  private record Received(int type, byte[] body, byte[] raw) {}

  /** One frame, or null at the end of the stream (or a reset) before its first byte. */
  private static Received readFrame(InputStream in) throws IOException {
    byte[] header = new byte[8];
    int n;
    try {
      n = in.readNBytes(header, 0, 8);
    } catch (java.net.SocketException e) { // a reset: the server closed with unread input
      return null;
    }
    if (n == 0) {
      return null;
    }
    if (n < 8) {
      throw new EOFException("frame header cut after " + n + " bytes");
    }
    int length = ByteBuffer.wrap(header).getInt();
    assertTrue(length >= 8 && length <= Frame.MAX_FRAME_SIZE, "bad length from server " + length);
    byte[] body = in.readNBytes(length - 8);
    ByteArrayOutputStream raw = new ByteArrayOutputStream();
    raw.writeBytes(header);
    raw.writeBytes(body);
    return new Received(header[5], body, raw.toByteArray());
  }

  private static byte[] header(int length, int version, int type, int fds) {
    return ByteBuffer.allocate(8).putInt(length).put((byte) version).put((byte) type)
        .put((byte) fds).put((byte) 0).array();
  }

  private static byte[] hello(long clientId, String... transports) {
    return Wire.frame(Frame.HELLO, 0, Wire.encodeHello(new Wire.Hello(clientId, 1 << 20,
        List.of(transports))));
  }

  private static byte[] garbage(int n) {
    byte[] b = new byte[n];
    new Random(6).nextBytes(b);
    return b;
  }
}
