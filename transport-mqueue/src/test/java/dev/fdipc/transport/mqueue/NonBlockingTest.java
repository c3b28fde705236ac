package dev.fdipc.transport.mqueue;

import static dev.fdipc.spi.TransportChannel.WOULD_BLOCK;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.jna.Native;
import com.sun.jna.Pointer;
import dev.fdipc.PeerClosedException;
import dev.fdipc.spi.Interest;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The non-blocking half an event loop drives: {@code tryReceive}/{@code trySend} never wait and
 * keep a message under way between calls, and the {@code Interest} from {@code arm*} becomes
 * ready when the queue can progress or the peer goes.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS,
    threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class NonBlockingTest {
  private static final int MAX = 1 << 20;
  /** Queues of two 64-byte messages: 56 bytes of payload per fragment, full after two. */
  private static final Map<String, String> TINY = Map.of(QueueSizes.MESSAGE_SIZE, "64",
      QueueSizes.MAX_MESSAGES, "2");
  private static final int PAYLOAD = 64 - MqueueChannel.HEADER;

  @Test
  void shouldReturnWouldBlockOnAnEmptyQueueAndLeaveTheBufferAlone() throws IOException {
    try (DirectPair p = DirectPair.open(MAX, Map.of())) {
      ByteBuffer dst = ByteBuffer.allocate(100);
      assertEquals(WOULD_BLOCK, p.server.tryReceive(dst));
      assertEquals(WOULD_BLOCK, p.client.tryReceive(dst));
      assertEquals(0, dst.position());
    }
  }

  @Test
  void shouldMakeTheReceiveInterestReadableWhenThePeerSends() throws IOException {
    try (DirectPair p = DirectPair.open(MAX, Map.of())) {
      ByteBuffer dst = ByteBuffer.allocate(100);
      assertEquals(WOULD_BLOCK, p.server.tryReceive(dst));
      Interest interest = p.server.armReceive();
      assertNotNull(interest);
      assertEquals(Interest.READABLE, interest.events());
      assertFalse(ready(interest, 0), "nothing sent yet");
      p.client.send(new byte[] {1, 2, 3});
      assertTrue(ready(interest, 5000));
      assertEquals(3, p.server.tryReceive(dst));
      assertEquals(WOULD_BLOCK, p.server.tryReceive(dst));
      assertSame(interest, p.server.armReceive(), "one interest for the channel's life");
      assertFalse(ready(interest, 0), "the queue is empty again");
    }
  }

  @Test
  void shouldMakeTheReceiveInterestReadableWhenThePeerCloses() throws IOException {
    try (DirectPair p = DirectPair.open(MAX, Map.of())) {
      ByteBuffer dst = ByteBuffer.allocate(100);
      assertEquals(WOULD_BLOCK, p.server.tryReceive(dst));
      Interest interest = p.server.armReceive();
      p.client.send(new byte[] {7});
      p.client.close();
      assertTrue(ready(interest, 5000));
      assertEquals(1, p.server.tryReceive(dst), "what the peer sent before it went comes first");
      assertEquals(-1, p.server.tryReceive(dst));
      assertEquals(-1, p.server.tryReceive(dst));
    }
  }

  @Test
  void shouldEndTheStreamOfATryReceiveAfterPeerGone() throws IOException {
    try (DirectPair p = DirectPair.open(MAX, Map.of())) {
      ByteBuffer dst = ByteBuffer.allocate(100);
      assertEquals(WOULD_BLOCK, p.server.tryReceive(dst));
      p.server.peerGone(); // the link is still open: only core knows
      assertEquals(-1, p.server.tryReceive(dst));
    }
  }

  @Test
  void shouldReturnFalseOnAFullQueueThenContinueTheSameFragmentedMessage() throws IOException {
    try (DirectPair p = DirectPair.open(MAX, TINY)) {
      byte[] m = FragmentationTest.pattern(10 * PAYLOAD + 5, 9); // 11 fragments
      ByteBuffer out = ByteBuffer.wrap(m);
      ByteBuffer in = ByteBuffer.allocate(m.length + 10);
      in.position(10);
      assertFalse(p.client.trySend(out), "11 fragments do not fit a queue of 2");
      assertTrue(out.position() > 0 && out.position() < m.length, "taken: " + out.position());
      Interest writable = p.client.armSend();
      assertNotNull(writable);
      assertFalse(ready(writable, 0), "the queue is full");
      int sends = 1;
      int receives = 0;
      int length = WOULD_BLOCK;
      boolean sent = false;
      while (length == WOULD_BLOCK) {
        length = p.server.tryReceive(in);
        receives++;
        if (length == WOULD_BLOCK) {
          assertFalse(sent, "every fragment was sent, yet the receiver lacks some");
          assertEquals(10, in.position(), "a partial message stays in the channel");
          assertTrue(ready(writable, 5000), "the receiver made room");
          int before = out.position();
          sent = p.client.trySend(out);
          sends++;
          assertTrue(out.position() > before || sent, "the send went on where it stopped");
        }
      }
      assertTrue(sent);
      assertEquals(m.length, length);
      assertEquals(10 + m.length, in.position());
      assertArrayEquals(m, java.util.Arrays.copyOfRange(in.array(), 10, 10 + m.length));
      assertTrue(sends >= 5 && receives >= 5, sends + " sends, " + receives + " receives");
      p.client.send(new byte[] {42}); // the stream is still in step
      assertEquals(42, p.server.receive(5, TimeUnit.SECONDS)[0]);
    }
  }

  @Test
  void shouldDeliverAFragmentedMessageAcrossSeveralTryReceiveCalls() throws IOException {
    try (DirectPair p = DirectPair.open(MAX, TINY)) {
      byte[] m = FragmentationTest.pattern(3 * PAYLOAD, 5);
      ByteBuffer out = ByteBuffer.wrap(m);
      ByteBuffer in = ByteBuffer.allocate(m.length);
      assertFalse(p.client.trySend(out));
      assertEquals(WOULD_BLOCK, p.server.tryReceive(in), "two of three fragments");
      Interest readable = p.server.armReceive();
      assertFalse(ready(readable, 0), "the receiver emptied the queue");
      assertTrue(p.client.trySend(out), "the third fragment fits now");
      assertTrue(ready(readable, 5000));
      assertEquals(m.length, p.server.tryReceive(in));
      assertArrayEquals(m, in.array());
    }
  }

  @Test
  void shouldMakeTheSendInterestReadyAndFailTheSendWhenThePeerClosesAFullQueue()
      throws IOException {
    try (DirectPair p = DirectPair.open(MAX, TINY)) {
      ByteBuffer out = ByteBuffer.wrap(new byte[3 * PAYLOAD]);
      assertFalse(p.client.trySend(out));
      Interest writable = p.client.armSend();
      assertFalse(ready(writable, 0));
      p.server.close();
      assertTrue(ready(writable, 5000), "the link hung up");
      assertThrows(PeerClosedException.class, () -> p.client.trySend(out));
    }
  }

  @Test
  void shouldCreateOneEpollDescriptorPerDirectionOnItsFirstWaitAndCloseThemWithTheChannel()
      throws IOException {
    int before = epollDescriptors();
    try (DirectPair p = DirectPair.open(MAX, TINY)) {
      assertEquals(before, epollDescriptors(), "none before anyone waits");
      p.server.armReceive();
      p.server.armReceive();
      assertEquals(before + 1, epollDescriptors());
      p.server.armSend();
      assertEquals(before + 2, epollDescriptors());
      p.server.close();
      assertEquals(before, epollDescriptors());
    }
  }

  /** Polls {@code interest} for up to {@code millis}; true if it was reported ready. */
  private static boolean ready(Interest interest, int millis) {
    ByteBuffer pollfd = ByteBuffer.allocateDirect(8).order(ByteOrder.nativeOrder());
    pollfd.putInt(0, interest.fd()).putShort(4, interest.events());
    int r = MqNative.Libc.poll(Pointer.nativeValue(Native.getDirectBufferPointer(pollfd)), 1,
        millis);
    assertTrue(r >= 0, () -> "poll: errno " + MqNative.errno());
    return r == 1;
  }

  private static int epollDescriptors() throws IOException {
    try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
      return (int) fds.filter(fd -> {
        try {
          return Files.readSymbolicLink(fd).toString().equals("anon_inode:[eventpoll]");
        } catch (IOException e) {
          return false; // the listing's own descriptor, closed meanwhile
        }
      }).count();
    }
  }
}
