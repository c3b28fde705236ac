package dev.fdipc;

/**
 * Serves one client. The server calls it on a thread of its own once the client's transport is set
 * up, and closes the session when it returns or throws.
 */
@FunctionalInterface
public interface SessionHandler {
  /**
   * Talks to the client until done; typically receives until {@code channel().receive()} reports end
   * of stream, which also happens when the server shuts down.
   */
  void handle(ClientSession session) throws Exception;
}
