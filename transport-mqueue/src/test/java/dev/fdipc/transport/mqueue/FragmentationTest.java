package dev.fdipc.transport.mqueue;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import dev.fdipc.IpcChannel;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Messages cut into fragments at the queue's message size and joined again. */
@Timeout(value = 60, unit = TimeUnit.SECONDS,
    threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class FragmentationTest {
  /**
   * The kernel's default message size, fixed: these tests count fragments of 8192-byte messages
   * and queue more than a queue sized to the RLIMIT_MSGQUEUE budget would hold.
   */
  private static final Map<String, String> KERNEL_DEFAULT_SIZE =
      Map.of(QueueSizes.MESSAGE_SIZE, Integer.toString(QueueSizes.DEFAULT_MESSAGE_SIZE));

  private static final int MAX = 1 << 20;
  private static final int PAYLOAD = QueueSizes.DEFAULT_MESSAGE_SIZE - MqueueChannel.HEADER;

  private final ExecutorService executor = Executors.newCachedThreadPool(r -> {
    Thread t = new Thread(r, "fragmentation");
    t.setDaemon(true);
    return t;
  });

  @AfterEach
  void stop() {
    executor.shutdownNow();
  }

  @Test
  void shouldSplitExactlyAtTheMessageSizeLessTheHeader() throws Exception {
    try (DirectPair p = DirectPair.open(MAX, KERNEL_DEFAULT_SIZE)) {
      int queue = inboundQueueOfServer(p);
      p.client.send(new byte[PAYLOAD]);
      assertEquals(1, queued(queue), PAYLOAD + " bytes: one kernel message");
      p.client.send(new byte[PAYLOAD + 1]);
      assertEquals(3, queued(queue), PAYLOAD + 1 + " bytes: two more");
      p.client.send(new byte[QueueSizes.DEFAULT_MESSAGE_SIZE]);
      assertEquals(5, queued(queue), "the message size itself needs two");
      p.client.send(new byte[0]);
      assertEquals(6, queued(queue), "an empty message is one header-only fragment");
      assertEquals(PAYLOAD, p.server.receive().length);
      assertEquals(PAYLOAD + 1, p.server.receive().length);
      assertEquals(QueueSizes.DEFAULT_MESSAGE_SIZE, p.server.receive().length);
      assertEquals(0, p.server.receive().length);
    }
  }

  @ParameterizedTest
  @ValueSource(ints = {0, 1, PAYLOAD - 1, PAYLOAD, PAYLOAD + 1, QueueSizes.DEFAULT_MESSAGE_SIZE,
      QueueSizes.DEFAULT_MESSAGE_SIZE + 1, 2 * PAYLOAD, 2 * PAYLOAD + 1, 10 * PAYLOAD,
      10 * PAYLOAD + 1, MAX - 1, MAX})
  void shouldCarryEveryBoundarySizeIntactBothWays(int size) throws Exception {
    try (DirectPair p = DirectPair.open(MAX, KERNEL_DEFAULT_SIZE)) {
      roundTrip(p.client, p.server, pattern(size, 1));
      roundTrip(p.server, p.client, pattern(size, 2));
    }
  }

  @Test
  void shouldWrapTheFragmentIndexOnMessagesOfMoreThan65536Fragments() throws Exception {
    int max = 4 << 20; // 74,899 fragments of 56 bytes
    try (DirectPair p = DirectPair.open(max, Map.of(QueueSizes.MESSAGE_SIZE, "64"))) {
      roundTrip(p.client, p.server, pattern(max, 3));
      roundTrip(p.server, p.client, pattern(max - 1, 4));
    }
  }

  @Test
  void shouldKeepOrderAndIntegrityUnderLoadWithSmallQueues() throws Exception {
    int count = 3000;
    long seed = System.nanoTime();
    try (DirectPair p = DirectPair.open(MAX, Map.of(QueueSizes.MESSAGE_SIZE, "512",
        QueueSizes.MAX_MESSAGES, "3"))) {
      Future<Long> sent = executor.submit(() -> {
        Random r = new Random(seed);
        CRC32 crc = new CRC32();
        for (int i = 0; i < count; i++) {
          byte[] m = pattern(r.nextInt(5000), i);
          if (m.length >= 4) {
            m[0] = (byte) (i >>> 24);
            m[1] = (byte) (i >>> 16);
            m[2] = (byte) (i >>> 8);
            m[3] = (byte) i;
          }
          crc.update(m);
          p.client.send(m);
        }
        return crc.getValue();
      });
      Random r = new Random(seed);
      CRC32 crc = new CRC32();
      for (int i = 0; i < count; i++) {
        byte[] got = p.server.receive(30, TimeUnit.SECONDS);
        assertNotNull(got);
        assertEquals(r.nextInt(5000), got.length, "length of message " + i + " (seed " + seed
            + ")");
        if (got.length >= 4) {
          assertEquals(i, (got[0] & 0xff) << 24 | (got[1] & 0xff) << 16 | (got[2] & 0xff) << 8
              | (got[3] & 0xff), "message out of order");
        }
        crc.update(got);
      }
      assertEquals(sent.get(30, TimeUnit.SECONDS), crc.getValue());
    }
  }

  private void roundTrip(IpcChannel from, IpcChannel to, byte[] m) throws Exception {
    Future<?> send = executor.submit(() -> {
      from.send(m);
      return null;
    });
    byte[] got = to.receive(30, TimeUnit.SECONDS);
    send.get(30, TimeUnit.SECONDS);
    assertArrayEquals(m, got, "a message of " + m.length + " bytes");
  }

  /** The descriptor number of the queue the server receives from. */
  private static int inboundQueueOfServer(DirectPair p) {
    return ((MqueueChannel) p.server).inboundQueue();
  }

  private static long queued(int queue) {
    return MqNative.mqGetattr(queue)[3];
  }

  static byte[] pattern(int size, int seed) {
    byte[] b = new byte[size];
    for (int i = 0; i < size; i++) {
      b[i] = (byte) (i * 31 + seed * 7 + (i >>> 8));
    }
    return b;
  }
}
