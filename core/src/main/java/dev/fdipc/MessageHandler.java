package dev.fdipc;

import java.nio.ByteBuffer;

/**
 * Serves clients event by event, on the server's event-loop thread: the way to hold thousands of
 * clients with no thread each. Every method runs on the loop and must not block; replies go out
 * with {@link EventSession#send(ByteBuffer)}, which never blocks either and says when the client
 * is behind (backpressure) instead of waiting for it.
 *
 * <pre>{@code
 * FdipcServer.builder().handler(new MessageHandler() {
 *   public void received(EventSession s, ByteBuffer m) throws IOException {
 *     if (!s.send(m)) {      // the client is behind: stop reading until writable()
 *       ...
 *     }
 *   }
 * })
 * }</pre>
 *
 * <p>A method that throws ends the session (reported as a warning). Work that blocks (a database,
 * a file) belongs on an executor of the application's, which replies through
 * {@link EventSession#execute(Runnable)}; or use a blocking {@link SessionHandler} instead.
 */
public interface MessageHandler {
  /** The session is set up; nothing has been received yet. */
  default void opened(EventSession session) throws Exception {}

  /**
   * One message from the client. {@code message} is a read-only view, valid only until this
   * returns (it is the loop's buffer): copy what must outlive the call.
   */
  void received(EventSession session, ByteBuffer message) throws Exception;

  /**
   * The client has caught up: {@link EventSession#send} refused a message (returned false) and
   * would now take one.
   */
  default void writable(EventSession session) throws Exception {}

  /**
   * The session is over: the client left or was dropped, the server shut down, or a method of this
   * handler threw. Called once; its channel is closed afterwards.
   */
  default void closed(EventSession session) {}
}
