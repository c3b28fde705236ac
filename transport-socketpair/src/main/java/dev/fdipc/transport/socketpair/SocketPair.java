package dev.fdipc.transport.socketpair;

import com.sun.jna.Native;
import com.sun.jna.Platform;
import dev.fdipc.spi.Fd;
import dev.fdipc.spi.NativeIoException;
import java.util.List;

/**
 * {@code socketpair(2)} through JNA. junixsocket 2.11.1's {@code AFUNIXSocketPair.open()} opens
 * four descriptors for a pair and leaves two of them open until garbage collection, which would
 * make every connection look like an fd leak; the system call gives exactly two, close-on-exec.
 */
final class SocketPair {
  private static final int AF_UNIX = 1;
  private static final int SOCK_STREAM = 1;
  private static final int SOCK_CLOEXEC = 02000000;

  static {
    Native.register(Platform.C_LIBRARY_NAME);
  }

  private SocketPair() {}

  private static native int socketpair(int domain, int type, int protocol, int[] sv);

  /** A connected pair of stream sockets, close-on-exec. */
  static List<Fd> open() throws NativeIoException {
    int[] sv = new int[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      throw NativeIoException.lastError("socketpair");
    }
    return List.of(Fd.of(sv[0]), Fd.of(sv[1]));
  }
}
