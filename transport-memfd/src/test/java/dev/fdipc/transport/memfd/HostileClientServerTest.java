package dev.fdipc.transport.memfd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.jna.Pointer;
import dev.fdipc.ClientSession;
import dev.fdipc.FdipcClient;
import dev.fdipc.FdipcServer;
import dev.fdipc.IpcChannel;
import dev.fdipc.ServerListener;
import dev.fdipc.TransportRegistry;
import dev.fdipc.spi.ClientEnd;
import dev.fdipc.spi.Fd;
import dev.fdipc.spi.ServerEnd;
import dev.fdipc.spi.TransportChannel;
import dev.fdipc.spi.TransportProvider;
import dev.fdipc.spi.TransportSettings;
import dev.fdipc.testkit.FdCount;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real server with two memfd clients, one of which corrupts its ring: the server logs the
 * corruption, ends that session, releases its region, and keeps serving the other client.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class HostileClientServerTest {
  @TempDir
  Path dir;

  /** The memfd provider, but the client side keeps a copy of the memfd for the test. */
  static final class Spying implements TransportProvider {
    final MemfdTransportProvider real = new MemfdTransportProvider();
    /** Copies of each client's memfd and of ring 1's data bell (the server's). */
    final BlockingQueue<Fd[]> regions = new LinkedBlockingQueue<>();

    @Override
    public String name() {
      return real.name();
    }

    @Override
    public Throwable unavailabilityCause() {
      return real.unavailabilityCause();
    }

    @Override
    public ServerEnd createServer(TransportSettings settings) throws IOException {
      return real.createServer(settings);
    }

    @Override
    public TransportChannel openClient(ClientEnd end, TransportSettings settings)
        throws IOException {
      regions.add(new Fd[] {end.fds().get(0).duplicate(), end.fds().get(3).duplicate()});
      return real.openClient(end, settings);
    }
  }

  @Test
  void corruptRingEndsOnlyThatSessionAndIsLogged() throws Exception {
    Spying spying = new Spying();
    TransportRegistry registry = TransportRegistry.of(spying);
    BlockingQueue<String> warnings = new LinkedBlockingQueue<>();
    BlockingQueue<Long> ended = new LinkedBlockingQueue<>();
    Path socket = dir.resolve("s.sock");
    try (FdipcServer server = FdipcServer.builder().socket(socket).registry(registry)
        .option("memfd.ring-size", "4096")
        .listener(new ServerListener() {
          @Override
          public void warning(String message, Throwable cause) {
            warnings.add(message);
          }

          @Override
          public void sessionEnded(ClientSession session) {
            ended.add(session.clientId());
          }
        })
        .handler(session -> {
          IpcChannel ch = session.channel();
          byte[] m;
          while ((m = ch.receive()) != null) {
            ch.send(m);
          }
        }).start()) {
      var fdsBefore = FdCount.snapshot();
      int mapsBefore = MemfdResourceTest.memfdMappings();
      IpcChannel good = FdipcClient.builder().socket(socket).registry(registry).clientId(1)
          .connect();
      Fd.closeAll(java.util.List.of(spying.regions.take()));
      IpcChannel bad = FdipcClient.builder().socket(socket).registry(registry).clientId(2)
          .connect();
      Fd[] stolen = spying.regions.take();
      Fd region = stolen[0];
      Fd serverBell = stolen[1];
      good.send(new byte[] {1});
      assertArrayEquals(new byte[] {1}, good.receive(5, TimeUnit.SECONDS));

      long size = Layout.mappingSize(4096);
      long address = MemfdNative.map(region, size);
      try {
        ByteBuffer raw = new Pointer(address).getByteBuffer(0, size)
            .order(ByteOrder.nativeOrder());
        bad.send(new byte[] {7});
        assertArrayEquals(new byte[] {7}, bad.receive(5, TimeUnit.SECONDS));
        // The next record position is 16: there, a record claiming more than the ring holds,
        // published in ring 1 (client to server), and the server's data bell rung as a producer
        // would to wake a sleeping consumer.
        raw.putInt(Layout.dataOffset(1, 4096) + 16, 1 << 30);
        raw.putInt(Layout.dataOffset(1, 4096) + 20, Layout.KIND_WHOLE);
        raw.putLong(Layout.RING_CONTROL[1] + Layout.CTL_TAIL, 64);
        ByteBuffer one = ByteBuffer.allocateDirect(8).order(ByteOrder.nativeOrder()).putLong(0, 1);
        dev.fdipc.internal.LibC.write(serverBell.intValue(),
            Pointer.nativeValue(com.sun.jna.Native.getDirectBufferPointer(one)), 8);
      } finally {
        MemfdNative.unmap(address, size);
        Fd.closeAll(java.util.List.of(region, serverBell));
      }
      assertEquals(2L, ended.poll(10, TimeUnit.SECONDS), "the hostile client's session ends");
      String warning = warnings.poll(10, TimeUnit.SECONDS);
      assertTrue(warning != null && warning.contains("client 2")
          && warning.contains("corrupted the shared ring"), "logged: " + warning);
      assertEquals(null, bad.receive(5, TimeUnit.SECONDS), "the hostile client sees the end");
      bad.close();

      for (int i = 0; i < 100; i++) {
        good.send(new byte[] {(byte) i});
        assertArrayEquals(new byte[] {(byte) i}, good.receive(5, TimeUnit.SECONDS));
      }
      good.close();
      assertEquals(1L, ended.poll(10, TimeUnit.SECONDS));
      assertEquals(mapsBefore, MemfdResourceTest.memfdMappings(), "a region stayed mapped");
      String diff = FdCount.diff(fdsBefore, FdCount.snapshot());
      assertTrue(diff.isEmpty(), "descriptors left behind:" + diff);
    }
  }
}
