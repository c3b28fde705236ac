package dev.fdipc.e2e.guide;

import dev.fdipc.FdipcServer;
import dev.fdipc.IpcChannel;
import java.io.IOException;
import java.nio.file.Path;

/** A blocking handler: one task per session on the server's executor. */
public final class BlockingEcho {
  private BlockingEcho() {}

  /** Starts an echo server whose sessions each run as straight-line blocking code. */
  public static FdipcServer start(Path socket) throws IOException {
    return FdipcServer.builder()
        .socket(socket)
        .handler(session -> {
          // Runs on a virtual thread (JDK 21+) or a pool thread (JDK 17): it may block.
          IpcChannel ch = session.channel();
          byte[] m;
          while ((m = ch.receive()) != null) { // null: the client left or the server stops
            ch.send(m); // blocks while the client is behind; dropped if it stops reading
          }
        })
        .start();
  }
}
