package dev.fdipc.internal;

import dev.fdipc.ErrorCode;
import dev.fdipc.ProtocolException;
import java.io.EOFException;
import java.io.IOException;

/**
 * Assembles one control frame from non-blocking reads, however the bytes are split: the 8-byte
 * header, checked before anything is allocated for the body, then the body, kept or (after the
 * handshake, where the server examines no body) read into scratch space and dropped. A peer that
 * sends half a frame and stops holds up nobody: the reader keeps its progress between reads.
 */
public final class FrameReader {
  /** What a {@link #read} call came to. */
  public enum Status {
    /** Nothing more has arrived; call again when the socket is readable. */
    INCOMPLETE,
    /** A whole frame: {@link #type()} and, if kept, {@link #body()}. */
    FRAME,
    /** The stream ended cleanly before the first byte of a frame. */
    END
  }

  /** Reads bytes without waiting: count, 0 for none now, -1 at end of stream. */
  @FunctionalInterface
  public interface Source {
    int read(byte[] b, int off, int len) throws IOException;
  }

  private final byte[] header = new byte[Frame.HEADER_SIZE];
  private int headerFill;
  private byte[] body;
  private int bodyLength = -1;
  private int bodyFill;
  private boolean keepBody = true;

  /** After the handshake: bodies are read and dropped instead of kept. */
  public void dropBodies() {
    keepBody = false;
  }

  /**
   * Reads what has arrived toward the next frame.
   *
   * @param scratch space for dropped bodies (shared; contents are garbage afterwards)
   * @throws ProtocolException for a malformed header, or a header announcing fds when
   *     {@code fdsAllowed} is false ({@link ErrorCode#FDS_REFUSED})
   * @throws EOFException if the stream ends inside a frame
   */
  public Status read(Source in, byte[] scratch, boolean fdsAllowed) throws IOException {
    while (true) {
      if (headerFill < Frame.HEADER_SIZE) {
        int n = in.read(header, headerFill, Frame.HEADER_SIZE - headerFill);
        if (n == 0) {
          return Status.INCOMPLETE;
        }
        if (n < 0) {
          if (headerFill > 0) {
            throw endedInside(headerFill, Frame.HEADER_SIZE);
          }
          return Status.END;
        }
        headerFill += n;
        if (headerFill < Frame.HEADER_SIZE) {
          continue;
        }
        bodyLength = Wire.bodyLength(header);
        int announced = header[6] & 0xff;
        if (announced != 0 && !fdsAllowed) {
          throw new ProtocolException(ErrorCode.FDS_REFUSED, Frame.typeName(type())
              + " frame carries " + announced + " fds; this side accepts none");
        }
        body = keepBody ? new byte[bodyLength] : null;
        bodyFill = 0;
      }
      if (bodyFill < bodyLength) {
        int n = keepBody
            ? in.read(body, bodyFill, bodyLength - bodyFill)
            : in.read(scratch, 0, Math.min(scratch.length, bodyLength - bodyFill));
        if (n == 0) {
          return Status.INCOMPLETE;
        }
        if (n < 0) {
          throw endedInside(bodyFill, bodyLength);
        }
        bodyFill += n;
        continue;
      }
      return Status.FRAME;
    }
  }

  /** The type of the frame just read. */
  public int type() {
    return header[5] & 0xff;
  }

  /** The number of fds the header of the frame just read announced. */
  public int announcedFds() {
    return header[6] & 0xff;
  }

  /** The body of the frame just read (null when bodies are dropped). */
  public byte[] body() {
    return body;
  }

  /** Starts on the next frame. */
  public void reset() {
    headerFill = 0;
    bodyLength = -1;
    bodyFill = 0;
    body = null;
  }

  private static EOFException endedInside(int got, int of) {
    return new EOFException("control connection ended inside a frame after " + got + " of "
        + of + " bytes");
  }
}
