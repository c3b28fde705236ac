package dev.fdipc.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.fdipc.FdipcClient;
import dev.fdipc.IpcChannel;
import dev.fdipc.NegotiationException;
import dev.fdipc.ProtocolException;
import dev.fdipc.TransportRegistry;
import dev.fdipc.negotiation.TestPipeProvider;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.net.SocketTimeoutException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Objects;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;
import org.newsclub.net.unix.AFUNIXServerSocket;
import org.newsclub.net.unix.AFUNIXSocket;
import org.newsclub.net.unix.AFUNIXSocketAddress;
import org.newsclub.net.unix.FileDescriptorCast;

/**
 * Fuzzes what the real {@link FdipcClient} parses during negotiation: a fake server reads its
 * HELLO, answers with the fuzzer's bytes (no fds) and closes its side. Whatever the answer, connect
 * must fail with an {@link IOException} (never a RuntimeException, never by waiting for the
 * handshake timeout, since the server has closed), with {@link NegotiationException} exactly when
 * the answer starts with a well-formed ERROR frame, and leave no fd open.
 *
 * <p>Saved inputs: {@code src/test/resources/dev/fdipc/internal/ClientHandshakeFuzzTestInputs/}.
 */
@Timeout(value = 20, unit = TimeUnit.SECONDS)
class ClientHandshakeFuzzTest {
  private static Path dir;
  private static Path socket;
  private static AFUNIXServerSocket listener;
  private static Thread server;
  private static final LinkedBlockingQueue<byte[]> ANSWERS = new LinkedBlockingQueue<>();
  private static final SynchronousQueue<Object> DONE = new SynchronousQueue<>();
  private static final TransportRegistry REGISTRY =
      TransportRegistry.of(new TestPipeProvider("good"), new TestPipeProvider("other"));

  @BeforeAll
  static void startServer() throws IOException {
    dir = Files.createTempDirectory("fdipc-fuzz");
    socket = dir.resolve("control.sock");
    listener = AFUNIXServerSocket.newInstance();
    listener.bind(AFUNIXSocketAddress.of(socket));
    server = new Thread(ClientHandshakeFuzzTest::serve, "fake-server");
    server.setDaemon(true);
    server.start();
  }

  @AfterAll
  static void stopServer() throws IOException, InterruptedException {
    listener.close();
    server.interrupt();
    server.join(5000);
    Files.deleteIfExists(socket);
    Files.deleteIfExists(dir);
  }

  /** One client at a time: read its HELLO, answer, close our side, wait for it to close. */
  private static void serve() {
    while (!listener.isClosed()) {
      try (AFUNIXSocket s = listener.accept()) {
        int fd = FileDescriptorCast.using(s.getFileDescriptor()).as(Integer.class);
        byte[] answer = ANSWERS.take();
        ControlSocket.Received hello = ControlSocket.read(fd, false, 0);
        Objects.requireNonNull(hello, "client sent no HELLO");
        s.getOutputStream().write(answer);
        HalfClose.output(s);
        InputStream in = s.getInputStream();
        while (in.read() >= 0) {
          // until the client closes
        }
      } catch (InterruptedException e) {
        return;
      } catch (IOException | RuntimeException e) {
        if (listener.isClosed()) {
          return;
        }
        e.printStackTrace(); // the next DONE.take() reports nothing: the client check fails
      }
      try {
        DONE.put(Boolean.TRUE);
      } catch (InterruptedException e) {
        return;
      }
    }
  }

  @FuzzTest(maxDuration = "5m")
  void answer(byte[] data) throws Exception {
    int fdsBefore = openFds();
    handshake(data);
    if (openFds() > fdsBefore) {
      // The first use of a class can open its jar for good; a leak repeats with the same input.
      int again = openFds();
      IOException e = handshake(data);
      int fdsAfter = openFds();
      assertTrue(fdsAfter <= again, () -> (fdsAfter - again) + " fds leaked after " + e);
    }
  }

  private static IOException handshake(byte[] data) throws InterruptedException {
    IOException failure = null;
    ANSWERS.put(data);
    try {
      IpcChannel ch = FdipcClient.builder().socket(socket).registry(REGISTRY)
          .transports("good").maxMessageSize(1 << 20)
          .handshakeTimeout(Duration.ofSeconds(10)).connect();
      ch.close();
      fail("connected although the server sent no fds");
    } catch (SocketTimeoutException e) {
      fail("the client waited for an answer from a server that had closed: " + e);
    } catch (IOException e) {
      failure = e;
    }
    IOException e = failure;
    assertNotNull(DONE.poll(10, TimeUnit.SECONDS), "the fake server did not finish");
    assertNotNull(e.getMessage());
    assertEquals(startsWithError(data), e instanceof NegotiationException,
        () -> "answer starting " + hex(data) + " gave " + e);
    return e;
  }

  /** True if {@code data} starts with a frame that passes every check and decodes as an ERROR. */
  private static boolean startsWithError(byte[] data) {
    if (data.length < Frame.HEADER_SIZE) {
      return false;
    }
    try {
      int body = Wire.bodyLength(Arrays.copyOf(data, Frame.HEADER_SIZE));
      if (data[5] != Frame.ERROR || data[6] != 0 || data.length < Frame.HEADER_SIZE + body) {
        return false;
      }
      Wire.decodeError(Arrays.copyOfRange(data, Frame.HEADER_SIZE, Frame.HEADER_SIZE + body));
      return true;
    } catch (ProtocolException e) {
      return false;
    }
  }

  private static int openFds() {
    String[] fds = new File("/proc/self/fd").list();
    assertTrue(fds != null);
    return fds.length;
  }

  private static String hex(byte[] b) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < Math.min(b.length, 32); i++) {
      sb.append(String.format("%02x", b[i] & 0xff));
    }
    return sb.toString();
  }
}
