package dev.fdipc;

import java.nio.ByteBuffer;

/**
 * A client's connection served event by event on the library's shared event loop (one thread per
 * process, however many connections): the client-side counterpart of {@link MessageHandler}. Every
 * method runs on the loop and must not block.
 *
 * <pre>{@code
 * EventChannel ch = FdipcClient.builder().connect(new ChannelHandler() {
 *   public void opened(EventChannel c) throws IOException {
 *     c.send("hello".getBytes(UTF_8));
 *   }
 *
 *   public void received(EventChannel c, ByteBuffer reply) {
 *     ... // a read-only view, valid until this returns
 *   }
 * });
 * }</pre>
 */
public interface ChannelHandler {
  /** The connection is set up; nothing has been received yet. */
  default void opened(EventChannel channel) throws Exception {}

  /** One message; {@code message} is a read-only view, valid only until this returns. */
  void received(EventChannel channel, ByteBuffer message) throws Exception;

  /** The peer has caught up after {@link EventChannel#send} returned false. */
  default void writable(EventChannel channel) throws Exception {}

  /**
   * The connection is over: the server said goodbye or died, the channel was closed, or a method
   * of this handler threw ({@code failure}, else null). Called once.
   */
  default void closed(EventChannel channel, Throwable failure) {}
}
