package dev.fdipc.transport.memfd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.sun.jna.Pointer;
import dev.fdipc.BufferTooSmallException;
import dev.fdipc.IpcTimeoutException;
import dev.fdipc.PeerClosedException;
import dev.fdipc.ProtocolException;
import dev.fdipc.spi.ClientEnd;
import dev.fdipc.spi.Fd;
import dev.fdipc.spi.ServerEnd;
import dev.fdipc.spi.TransportChannel;
import dev.fdipc.spi.TransportSettings;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Timeout;

/**
 * Fuzzes the memfd ring's checks: everything a hostile peer can write into the shared region
 * (tail, head, record lengths and kinds, the header the client validates, the parameters of the
 * ACCEPT) comes from the fuzzer, on a real sealed memfd mapped by a real server and client
 * channel. Properties: only {@link ProtocolException} (sticky), {@link IpcTimeoutException},
 * {@link BufferTooSmallException} and {@link PeerClosedException} escape; no message longer than
 * the maximum is returned and no receive allocates beyond it; nothing waits for data that cannot
 * come; and an honest peer's messages arrive exactly as sent. {@link HostilePeerTest} has the
 * hand-written cases.
 *
 * <p>Saved inputs: {@code src/test/resources/dev/fdipc/transport/memfd/MemfdRingFuzzTestInputs/}.
 */
@Timeout(value = 20, unit = TimeUnit.SECONDS)
class MemfdRingFuzzTest {
  private static final int CAPACITY = 4096;
  private static final int MAX = 64 << 10;
  private static final int MAX_RECORD = Layout.maxRecord(CAPACITY);
  /** Ring 1 (client to server): what the server consumes. Ring 0: what it produces. */
  private static final int RX_CTL = Layout.RING_CONTROL[1];
  private static final int RX_DATA = Layout.dataOffset(1, CAPACITY);
  private static final int TX_CTL = Layout.RING_CONTROL[0];
  /**
   * Beyond the caller's buffer, a receive may allocate the stash of a timed-out fragmented message
   * (at most MAX) and, the first time an exception or message is built, what the JVM needs to link
   * it (a few MiB while Jazzer instruments). A length taken from the ring and allocated unchecked
   * (up to 2^30 from the info field) is far above this.
   */
  private static final long RECEIVE_ALLOCATION_LIMIT = MAX + (16 << 20);
  private static final com.sun.management.ThreadMXBean THREADS =
      (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

  private static final MemfdTransportProvider PROVIDER = new MemfdTransportProvider();
  private static final TransportSettings SETTINGS = new TransportSettings(MAX,
      Map.of(MemfdTransportProvider.RING_SIZE, Integer.toString(CAPACITY),
          MemfdTransportProvider.WAIT, "park"));

  /** A server and client channel, and the region mapped once more for the attacker. */
  private static final class Pair implements AutoCloseable {
    final TransportChannel server;
    final TransportChannel client;
    final long rawAddress;
    final ByteBuffer raw;

    Pair() throws IOException {
      ServerEnd end = PROVIDER.createServer(SETTINGS);
      server = end.channel();
      List<Fd> copies = new ArrayList<>();
      for (Fd f : end.clientFds()) {
        copies.add(f.duplicate());
      }
      try (Fd memfd = end.clientFds().get(0).duplicate()) {
        Fd.closeAll(end.clientFds());
        client = PROVIDER.openClient(new ClientEnd(copies, end.parameters()), SETTINGS);
        rawAddress = MemfdNative.map(memfd, Layout.mappingSize(CAPACITY));
      }
      raw = new Pointer(rawAddress).getByteBuffer(0, Layout.mappingSize(CAPACITY))
          .order(ByteOrder.nativeOrder());
    }

    @Override
    public void close() throws IOException {
      try {
        client.close();
        server.close();
      } finally {
        MemfdNative.unmap(rawAddress, Layout.mappingSize(CAPACITY));
      }
    }
  }

  /**
   * The client as attacker on the ring the server consumes: it writes record headers, payload
   * bytes, the tail and the closed flag in any order, mixed with honest sends, and the server
   * receives in between. At the end the producer is marked closed and the server drains: that
   * must end (end of stream or a ProtocolException) within one pass over the ring.
   */
  @FuzzTest(maxDuration = "5m")
  void consumer(FuzzedDataProvider data) throws IOException {
    try (Pair p = new Pair()) {
      ProtocolException failed = null;
      long clientTail = 0; // what the honest client has published
      int steps = data.consumeInt(0, 24);
      for (int i = 0; i < steps && failed == null; i++) {
        switch (data.consumeInt(0, 5)) {
          case 0: { // a record header at an aligned position
            int at = 8 * data.consumeInt(0, CAPACITY / 8 - 1);
            p.raw.putInt(RX_DATA + at, data.consumeBoolean() ? data.consumeInt()
                : data.consumeInt(0, MAX_RECORD + 8));
            p.raw.putInt(RX_DATA + at + 4, data.consumeBoolean() ? data.consumeInt()
                : (data.consumeInt(0, MAX + 8) << 2) | data.consumeInt(0, 3));
            break;
          }
          case 1: { // payload bytes anywhere in the ring
            int at = data.consumeInt(0, CAPACITY - 1);
            byte[] b = data.consumeBytes(CAPACITY - at);
            p.raw.put(RX_DATA + at, b);
            break;
          }
          case 2: { // the tail: near the head, or anything
            long tail = p.raw.getLong(RX_CTL + Layout.CTL_HEAD);
            p.raw.putLong(RX_CTL + Layout.CTL_TAIL, data.consumeBoolean() ? data.consumeLong()
                : tail + 8L * data.consumeInt(-2, CAPACITY / 8 + 2));
            break;
          }
          case 3: // an honest message, if it fits without waiting
            byte[] m = data.consumeBytes(MAX_RECORD);
            long head = p.raw.getLong(RX_CTL + Layout.CTL_HEAD);
            if (p.client.isOpen() && head <= clientTail
                && CAPACITY - (clientTail - head) >= Layout.recordSize(m.length)) {
              try {
                p.client.send(m);
                clientTail += Layout.recordSize(m.length);
              } catch (ProtocolException e) {
                // The server consumed the attacker's records past what this client published,
                // and the client's producer check saw that head: fine, stop sending.
                p.client.close();
              }
            }
            break;
          case 4:
            p.raw.putInt(RX_CTL + Layout.CTL_PRODUCER_CLOSED, data.consumeInt(0, 1));
            break;
          default:
            failed = receive(p.server, data.consumeInt(0, MAX), 0);
        }
      }
      if (failed == null) {
        p.raw.putInt(RX_CTL + Layout.CTL_PRODUCER_CLOSED, 1);
        for (int n = 0; failed == null; n++) {
          assertTrue(n <= CAPACITY / Layout.RECORD_HEADER + 1, "more receives than records");
          ProtocolException e = receive(p.server, MAX, TimeUnit.SECONDS.toMillis(5));
          if (e == null && lastReceived < 0) {
            return;
          }
          failed = e;
        }
      }
      ProtocolException first = failed;
      ProtocolException again = assertThrows(ProtocolException.class,
          () -> p.server.receive(ByteBuffer.allocate(MAX)), "a failed ring must stay failed");
      assertEquals(first.getMessage(), again.getMessage());
    }
  }

  private static int lastReceived;

  /**
   * One receive into a buffer of {@code room} bytes; returns the ProtocolException if the ring was
   * found corrupt, else null with the length (or -1) in {@link #lastReceived}.
   */
  private static ProtocolException receive(TransportChannel server, int room, long timeoutMillis)
      throws IOException {
    long before = THREADS.getCurrentThreadAllocatedBytes();
    lastReceived = 0;
    try {
      lastReceived = server.receive(ByteBuffer.allocate(room), timeoutMillis,
          TimeUnit.MILLISECONDS);
      assertTrue(lastReceived >= -1 && lastReceived <= room, "received " + lastReceived);
    } catch (ProtocolException e) {
      assertNotNull(e.getMessage());
      return e;
    } catch (IpcTimeoutException e) {
      if (timeoutMillis > 0) {
        fail("the server waited " + timeoutMillis + " ms on a ring whose producer is closed");
      }
    } catch (BufferTooSmallException e) {
      assertTrue(e.messageSize() > room && e.messageSize() <= MAX, e.getMessage());
    } finally {
      long allocated = THREADS.getCurrentThreadAllocatedBytes() - before - room;
      assertTrue(allocated <= RECEIVE_ALLOCATION_LIMIT, "a receive allocated " + allocated);
    }
    return null;
  }

  /**
   * The client as attacker on the ring the server produces into: it moves the consumer's head
   * while the server sends. The server must fail with ProtocolException, or with
   * PeerClosedException once the ring is full (the consumer is marked closed so that a full ring
   * ends the send instead of waiting for a reader that never comes).
   */
  @FuzzTest(maxDuration = "5m")
  void producer(FuzzedDataProvider data) throws IOException {
    try (Pair p = new Pair()) {
      p.raw.putInt(TX_CTL + Layout.CTL_CONSUMER_CLOSED, 1);
      int steps = data.consumeInt(0, 24);
      for (int i = 0; i < steps; i++) {
        if (data.consumeBoolean()) {
          long tail = p.raw.getLong(TX_CTL + Layout.CTL_TAIL);
          p.raw.putLong(TX_CTL + Layout.CTL_HEAD, data.consumeBoolean() ? data.consumeLong()
              : tail + 8L * data.consumeInt(-CAPACITY / 8 - 2, 2));
          continue;
        }
        try {
          p.server.send(new byte[data.consumeInt(0, 3 * MAX_RECORD)]);
        } catch (ProtocolException e) {
          assertThrows(ProtocolException.class, () -> p.server.send(new byte[1]),
              "a failed ring must stay failed");
          return;
        } catch (PeerClosedException e) {
          return;
        }
      }
    }
  }

  /**
   * Honest peers: messages of any size up to three records (so whole, first, middle and last
   * records all occur, wrapping around the ring's end) arrive exactly as sent, in order, both ways.
   */
  @FuzzTest(maxDuration = "5m")
  void roundTrip(FuzzedDataProvider data) throws IOException {
    try (Pair p = new Pair()) {
      Map<TransportChannel, ArrayDeque<byte[]>> pending = new HashMap<>();
      pending.put(p.server, new ArrayDeque<>());
      pending.put(p.client, new ArrayDeque<>());
      Map<TransportChannel, Long> queued = new HashMap<>(Map.of(p.server, 0L, p.client, 0L));
      while (data.remainingBytes() > 0) {
        boolean toServer = data.consumeBoolean();
        TransportChannel from = toServer ? p.client : p.server;
        TransportChannel to = toServer ? p.server : p.client;
        byte[] m = data.consumeBytes(data.consumeInt(0, 3 * MAX_RECORD));
        long need = ringBytes(m.length);
        if (queued.get(to) + need > CAPACITY) { // it would wait for a reader: read first
          drain(to, pending.get(to));
          queued.put(to, 0L);
        }
        from.send(m);
        pending.get(to).add(m);
        queued.put(to, queued.get(to) + need);
      }
      drain(p.server, pending.get(p.server));
      drain(p.client, pending.get(p.client));
      // Nothing more than was sent.
      assertThrows(IpcTimeoutException.class, () -> p.server.receive(0, TimeUnit.MILLISECONDS));
      assertThrows(IpcTimeoutException.class, () -> p.client.receive(0, TimeUnit.MILLISECONDS));
    }
  }

  private static long ringBytes(int length) {
    if (length <= MAX_RECORD) {
      return Layout.recordSize(length);
    }
    long bytes = 0;
    for (int left = length; left > 0; left -= MAX_RECORD) {
      bytes += Layout.recordSize(Math.min(left, MAX_RECORD));
    }
    return bytes;
  }

  private static void drain(TransportChannel to, ArrayDeque<byte[]> expected) throws IOException {
    while (!expected.isEmpty()) {
      byte[] got = to.receive(5, TimeUnit.SECONDS);
      assertNotNull(got, "end of stream with messages outstanding");
      assertArrayEquals(expected.poll(), got);
    }
  }

  /**
   * The checks the client makes before it maps what the server sent: the ACCEPT parameters
   * (layout, ring-size, mapping-size) and the region's header come from the fuzzer. The client
   * either opens a working channel (only for a valid header and parameters) or fails with an
   * IOException having closed every fd and left no mapping.
   */
  @FuzzTest(maxDuration = "5m")
  void openClient(FuzzedDataProvider data) throws IOException {
    long size = Layout.mappingSize(CAPACITY);
    Fd memfd = MemfdNative.create("fdipc");
    boolean valid = true;
    try {
      MemfdNative.resize(memfd, size);
      long address = MemfdNative.map(memfd, size);
      try {
        ByteBuffer h = new Pointer(address).getByteBuffer(0, Layout.HEADER_SIZE)
            .order(ByteOrder.nativeOrder());
        valid &= put(data, h::putInt, Layout.OFF_MAGIC, Layout.MAGIC);
        int major = data.consumeBoolean() ? Layout.MAJOR : data.consumeInt(0, 0xffff);
        valid &= major == Layout.MAJOR;
        h.putShort(Layout.OFF_MAJOR, (short) major);
        h.putShort(Layout.OFF_MINOR, data.consumeShort());
        valid &= put(data, h::putInt, Layout.OFF_HEADER_SIZE, Layout.HEADER_SIZE);
        valid &= put(data, h::putInt, Layout.OFF_CAPACITY, CAPACITY);
        valid &= put(data, h::putInt, Layout.OFF_MAX_RECORD, MAX_RECORD);
        long mapping = data.consumeBoolean() ? size : data.consumeLong();
        valid &= mapping == size;
        h.putLong(Layout.OFF_MAPPING_SIZE, mapping);
        valid &= put(data, h::putInt, Layout.OFF_READY, 1);
      } finally {
        MemfdNative.unmap(address, size);
      }
      if (data.consumeBoolean()) {
        MemfdNative.seal(memfd);
      } else {
        valid = false;
      }
    } catch (IOException | RuntimeException e) {
      memfd.close();
      throw e;
    }
    Map<String, String> params = new HashMap<>();
    valid &= param(data, params, "layout", Layout.MAJOR + "." + data.consumeInt(0, 9));
    valid &= param(data, params, "ring-size", Integer.toString(CAPACITY));
    valid &= param(data, params, "mapping-size", Long.toString(size));
    List<Fd> fds = new ArrayList<>(List.of(memfd));
    for (int i = 0; i < 4; i++) {
      fds.add(MemfdNative.eventfd());
    }
    int mappings = MemfdResourceTest.memfdMappings();
    TransportChannel channel;
    try {
      channel = PROVIDER.openClient(new ClientEnd(fds, params), SETTINGS);
    } catch (IOException e) {
      assertNotNull(e.getMessage());
      assertFalse(valid, () -> "a valid region was refused: " + e.getMessage());
      for (Fd f : fds) {
        assertFalse(f.isOpen(), "openClient must close every fd it was given when it fails");
      }
      assertEquals(mappings, MemfdResourceTest.memfdMappings(), "a failed open left a mapping");
      return;
    }
    try {
      assertTrue(valid, "the client opened a region it should have refused: " + params);
    } finally {
      channel.close();
    }
  }

  private interface IntPut {
    ByteBuffer put(int index, int value);
  }

  /** Writes the right value or a fuzzed one; true if it is the right one. */
  private static boolean put(FuzzedDataProvider data, IntPut put, int offset, int right) {
    int v = data.consumeBoolean() ? right : data.consumeInt();
    put.put(offset, v);
    return v == right;
  }

  /** The right value, a fuzzed string or nothing; true if the right one. */
  private static boolean param(FuzzedDataProvider data, Map<String, String> params, String key,
      String right) {
    switch (data.consumeInt(0, 2)) {
      case 0:
        params.put(key, right);
        return true;
      case 1:
        String v = data.consumeString(24);
        params.put(key, v);
        if (key.equals("layout")) {
          return v.startsWith(Layout.MAJOR + ".");
        }
        try {
          return Long.parseLong(v) == Long.parseLong(right);
        } catch (NumberFormatException e) {
          return false;
        }
      default:
        return false;
    }
  }
}
