package dev.fdipc.internal;

/**
 * One control-protocol frame as read from the socket: its type, the fd count its header announced,
 * and its body. See PROTOCOL.md for the layout.
 *
 * @param type the frame type byte
 * @param fdCount the number of fds the header says ride with the frame
 * @param body the bytes after the 8-byte header
 */
public record Frame(int type, int fdCount, byte[] body) {
  /** Bytes in a frame header. */
  public static final int HEADER_SIZE = 8;
  /** The largest frame, header included. */
  public static final int MAX_FRAME_SIZE = 65536;
  /** The protocol version this code speaks. */
  public static final int VERSION = 1;

  public static final int HELLO = 1;
  public static final int ACCEPT = 2;
  public static final int ERROR = 3;
  public static final int GOODBYE = 4;

  /** The frame type's name for messages. */
  public static String typeName(int type) {
    switch (type) {
      case HELLO: return "HELLO";
      case ACCEPT: return "ACCEPT";
      case ERROR: return "ERROR";
      case GOODBYE: return "GOODBYE";
      default: return "type " + type;
    }
  }
}
