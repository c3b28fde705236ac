package dev.fdipc.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.newsclub.net.unix.AFUNIXServerSocket;
import org.newsclub.net.unix.AFUNIXSocket;
import org.newsclub.net.unix.AFUNIXSocketAddress;

/**
 * {@link ControlConnection#shutdown()} wakes a reader blocked on the connection and tells the peer.
 * With junixsocket 2.11.1 on JDK 25, Socket.shutdownInput/Output throw on a connected socket, so a
 * shutdown through them woke nobody there; CI runs this on JDK 25 too.
 */
@Timeout(30)
class ControlConnectionShutdownTest {
  @TempDir
  Path dir;

  @Test
  void shouldWakeBlockedReaderAndPeerOnShutdown() throws Exception {
    AFUNIXSocketAddress addr = AFUNIXSocketAddress.of(dir.resolve("s.sock"));
    try (AFUNIXServerSocket listening = AFUNIXServerSocket.bindOn(addr);
        AFUNIXSocket peer = AFUNIXSocket.connectTo(addr);
        AFUNIXSocket accepted = listening.accept()) {
      ControlConnection control = new ControlConnection(accepted);
      CompletableFuture<ControlConnection.Received> read = new CompletableFuture<>();
      Thread reader = new Thread(() -> {
        try {
          read.complete(control.read(false));
        } catch (IOException | RuntimeException e) {
          read.completeExceptionally(e);
        }
      }, "reader");
      reader.start();
      // Shut down only once the reader is blocked in native code, so that this tests the wake-up.
      while (!inNativeCode(reader)) {
        Thread.onSpinWait();
      }
      control.shutdown();
      assertNull(read.get(10, TimeUnit.SECONDS), "the blocked reader saw end of stream");
      assertEquals(-1, peer.getInputStream().read(), "the peer saw end of stream");
      control.close();
    }
  }

  private static boolean inNativeCode(Thread t) {
    StackTraceElement[] stack = t.getStackTrace();
    return stack.length > 0 && stack[0].isNativeMethod();
  }
}
