package dev.fdipc.transport.memfd;

import com.google.auto.service.AutoService;
import com.sun.jna.Pointer;
import dev.fdipc.spi.Availability;
import dev.fdipc.spi.ClientEnd;
import dev.fdipc.spi.Fd;
import dev.fdipc.spi.ServerEnd;
import dev.fdipc.spi.TransportChannel;
import dev.fdipc.spi.TransportProvider;
import dev.fdipc.spi.TransportSettings;
import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * Shared-memory rings in a sealed memfd: the fastest transport. The server creates one memfd per
 * client, sizes it, writes the {@link Layout} header, seals it against shrinking and growing, and
 * passes it with four eventfd doorbells (fds: memfd, ring 0 data, ring 0 space, ring 1 data, ring
 * 1 space). Ring 0 carries server to client, ring 1 client to server.
 *
 * <p>Options (server: {@code --transport-option memfd.ring-size=N}; either side for the others):
 * <ul>
 *   <li>{@code memfd.ring-size}: bytes per ring, a power of two from 4 KiB to 64 MiB, default
 *       512 KiB (set by the server);</li>
 *   <li>{@code memfd.wait}: {@code spin-park} (default), {@code spin} or {@code park};</li>
 *   <li>{@code memfd.spin-micros}: how long {@code spin-park} spins, default 30.</li>
 * </ul>
 *
 * <p>A memfd has no end of stream, so the death of the peer is learnt from the control connection
 * ({@link TransportChannel#peerGone()}) and a clean close from the ring's "closed" flags.
 */
@AutoService(TransportProvider.class)
public final class MemfdTransportProvider implements TransportProvider {
  /** The transport's name. */
  public static final String NAME = "memfd";

  static final String RING_SIZE = "memfd.ring-size";
  static final String WAIT = "memfd.wait";
  static final String SPIN_MICROS = "memfd.spin-micros";
  private static final Set<String> OPTIONS = Set.of(RING_SIZE, WAIT, SPIN_MICROS);
  private static final long DEFAULT_SPIN_MICROS = 30;

  private static final VarHandle INT =
      MethodHandles.byteBufferViewVarHandle(int[].class, ByteOrder.nativeOrder());

  private static final Availability AVAILABILITY = Availability.probe(NAME, () -> {
    try (Fd fd = MemfdNative.create("fdipc-probe")) {
      MemfdNative.resize(fd, 4096);
      MemfdNative.seal(fd);
      MemfdNative.unmap(MemfdNative.map(fd, 4096), 4096);
    }
    MemfdNative.eventfd().close();
    return null;
  });

  /** Public no-arg constructor for {@link java.util.ServiceLoader}. */
  public MemfdTransportProvider() {}

  @Override
  public String name() {
    return NAME;
  }

  /** The fastest transport here: preferred when the client leaves the choice to the server. */
  @Override
  public int priority() {
    return 8;
  }

  @Override
  public Throwable unavailabilityCause() {
    return AVAILABILITY.unavailabilityCause();
  }

  @Override
  public void checkOptions(TransportSettings settings) {
    for (String key : settings.options().keySet()) {
      if (key.startsWith(NAME + ".") && !OPTIONS.contains(key)) {
        throw new IllegalArgumentException("unknown option " + key + "; memfd knows "
            + RING_SIZE + ", " + WAIT + " and " + SPIN_MICROS);
      }
    }
    ringSize(settings);
    waitStrategy(settings);
    spinNanos(settings);
  }

  static int ringSize(TransportSettings settings) {
    String v = settings.option(RING_SIZE).orElse(null);
    if (v == null) {
      return Layout.DEFAULT_CAPACITY;
    }
    try {
      return Layout.checkCapacity(Long.parseLong(v.trim()));
    } catch (NumberFormatException e) {
      return Layout.checkCapacity(-1);
    }
  }

  static WaitStrategy waitStrategy(TransportSettings settings) {
    return settings.option(WAIT).map(WaitStrategy::of).orElse(WaitStrategy.SPIN_THEN_PARK);
  }

  static long spinNanos(TransportSettings settings) {
    String v = settings.option(SPIN_MICROS).orElse(null);
    long micros;
    try {
      micros = v == null ? DEFAULT_SPIN_MICROS : Long.parseLong(v.trim());
    } catch (NumberFormatException e) {
      micros = -1;
    }
    if (micros < 0 || micros > 1_000_000) {
      throw new IllegalArgumentException(SPIN_MICROS + "=" + v
          + " is not allowed: use 0 to 1000000 microseconds (default " + DEFAULT_SPIN_MICROS + ")");
    }
    return TimeUnit.MICROSECONDS.toNanos(micros);
  }

  @Override
  public ServerEnd createServer(TransportSettings settings) throws IOException {
    AVAILABILITY.ensureAvailable();
    int capacity = ringSize(settings);
    long size = Layout.mappingSize(capacity);
    List<Fd> opened = new ArrayList<>();
    long address = 0;
    try {
      Fd memfd = MemfdNative.create("fdipc");
      opened.add(memfd);
      MemfdNative.resize(memfd, size);
      address = MemfdNative.map(memfd, size);
      ByteBuffer header = new Pointer(address).getByteBuffer(0, Layout.HEADER_SIZE)
          .order(ByteOrder.nativeOrder());
      header.putInt(Layout.OFF_MAGIC, Layout.MAGIC);
      header.putShort(Layout.OFF_MAJOR, (short) Layout.MAJOR);
      header.putShort(Layout.OFF_MINOR, (short) Layout.MINOR);
      header.putInt(Layout.OFF_HEADER_SIZE, Layout.HEADER_SIZE);
      header.putInt(Layout.OFF_CAPACITY, capacity);
      header.putInt(Layout.OFF_MAX_RECORD, Layout.maxRecord(capacity));
      header.putLong(Layout.OFF_MAPPING_SIZE, size);
      // Sealed before the fd can leave this process: a client that could shrink the file would
      // make the server's next access to the mapping fault.
      MemfdNative.seal(memfd);
      INT.setRelease(header, Layout.OFF_READY, 1);

      List<Fd> bells = new ArrayList<>(4);
      List<Fd> clientFds = new ArrayList<>(List.of(memfd));
      for (int i = 0; i < 4; i++) {
        Fd bell = MemfdNative.eventfd();
        opened.add(bell);
        bells.add(bell);
        Fd copy = bell.duplicate();
        opened.add(copy);
        clientFds.add(copy);
      }
      MemfdChannel channel = new MemfdChannel(settings.maxMessageSize(), address, size, capacity,
          0, bells, waitStrategy(settings), spinNanos(settings));
      return new ServerEnd(channel, clientFds, Map.of(
          "layout", Layout.MAJOR + "." + Layout.MINOR,
          "ring-size", Integer.toString(capacity),
          "mapping-size", Long.toString(size)));
    } catch (IOException | RuntimeException e) {
      MemfdNative.unmapAfter(e, address, size);
      Fd.closeAllAfter(e, opened);
      throw e;
    }
  }

  @Override
  public TransportChannel openClient(ClientEnd end, TransportSettings settings)
      throws IOException {
    long address = 0;
    long size = 0;
    try {
      Fd memfd = end.fd(NAME, 0, 5);
      String layout = end.parameter(NAME, "layout");
      if (!layout.startsWith(Layout.MAJOR + ".")) {
        throw new IOException("memfd layout version mismatch: client=" + Layout.MAJOR + "."
            + Layout.MINOR + " server=" + layout + "; use client and server of the same major "
            + "version");
      }
      int capacity;
      try {
        capacity = Layout.checkCapacity(Long.parseLong(end.parameter(NAME, "ring-size")));
        size = Long.parseLong(end.parameter(NAME, "mapping-size"));
      } catch (IllegalArgumentException e) {
        throw new IOException("memfd: server sent unusable sizes: " + e.getMessage(), e);
      }
      if (size != Layout.mappingSize(capacity) || MemfdNative.size(memfd) != size) {
        throw new IOException("memfd: region is " + MemfdNative.size(memfd) + " bytes, server "
            + "announced " + size + " for rings of " + capacity);
      }
      int seals = MemfdNative.seals(memfd);
      if ((seals & MemfdNative.SEALS) != MemfdNative.SEALS) {
        throw new IOException("memfd: region is not sealed (seals=0x" + Integer.toHexString(seals)
            + "); refusing to map memory the server could shrink under this process");
      }
      address = MemfdNative.map(memfd, size);
      checkHeader(new Pointer(address).getByteBuffer(0, Layout.HEADER_SIZE)
          .order(ByteOrder.nativeOrder()), capacity, size);
      memfd.close(); // the mapping stays; the descriptor is not needed any more
      return new MemfdChannel(settings.maxMessageSize(), address, size, capacity, 1,
          end.fds().subList(1, 5), waitStrategy(settings), spinNanos(settings));
    } catch (IOException | RuntimeException e) {
      MemfdNative.unmapAfter(e, address, size);
      Fd.closeAllAfter(e, end.fds());
      throw e;
    }
  }

  private static void checkHeader(ByteBuffer h, int capacity, long size) throws IOException {
    int ready = (int) INT.getAcquire(h, Layout.OFF_READY);
    int magic = h.getInt(Layout.OFF_MAGIC);
    int major = h.getShort(Layout.OFF_MAJOR) & 0xffff;
    int minor = h.getShort(Layout.OFF_MINOR) & 0xffff;
    if (ready != 1 || magic != Layout.MAGIC) {
      throw new IOException("memfd: region header not ready or not fdipc's (ready=" + ready
          + " magic=0x" + Integer.toHexString(magic) + ")");
    }
    if (major != Layout.MAJOR) {
      throw new IOException("memfd layout version mismatch: client=" + Layout.MAJOR + "."
          + Layout.MINOR + " region=" + major + "." + minor);
    }
    if (h.getInt(Layout.OFF_HEADER_SIZE) != Layout.HEADER_SIZE
        || h.getInt(Layout.OFF_CAPACITY) != capacity
        || h.getInt(Layout.OFF_MAX_RECORD) != Layout.maxRecord(capacity)
        || h.getLong(Layout.OFF_MAPPING_SIZE) != size) {
      throw new IOException("memfd: region header disagrees with the server's parameters: "
          + "headerSize=" + h.getInt(Layout.OFF_HEADER_SIZE) + " capacity="
          + h.getInt(Layout.OFF_CAPACITY) + " maxRecord=" + h.getInt(Layout.OFF_MAX_RECORD)
          + " mappingSize=" + h.getLong(Layout.OFF_MAPPING_SIZE) + ", expected capacity="
          + capacity + " mappingSize=" + size);
    }
  }
}
