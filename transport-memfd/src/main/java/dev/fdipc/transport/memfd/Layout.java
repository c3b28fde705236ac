package dev.fdipc.transport.memfd;

/**
 * The layout of the shared region, version 1.0. All integers are in the machine's byte order
 * (little-endian on x86-64 and arm64); both processes run on the same machine.
 *
 * <pre>
 *   offset  size
 *        0  4096  header page
 *                   0  u32  magic 0x474E5246 ("FRNG" in memory order)
 *                   4  u16  layout major version (1): a different major is refused
 *                   6  u16  layout minor version (0): newer minors are compatible
 *                   8  u32  header size: offset of the first ring's data (4096)
 *                  12  u32  ring capacity C: bytes of data per ring, a power of two
 *                  16  u32  maximum record payload R (C / 4 - 8)
 *                  20  u32  reserved, 0
 *                  24  u64  mapping size: header size + 2 C
 *                  32  u32  ready: 1, written last (release) once everything above is set
 *                 128  ring 0 control block (server to client)
 *                1024  ring 1 control block (client to server)
 *     4096     C  ring 0 data
 *   4096+C     C  ring 1 data
 *
 *   ring control block, each field on its own pair of cache lines (128 bytes apart):
 *     +0    u64  tail: bytes ever published by the producer (producer writes, release)
 *     +128  u64  head: bytes ever consumed by the consumer (consumer writes, release)
 *     +256  u32  consumer waiting: 1 while the consumer is armed to sleep on its data bell
 *     +384  u32  producer waiting: 1 while the producer is armed to sleep on its space bell
 *     +512  u32  producer closed: 1 once the producer will publish nothing more
 *     +640  u32  consumer closed: 1 once the consumer will read nothing more
 *
 *   record, at tail &amp; (C - 1), 8-byte aligned; the payload wraps around the ring's end:
 *     +0  u32  payload length L (0 &lt;= L &lt;= R)
 *     +4  u32  info: bits 0-1 kind (3 whole message, 1 first fragment, 0 middle, 2 last);
 *              bits 2-31 the whole message's length, in whole-message and first-fragment records
 *     +8  L bytes of payload, then padding to a multiple of 8
 * </pre>
 *
 * <p>Wake-ups are eventfds passed with the memfd: per ring, a data bell the producer rings when it
 * finds "consumer waiting" set, and a space bell the consumer rings when it finds "producer
 * waiting" set. The waiting side arms: it sets its flag, issues a full fence and checks the ring
 * once more; only if that finds nothing does it wait for the bell to become readable, so a wake-up
 * is never lost. The other side publishes, fences, then checks the flag, and clears it (compare and
 * set) before it rings, so one arming costs at most one ring. The waiter's next attempt clears its
 * flag if still set and resets the bell's count without blocking. A peer that is not armed is never
 * signalled. The bells are non-blocking eventfds (created with EFD_NONBLOCK by the server); since
 * that flag is shared with the peer, the count is reset with preadv2(RWF_NOWAIT).
 *
 * <p>Everything a peer can write (tail, head, records, flags) is read once, checked against the
 * ring's bounds and only then used; payloads are copied out before anyone looks at them.
 */
final class Layout {
  static final int MAGIC = 0x474E5246;
  static final int MAJOR = 1;
  static final int MINOR = 0;
  static final int HEADER_SIZE = 4096;

  static final int OFF_MAGIC = 0;
  static final int OFF_MAJOR = 4;
  static final int OFF_MINOR = 6;
  static final int OFF_HEADER_SIZE = 8;
  static final int OFF_CAPACITY = 12;
  static final int OFF_MAX_RECORD = 16;
  static final int OFF_MAPPING_SIZE = 24;
  static final int OFF_READY = 32;

  /** Control block of ring 0 (server to client) and ring 1 (client to server). */
  static final int[] RING_CONTROL = {128, 1024};

  static final int CTL_TAIL = 0;
  static final int CTL_HEAD = 128;
  static final int CTL_CONSUMER_WAITING = 256;
  static final int CTL_PRODUCER_WAITING = 384;
  static final int CTL_PRODUCER_CLOSED = 512;
  static final int CTL_CONSUMER_CLOSED = 640;

  static final int RECORD_HEADER = 8;
  static final int KIND_MIDDLE = 0;
  static final int KIND_FIRST = 1;
  static final int KIND_LAST = 2;
  static final int KIND_WHOLE = 3;

  static final int MIN_CAPACITY = 4096;
  static final int MAX_CAPACITY = 64 << 20;
  static final int DEFAULT_CAPACITY = 512 << 10;

  private Layout() {}

  /** Offset of ring {@code ring}'s data. */
  static int dataOffset(int ring, int capacity) {
    return HEADER_SIZE + ring * capacity;
  }

  static long mappingSize(int capacity) {
    return HEADER_SIZE + 2L * capacity;
  }

  static int maxRecord(int capacity) {
    return capacity / 4 - RECORD_HEADER;
  }

  /** Bytes a record with {@code payload} bytes takes in the ring. */
  static int recordSize(int payload) {
    return RECORD_HEADER + ((payload + 7) & ~7);
  }

  /**
   * Checks a ring capacity.
   *
   * @throws IllegalArgumentException naming the allowed range
   */
  static int checkCapacity(long capacity) {
    if (capacity < MIN_CAPACITY || capacity > MAX_CAPACITY || Long.bitCount(capacity) != 1) {
      throw new IllegalArgumentException("memfd.ring-size=" + capacity + " is not allowed: use a "
          + "power of two from " + MIN_CAPACITY + " to " + MAX_CAPACITY + " bytes (default "
          + DEFAULT_CAPACITY + ")");
    }
    return (int) capacity;
  }
}
