package dev.fdipc;

import java.io.IOException;

/** A message was larger than the channel's maximum; it was not sent. */
public class MessageTooLargeException extends IOException {
  private final long size;
  private final int max;

  /**
   * @param size the message's size in bytes
   * @param max the channel's maximum message size
   */
  public MessageTooLargeException(long size, int max) {
    super("message too large: size=" + size + " maxMessageSize=" + max
        + "; split it, or raise maxMessageSize on both server and client");
    this.size = size;
    this.max = max;
  }

  /** The rejected message's size in bytes. */
  public long size() {
    return size;
  }

  /** The channel's maximum message size. */
  public int maxMessageSize() {
    return max;
  }
}
