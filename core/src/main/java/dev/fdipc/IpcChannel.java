package dev.fdipc;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;

/**
 * One open connection between two processes over a kernel object: bidirectional, reliable,
 * ordered and message-oriented. Every message sent arrives once, whole, in order, or the channel
 * reports that the peer is gone.
 *
 * <p><b>Sizes.</b> A message is 0 to {@link #maxMessageSize()} bytes, whatever the transport;
 * transports whose kernel unit is smaller split and rejoin messages without the caller seeing it.
 * Sending a larger one throws {@link MessageTooLargeException} and sends nothing.
 *
 * <p><b>Blocking.</b> {@link #send} blocks while the peer is not reading and the kernel object is
 * full (backpressure: nothing is dropped). {@link #receive(ByteBuffer)} blocks until a message
 * arrives; the timed variants throw {@link IpcTimeoutException} when the time runs out, and the
 * message that was on its way is delivered whole by the next call.
 *
 * <p><b>End of stream.</b> When the peer closes or dies, {@code receive} first returns every message
 * already sent, then {@code -1} (or {@code null}); {@code send} throws {@link PeerClosedException}.
 *
 * <p><b>Threads.</b> One thread may send while another receives. Concurrent senders (or concurrent
 * receivers) are serialized; messages never interleave. {@link #close()} may be called from any
 * thread, any number of times; it wakes blocked calls, which then throw
 * {@link java.nio.channels.AsynchronousCloseException}.
 */
public interface IpcChannel extends Closeable {

  /** The name of the transport carrying this channel, such as {@code "pipe"}. */
  String transport();

  /** The largest message, in bytes, that either side may send on this channel. */
  int maxMessageSize();

  /**
   * Sends the bytes between {@code message}'s position and limit as one message, blocking while
   * the peer is behind. On return the buffer's position equals its limit.
   *
   * @throws MessageTooLargeException if {@code message.remaining() > maxMessageSize()}
   * @throws PeerClosedException if the peer has closed the channel or died
   * @throws java.nio.channels.ClosedChannelException if this side has closed the channel
   * @throws IOException on any other failure of the kernel object
   */
  void send(ByteBuffer message) throws IOException;

  /**
   * Sends {@code message} as one message.
   *
   * @see #send(ByteBuffer)
   */
  default void send(byte[] message) throws IOException {
    send(ByteBuffer.wrap(message));
  }

  /**
   * Receives the next message into {@code dst}, waiting at most {@code timeout}.
   *
   * @return the message's length (its bytes are between the old and the new position of
   *     {@code dst}), or {@code -1} once the peer is gone and every message it sent was received
   * @throws BufferTooSmallException if the next message is longer than {@code dst.remaining()};
   *     the message stays queued and {@link BufferTooSmallException#messageSize()} says how large it
   *     is
   * @throws IpcTimeoutException if no whole message arrived in time; nothing is lost
   * @throws java.nio.channels.ClosedChannelException if this side has closed the channel
   * @throws IOException if the kernel object failed or the peer broke the framing
   */
  int receive(ByteBuffer dst, long timeout, TimeUnit unit) throws IOException;

  /**
   * Receives the next message into {@code dst}, waiting as long as it takes.
   *
   * @return the message's length, or {@code -1} once the peer is gone
   * @see #receive(ByteBuffer, long, TimeUnit)
   */
  default int receive(ByteBuffer dst) throws IOException {
    return receive(dst, Long.MAX_VALUE, TimeUnit.NANOSECONDS);
  }

  /**
   * Receives the next message as a new array sized to fit, waiting at most {@code timeout}.
   *
   * @return the message, or {@code null} once the peer is gone
   * @throws IpcTimeoutException if no whole message arrived in time
   */
  default byte[] receive(long timeout, TimeUnit unit) throws IOException {
    ByteBuffer small = ByteBuffer.allocate(Math.min(8192, maxMessageSize()));
    int n;
    try {
      n = receive(small, timeout, unit);
    } catch (BufferTooSmallException e) {
      // The message is still queued; a buffer of its exact size takes it without waiting.
      ByteBuffer exact = ByteBuffer.allocate(e.messageSize());
      n = receive(exact, timeout, unit);
      return n < 0 ? null : exact.array();
    }
    if (n < 0) {
      return null;
    }
    byte[] out = new byte[n];
    small.flip().get(out);
    return out;
  }

  /**
   * Receives the next message as a new array, waiting as long as it takes.
   *
   * @return the message, or {@code null} once the peer is gone
   */
  default byte[] receive() throws IOException {
    return receive(Long.MAX_VALUE, TimeUnit.NANOSECONDS);
  }

  /** False once {@link #close()} has been called on this side. */
  boolean isOpen();

  /**
   * Closes this side and releases its kernel objects. The peer sees end of stream after the
   * messages already sent. Idempotent.
   */
  @Override
  void close() throws IOException;
}
