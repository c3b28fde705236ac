package dev.fdipc.transport.memfd;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import dev.fdipc.internal.LibC;
import dev.fdipc.spi.Fd;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Resets an eventfd bell's count without ever blocking, whatever the peer did to the bell.
 *
 * <p>{@code O_NONBLOCK} is a flag of the open file description, which the two processes share
 * because the descriptor was passed: a hostile peer can clear it, and then a plain {@code read(2)}
 * of a bell nobody rang blocks for good (on an event loop, every session with it). So the read is
 * {@code preadv2(.., RWF_NOWAIT)}, which does not wait whatever the file's flags (eventfd supports
 * it on current kernels, checked on 6.18). Where the kernel refuses the flag, the bell is polled
 * with a zero timeout first, which leaves only a peer racing to empty its own bell able to block
 * the read.
 *
 * <p>One instance per thread role (the iovec and the count are its own); not thread-safe.
 */
final class BellDrain {
  private static final int RWF_NOWAIT = 0x8;
  private static final int EOPNOTSUPP = 95;
  private static final int ENOSYS = 38;
  /** False once the kernel refused RWF_NOWAIT on an eventfd. */
  private static volatile boolean noWait = true;

  /**
   * struct iovec {base, length} at 0, the 8-byte count it points to at 16, pollfd at 24. JNA
   * memory, freed by {@link #close()}: a direct buffer would leave a cleaner per channel for the
   * garbage collector, thousands after a burst of short connections.
   */
  private final Memory mem = new Memory(32);
  private final ByteBuffer buf = new Pointer(Pointer.nativeValue(mem)).getByteBuffer(0, 32)
      .order(ByteOrder.nativeOrder());
  private final long bufAddress = Pointer.nativeValue(mem);

  BellDrain() {
    buf.putLong(0, bufAddress + 16).putLong(8, 8);
  }

  /** Frees the memory; the channel calls it once no thread can drain any more. */
  void close() {
    mem.close();
  }

  /** Resets {@code bell}'s count if it was rung; returns at once if it was not. */
  void drain(Fd bell) {
    int fd = bell.intValue();
    if (noWait) {
      if (MemfdNative.preadv2(fd, bufAddress, 1, -1, RWF_NOWAIT) >= 0) {
        return;
      }
      int errno = LibC.errno();
      if (errno != EOPNOTSUPP && errno != ENOSYS) {
        return; // EAGAIN: not rung
      }
      noWait = false;
    }
    buf.putInt(24, fd).putShort(28, LibC.POLLIN).putShort(30, (short) 0);
    if (LibC.poll(bufAddress + 24, 1, 0) == 1 && (buf.getShort(30) & LibC.POLLIN) != 0) {
      LibC.read(fd, bufAddress + 16, 8);
    }
  }
}
