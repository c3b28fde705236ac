package dev.fdipc;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * A client served by a {@link MessageHandler}: the session's identity plus sending that never
 * blocks. Its methods are for the loop thread (inside the handler's callbacks), except
 * {@link #execute(Runnable)}, which any thread may call to get back onto it.
 */
public interface EventSession extends ClientSession {
  /**
   * Sends {@code message} without blocking.
   *
   * @return true if it was taken: sent, or partly sent with the rest kept and sent as the client
   *     reads; false if an earlier message is still being sent (the client is behind), in which
   *     case nothing was taken and {@link MessageHandler#writable} follows when it has caught up.
   *     While a message is kept no further messages are delivered, so a handler that answers each
   *     message once is never refused
   * @throws MessageTooLargeException if the message exceeds {@link IpcChannel#maxMessageSize()}
   * @throws PeerClosedException if the client is gone
   */
  boolean send(ByteBuffer message) throws IOException;

  /** Like {@link #send(ByteBuffer)}. */
  default boolean send(byte[] message) throws IOException {
    return send(ByteBuffer.wrap(message));
  }

  /** True if {@link #send} would take a message now. */
  boolean isWritable();

  /** Attaches an object of the handler's (per-session state); replaces any earlier one. */
  void attach(Object attachment);

  /** The object last {@link #attach attached}, or null. */
  Object attachment();

  /** Runs {@code task} on this session's loop thread. Any thread may call it. */
  void execute(Runnable task);

  /** Ends the session: the client sees end of stream after what was sent. Idempotent. */
  void close();
}
