package dev.fdipc;

import static java.nio.charset.StandardCharsets.UTF_8;
import static java.util.concurrent.TimeUnit.SECONDS;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fdipc.internal.VirtualThreads;
import dev.fdipc.negotiation.TestPipeProvider;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Event-driven sessions (MessageHandler on the loop thread) and blocking sessions on virtual
 * threads: the two ways to serve thousands of clients without a thread each.
 */
@Timeout(60)
class EventDrivenSessionTest {
  private static final long WAIT = 10;

  @TempDir
  Path dir;

  private final TransportRegistry reg = TransportRegistry.of(new TestPipeProvider("pipe"));

  private FdipcClient.Builder client(Path socket) {
    return FdipcClient.builder().socket(socket).registry(reg);
  }

  @Test
  void shouldDeliverEveryMessageInOrderOnTheLoopThreadAndSeeTheClientLeave() throws Exception {
    Path socket = dir.resolve("s.sock");
    BlockingQueue<String> events = new LinkedBlockingQueue<>();
    try (FdipcServer server = FdipcServer.builder().socket(socket).registry(reg)
        .messageHandler(new MessageHandler() {
          @Override
          public void opened(EventSession s) {
            events.add("opened " + s.clientId() + " on " + Thread.currentThread().getName());
          }

          @Override
          public void received(EventSession s, ByteBuffer m) throws Exception {
            assertTrue(m.isReadOnly(), "a view of the loop's buffer");
            assertTrue(s.send(m), "an echo per message is never refused");
          }

          @Override
          public void closed(EventSession s) {
            events.add("closed " + s.clientId());
          }
        }).start()) {
      try (IpcChannel ch = client(socket).clientId(42).connect()) {
        assertEquals("opened 42 on fdipc-loop-0", events.poll(WAIT, SECONDS));
        for (int i = 0; i < 1000; i++) {
          ch.send(("m" + i).getBytes(UTF_8));
        }
        for (int i = 0; i < 1000; i++) {
          assertEquals("m" + i, new String(ch.receive(WAIT, SECONDS), UTF_8));
        }
      }
      assertEquals("closed 42", events.poll(WAIT, SECONDS));
    }
  }

  @Test
  void shouldRefuseASendWhileTheClientIsBehindAndSayWhenItCaughtUp() throws Exception {
    Path socket = dir.resolve("s.sock");
    int size = 64 * 1024;
    int count = 64; // 4 MiB: far more than a pipe buffer
    AtomicInteger refusals = new AtomicInteger();
    AtomicInteger writables = new AtomicInteger();
    try (FdipcServer server = FdipcServer.builder().socket(socket).registry(reg)
        .messageHandler(new MessageHandler() {
          int next;

          @Override
          public void received(EventSession s, ByteBuffer m) throws Exception {
            pump(s);
          }

          @Override
          public void writable(EventSession s) throws Exception {
            writables.incrementAndGet();
            pump(s);
          }

          private void pump(EventSession s) throws Exception {
            while (next < count) {
              byte[] b = new byte[size];
              java.util.Arrays.fill(b, (byte) next);
              if (!s.send(b)) {
                refusals.incrementAndGet();
                return; // writable() follows
              }
              next++;
            }
          }
        }).start();
        IpcChannel ch = client(socket).connect()) {
      ch.send("go".getBytes(UTF_8));
      for (int i = 0; i < count; i++) {
        byte[] m = ch.receive(WAIT, SECONDS);
        assertNotNull(m, "end of stream at message " + i);
        assertEquals(size, m.length);
        assertEquals((byte) i, m[0], "message " + i + " out of order");
        assertEquals((byte) i, m[size - 1]);
      }
      assertTrue(refusals.get() > 0, "the client never fell behind");
      assertTrue(writables.get() > 0, "writable() never came");
    }
  }

  @Test
  void shouldDropAClientThatStopsReadingAfterTheSendTimeout() throws Exception {
    Path socket = dir.resolve("s.sock");
    BlockingQueue<String> dropped = new LinkedBlockingQueue<>();
    CompletableFuture<String> gone = new CompletableFuture<>();
    try (FdipcServer server = FdipcServer.builder().socket(socket).registry(reg)
        .sendTimeout(Duration.ofMillis(300))
        .listener(new ServerListener() {
          @Override
          public void dropped(ClientSession session, String reason) {
            dropped.add(reason);
          }
        })
        .messageHandler((s, m) -> {
          while (s.send(new byte[64 * 1024])) {
            // until the client is behind; it never reads, so writable() never comes
          }
        }).start();
        IpcChannel ch = client(socket).clientId(5)
            .onServerGone((goodbye, message) -> gone.complete(goodbye + ": " + message))
            .connect()) {
      ch.send("go".getBytes(UTF_8));
      String why = dropped.poll(WAIT, SECONDS);
      assertNotNull(why, "the stalled client was not dropped");
      assertTrue(why.startsWith("client 5 dropped: it has not read for"), why);
      String told = gone.get(WAIT, SECONDS);
      assertTrue(told.startsWith("false: dropped by the server") || told.startsWith("true: "),
          told);
    }
  }

  @Test
  void shouldEndOnlyTheSessionWhoseHandlerThrows() throws Exception {
    Path socket = dir.resolve("s.sock");
    BlockingQueue<String> warnings = new LinkedBlockingQueue<>();
    try (FdipcServer server = FdipcServer.builder().socket(socket).registry(reg)
        .listener(new ServerListener() {
          @Override
          public void warning(String message, Throwable cause) {
            warnings.add(message);
          }
        })
        .messageHandler((s, m) -> {
          if (m.remaining() == 4) {
            throw new IllegalStateException("bad message");
          }
          s.send(m);
        }).start();
        IpcChannel bad = client(socket).clientId(1).connect();
        IpcChannel good = client(socket).clientId(2).connect()) {
      bad.send("boom".getBytes(UTF_8));
      assertNull(bad.receive(WAIT, SECONDS), "the failing session must end");
      String w = warnings.poll(WAIT, SECONDS);
      assertNotNull(w);
      assertTrue(w.contains("client 1") && w.contains("bad message"), w);
      good.send("hello".getBytes(UTF_8));
      assertArrayEquals("hello".getBytes(UTF_8), good.receive(WAIT, SECONDS));
    }
  }

  @Test
  void shouldServeManyClientConnectionsEventByEventOnTheSharedLoop() throws Exception {
    Path socket = dir.resolve("s.sock");
    int connections = 50;
    int messages = 20;
    CompletableFuture<Void> all = new CompletableFuture<>();
    AtomicInteger replies = new AtomicInteger();
    List<String> loopThreads = java.util.Collections.synchronizedList(new ArrayList<>());
    List<EventChannel> channels = new ArrayList<>();
    try (FdipcServer server = FdipcServer.builder().socket(socket).registry(reg)
        .messageHandler((s, m) -> s.send(m)).start()) {
      for (int c = 0; c < connections; c++) {
        channels.add(client(socket).clientId(c).connect(new ChannelHandler() {
          @Override
          public void opened(EventChannel ch) throws Exception {
            for (int i = 0; i < messages; i++) {
              assertTrue(ch.send(("n" + i).getBytes(UTF_8)), "refused at " + i);
            }
          }

          @Override
          public void received(EventChannel ch, ByteBuffer reply) {
            loopThreads.add(Thread.currentThread().getName());
            if (replies.incrementAndGet() == connections * messages) {
              all.complete(null);
            }
          }

          @Override
          public void closed(EventChannel ch, Throwable failure) {
            if (failure != null) {
              all.completeExceptionally(failure);
            }
          }
        }));
      }
      all.get(WAIT, SECONDS);
      assertEquals(java.util.Set.of("fdipc-shared-loop"), java.util.Set.copyOf(loopThreads));
      long clientThreads = Thread.getAllStackTraces().keySet().stream()
          .filter(t -> t.getName().startsWith("fdipc-client")).count();
      assertEquals(0, clientThreads, "no thread per client connection");
    } finally {
      for (EventChannel ch : channels) {
        ch.close();
      }
    }
  }

  /**
   * More blocking sessions than the virtual-thread scheduler has carriers, every one of them
   * waiting in receive: if a wait pinned its carrier, the sessions past the carrier count would
   * never run, and the last client would get no answer.
   */
  @Test
  void shouldParkBlockedVirtualThreadsWithoutPinningTheirCarriers() throws Exception {
    Assumptions.assumeTrue(VirtualThreads.available(), "needs JDK 21 or later (virtual threads)");
    Path socket = dir.resolve("s.sock");
    int sessions = 4 * Runtime.getRuntime().availableProcessors() + 8;
    ExecutorService virtual = VirtualThreads.newPerTaskExecutor().orElseThrow();
    List<IpcChannel> clients = new ArrayList<>();
    try (FdipcServer server = FdipcServer.builder().socket(socket).registry(reg)
        .executor(virtual).handler(LiveServerSupport::echo).start()) {
      for (int i = 0; i < sessions; i++) {
        clients.add(client(socket).connect());
      }
      for (int i = sessions - 1; i >= 0; i--) {
        byte[] m = ("to " + i).getBytes(UTF_8);
        clients.get(i).send(m);
        assertArrayEquals(m, clients.get(i).receive(WAIT, SECONDS), "session " + i);
      }
    } finally {
      for (IpcChannel c : clients) {
        c.close();
      }
      virtual.shutdownNow();
    }
  }
}
