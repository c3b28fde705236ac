package dev.fdipc;

import java.io.IOException;

/** The peer broke the control protocol or a channel's framing; the connection cannot go on. */
public class ProtocolException extends IOException {
  private final ErrorCode code;

  /**
   * @param code the wire error code that describes the violation
   * @param message what was wrong, with the offending values
   */
  public ProtocolException(ErrorCode code, String message) {
    super(message);
    this.code = code;
  }

  /** The error code, as sent on the wire in an ERROR frame. */
  public ErrorCode code() {
    return code;
  }
}
