package dev.fdipc;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * One side of a connection driven by events on an fdipc event loop: a server's
 * {@link EventSession} or a client's channel from
 * {@link FdipcClient.Builder#connect(ChannelHandler)}. Sending never blocks; the callbacks of its
 * handler run on the loop thread, and so must the methods below, except
 * {@link #execute(Runnable)}.
 */
public interface EventChannel {
  /** The transport's name. */
  String transport();

  /** The largest message, in bytes, that either side may send. */
  int maxMessageSize();

  /**
   * Sends {@code message} without blocking.
   *
   * @return true if it was taken: sent, or partly sent with the rest kept and sent as the peer
   *     reads; false if an earlier message is still being sent (the peer is behind), in which case
   *     nothing was taken and the handler's {@code writable} follows when it has caught up. While a
   *     message is kept no further messages are delivered, so a handler that answers each message
   *     once is never refused
   * @throws MessageTooLargeException if the message exceeds {@link #maxMessageSize()}
   * @throws PeerClosedException if the peer is gone
   */
  boolean send(ByteBuffer message) throws IOException;

  /** Like {@link #send(ByteBuffer)}. */
  default boolean send(byte[] message) throws IOException {
    return send(ByteBuffer.wrap(message));
  }

  /** True if {@link #send} would take a message now. */
  boolean isWritable();

  /** Attaches an object of the handler's (per-connection state); replaces any earlier one. */
  void attach(Object attachment);

  /** The object last {@link #attach attached}, or null. */
  Object attachment();

  /** Runs {@code task} on this channel's loop thread. Any thread may call it. */
  void execute(Runnable task);

  /** Ends the connection: the peer sees end of stream after what was sent. Idempotent. */
  void close();
}
