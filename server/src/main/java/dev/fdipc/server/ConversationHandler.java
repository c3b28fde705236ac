package dev.fdipc.server;

import dev.fdipc.ClientSession;
import dev.fdipc.IpcChannel;
import dev.fdipc.PeerClosedException;
import dev.fdipc.SessionHandler;
import dev.fdipc.internal.Wire;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/** Serves one client of the {@code server} command: shows its lines and answers them. */
final class ConversationHandler implements SessionHandler {
  private final PrintStream out;
  private final long serverUid;
  private final Runnable shutdown;

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
  public void handle(ClientSession session) throws Exception {
    long id = session.clientId();
    out.println("client " + id + " connected: transport=" + session.transport() + " pid="
        + session.peer().pid() + " uid=" + session.peer().uid());
    Conversation conversation = new Conversation(serverUid);
    IpcChannel ch = session.channel();
    try {
      byte[] m;
      while ((m = ch.receive()) != null) {
        // Invalid UTF-8 becomes U+FFFD; control characters are escaped so a client cannot drive
        // the server's terminal.
        String text = new String(m, StandardCharsets.UTF_8);
        out.println("[client " + id + " pid " + session.peer().pid() + "] "
            + LogText.cut(Wire.printable(text), m.length));
        Conversation.Reply reply = conversation.onLine(text, session.peer().uid());
        ch.send(fit(reply.text().getBytes(StandardCharsets.UTF_8), ch.maxMessageSize()));
        if (reply.shutdown()) {
          out.println("client " + id + " asked the server to shut down");
          shutdown.run();
        }
      }
    } catch (PeerClosedException e) {
      // The client left without reading its reply: an ordinary way to disconnect.
    }
    // "disconnected" is printed by the server's listener once the session has released its
    // kernel objects, not here: the channel is still open until this method returns.
  }

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
