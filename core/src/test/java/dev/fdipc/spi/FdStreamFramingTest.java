package dev.fdipc.spi;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.sun.jna.Native;
import com.sun.jna.Pointer;
import dev.fdipc.internal.LibC;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The framing of {@link FdStreamChannel} (PROTOCOL.md 10.1) does not depend on how the peer cut
 * its writes: ten framed messages in one {@code write(2)} and the same bytes one byte per
 * {@code write(2)} decode to the same messages.
 */
@Timeout(30)
class FdStreamFramingTest {
  /** Sizes around the channel's 64 KiB read buffer's small cases, 0 included; 42 KB in all. */
  private static final int[] SIZES = {0, 1, 3, 100, 4095, 4096, 4097, 10_000, 20_000, 7};

  @Test
  void tenMessagesInOneWriteDecodeLikeTheSameBytesOneBytePerWrite() throws Exception {
    ByteBuffer stream = framed(SIZES);
    List<byte[]> whole = decode(stream, false);
    List<byte[]> dribbled = decode(stream, true);
    assertEquals(SIZES.length, whole.size());
    for (int i = 0; i < SIZES.length; i++) {
      assertArrayEquals(message(i, SIZES[i]), whole.get(i), "message " + i + " from one write");
      assertArrayEquals(whole.get(i), dribbled.get(i), "message " + i + " one byte per write");
    }
  }

  /**
   * Writes {@code stream} into a pipe read by a new channel, in one write or one byte per write
   * (from another thread, while the channel reads), and receives every message.
   */
  private static List<byte[]> decode(ByteBuffer stream, boolean bytePerWrite) throws Exception {
    List<Fd> toChannel = Fd.pipe();
    List<Fd> fromChannel = Fd.pipe();
    Fd writeEnd = toChannel.get(1);
    long address = Pointer.nativeValue(Native.getDirectBufferPointer(stream));
    int length = stream.remaining();
    try (FdStreamChannel ch = new FdStreamChannel("test", 1 << 20, toChannel.get(0),
        fromChannel.get(1), List.of())) {
      CompletableFuture<Void> writer = CompletableFuture.runAsync(() -> {
        if (bytePerWrite) {
          for (int i = 0; i < length; i++) {
            write(writeEnd, address + i, 1);
          }
        } else {
          write(writeEnd, address, length);
        }
      });
      List<byte[]> got = new ArrayList<>();
      for (int i = 0; i < SIZES.length; i++) {
        got.add(ch.receive(10, SECONDS));
      }
      writer.get(10, SECONDS);
      writeEnd.close();
      assertEquals(null, ch.receive(10, SECONDS), "end of stream after the last message");
      return got;
    } finally {
      Fd.closeAll(List.of(writeEnd, fromChannel.get(0)));
    }
  }

  /** One {@code write(2)} that must take all {@code n} bytes (the pipe has room for them). */
  private static void write(Fd fd, long address, int n) {
    long done = LibC.write(fd.intValue(), address, n);
    if (done != n) {
      throw new AssertionError("write(2) took " + done + " of " + n + " bytes, errno "
          + LibC.errno());
    }
  }

  private static ByteBuffer framed(int[] sizes) {
    int total = 0;
    for (int s : sizes) {
      total += 4 + s;
    }
    ByteBuffer b = ByteBuffer.allocateDirect(total);
    for (int i = 0; i < sizes.length; i++) {
      b.putInt(sizes[i]).put(message(i, sizes[i]));
    }
    return b.flip();
  }

  private static byte[] message(int index, int size) {
    byte[] m = new byte[size];
    for (int j = 0; j < size; j++) {
      m[j] = (byte) (index * 31 + j);
    }
    return m;
  }
}
