package dev.fdipc;

import java.io.IOException;

/**
 * The next message does not fit in the buffer given to {@link IpcChannel#receive(java.nio.ByteBuffer)}.
 * The message stays queued: call again with a buffer of at least {@link #messageSize()} bytes.
 */
public class BufferTooSmallException extends IOException {
  private final int messageSize;
  private final int remaining;

  /**
   * @param messageSize the queued message's size
   * @param remaining the space the caller's buffer had
   */
  public BufferTooSmallException(int messageSize, int remaining) {
    super("receive buffer too small: messageSize=" + messageSize + " remaining=" + remaining
        + "; the message is still queued, receive again with a larger buffer");
    this.messageSize = messageSize;
    this.remaining = remaining;
  }

  /** The size of the message waiting to be received. */
  public int messageSize() {
    return messageSize;
  }

  /** The space the caller's buffer had. */
  public int remaining() {
    return remaining;
  }
}
