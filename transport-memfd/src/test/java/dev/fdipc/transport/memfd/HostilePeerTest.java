package dev.fdipc.transport.memfd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.sun.jna.Native;
import com.sun.jna.Platform;
import com.sun.jna.Pointer;
import dev.fdipc.IpcTimeoutException;
import dev.fdipc.ProtocolException;
import dev.fdipc.internal.LibC;
import dev.fdipc.spi.ClientEnd;
import dev.fdipc.spi.Fd;
import dev.fdipc.spi.ServerEnd;
import dev.fdipc.spi.TransportChannel;
import dev.fdipc.spi.TransportSettings;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The client as an attacker: it maps the region it received and writes what it likes into the
 * parts the server reads. The server's channel must fail with {@link ProtocolException} — never
 * read outside the mapping, crash, or hang — and the memfd must refuse to change size or seals.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class HostilePeerTest {
  private static final int CAPACITY = 4096;
  private static final int MAX = 1 << 20;
  /** Ring 1 (client to server): what the server consumes. Ring 0: what it produces. */
  private static final int RX_CTL = Layout.RING_CONTROL[1];
  private static final int RX_DATA = Layout.dataOffset(1, CAPACITY);
  private static final int TX_CTL = Layout.RING_CONTROL[0];

  private final MemfdTransportProvider provider = new MemfdTransportProvider();
  private TransportChannel server;
  private TransportChannel client;
  private Fd memfd;
  private long rawAddress;
  private ByteBuffer raw;
  private int mapsBefore;

  /** fallocate(2) and open(2), which core's bindings do not need. */
  static final class Extra {
    static {
      Native.register(Platform.C_LIBRARY_NAME);
    }

    static native int fallocate(int fd, int mode, long offset, long len);

    static native int open(String path, int flags);
  }

  @BeforeEach
  void connect() throws IOException {
    mapsBefore = MemfdResourceTest.memfdMappings();
    TransportSettings settings = new TransportSettings(MAX,
        Map.of(MemfdTransportProvider.RING_SIZE, Integer.toString(CAPACITY),
            MemfdTransportProvider.WAIT, "park"));
    ServerEnd end = provider.createServer(settings);
    server = end.channel();
    memfd = end.clientFds().get(0).duplicate();
    // What core does: the client gets copies, the server's copies are closed.
    List<Fd> copies = new ArrayList<>();
    for (Fd f : end.clientFds()) {
      copies.add(f.duplicate());
    }
    Fd.closeAll(end.clientFds());
    client = provider.openClient(new ClientEnd(copies, end.parameters()), settings);
    long size = Layout.mappingSize(CAPACITY);
    rawAddress = MemfdNative.map(memfd, size);
    raw = new Pointer(rawAddress).getByteBuffer(0, size).order(ByteOrder.nativeOrder());
  }

  @AfterEach
  void close() throws IOException {
    client.close();
    server.close();
    MemfdNative.unmap(rawAddress, Layout.mappingSize(CAPACITY));
    memfd.close();
    assertEquals(mapsBefore, MemfdResourceTest.memfdMappings(), "memfd mappings leaked");
  }

  private void assertServerReceiveFails(String expected) {
    ProtocolException e = assertThrows(ProtocolException.class,
        () -> server.receive(ByteBuffer.allocate(MAX), 5, TimeUnit.SECONDS));
    assertTrue(e.getMessage().contains(expected), e.getMessage());
    // Sticky: the channel stays failed rather than reading on from a corrupt position.
    assertThrows(ProtocolException.class, () -> server.receive(ByteBuffer.allocate(MAX)));
  }

  private void publish(int len, int info, int tail) {
    raw.putInt(RX_DATA, len);
    raw.putInt(RX_DATA + 4, info);
    raw.putLong(RX_CTL + Layout.CTL_TAIL, tail);
  }

  @Test
  void rejectsTailBeyondTheRing() {
    raw.putLong(RX_CTL + Layout.CTL_TAIL, 2L * CAPACITY + 8);
    assertServerReceiveFails("tail=" + (2L * CAPACITY + 8));
  }

  @Test
  void rejectsUnalignedTail() {
    raw.putLong(RX_CTL + Layout.CTL_TAIL, 4);
    assertServerReceiveFails("tail=4");
  }

  @Test
  void rejectsNegativeTail() {
    raw.putLong(RX_CTL + Layout.CTL_TAIL, -8);
    assertServerReceiveFails("tail=-8");
  }

  @Test
  void rejectsTailMovingBackwards() throws IOException {
    client.send(new byte[16]);
    assertEquals(16, server.receive(ByteBuffer.allocate(64)));
    raw.putLong(RX_CTL + Layout.CTL_TAIL, 8);
    assertServerReceiveFails("tail=8");
  }

  @Test
  void rejectsRecordLengthPastTheCapacity() {
    publish(CAPACITY, (CAPACITY << 2) | Layout.KIND_WHOLE, 64);
    assertServerReceiveFails("record length " + CAPACITY);
  }

  @Test
  void rejectsNegativeRecordLength() {
    publish(-1, Layout.KIND_WHOLE, 64);
    assertServerReceiveFails("record length 4294967295");
  }

  @Test
  void rejectsRecordLongerThanWhatWasPublished() {
    publish(100, (100 << 2) | Layout.KIND_WHOLE, 16);
    assertServerReceiveFails("published bytes 16");
  }

  @Test
  void rejectsWholeRecordWhoseTotalDisagrees() {
    publish(8, (9 << 2) | Layout.KIND_WHOLE, 16);
    assertServerReceiveFails("whole-message record");
  }

  @Test
  void rejectsFragmentAnnouncingMoreThanTheMaximumMessage() {
    publish(8, ((MAX + 1) << 2) | Layout.KIND_FIRST, 16);
    assertServerReceiveFails("announcing " + (MAX + 1));
  }

  @Test
  void rejectsLastFragmentWithoutAFirst() {
    publish(8, Layout.KIND_LAST, 16);
    assertServerReceiveFails("no message started");
  }

  @Test
  void rejectsHeadMovedPastTheTailOnTheServersOutboundRing() throws IOException {
    raw.putLong(TX_CTL + Layout.CTL_HEAD, 1 << 20);
    // The head is only read when the ring looks full: fill it.
    ProtocolException e = assertThrows(ProtocolException.class, () -> {
      for (int i = 0; i < 100; i++) {
        server.send(new byte[512]);
      }
    });
    assertTrue(e.getMessage().contains("head=" + (1 << 20)), e.getMessage());
  }

  @Test
  void survivesGarbageWrittenWhileItReads() throws Exception {
    // The attacker rewrites the ring's control block and data with random bytes, including while
    // the server is between reading a length and copying the payload. The server may receive
    // whatever a consistent read produced, then must fail with ProtocolException: anything else
    // (another exception, a crash, a hang) is a bug.
    AtomicBoolean stop = new AtomicBoolean();
    Thread attacker = new Thread(() -> {
      SplittableRandom random = new SplittableRandom(42);
      while (!stop.get()) {
        int at = random.nextInt(2) == 0 ? RX_CTL + Layout.CTL_TAIL
            : RX_DATA + 8 * random.nextInt(CAPACITY / 8);
        raw.putLong(at, random.nextInt(4) == 0 ? random.nextLong() : random.nextInt(CAPACITY));
      }
    });
    attacker.start();
    try {
      ByteBuffer dst = ByteBuffer.allocate(MAX);
      for (int i = 0; ; i++) {
        dst.clear();
        try {
          server.receive(dst, 10, TimeUnit.MILLISECONDS);
        } catch (IpcTimeoutException e) {
          continue;
        } catch (ProtocolException e) {
          break;
        }
        if (i > 1_000_000) {
          fail("a million garbage reads and no ProtocolException");
        }
      }
    } finally {
      stop.set(true);
      attacker.join();
    }
  }

  @Test
  void memfdCannotBeShrunkGrownOrUnsealed() throws IOException {
    int fd = memfd.intValue();
    assertEperm("ftruncate smaller", MemfdNative.ftruncate(fd, 4096));
    assertEperm("ftruncate larger", MemfdNative.ftruncate(fd, 1 << 30));
    assertEperm("fallocate past the end", Extra.fallocate(fd, 0, Layout.mappingSize(CAPACITY),
        4096));
    assertEperm("add F_SEAL_WRITE", LibC.fcntl(fd, MemfdNative.F_ADD_SEALS, 0x0008));
    // Reopening through /proc gives a new open file description of the same inode: still sealed.
    int reopened = Extra.open("/proc/self/fd/" + fd, 02 /* O_RDWR */ | LibC.O_CLOEXEC);
    assertTrue(reopened >= 0, "reopen failed: errno " + LibC.errno());
    try (Fd again = Fd.of(reopened)) {
      assertEperm("ftruncate through /proc/self/fd", MemfdNative.ftruncate(reopened, 0));
      assertEperm("fallocate through /proc/self/fd", Extra.fallocate(reopened, 0,
          Layout.mappingSize(CAPACITY), 4096));
      assertEquals(MemfdNative.SEALS, MemfdNative.seals(again) & MemfdNative.SEALS);
    }
    // And the channel still works.
    client.send("still fine".getBytes());
    assertArrayEquals("still fine".getBytes(), server.receive(5, TimeUnit.SECONDS));
  }

  private static void assertEperm(String what, long result) {
    int errno = LibC.errno();
    assertEquals(-1, result, what + " succeeded");
    assertEquals(1, errno, what + ": expected EPERM, got errno " + errno);
  }

  @Test
  void clientRefusesAnUnsealedRegion() throws IOException {
    Fd plain = MemfdNative.create("unsealed");
    MemfdNative.resize(plain, Layout.mappingSize(CAPACITY));
    IOException e = openClientWith(plain, Map.of("layout", "1.0", "ring-size",
        Integer.toString(CAPACITY), "mapping-size", Long.toString(Layout.mappingSize(CAPACITY))));
    assertTrue(e.getMessage().contains("not sealed"), e.getMessage());
  }

  @Test
  void clientRefusesAnotherLayoutVersion() throws IOException {
    IOException e = openClientWith(memfd.duplicate(), Map.of("layout", "2.0", "ring-size",
        Integer.toString(CAPACITY), "mapping-size", Long.toString(Layout.mappingSize(CAPACITY))));
    assertTrue(e.getMessage().contains("version mismatch: client=1.0 server=2.0"),
        e.getMessage());
  }

  @Test
  void clientRefusesACorruptHeader() throws IOException {
    raw.putInt(Layout.OFF_MAGIC, 0x12345678);
    try {
      IOException e = openClientWith(memfd.duplicate(), Map.of("layout", "1.0", "ring-size",
          Integer.toString(CAPACITY), "mapping-size",
          Long.toString(Layout.mappingSize(CAPACITY))));
      assertTrue(e.getMessage().contains("magic=0x12345678"), e.getMessage());
    } finally {
      raw.putInt(Layout.OFF_MAGIC, Layout.MAGIC);
    }
  }

  @Test
  void clientRefusesSizesThatDisagreeWithTheRegion() throws IOException {
    IOException e = openClientWith(memfd.duplicate(), Map.of("layout", "1.0", "ring-size",
        "8192", "mapping-size", Long.toString(Layout.mappingSize(8192))));
    assertTrue(e.getMessage().contains("server announced"), e.getMessage());
  }

  private IOException openClientWith(Fd region, Map<String, String> params) throws IOException {
    List<Fd> fds = new ArrayList<>(List.of(region));
    for (int i = 0; i < 4; i++) {
      fds.add(MemfdNative.eventfd());
    }
    int before = MemfdResourceTest.memfdMappings();
    IOException e = assertThrows(IOException.class,
        () -> provider.openClient(new ClientEnd(fds, params), TransportSettings.of(MAX)));
    for (Fd f : fds) {
      assertTrue(!f.isOpen(), "openClient must close every fd it was given when it fails");
    }
    assertEquals(before, MemfdResourceTest.memfdMappings(), "a failed open left a mapping");
    return e;
  }
}
