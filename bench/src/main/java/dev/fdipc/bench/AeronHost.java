package dev.fdipc.bench;

import io.aeron.Aeron;
import io.aeron.driver.MediaDriver;
import io.aeron.driver.ThreadingMode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * The server side of the aeron-ipc baseline: an embedded media driver and an Aeron client in the
 * bench server's JVM. Aeron has no connection to accept, so a client first connects to the bench
 * server's UNIX socket and sends the two stream ids it chose ({@link #RENDEZVOUS}); that socket then
 * stays open as the session's lifeline, and the session itself runs over Aeron IPC.
 */
final class AeronHost implements AutoCloseable {
  static final byte RENDEZVOUS = 'A';
  static final long CONNECT_TIMEOUT_NANOS = TimeUnit.SECONDS.toNanos(10);

  private final MediaDriver driver;
  private final Aeron aeron;

  private AeronHost(MediaDriver driver, Aeron aeron) {
    this.driver = driver;
    this.aeron = aeron;
  }

  static AeronHost start(Path dir) {
    MediaDriver driver = MediaDriver.launchEmbedded(new MediaDriver.Context()
        .aeronDirectoryName(dir.toString())
        .threadingMode(ThreadingMode.SHARED) // IPC data never passes through the driver
        .dirDeleteOnStart(true)
        .dirDeleteOnShutdown(true));
    Aeron aeron = Aeron.connect(new Aeron.Context().aeronDirectoryName(dir.toString()));
    return new AeronHost(driver, aeron);
  }

  /** Runs one aeron-ipc session whose rendezvous arrives on {@code lifeline}. */
  void serve(UdsChannel lifeline) throws IOException {
    ByteBuffer hello = ByteBuffer.allocate(9);
    if (lifeline.receive(hello) != 9 || hello.get(0) != RENDEZVOUS) {
      return;
    }
    int clientOut = hello.getInt(1);
    int clientIn = hello.getInt(5);
    try (AeronChannel ch = AeronChannel.open(aeron, clientIn, clientOut, CONNECT_TIMEOUT_NANOS)) {
      Thread session = new Thread(() -> {
        try {
          BenchServer.serve(ch);
        } catch (IOException e) {
          // the client went away in the middle of a session
        }
      }, "aeron-session");
      session.setDaemon(true);
      session.start();
      lifeline.receive(hello); // blocks until the client closes its end
      ch.peerGone();
      session.join();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  @Override
  public void close() {
    aeron.close();
    driver.close();
  }
}
