package dev.fdipc;

/** What the server reports besides the sessions themselves. Every method has a no-op default. */
public interface ServerListener {
  /**
   * A client was refused before a session began: negotiation failed, the HELLO was malformed or
   * late, or the client broke the protocol.
   *
   * @param peer the client's credentials, or {@code null} if they could not be read
   * @param reason what went wrong, one line
   */
  default void refused(PeerCredentials peer, String reason) {}

  /**
   * Something went wrong that the server survived, such as a failing session handler or a plugin
   * that did not load.
   */
  default void warning(String message, Throwable cause) {}

  /**
   * A connected client was dropped by the server, such as one that stopped reading for longer
   * than the send timeout. Its session ends next ({@link #sessionEnded}). By default reported as a
   * {@link #warning}.
   *
   * @param reason what the client did, one line, starting with {@code client <id> dropped:}
   */
  default void dropped(ClientSession session, String reason) {
    warning(reason, null);
  }

  /**
   * A session is over and everything it held is released: its channel, its control connection and
   * its kernel objects. Called on the server's loop thread after the handler returned (or, for an
   * event-driven session, after its {@code closed}); must not block.
   */
  default void sessionEnded(ClientSession session) {}
}
