package dev.fdipc.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import dev.fdipc.ErrorCode;
import dev.fdipc.internal.ControlSocket;
import dev.fdipc.internal.Frame;
import dev.fdipc.internal.LibC;
import dev.fdipc.internal.Wire;
import dev.fdipc.spi.Fd;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A client that sends file descriptors to the real server, with its HELLO or after the handshake:
 * every one is closed (the write end of a pipe the test keeps the read end of reaches end of
 * stream), the client gets ERROR FDS_REFUSED and is dropped, the server's fd count returns to where
 * it was, and a client connected all along keeps working. 61 to 253 fds are the counts junixsocket
 * cannot receive without leaking.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class HostileFdsEndToEndTest {
  private static final Duration WAIT = Duration.ofSeconds(30);

  @TempDir
  Path dir;

  private Commands cmd;
  private Proc server;
  private Proc keeper;
  private int kept;

  @BeforeEach
  void setUp() throws Exception {
    cmd = new Commands(dir.resolve("s.sock"), Map.of());
    server = cmd.server("--transport=pipe");
    keeper = cmd.client("101", "--transport=pipe");
    keeper.awaitOut("as client 101 via pipe", WAIT);
    server.awaitOut("client 101 connected", WAIT);
  }

  @AfterEach
  void tearDown() {
    cmd.close();
  }

  @ParameterizedTest(name = "{0} fds with the HELLO")
  @ValueSource(ints = {1, 8, 60, 61, 253})
  void shouldCloseEveryFdSentWithHelloAndDropTheClient(int count) throws Exception {
    sendFdsAndExpectRefusal(count, false);
  }

  @ParameterizedTest(name = "{0} fds after the handshake")
  @ValueSource(ints = {1, 8, 60, 61, 253})
  void shouldCloseEveryFdSentAfterTheHandshakeAndDropTheClient(int count) throws Exception {
    sendFdsAndExpectRefusal(count, true);
  }

  private void sendFdsAndExpectRefusal(int count, boolean afterHandshake) throws Exception {
    int baseline = stableServerFdCount();
    List<Fd> pipe = Fd.pipe();
    Fd readEnd = pipe.get(0);
    Fd writeEnd = pipe.get(1);
    List<Fd> transportFds = new java.util.ArrayList<>();
    int control = ControlSocket.connect(dir.resolve("s.sock"));
    try {
      byte[] hello = Wire.frame(Frame.HELLO, 0,
          Wire.encodeHello(new Wire.Hello(4242, 0, List.of("pipe"))));
      byte[] carrier = hello;
      if (afterHandshake) {
        ControlSocket.write(control, hello, List.of(), System.nanoTime() + WAIT.toNanos());
        ControlSocket.Received accept = ControlSocket.read(control, true, System.nanoTime()
            + WAIT.toNanos());
        assertNotNull(accept, "server closed instead of answering the HELLO");
        transportFds.addAll(accept.fds()); // closing them now would end the session by itself
        assertEquals(Frame.ACCEPT, accept.frame().type());
        server.awaitOut("client 4242 connected", WAIT);
        carrier = Wire.frame(Frame.GOODBYE, 0, Wire.encodeGoodbye(Wire.GOODBYE_CLOSE, "bye"));
      }
      ControlSocket.write(control, carrier, Collections.nCopies(count, writeEnd),
          System.nanoTime() + WAIT.toNanos());

      ControlSocket.Received reply = ControlSocket.read(control, false,
          System.nanoTime() + WAIT.toNanos());
      assertNotNull(reply, "server closed without an ERROR frame\n" + server.transcript());
      assertEquals(Frame.ERROR, reply.frame().type());
      Wire.Error error = Wire.decodeError(reply.frame().body());
      assertEquals(ErrorCode.FDS_REFUSED, error.code(), error.message());
      assertTrue(error.message().contains("received " + count + " file descriptor"),
          error.message());
      assertDropped(control);
      server.awaitOut("FDS_REFUSED", WAIT);
    } finally {
      LibC.close(control);
      Fd.closeAll(transportFds);
    }
    writeEnd.close();
    try {
      assertTrue(awaitEndOfStream(readEnd.intValue(), WAIT),
          "the pipe's read end saw no end of stream: the server kept a copy of its write end\n"
              + server.transcript());
    } finally {
      readEnd.close();
    }
    awaitServerFdCount(baseline);

    keeper.send("7");
    keeper.awaitOut("ok: total 7", WAIT);
  }

  /**
   * End of stream, or a reset: the server closes without reading the rest of what the client sent,
   * and a UNIX socket closed with unread data resets its peer once the ERROR has been read.
   */
  private static void assertDropped(int control) throws IOException {
    try {
      assertNull(ControlSocket.read(control, false, System.nanoTime() + WAIT.toNanos()),
          "the server must drop the client after refusing its fds");
    } catch (java.net.SocketException reset) {
      assertTrue(reset.getMessage().contains("reset"), reset.toString());
    }
  }

  /** Polls {@code fd} for input and reads it; true once read(2) returns 0. */
  private static boolean awaitEndOfStream(int fd, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    try (Memory m = new Memory(64)) {
      while (System.nanoTime() < deadline) {
        m.setInt(0, fd);
        m.setShort(4, LibC.POLLIN);
        m.setShort(6, (short) 0);
        if (LibC.poll(Pointer.nativeValue(m), 1, 1000) > 0) {
          long n = LibC.read(fd, Pointer.nativeValue(m) + 8, 8);
          if (n == 0) {
            return true;
          }
        }
      }
    }
    return false;
  }

  private int serverFdCount() throws IOException {
    try (Stream<Path> s = Files.list(Path.of("/proc/" + server.pid() + "/fd"))) {
      return (int) s.count();
    }
  }

  /** The count once it has not changed for 250 ms: the keeper's session may still be settling. */
  private int stableServerFdCount() throws Exception {
    int last = serverFdCount();
    for (int same = 0; same < 5; ) {
      TimeUnit.MILLISECONDS.sleep(50); // no event for "the server opened or closed an fd": poll
      int now = serverFdCount();
      same = now == last ? same + 1 : 0;
      last = now;
    }
    return last;
  }

  /** The server closes a dropped client's fds right after writing the ERROR: poll until it has. */
  private void awaitServerFdCount(int expected) throws Exception {
    long deadline = System.nanoTime() + WAIT.toNanos();
    int now = serverFdCount();
    while (now != expected && System.nanoTime() < deadline) {
      TimeUnit.MILLISECONDS.sleep(20); // no signal for "the server closed an fd": poll /proc
      now = serverFdCount();
    }
    assertEquals(expected, now, "server fds: " + describeServerFds());
  }

  private String describeServerFds() throws IOException {
    StringBuilder sb = new StringBuilder();
    try (Stream<Path> s = Files.list(Path.of("/proc/" + server.pid() + "/fd"))) {
      s.sorted().forEach(p -> {
        try {
          sb.append('\n').append(p.getFileName()).append(" -> ").append(Files.readSymbolicLink(p));
        } catch (IOException e) {
          // closed while listing
        }
      });
    }
    return sb.toString();
  }
}
