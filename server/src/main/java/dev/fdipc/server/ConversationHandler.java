package dev.fdipc.server;

import dev.fdipc.EventSession;
import dev.fdipc.MessageHandler;
import dev.fdipc.internal.Wire;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;

/**
 * Serves the clients of the {@code server} command, event by event on the server's loop thread:
 * shows each client's lines and answers them. No thread per client.
 */
final class ConversationHandler implements MessageHandler {
  private final PrintStream out;
  private final long serverUid;
  private final Runnable shutdown;

  /** One client's state, attached to its session. */
  private static final class State {
    final Conversation conversation;
    /** Replies the client has not had room for yet; empty unless it sends without reading. */
    final ArrayDeque<ByteBuffer> unsent = new ArrayDeque<>();

    State(Conversation conversation) {
      this.conversation = conversation;
    }
  }

  /**
   * @param out where connects, messages and disconnects are shown
   * @param serverUid the server's uid, for {@code DOWN}
   * @param shutdown asks the server to shut down
   */
  ConversationHandler(PrintStream out, long serverUid, Runnable shutdown) {
    this.out = out;
    this.serverUid = serverUid;
    this.shutdown = shutdown;
  }

  @Override
  public void opened(EventSession session) {
    session.attach(new State(new Conversation(serverUid)));
    out.println("client " + session.clientId() + " connected: transport=" + session.transport()
        + " pid=" + session.peer().pid() + " uid=" + session.peer().uid());
  }

  @Override
  public void received(EventSession session, ByteBuffer message) throws IOException {
    State state = (State) session.attachment();
    byte[] m = new byte[message.remaining()];
    message.get(m);
    // Invalid UTF-8 becomes U+FFFD; control characters are escaped so a client cannot drive the
    // server's terminal.
    String text = new String(m, StandardCharsets.UTF_8);
    long id = session.clientId();
    out.println("[client " + id + " pid " + session.peer().pid() + "] "
        + LogText.cut(Wire.printable(text), m.length));
    Conversation.Reply reply = state.conversation.onLine(text, session.peer().uid());
    ByteBuffer answer = ByteBuffer.wrap(fit(reply.text().getBytes(StandardCharsets.UTF_8),
        session.maxMessageSize()));
    if (!state.unsent.isEmpty() || !session.send(answer)) {
      state.unsent.add(answer);
    }
    if (reply.shutdown()) {
      out.println("client " + id + " asked the server to shut down");
      shutdown.run();
    }
  }

  @Override
  public void writable(EventSession session) throws IOException {
    State state = (State) session.attachment();
    ByteBuffer next;
    while ((next = state.unsent.peek()) != null && session.send(next)) {
      state.unsent.poll();
    }
  }

  // "disconnected" is printed by the server's listener once the session has released its kernel
  // objects, not in closed(): the channel is still open then.

  /**
   * {@code reply}, cut to {@code max} bytes: the client may have agreed a maximum smaller than a
   * reply (even one byte), and a reply that does not fit would end the session.
   */
  static byte[] fit(byte[] reply, int max) {
    if (reply.length <= max) {
      return reply;
    }
    int n = max;
    while (n > 0 && (reply[n] & 0xC0) == 0x80) { // do not cut a UTF-8 sequence in two
      n--;
    }
    return java.util.Arrays.copyOf(reply, n);
  }
}
