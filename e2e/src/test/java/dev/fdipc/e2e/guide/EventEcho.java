package dev.fdipc.e2e.guide;

import dev.fdipc.EventSession;
import dev.fdipc.FdipcServer;
import dev.fdipc.MessageHandler;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayDeque;

/** An event-driven handler: callbacks on the server's loop thread, no thread per client. */
public final class EventEcho {
  private EventEcho() {}

  /** Starts an echo server whose sessions are served event by event. */
  public static FdipcServer start(Path socket) throws IOException {
    return FdipcServer.builder()
        .socket(socket)
        .messageHandler(new MessageHandler() {
          @Override
          public void opened(EventSession s) {
            s.attach(new ArrayDeque<ByteBuffer>()); // replies the client had no room for yet
          }

          @Override
          public void received(EventSession s, ByteBuffer m) throws IOException {
            // m is the loop's buffer, valid until this returns: send() copies what it keeps.
            @SuppressWarnings("unchecked")
            ArrayDeque<ByteBuffer> unsent = (ArrayDeque<ByteBuffer>) s.attachment();
            if (!unsent.isEmpty() || !s.send(m)) {
              unsent.add(copy(m)); // backpressure: never block the loop
            }
          }

          @Override
          public void writable(EventSession s) throws IOException {
            @SuppressWarnings("unchecked")
            ArrayDeque<ByteBuffer> unsent = (ArrayDeque<ByteBuffer>) s.attachment();
            while (!unsent.isEmpty() && s.send(unsent.peek())) {
              unsent.poll();
            }
          }
        })
        .start();
  }

  private static ByteBuffer copy(ByteBuffer m) {
    ByteBuffer c = ByteBuffer.allocate(m.remaining());
    c.put(m.duplicate()).flip();
    return c;
  }
}
