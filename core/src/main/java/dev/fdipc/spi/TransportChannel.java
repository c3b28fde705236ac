package dev.fdipc.spi;

import dev.fdipc.IpcChannel;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The channel a transport creates: an {@link IpcChannel} whose non-blocking half core can drive
 * from an event loop, and that core can tell the peer is gone.
 *
 * <p>A transport implements the non-blocking half ({@link #tryReceive}, {@link #trySend},
 * {@link #armReceive}, {@link #armSend}) and gets the blocking {@code send}/{@code receive} from
 * {@link AbstractIpcChannel}, written once for every transport: extend it (or use
 * {@link FdStreamChannel} for byte-stream kernel objects) rather than implementing this directly.
 *
 * <p>Threads: one receiver and one sender at a time (the blocking calls serialize themselves; an
 * event loop is a single thread). The receive and send halves may run on two threads at once.
 */
public interface TransportChannel extends IpcChannel {
  /** {@link #tryReceive} found no whole message yet. */
  int WOULD_BLOCK = -2;

  /**
   * Receives the next message into {@code dst} if all of it has arrived; never blocks. A message
   * that has partly arrived is kept by the channel and completed by a later call.
   *
   * @return the message's length, {@code -1} once the peer is gone and every message it sent was
   *     received, or {@link #WOULD_BLOCK}
   * @throws dev.fdipc.BufferTooSmallException as {@link IpcChannel#receive(ByteBuffer)}
   * @throws java.nio.channels.ClosedChannelException if this side has closed the channel
   */
  int tryReceive(ByteBuffer dst) throws IOException;

  /**
   * Sends as much of {@code message} (between its position and limit) as the kernel object takes
   * now; never blocks. The size was checked by the caller.
   *
   * @return true once the whole message has been handed on; false if the object is full. Then
   *     {@code message}'s position says how much was taken, and the next call must pass the rest of
   *     the same message (the channel remembers that a message is under way), after waiting for
   *     {@link #armSend()}
   * @throws dev.fdipc.PeerClosedException if the peer is gone
   */
  boolean trySend(ByteBuffer message) throws IOException;

  /**
   * Prepares to wait for {@link #tryReceive} to make progress: for shared memory, tells the peer
   * to ring the bell on its next message. Called after {@code tryReceive} returned
   * {@link #WOULD_BLOCK}; the next {@code tryReceive} undoes whatever it set up.
   *
   * @return what to wait for, or {@code null} if progress became possible meanwhile (the caller
   *     calls {@code tryReceive} again at once)
   */
  Interest armReceive() throws IOException;

  /**
   * Prepares to wait for {@link #trySend} to make progress, as {@link #armReceive()} does for
   * receiving.
   *
   * @return what to wait for, or {@code null} if there is room now
   */
  Interest armSend() throws IOException;

  /**
   * Core saw the peer's control connection close: the peer will send nothing more. The channel
   * delivers the messages it already holds, then end of stream; blocked calls wake up. Called at
   * most once, from any thread; must not block.
   */
  void peerGone();
}
