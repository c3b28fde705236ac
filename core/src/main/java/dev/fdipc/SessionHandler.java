package dev.fdipc;

/**
 * Serves one client with blocking calls. The server runs it as one task on its executor (a virtual
 * thread per session on JDK 21 and later, else a pool thread; see
 * {@link FdipcServer.Builder#executor}) once the client's transport is set up, and closes the
 * session when it returns or throws. For many clients at the lowest cost, see
 * {@link MessageHandler}.
 */
@FunctionalInterface
public interface SessionHandler {
  /**
   * Talks to the client until done; typically receives until {@code channel().receive()} reports end
   * of stream, which also happens when the server shuts down.
   */
  void handle(ClientSession session) throws Exception;
}
