package dev.fdipc;

import static java.nio.charset.StandardCharsets.UTF_8;
import static java.util.concurrent.TimeUnit.SECONDS;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import dev.fdipc.internal.Frame;
import dev.fdipc.internal.Wire;
import dev.fdipc.negotiation.TestPipeProvider;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.newsclub.net.unix.AFUNIXSocket;
import org.newsclub.net.unix.AFUNIXSocketAddress;

/**
 * One event-loop thread serves every client of a server (issue #12): accepting, handshakes,
 * control connections and event-driven sessions, with no thread per client; a client stuck inside
 * a frame delays nobody; and the loop thread ends with the server.
 */
@Timeout(60)
class ServerThreadsTest {
  private static final String LOOP = "fdipc-loop-0";
  private static final long WAIT = 10;

  @TempDir
  Path dir;

  private final TransportRegistry reg = TransportRegistry.of(new TestPipeProvider("pipe"));

  @Test
  void oneLoopThreadServesEveryEventDrivenSessionAndEndsWithTheServer() throws Exception {
    Set<Thread> before = serverThreads();
    Path socket = dir.resolve("s.sock");
    List<IpcChannel> clients = new ArrayList<>();
    FdipcServer server = FdipcServer.builder().socket(socket).registry(reg)
        .messageHandler((session, message) -> session.send(message)).start();
    try {
      for (int i = 0; i < 10; i++) {
        IpcChannel ch = FdipcClient.builder().socket(socket).registry(reg).connect();
        clients.add(ch);
        byte[] m = ("client " + i).getBytes(UTF_8);
        ch.send(m);
        assertArrayEquals(m, ch.receive(WAIT, SECONDS));
      }
      List<String> added = serverThreads().stream().filter(t -> !before.contains(t))
          .map(Thread::getName).sorted().collect(Collectors.toList());
      assertEquals(List.of(LOOP), added, "the server's threads with 10 clients");
      assertEquals(10, server.sessionCount());
    } finally {
      for (IpcChannel ch : clients) {
        ch.close();
      }
      server.close();
    }
    List<String> left = serverThreads().stream()
        .filter(t -> !before.contains(t) && t.getName().equals(LOOP))
        .map(Thread::toString).collect(Collectors.toList());
    assertEquals(List.of(), left, "the loop thread outlived close()");
  }

  @Test
  void blockingHandlersRunOnTheExecutorAndTheLoopThreadStaysOne() throws Exception {
    Set<Thread> before = serverThreads();
    Path socket = dir.resolve("s.sock");
    List<IpcChannel> clients = new ArrayList<>();
    java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newCachedThreadPool(
        r -> new Thread(r, "app-handler"));
    try (FdipcServer server = FdipcServer.builder().socket(socket).registry(reg).executor(pool)
        .handler(LiveServerSupport::echo).start()) {
      for (int i = 0; i < 5; i++) {
        IpcChannel ch = FdipcClient.builder().socket(socket).registry(reg).connect();
        clients.add(ch);
        byte[] m = ("client " + i).getBytes(UTF_8);
        ch.send(m);
        assertArrayEquals(m, ch.receive(WAIT, SECONDS));
      }
      List<String> added = serverThreads().stream().filter(t -> !before.contains(t))
          .map(Thread::getName).sorted().collect(Collectors.toList());
      assertEquals(List.of(LOOP), added, "the server's own threads");
      long handlers = Thread.getAllStackTraces().keySet().stream()
          .filter(t -> t.getName().equals("app-handler")).count();
      assertEquals(5, handlers, "one executor task per blocking session");
    } finally {
      for (IpcChannel ch : clients) {
        ch.close();
      }
      pool.shutdownNow();
    }
  }

  @Test
  void aClientStoppedInsideAFrameDelaysNoOtherClient() throws Exception {
    Path socket = dir.resolve("s.sock");
    BlockingQueue<String> refused = new LinkedBlockingQueue<>();
    try (FdipcServer server = FdipcServer.builder().socket(socket).registry(reg)
        .shutdownTimeout(Duration.ofSeconds(2))
        .listener(new ServerListener() {
          @Override
          public void refused(PeerCredentials peer, String reason) {
            refused.add(reason);
          }
        })
        .handler(LiveServerSupport::echo).start();
        AFUNIXSocket stuck = handshake(socket, 11);
        AFUNIXSocket other = handshake(socket, 12)) {
      byte[] bye = Wire.frame(Frame.GOODBYE, 0, Wire.encodeGoodbye(Wire.GOODBYE_CLOSE, "bye"));
      stuck.getOutputStream().write(bye, 0, 5); // and nothing more for now

      other.getOutputStream().write(hello(12));
      byte[] answer = readFrame(other.getInputStream());
      assertNotNull(answer, "no answer to a HELLO after the handshake while another client is"
          + " stuck inside a frame");
      assertEquals(Frame.ERROR, answer[5]);
      Wire.Error e = Wire.decodeError(java.util.Arrays.copyOfRange(answer, 8, answer.length));
      assertEquals(ErrorCode.UNEXPECTED_FRAME, e.code());
      assertEquals("client 12 sent HELLO after the handshake; only GOODBYE is allowed",
          e.message());
      assertEquals(e.message(), refused.poll(WAIT, SECONDS));
      assertEquals(null, readFrame(other.getInputStream()), "client 12 must be dropped");

      stuck.getOutputStream().write(bye, 5, bye.length - 5);
      assertEquals(null, readFrame(stuck.getInputStream()),
          "the session must end after the rest of the GOODBYE");
      assertEquals(null, refused.poll(), "a GOODBYE is no refusal");
    }
  }

  /** Connects and completes a handshake, keeping the ACCEPT's fds so that the session lives. */
  private static AFUNIXSocket handshake(Path socket, long clientId) throws IOException {
    AFUNIXSocket s = AFUNIXSocket.connectTo(AFUNIXSocketAddress.of(socket));
    s.setSoTimeout((int) SECONDS.toMillis(WAIT));
    s.setAncillaryReceiveBufferSize(256); // the socket owns the fds and closes them with itself
    s.getOutputStream().write(hello(clientId));
    byte[] accept = readFrame(s.getInputStream());
    assertNotNull(accept, "no answer to HELLO");
    assertEquals(Frame.ACCEPT, accept[5]);
    assertNotNull(s.getReceivedFileDescriptors(), "no fds with the ACCEPT");
    return s;
  }

  private static byte[] hello(long clientId) {
    return Wire.frame(Frame.HELLO, 0, Wire.encodeHello(new Wire.Hello(clientId, 1 << 20,
        List.of("pipe"))));
  }

  /** One whole frame, or null at the end of the stream (or a reset) before its first byte. */
  private static byte[] readFrame(InputStream in) throws IOException {
    byte[] header;
    try {
      header = in.readNBytes(Frame.HEADER_SIZE);
    } catch (java.net.SocketException e) {
      return null;
    }
    if (header.length == 0) {
      return null;
    }
    assertEquals(Frame.HEADER_SIZE, header.length, "frame header cut short");
    int length = ByteBuffer.wrap(header).getInt();
    byte[] body = in.readNBytes(length - Frame.HEADER_SIZE);
    return ByteBuffer.allocate(length).put(header).put(body).array();
  }

  private static Set<Thread> serverThreads() {
    return Thread.getAllStackTraces().keySet().stream().filter(Thread::isAlive)
        .filter(t -> t.getName().startsWith("fdipc-") && !t.getName().startsWith("fdipc-client")
            && !t.getName().equals("fdipc-shared-loop"))
        .collect(Collectors.toSet());
  }

}
