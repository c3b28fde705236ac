package dev.fdipc.transport.memfd;

import com.sun.jna.Native;
import com.sun.jna.Pointer;
import dev.fdipc.BufferTooSmallException;
import dev.fdipc.ErrorCode;
import dev.fdipc.PeerClosedException;
import dev.fdipc.ProtocolException;
import dev.fdipc.internal.LibC;
import dev.fdipc.spi.AbstractIpcChannel;
import dev.fdipc.spi.Fd;
import dev.fdipc.spi.Interest;
import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

/**
 * One side of a memfd connection: it produces into one ring of the shared region and consumes from
 * the other (see {@link Layout}). The sender copies a message into its ring and publishes it with
 * release ordering; the receiver copies it out. Neither makes a system call while the other keeps
 * up. This class only moves records: {@link #doTryReceive} and {@link #doTrySend} never wait, and
 * {@link #doArmReceive}/{@link #doArmSend} raise this side's waiting flag and name the eventfd bell
 * the peer will ring. Who spins and who sleeps is core's business ({@link AbstractIpcChannel}),
 * steered by the {@link WaitStrategy} through {@link #receiveSpinNanos()}.
 *
 * <p>The peer can write anything into the region at any time. Values it controls are read once
 * into locals, checked, and only then used; a violation fails that direction of this channel with
 * {@link ProtocolException} and touches nothing outside the mapping.
 */
final class MemfdChannel extends AbstractIpcChannel {
  private static final VarHandle LONG =
      MethodHandles.byteBufferViewVarHandle(long[].class, ByteOrder.nativeOrder());
  private static final VarHandle INT =
      MethodHandles.byteBufferViewVarHandle(int[].class, ByteOrder.nativeOrder());

  private final long address;
  private final long size;
  private final ByteBuffer region;
  private final int capacity;
  private final int mask;
  private final int maxRecord;
  private final long spinNanos;

  private final int txCtl;
  private final int txData;
  private final Fd txDataBell;
  private final Fd txSpaceBell;
  private final int rxCtl;
  private final int rxData;
  private final Fd rxDataBell;
  private final Fd rxSpaceBell;
  private final Interest rxReady;
  private final Interest txReady;

  /** The count a ring adds: 1, written once; sender and receiver ring from it. */
  /** What a bell ring writes; only read, so one copy serves every channel. */
  private static final ByteBuffer ONE = ByteBuffer.allocateDirect(8).order(ByteOrder.nativeOrder())
      .putLong(0, 1);
  private static final long ONE_ADDRESS = address(ONE);
  private final BellDrain rxDrain = new BellDrain();
  private final BellDrain txDrain = new BellDrain();

  // Producer state, under the send lock.
  private long txTail;
  private long txHeadSeen;
  /** A fragmented message is under way: its first fragment is published, its last is not. */
  private boolean txInFlight;
  /** Bytes the record that did not fit needs; what {@link #doArmSend} waits for. */
  private int txNeed;
  /** PRODUCER_WAITING was set by {@link #doArmSend} and not cleared since. */
  private boolean txArmed;
  private IOException txFailure;

  // Consumer state, under the receive lock.
  private long rxHead;
  private long rxTailSeen;
  private int messageLength = -1; // of the fragmented message being assembled, else -1
  private int messageRemaining;
  /**
   * The fragments received so far of a message that was not complete when a receive had to
   * return; null while fragments go straight into the caller's buffer.
   */
  private ByteBuffer stash; // kept while fragmented messages follow one another
  private boolean stashing;
  /** CONSUMER_WAITING was set by {@link #doArmReceive} and not cleared since. */
  private boolean rxArmed;
  private boolean eof;
  private IOException rxFailure;

  /**
   * @param address where the region is mapped; the channel unmaps it when closed
   * @param txRing the ring this side produces into (0 on the server, 1 on the client)
   * @param bells the four doorbells in ring order: ring 0 data, ring 0 space, ring 1 data, ring 1
   *     space; owned by the channel from now on (the caller closes them if this throws)
   */
  MemfdChannel(int maxMessageSize, long address, long size, int capacity, int txRing,
      List<Fd> bells, WaitStrategy strategy, long spinNanos) throws IOException {
    super(MemfdTransportProvider.NAME, maxMessageSize);
    this.address = address;
    this.size = size;
    this.region = new Pointer(address).getByteBuffer(0, size).order(ByteOrder.nativeOrder());
    this.capacity = capacity;
    this.mask = capacity - 1;
    this.maxRecord = Layout.maxRecord(capacity);
    this.spinNanos = switch (strategy) {
      case SPIN -> Long.MAX_VALUE;
      case SPIN_THEN_PARK -> spinNanos;
      case PARK -> 0;
    };
    int rxRing = 1 - txRing;
    this.txCtl = Layout.RING_CONTROL[txRing];
    this.txData = Layout.dataOffset(txRing, capacity);
    this.txDataBell = bells.get(2 * txRing);
    this.txSpaceBell = bells.get(2 * txRing + 1);
    this.rxCtl = Layout.RING_CONTROL[rxRing];
    this.rxData = Layout.dataOffset(rxRing, capacity);
    this.rxDataBell = bells.get(2 * rxRing);
    this.rxSpaceBell = bells.get(2 * rxRing + 1);
    // The server creates the bells non-blocking; a client does not take its server's word for it.
    // The flag belongs to the open file description, which both processes share, so the peer can
    // clear it again: draining therefore does not rely on it (see BellDrain).
    for (Fd bell : bells) {
      bell.setNonBlocking(true);
    }
    this.rxReady = Interest.readable(rxDataBell.intValue());
    this.txReady = Interest.readable(txSpaceBell.intValue());
  }

  private static long address(ByteBuffer direct) {
    return Pointer.nativeValue(Native.getDirectBufferPointer(direct));
  }

  @Override
  protected long receiveSpinNanos() {
    return spinNanos;
  }

  @Override
  protected long sendSpinNanos() {
    return spinNanos;
  }

  // ------------------------------------------------------------------------------------ send

  @Override
  protected boolean doTrySend(ByteBuffer message) throws IOException {
    if (txFailure != null) {
      throw txFailure;
    }
    if (txArmed) {
      disarmSend();
    }
    if (!txInFlight) {
      int total = message.remaining();
      if (total <= maxRecord) {
        return writeRecord(message, total, (total << 2) | Layout.KIND_WHOLE);
      }
      if (!writeRecord(message, maxRecord, (total << 2) | Layout.KIND_FIRST)) {
        return false;
      }
      txInFlight = true;
    }
    while (message.hasRemaining()) {
      int len = Math.min(maxRecord, message.remaining());
      if (!writeRecord(message, len,
          len == message.remaining() ? Layout.KIND_LAST : Layout.KIND_MIDDLE)) {
        return false;
      }
    }
    txInFlight = false;
    return true;
  }

  /**
   * Writes and publishes one record if the ring has room for it now.
   *
   * @return false if the ring is full ({@link #txNeed} then says how much room it needs)
   */
  private boolean writeRecord(ByteBuffer src, int len, int info) throws IOException {
    int need = Layout.recordSize(len);
    if (!hasSpace(need)) {
      txNeed = need;
      if ((int) INT.getVolatile(region, txCtl + Layout.CTL_CONSUMER_CLOSED) != 0) {
        throw new PeerClosedException("memfd: peer closed the channel; message not sent");
      }
      return false;
    }
    int at = (int) (txTail & mask);
    // A record header never wraps: positions and the capacity are multiples of 8.
    region.putInt(txData + at, len);
    region.putInt(txData + at + 4, info);
    int payloadAt = (at + Layout.RECORD_HEADER) & mask;
    int first = Math.min(len, capacity - payloadAt);
    int pos = src.position();
    region.put(txData + payloadAt, src, pos, first);
    if (len > first) {
      region.put(txData, src, pos + first, len - first);
    }
    src.position(pos + len);
    txTail += need;
    LONG.setRelease(region, txCtl + Layout.CTL_TAIL, txTail);
    VarHandle.fullFence(); // the tail store before the flag load: pairs with the consumer's fence
    if ((int) INT.getVolatile(region, txCtl + Layout.CTL_CONSUMER_WAITING) == 1
        && INT.compareAndSet(region, txCtl + Layout.CTL_CONSUMER_WAITING, 1, 0)) {
      ring(txDataBell);
    }
    return true;
  }

  private boolean hasSpace(int need) throws ProtocolException {
    if (capacity - (txTail - txHeadSeen) >= need) {
      return true;
    }
    txHeadSeen = readHead();
    return capacity - (txTail - txHeadSeen) >= need;
  }

  @Override
  protected Interest doArmSend() throws IOException {
    if (txFailure != null) {
      return null; // the next doTrySend throws it
    }
    if (!txArmed) {
      INT.setVolatile(region, txCtl + Layout.CTL_PRODUCER_WAITING, 1);
      txArmed = true;
    }
    VarHandle.fullFence(); // the flag store before the head load: pairs with the consumer's fence
    if (hasSpace(txNeed)
        || (int) INT.getVolatile(region, txCtl + Layout.CTL_CONSUMER_CLOSED) != 0) {
      disarmSend();
      return null;
    }
    return txReady;
  }

  private void disarmSend() {
    txArmed = false;
    INT.setVolatile(region, txCtl + Layout.CTL_PRODUCER_WAITING, 0);
    txDrain.drain(txSpaceBell);
  }

  /** The consumer's head of the ring this side produces into, checked. */
  private long readHead() throws ProtocolException {
    long head = (long) LONG.getAcquire(region, txCtl + Layout.CTL_HEAD);
    if (head < txHeadSeen || head > txTail || (head & 7) != 0) {
      txFailure = corrupt("head=" + head + " outside [" + txHeadSeen + ", " + txTail
          + "] or unaligned");
      throw (ProtocolException) txFailure;
    }
    return head;
  }

  // ------------------------------------------------------------------------------------ receive

  @Override
  protected int doTryReceive(ByteBuffer dst) throws IOException {
    if (rxFailure != null) {
      throw rxFailure;
    }
    if (eof) {
      return -1;
    }
    if (rxArmed) {
      disarmReceive();
    }
    if (stashing && dst.remaining() < messageLength) {
      throw new BufferTooSmallException(messageLength, dst.remaining());
    }
    int start = dst.position();
    while (true) {
      if (rxTailSeen == rxHead && !refreshTail()) {
        if (eof) {
          dropMessage(dst, start); // a fragmented message the peer never finished did not happen
          return -1;
        }
        if (messageLength >= 0 && !stashing) {
          stashFragments(dst, start);
        }
        return WOULD_BLOCK;
      }
      int at = (int) (rxHead & mask);
      int len = region.getInt(rxData + at);
      int info = region.getInt(rxData + at + 4);
      int kind = info & 3;
      int total = info >>> 2;
      if (len < 0 || len > maxRecord || Layout.recordSize(len) > rxTailSeen - rxHead) {
        throw failReceive("record length " + Integer.toUnsignedString(len) + " at " + rxHead
            + " exceeds the record limit " + maxRecord + " or the published bytes "
            + (rxTailSeen - rxHead));
      }
      switch (kind) {
        case Layout.KIND_WHOLE:
          if (messageLength >= 0 || total != len) {
            throw failReceive("whole-message record (length " + len + ", total " + total
                + ") where " + (messageLength >= 0 ? "a fragment" : "total == length")
                + " was expected");
          }
          if (dst.remaining() < len) {
            throw new BufferTooSmallException(len, dst.remaining());
          }
          copyOut(dst, at, len);
          stash = null; // small messages again: do not hold a large message's buffer for long
          return len;
        case Layout.KIND_FIRST:
          if (messageLength >= 0 || total <= len || total > maxMessageSize()) {
            throw failReceive("first fragment of " + len + " bytes announcing " + total
                + " (maxMessageSize " + maxMessageSize() + ")"
                + (messageLength >= 0 ? " inside another message" : ""));
          }
          if (dst.remaining() < total) {
            throw new BufferTooSmallException(total, dst.remaining());
          }
          copyOut(dst, at, len);
          messageLength = total;
          messageRemaining = total - len;
          break;
        default: // middle or last
          if (messageLength < 0 || total != 0 || len == 0
              || (kind == Layout.KIND_LAST ? len != messageRemaining : len >= messageRemaining)) {
            throw failReceive((kind == Layout.KIND_LAST ? "last" : "middle") + " fragment of "
                + len + " bytes with " + (messageLength < 0 ? "no message started"
                : messageRemaining + " bytes of the message left"));
          }
          copyOut(stashing ? stash : dst, at, len);
          messageRemaining -= len;
          if (kind == Layout.KIND_LAST) {
            return finishMessage(dst);
          }
      }
    }
  }

  /**
   * Reads the producer's tail once more.
   *
   * @return true if a record is published; false if not, with {@link #eof} set if the producer
   *     is gone and everything it published has been read
   */
  private boolean refreshTail() throws ProtocolException {
    rxTailSeen = readTail();
    if (rxTailSeen != rxHead) {
      return true;
    }
    // Only an empty ring pays for these loads. "Gone" is read before the second tail load, so
    // whatever the peer published before it went is still delivered.
    if (isPeerGone() || (int) INT.getVolatile(region, rxCtl + Layout.CTL_PRODUCER_CLOSED) != 0) {
      rxTailSeen = readTail();
      if (rxTailSeen != rxHead) {
        return true;
      }
      eof = true;
    }
    return false;
  }

  /** Moves the fragments received into {@code dst} so far aside: the receive returns without. */
  private void stashFragments(ByteBuffer dst, int start) {
    if (stash == null || stash.capacity() < messageLength) {
      stash = ByteBuffer.allocate(messageLength);
    }
    stash.clear().limit(messageLength);
    stash.put(dst.duplicate().position(start).limit(dst.position()));
    dst.position(start);
    stashing = true;
  }

  private int finishMessage(ByteBuffer dst) {
    int length = messageLength;
    messageLength = -1;
    if (stashing) {
      dst.put(stash.flip());
      stashing = false;
    }
    return length;
  }

  private void dropMessage(ByteBuffer dst, int start) {
    dst.position(start);
    messageLength = -1;
    stashing = false;
    stash = null;
  }

  /** Copies a record's payload into {@code dst}, then consumes the record. */
  private void copyOut(ByteBuffer dst, int at, int len) {
    int payloadAt = (at + Layout.RECORD_HEADER) & mask;
    int first = Math.min(len, capacity - payloadAt);
    int pos = dst.position();
    dst.put(pos, region, rxData + payloadAt, first);
    if (len > first) {
      dst.put(pos + first, region, rxData, len - first);
    }
    dst.position(pos + len);
    rxHead += Layout.recordSize(len);
    LONG.setRelease(region, rxCtl + Layout.CTL_HEAD, rxHead);
    VarHandle.fullFence(); // the head store before the flag load: pairs with the producer's fence
    if ((int) INT.getVolatile(region, rxCtl + Layout.CTL_PRODUCER_WAITING) == 1
        && INT.compareAndSet(region, rxCtl + Layout.CTL_PRODUCER_WAITING, 1, 0)) {
      ring(rxSpaceBell);
    }
  }

  @Override
  protected Interest doArmReceive() throws IOException {
    if (rxFailure != null || eof) {
      return null; // the next doTryReceive reports it
    }
    if (!rxArmed) {
      INT.setVolatile(region, rxCtl + Layout.CTL_CONSUMER_WAITING, 1);
      rxArmed = true;
    }
    VarHandle.fullFence(); // the flag store before the tail load: pairs with the producer's fence
    boolean closed = isPeerGone()
        || (int) INT.getVolatile(region, rxCtl + Layout.CTL_PRODUCER_CLOSED) != 0;
    rxTailSeen = readTail();
    if (rxTailSeen != rxHead || closed) {
      disarmReceive();
      return null;
    }
    return rxReady;
  }

  private void disarmReceive() {
    rxArmed = false;
    INT.setVolatile(region, rxCtl + Layout.CTL_CONSUMER_WAITING, 0);
    rxDrain.drain(rxDataBell);
  }

  /** The producer's tail of the ring this side consumes, checked. */
  private long readTail() throws ProtocolException {
    long tail = (long) LONG.getAcquire(region, rxCtl + Layout.CTL_TAIL);
    if (tail < rxHead || tail - rxHead > capacity || (tail & 7) != 0) {
      throw failReceive("tail=" + tail + " outside [" + rxHead + ", " + (rxHead + capacity)
          + "] or unaligned");
    }
    return tail;
  }

  private ProtocolException failReceive(String detail) {
    ProtocolException e = corrupt(detail);
    rxFailure = e;
    return e;
  }

  private ProtocolException corrupt(String detail) {
    return new ProtocolException(ErrorCode.MALFORMED_FRAME, "memfd: the peer corrupted the "
        + "shared ring: " + detail + " (capacity " + capacity + "); channel closed");
  }

  // ------------------------------------------------------------------------------------ bells

  private void ring(Fd bell) {
    // Fails only if the counter would overflow, which a sleeping peer resets long before.
    LibC.write(bell.intValue(), ONE_ADDRESS, 8);
  }

  @Override
  protected void release() throws IOException {
    try {
      // Tell the peer: nothing more will be published or read here. Then ring both of its bells
      // so that a peer asleep in either direction sees it.
      INT.setVolatile(region, txCtl + Layout.CTL_PRODUCER_CLOSED, 1);
      INT.setVolatile(region, rxCtl + Layout.CTL_CONSUMER_CLOSED, 1);
      ring(txDataBell);
      ring(rxSpaceBell);
      MemfdNative.unmap(address, size);
    } finally {
      rxDrain.close();
      txDrain.close();
      Fd.closeAll(List.of(txDataBell, txSpaceBell, rxDataBell, rxSpaceBell));
    }
  }
}
