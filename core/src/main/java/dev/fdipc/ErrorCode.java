package dev.fdipc;

/** Error codes of the control protocol's ERROR frame (see PROTOCOL.md). */
public enum ErrorCode {
  /** The peer speaks a protocol version this side does not. */
  UNSUPPORTED_VERSION(1),
  /** A frame's length, field or encoding is invalid. */
  MALFORMED_FRAME(2),
  /** A valid frame arrived where the protocol does not allow it, such as a second HELLO. */
  UNEXPECTED_FRAME(3),
  /** No transport the client accepts could be given; the frame lists each candidate's reason. */
  NO_TRANSPORT(4),
  /** The client did not complete its HELLO in time. */
  HANDSHAKE_TIMEOUT(5),
  /** The client sent file descriptors; the server accepts none. */
  FDS_REFUSED(6),
  /** The server's access rules refuse this peer. */
  ACCESS_DENIED(7),
  /** The server has no room for another client right now. */
  BUSY(8),
  /** The server is shutting down. */
  SHUTTING_DOWN(9),
  /** The server failed in a way that is not the client's fault. */
  INTERNAL(10),
  /** A code this version does not know; kept so that newer peers can be reported. */
  UNKNOWN(0);

  private final int wire;

  ErrorCode(int wire) {
    this.wire = wire;
  }

  /** The code's value on the wire. */
  public int wire() {
    return wire;
  }

  /** The code for a wire value; {@link #UNKNOWN} for values this version does not know. */
  public static ErrorCode fromWire(int value) {
    for (ErrorCode c : values()) {
      if (c.wire == value && c != UNKNOWN) {
        return c;
      }
    }
    return UNKNOWN;
  }
}
