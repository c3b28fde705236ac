package dev.fdipc.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.fdipc.BufferTooSmallException;
import dev.fdipc.MessageTooLargeException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.newsclub.net.unix.AFUNIXServerSocketChannel;
import org.newsclub.net.unix.AFUNIXSocketAddress;

@Timeout(20)
class UdsChannelTest {
  @TempDir
  Path dir;

  @Test
  void shouldCarryMessagesOfEverySizeWholeAndInOrderThenEndOfStream() throws Exception {
    Path path = dir.resolve("s.sock");
    try (AFUNIXServerSocketChannel server = AFUNIXServerSocketChannel.open()) {
      server.bind(AFUNIXSocketAddress.of(path));
      int[] sizes = {0, 1, 64, 4096, 300_000, 1 << 20, 7};
      byte[][] sent = new byte[sizes.length][];
      Random random = new Random(7);
      for (int i = 0; i < sizes.length; i++) {
        sent[i] = new byte[sizes[i]];
        random.nextBytes(sent[i]);
      }
      try (UdsChannel client = UdsChannel.connect(path, 1 << 20);
          UdsChannel peer = new UdsChannel(server.accept(), 1 << 20)) {
        Thread writer = new Thread(() -> {
          try {
            for (byte[] m : sent) {
              client.send(ByteBuffer.wrap(m));
            }
            client.close();
          } catch (Exception e) {
            throw new RuntimeException(e);
          }
        });
        writer.start();
        ByteBuffer dst = ByteBuffer.allocateDirect(1 << 20);
        for (byte[] m : sent) {
          dst.clear();
          assertEquals(m.length, peer.receive(dst, 1, TimeUnit.SECONDS));
          byte[] got = new byte[m.length];
          dst.flip().get(got);
          assertArrayEquals(m, got);
        }
        writer.join();
        dst.clear();
        assertEquals(-1, peer.receive(dst));
      }
    }
  }

  @Test
  void shouldKeepAMessageTooLargeForTheBufferAndRefuseOneTooLargeToSend() throws Exception {
    Path path = dir.resolve("s.sock");
    try (AFUNIXServerSocketChannel server = AFUNIXServerSocketChannel.open()) {
      server.bind(AFUNIXSocketAddress.of(path));
      try (UdsChannel client = UdsChannel.connect(path, 1024);
          UdsChannel peer = new UdsChannel(server.accept(), 1024)) {
        assertThrows(MessageTooLargeException.class, () -> client.send(new byte[1025]));
        byte[] m = {1, 2, 3, 4, 5};
        client.send(m);
        BufferTooSmallException e = assertThrows(BufferTooSmallException.class,
            () -> peer.receive(ByteBuffer.allocate(4)));
        assertEquals(5, e.messageSize());
        assertArrayEquals(m, peer.receive());
      }
    }
  }
}
