package dev.fdipc;

import java.io.IOException;

/** The peer closed the channel or died; nothing more can be sent on it. */
public class PeerClosedException extends IOException {
  /** @param message which channel, and how the loss was noticed */
  public PeerClosedException(String message) {
    super(message);
  }

  /**
   * @param message which channel, and how the loss was noticed
   * @param cause the kernel's report, such as EPIPE
   */
  public PeerClosedException(String message, Throwable cause) {
    super(message, cause);
  }
}
