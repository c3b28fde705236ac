package dev.fdipc.e2e;

import java.nio.ByteBuffer;
import java.util.zip.CRC32C;

/**
 * The numbered, checksummed messages of the load and soak tests:
 *
 * <pre>
 *   0       8       16            16+n    20+n
 *   | client | seq   | payload (n) | CRC32C |
 * </pre>
 *
 * <p>The payload length (0 to 255 bytes) and its bytes follow from the client id and the sequence
 * number, so a message can be rebuilt, and a reply checked byte for byte, from those two alone.
 * The CRC32C covers everything before it.
 */
final class LoadMessages {
  static final int HEADER = 16;
  static final int TRAILER = 4;
  static final int MAX = HEADER + 255 + TRAILER;

  private LoadMessages() {}

  /** Message {@code seq} of client {@code client}. */
  static byte[] build(long client, long seq) {
    long mix = client * 0x9E3779B97F4A7C15L + seq * 0xC2B2AE3D27D4EB4FL;
    int n = (int) ((mix >>> 32) & 0xFF);
    ByteBuffer b = ByteBuffer.allocate(HEADER + n + TRAILER);
    b.putLong(client).putLong(seq);
    for (int i = 0; i < n; i++) {
      b.put((byte) (mix >>> (i % 8 * 8) ^ i));
    }
    CRC32C crc = new CRC32C();
    crc.update(b.array(), 0, HEADER + n);
    b.putInt((int) crc.getValue());
    return b.array();
  }

  /**
   * What is wrong with {@code m} as message {@code seq} of client {@code client}, or null if it is
   * exactly that message.
   */
  static String check(byte[] m, long client, long seq) {
    if (m.length < HEADER + TRAILER) {
      return "message of " + m.length + " bytes, below the minimum " + (HEADER + TRAILER);
    }
    ByteBuffer b = ByteBuffer.wrap(m);
    CRC32C crc = new CRC32C();
    crc.update(m, 0, m.length - TRAILER);
    if ((int) crc.getValue() != b.getInt(m.length - TRAILER)) {
      return "checksum mismatch in a message of " + m.length + " bytes (client="
          + b.getLong(0) + " seq=" + b.getLong(8) + ")";
    }
    if (b.getLong(0) != client) {
      return "message of client " + b.getLong(0) + " where client " + client + " was expected";
    }
    long got = b.getLong(8);
    if (got != seq) {
      return (got < seq ? "duplicate or reordered" : "lost or reordered") + ": expected seq="
          + seq + ", got seq=" + got;
    }
    if (!java.util.Arrays.equals(m, build(client, seq))) {
      return "payload of seq=" + seq + " differs from what was sent";
    }
    return null;
  }
}
