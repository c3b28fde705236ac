package dev.fdipc;

/** Told when the server ends a client's connection: a goodbye, or the control socket breaking. */
@FunctionalInterface
public interface ServerGoneListener {
  /**
   * Called once, on the library's event-loop thread, unless the client closed the channel first;
   * it must not block (hand longer work to another thread).
   * The channel delivers what the server already sent, then end of stream.
   *
   * @param goodbye true if the server said goodbye; false if the connection broke (server died)
   * @param message the server's goodbye message, or a description of how the connection ended
   */
  void serverGone(boolean goodbye, String message);
}
