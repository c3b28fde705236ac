package dev.fdipc.transport.memfd;

import static dev.fdipc.spi.TransportChannel.WOULD_BLOCK;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.sun.jna.Native;
import com.sun.jna.Pointer;
import dev.fdipc.BufferTooSmallException;
import dev.fdipc.internal.LibC;
import dev.fdipc.spi.ClientEnd;
import dev.fdipc.spi.Fd;
import dev.fdipc.spi.Interest;
import dev.fdipc.spi.ServerEnd;
import dev.fdipc.spi.TransportChannel;
import dev.fdipc.spi.TransportSettings;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The non-blocking half of a memfd channel, driven by hand on one thread as an event loop drives
 * it: try, arm, wait for the bell, try again. Rings of 4 KiB, so records hold at most 1016 bytes
 * and a ring fills after a few messages.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class MemfdNonBlockingTest {
  private static final int CAPACITY = 4096;
  private static final int MAX = 1 << 20;
  private static final int BELL_MILLIS = 5_000;

  private final MemfdTransportProvider provider = new MemfdTransportProvider();
  private TransportChannel server;
  private TransportChannel client;

  @BeforeEach
  void connect() throws IOException {
    TransportSettings settings = new TransportSettings(MAX,
        Map.of(MemfdTransportProvider.RING_SIZE, Integer.toString(CAPACITY),
            MemfdTransportProvider.WAIT, "park"));
    ServerEnd end = provider.createServer(settings);
    server = end.channel();
    List<Fd> copies = new ArrayList<>();
    for (Fd f : end.clientFds()) {
      copies.add(f.duplicate());
    }
    Fd.closeAll(end.clientFds());
    client = provider.openClient(new ClientEnd(copies, end.parameters()), settings);
  }

  @AfterEach
  void close() throws IOException {
    client.close();
    server.close();
  }

  private static byte[] random(int n, long seed) {
    byte[] b = new byte[n];
    new SplittableRandom(seed).nextBytes(b);
    return b;
  }

  /** poll(2) on one descriptor: true if it reports {@code interest}'s events within the time. */
  private static boolean ready(Interest interest, int millis) {
    ByteBuffer pollfd = ByteBuffer.allocateDirect(8).order(ByteOrder.nativeOrder());
    pollfd.putInt(0, interest.fd()).putShort(4, interest.events()).putShort(6, (short) 0);
    int r = LibC.poll(Pointer.nativeValue(Native.getDirectBufferPointer(pollfd)), 1, millis);
    return r == 1 && (pollfd.getShort(6) & interest.events()) != 0;
  }

  private static byte[] bytes(ByteBuffer received, int length) {
    return Arrays.copyOf(received.flip().array(), length);
  }

  @Test
  void shouldReturnWouldBlockOnAnEmptyRing() throws IOException {
    assertEquals(WOULD_BLOCK, server.tryReceive(ByteBuffer.allocate(64)));
    assertEquals(WOULD_BLOCK, client.tryReceive(ByteBuffer.allocate(64)));
  }

  @Test
  void shouldRingTheArmedDataBellWhenThePeerPublishes() throws IOException {
    assertEquals(WOULD_BLOCK, server.tryReceive(ByteBuffer.allocate(64)));
    Interest interest = server.armReceive();
    assertNotNull(interest);
    assertEquals(Interest.READABLE, interest.events());
    assertFalse(ready(interest, 0), "the bell rang before anything was published");

    byte[] m = random(64, 1);
    assertTrue(client.trySend(ByteBuffer.wrap(m)));
    assertTrue(ready(interest, BELL_MILLIS), "the armed data bell did not ring");

    ByteBuffer dst = ByteBuffer.allocate(64);
    assertEquals(64, server.tryReceive(dst));
    assertArrayEquals(m, dst.array());
    assertFalse(ready(interest, 0), "the bell was not drained by the next tryReceive");
  }

  @Test
  void shouldNotRingAnUnarmedBell() throws IOException {
    Interest interest = server.armReceive();
    assertEquals(WOULD_BLOCK, server.tryReceive(ByteBuffer.allocate(64))); // disarms
    assertTrue(client.trySend(ByteBuffer.wrap(random(64, 2))));
    assertFalse(ready(interest, 0), "a consumer that was not waiting was signalled");
    assertEquals(64, server.tryReceive(ByteBuffer.allocate(64)));
  }

  @Test
  void shouldNotArmWhenAMessageIsAlreadyThere() throws IOException {
    assertTrue(client.trySend(ByteBuffer.wrap(random(10, 3))));
    assertNull(server.armReceive());
    assertEquals(10, server.tryReceive(ByteBuffer.allocate(64)));
  }

  @Test
  void shouldRejectTrySendWhenTheRingIsFullAndRingTheSpaceBellWhenItDrains() throws IOException {
    byte[] m = random(1000, 4);
    int sent = 0;
    ByteBuffer message = ByteBuffer.wrap(m);
    while (client.trySend(message)) {
      message = ByteBuffer.wrap(m);
      sent++;
    }
    assertEquals(0, message.position(), "a whole-message record was cut");
    assertTrue(sent >= 3, "only " + sent + " messages of 1000 bytes fit a 4 KiB ring");
    Interest space = client.armSend();
    assertNotNull(space);
    assertFalse(ready(space, 0), "the space bell rang while the ring was full");

    ByteBuffer dst = ByteBuffer.allocate(1000);
    assertEquals(1000, server.tryReceive(dst));
    assertArrayEquals(m, dst.array());
    assertTrue(ready(space, BELL_MILLIS), "the armed space bell did not ring");
    assertTrue(client.trySend(message));
    assertFalse(ready(space, 0), "the space bell was not drained by the next trySend");
    for (int i = 0; i < sent; i++) {
      assertEquals(1000, server.tryReceive(dst.clear()));
      assertArrayEquals(m, dst.array());
    }
    assertEquals(WOULD_BLOCK, server.tryReceive(dst.clear()));
  }

  @Test
  void shouldContinueTheSameFragmentedMessageAcrossTrySendsAndTryReceives() throws IOException {
    byte[] m = random(20_000, 5); // 20 fragments, five times the ring
    ByteBuffer message = ByteBuffer.wrap(m);
    ByteBuffer dst = ByteBuffer.allocate(MAX);
    int received = WOULD_BLOCK;
    int sendCalls = 0;
    int wouldBlocks = 0;
    while (received == WOULD_BLOCK) {
      if (message.hasRemaining()) {
        int before = message.position();
        boolean done = client.trySend(message);
        sendCalls++;
        assertTrue(done || message.position() < m.length);
        if (!done && message.position() == before) {
          Interest space = client.armSend();
          assertNotNull(space, "a full ring with nothing consumed offered room");
          assertEquals(WOULD_BLOCK, server.tryReceive(dst)); // consumes, rings the space bell
          wouldBlocks++;
          assertTrue(ready(space, BELL_MILLIS), "the armed space bell did not ring");
          continue;
        }
      }
      received = server.tryReceive(dst);
      if (received == WOULD_BLOCK) {
        wouldBlocks++;
        assertEquals(0, dst.position(), "a partial message was left in the caller's buffer");
      }
    }
    assertEquals(m.length, received);
    assertArrayEquals(m, bytes(dst, received));
    assertTrue(sendCalls > 1 && wouldBlocks > 1,
        "sendCalls=" + sendCalls + " wouldBlocks=" + wouldBlocks + ": nothing was interleaved");
  }

  @Test
  void shouldReceiveAFragmentedMessageInOneCallWhenAllOfItIsPublished() throws IOException {
    byte[] m = random(3_000, 6); // three fragments, within the ring
    assertTrue(client.trySend(ByteBuffer.wrap(m)));
    ByteBuffer dst = ByteBuffer.allocate(MAX);
    assertEquals(m.length, server.tryReceive(dst));
    assertArrayEquals(m, bytes(dst, m.length));
  }

  @Test
  void shouldAssembleAFragmentedMessageWhateverBufferEachCallPasses() throws IOException {
    byte[] big = random(10_000, 7); // larger than the ring: it cannot be published at once
    ByteBuffer out = ByteBuffer.wrap(big);
    int calls = 0;
    int got = WOULD_BLOCK;
    ByteBuffer dst = null;
    while (got == WOULD_BLOCK) {
      if (out.hasRemaining()) {
        client.trySend(out);
      }
      dst = ByteBuffer.allocate(MAX);
      got = server.tryReceive(dst);
      calls++;
    }
    assertEquals(big.length, got);
    assertArrayEquals(big, bytes(dst, got));
    assertTrue(calls > 1, "the message arrived in one call");
  }

  @Test
  void shouldKeepAStashedMessageWhenTheBufferIsTooSmall() throws IOException {
    byte[] big = random(6_000, 8);
    ByteBuffer out = ByteBuffer.wrap(big);
    assertFalse(client.trySend(out), "6000 bytes fit a 4 KiB ring");
    assertEquals(WOULD_BLOCK, server.tryReceive(ByteBuffer.allocate(MAX))); // stashes fragments
    assertThrows(BufferTooSmallException.class, () -> server.tryReceive(ByteBuffer.allocate(100)));
    assertTrue(client.trySend(out));
    ByteBuffer dst = ByteBuffer.allocate(MAX);
    assertEquals(big.length, server.tryReceive(dst));
    assertArrayEquals(big, bytes(dst, big.length));
  }

  @Test
  void shouldDeliverWhatThePeerPublishedBeforeClosingThenEndOfStream() throws IOException {
    byte[] m = random(100, 9);
    assertTrue(client.trySend(ByteBuffer.wrap(m)));
    ByteBuffer cut = ByteBuffer.wrap(random(6_000, 10));
    assertFalse(client.trySend(cut)); // a fragmented message the client never finishes
    client.close();
    assertNull(server.armReceive(), "armed although a message was there");
    ByteBuffer dst = ByteBuffer.allocate(MAX);
    assertEquals(100, server.tryReceive(dst));
    assertArrayEquals(m, bytes(dst, 100));
    assertEquals(-1, server.tryReceive(dst.clear()));
    assertEquals(0, dst.position(), "the unfinished message leaked into the buffer");
    assertEquals(-1, server.tryReceive(dst));
    assertNull(server.armReceive(), "armed at end of stream");
  }

  @Test
  void shouldDeliverWhatWasPublishedBeforePeerGoneThenEndOfStream() throws IOException {
    assertTrue(client.trySend(ByteBuffer.wrap(random(64, 11))));
    server.peerGone();
    assertEquals(64, server.tryReceive(ByteBuffer.allocate(64)));
    assertEquals(-1, server.tryReceive(ByteBuffer.allocate(64)));
  }

  @Test
  void shouldWakeAnArmedReceiverWhenThePeerCloses() throws IOException {
    Interest interest = server.armReceive();
    assertNotNull(interest);
    client.close();
    assertTrue(ready(interest, BELL_MILLIS), "the peer's close did not ring the data bell");
    assertEquals(-1, server.tryReceive(ByteBuffer.allocate(64)));
  }

  @Test
  void shouldNotBlockDrainingABellThePeerMadeBlocking() throws Exception {
    Interest interest = server.armReceive();
    assertNotNull(interest);
    // What a hostile client can do to the bell it shares: O_NONBLOCK is the open file's flag.
    int flags = LibC.fcntl(interest.fd(), LibC.F_GETFL);
    assertTrue(flags >= 0 && (flags & LibC.O_NONBLOCK) != 0, "the bell was not non-blocking");
    assertEquals(0, LibC.fcntl(interest.fd(), LibC.F_SETFL, flags & ~LibC.O_NONBLOCK));
    // The next tryReceive drains a bell nobody rang: it must return, not wait for a ring. It runs
    // on another thread so that a drain that blocks fails the test instead of hanging it.
    ExecutorService receiver = Executors.newSingleThreadExecutor();
    try {
      Future<Integer> n = receiver.submit(() -> server.tryReceive(ByteBuffer.allocate(64)));
      try {
        assertEquals(WOULD_BLOCK, n.get(5, TimeUnit.SECONDS));
      } catch (TimeoutException e) {
        ByteBuffer one = ByteBuffer.allocateDirect(8).order(ByteOrder.nativeOrder()).putLong(0, 1);
        LibC.write(interest.fd(), Pointer.nativeValue(Native.getDirectBufferPointer(one)), 8);
        fail("tryReceive blocked draining a bell whose O_NONBLOCK the peer cleared");
      }
    } finally {
      receiver.shutdown();
    }
  }
}
