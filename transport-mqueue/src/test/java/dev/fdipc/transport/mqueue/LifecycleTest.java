package dev.fdipc.transport.mqueue;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fdipc.PeerClosedException;
import dev.fdipc.spi.Fd;
import dev.fdipc.spi.ServerEnd;
import dev.fdipc.spi.TransportSettings;
import dev.fdipc.testkit.ChildProcess;
import dev.fdipc.testkit.Loopback;
import dev.fdipc.testkit.MqueueFs;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Names, modes and descriptors of the queues, and how each side learns that the other is gone. */
@Timeout(value = 60, unit = TimeUnit.SECONDS,
    threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class LifecycleTest {
  /**
   * The kernel's default message size, fixed: these tests count fragments of 8192-byte messages
   * and queue more than a queue sized to the RLIMIT_MSGQUEUE budget would hold.
   */
  private static final Map<String, String> KERNEL_DEFAULT_SIZE =
      Map.of(QueueSizes.MESSAGE_SIZE, Integer.toString(QueueSizes.DEFAULT_MESSAGE_SIZE));

  private static final int MAX = 1 << 20;

  private final ExecutorService executor = Executors.newCachedThreadPool(r -> {
    Thread t = new Thread(r, "lifecycle");
    t.setDaemon(true);
    return t;
  });

  @AfterEach
  void stop() {
    executor.shutdownNow();
  }

  // ------------------------------------------------------------------ names, modes, descriptors

  @Test
  void shouldUnlinkEveryNameBeforeTheClientGetsTheDescriptors() throws IOException {
    ServerEnd end = new MqueueTransportProvider().createServer(TransportSettings.of(MAX));
    try {
      Set<String> names = new HashSet<>();
      for (Fd fd : end.clientFds().subList(0, 2)) {
        String target = Files.readSymbolicLink(Path.of("/proc/self/fd/" + fd.intValue()))
            .toString();
        assertTrue(target.matches("/fdipc-[0-9a-f]{32} \\(deleted\\)"), target);
        names.add(target);
      }
      assertEquals(2, names.size(), "two queues, one per direction");
    } finally {
      end.channel().close();
      Fd.closeAll(end.clientFds());
    }
  }

  @Test
  void shouldLeaveNoNameInTheMqueueFilesystem() throws Exception {
    Assumptions.assumeTrue(MqueueFs.unavailableReason().isEmpty(),
        () -> "cannot list queue names: " + MqueueFs.unavailableReason().orElse(""));
    String probe = Queues.newName();
    int named = MqNative.mqCreate(probe, MqNative.O_RDONLY | MqNative.O_EXCL | MqNative.O_CLOEXEC,
        0600, 1, QueueSizes.MIN_MESSAGE_SIZE);
    assertTrue(named >= 0, "mq_open: errno " + MqNative.errno());
    try {
      assertTrue(MqueueFs.names().contains(probe.substring(1)), "the listing sees named queues");
    } finally {
      MqNative.mq_unlink(probe);
      Fd.of(named).close();
    }
    Set<String> before = MqueueFs.names();
    List<DirectPair> pairs = new ArrayList<>();
    try {
      for (int i = 0; i < 3; i++) {
        pairs.add(DirectPair.open(MAX, KERNEL_DEFAULT_SIZE));
      }
      Set<String> during = MqueueFs.names();
      during.removeAll(before);
      assertEquals(Set.of(), during, "queue names visible while 3 connections are open");
    } finally {
      for (DirectPair p : pairs) {
        p.close();
      }
    }
  }

  @Test
  void shouldCreateQueuesForTheOwnerOnlyWithOneAccessModePerSide() throws IOException {
    ServerEnd end = new MqueueTransportProvider().createServer(TransportSettings.of(MAX));
    try {
      for (Fd fd : end.clientFds().subList(0, 2)) {
        Path p = Path.of("/proc/self/fd/" + fd.intValue());
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(p)));
      }
      int toClient = MqNative.statusFlags(end.clientFds().get(0).intValue());
      int toServer = MqNative.statusFlags(end.clientFds().get(1).intValue());
      assertEquals(MqNative.O_RDONLY, toClient & MqNative.O_ACCMODE, "fd 0: receive only");
      assertEquals(MqNative.O_WRONLY, toServer & MqNative.O_ACCMODE, "fd 1: send only");
      assertEquals(0, toClient & MqNative.O_NONBLOCK,
          "the client's descriptions arrive blocking: the server's O_NONBLOCK is its own");
      assertEquals(0, toServer & MqNative.O_NONBLOCK);
      assertTrue(Files.readSymbolicLink(Path.of("/proc/self/fd/"
          + end.clientFds().get(2).intValue())).toString().startsWith("socket:"));
      for (Fd fd : end.clientFds()) {
        assertTrue(fd.isCloseOnExec(), fd + " must be close-on-exec");
      }
    } finally {
      end.channel().close();
      Fd.closeAll(end.clientFds());
    }
  }

  @Test
  void shouldRefuseDescriptorsThatAreNotWhatTheServerSends() throws IOException {
    MqueueTransportProvider p = new MqueueTransportProvider();
    ServerEnd end = p.createServer(TransportSettings.of(MAX));
    end.channel().close();
    List<Fd> swapped = List.of(end.clientFds().get(1), end.clientFds().get(0),
        end.clientFds().get(2));
    IOException e = assertThrows(IOException.class, () -> p.openClient(
        new dev.fdipc.spi.ClientEnd(swapped, end.parameters()), TransportSettings.of(MAX)));
    assertEquals("mqueue: descriptor 0 (server to client) from the server should be read-only "
        + "(flags 02000001)", e.getMessage());
    for (Fd fd : end.clientFds()) {
      assertTrue(!fd.isOpen(), "openClient owns the descriptors, also when it throws");
    }
    ServerEnd other = p.createServer(TransportSettings.of(MAX));
    other.channel().close();
    e = assertThrows(IOException.class, () -> p.openClient(new dev.fdipc.spi.ClientEnd(
        other.clientFds(), Map.of("version", "2")), TransportSettings.of(MAX)));
    assertEquals("mqueue: the server speaks fragment format version 2; this client knows "
        + "version 1", e.getMessage());
  }

  // ------------------------------------------------------------------ end of stream

  @Test
  void shouldWakeABlockedReceiverWithEndOfStreamWithinOneSecondOfThePeersDeath()
      throws Exception {
    MqueueTransportProvider provider = new MqueueTransportProvider();
    try (Loopback loopback = new Loopback(provider, MAX)) {
      Process child = ChildProcess.start("client", loopback.socket(), provider.name());
      try (Loopback.Pair pair = loopback.nextSession(null, Duration.ofSeconds(30))) {
        assertEquals("hello", new String(pair.server().receive(10, TimeUnit.SECONDS),
            StandardCharsets.UTF_8));
        Future<byte[]> receiver = executor.submit(() -> pair.server().receive());
        assertThrows(java.util.concurrent.TimeoutException.class,
            () -> receiver.get(100, TimeUnit.MILLISECONDS), "nothing to receive yet");
        long killed = System.nanoTime();
        child.destroyForcibly();
        assertNull(receiver.get(10, TimeUnit.SECONDS));
        long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - killed);
        assertTrue(millis < 1000, "end of stream " + millis + " ms after SIGKILL");
      } finally {
        child.destroyForcibly();
        child.waitFor(10, TimeUnit.SECONDS);
      }
    }
  }

  @Test
  void shouldDrainThenEndTheStreamWhenCoreReportsTheControlConnectionGone() throws Exception {
    try (DirectPair p = DirectPair.open(MAX, KERNEL_DEFAULT_SIZE)) {
      Future<byte[]> waiting = executor.submit(() -> p.client.receive());
      assertThrows(java.util.concurrent.TimeoutException.class,
          () -> waiting.get(100, TimeUnit.MILLISECONDS));
      long gone = System.nanoTime();
      p.client.peerGone(); // the peer's process is alive and its link open: only core knows
      assertNull(waiting.get(10, TimeUnit.SECONDS));
      assertTrue(System.nanoTime() - gone < TimeUnit.SECONDS.toNanos(1));

    }
  }

  @Test
  void shouldDeliverWhatWasQueuedBeforePeerGoneThenEndOfStream() throws Exception {
    try (DirectPair p = DirectPair.open(MAX, KERNEL_DEFAULT_SIZE)) {
      p.client.send("a".getBytes(StandardCharsets.UTF_8));
      p.client.send(new byte[50_000]); // 7 fragments: 9 of the queue's 10 places in all
      p.client.send("c".getBytes(StandardCharsets.UTF_8));
      p.server.peerGone();
      assertEquals("a", new String(p.server.receive(), StandardCharsets.UTF_8));
      assertEquals(50_000, p.server.receive().length);
      assertEquals("c", new String(p.server.receive(), StandardCharsets.UTF_8));
      assertNull(p.server.receive(1, TimeUnit.SECONDS));
    }
  }

  @Test
  void shouldEndTheStreamAfterAFullQueueWhenThePeerCloses() throws Exception {
    try (DirectPair p = DirectPair.open(MAX, KERNEL_DEFAULT_SIZE)) {
      for (int i = 0; i < QueueSizes.DEFAULT_MAX_MESSAGES; i++) {
        p.server.send(new byte[] {(byte) i});
      }
      p.server.close(); // the queue is full: no room for a close record, the link still tells
      for (int i = 0; i < QueueSizes.DEFAULT_MAX_MESSAGES; i++) {
        assertEquals(i, p.client.receive(5, TimeUnit.SECONDS)[0]);
      }
      assertNull(p.client.receive(5, TimeUnit.SECONDS));
    }
  }

  @Test
  void shouldFailASenderBlockedOnAFullQueueWhenTheReceiverCloses() throws Exception {
    try (DirectPair p = DirectPair.open(MAX, KERNEL_DEFAULT_SIZE)) {
      for (int i = 0; i < QueueSizes.DEFAULT_MAX_MESSAGES; i++) {
        p.client.send(new byte[] {(byte) i});
      }
      Future<?> blocked = executor.submit(() -> {
        p.client.send(new byte[] {42});
        return null;
      });
      assertThrows(java.util.concurrent.TimeoutException.class,
          () -> blocked.get(100, TimeUnit.MILLISECONDS), "the queue is full");
      p.server.close();
      ExecutionException e = assertThrows(ExecutionException.class,
          () -> blocked.get(5, TimeUnit.SECONDS));
      assertTrue(e.getCause() instanceof PeerClosedException, () -> "got " + e.getCause());
      assertThrows(PeerClosedException.class, () -> p.client.send(new byte[1]));
      assertNotNull(p.client.toString());
    }
  }
}
