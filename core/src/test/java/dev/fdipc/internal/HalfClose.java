package dev.fdipc.internal;

import java.io.IOException;
import org.newsclub.net.unix.AFUNIXSocket;
import org.newsclub.net.unix.FileDescriptorCast;

/**
 * shutdown(fd, SHUT_WR) for tests: junixsocket 2.11.1's Socket.shutdownOutput throws "Socket is
 * not connected" on a connected socket on JDK 25.
 */
public final class HalfClose {
  private static final int SHUT_WR = 1;

  private HalfClose() {}

  /** Ends this side's output: the peer reads end of stream. */
  public static void output(AFUNIXSocket s) throws IOException {
    int fd = FileDescriptorCast.using(s.getFileDescriptor()).as(Integer.class);
    if (LibC.shutdown(fd, SHUT_WR) != 0) {
      throw dev.fdipc.spi.NativeIoException.lastError("shutdown");
    }
  }
}
