package dev.fdipc.transport.memfd;

import com.sun.jna.Native;
import com.sun.jna.Pointer;
import dev.fdipc.BufferTooSmallException;
import dev.fdipc.ErrorCode;
import dev.fdipc.IpcTimeoutException;
import dev.fdipc.PeerClosedException;
import dev.fdipc.ProtocolException;
import dev.fdipc.internal.LibC;
import dev.fdipc.spi.AbstractIpcChannel;
import dev.fdipc.spi.Fd;
import dev.fdipc.spi.Wakeup;
import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * One side of a memfd connection: it produces into one ring of the shared region and consumes from
 * the other (see {@link Layout}). The sender copies a message into its ring and publishes it with
 * release ordering; the receiver copies it out. Neither makes a system call while the other keeps
 * up; a side that has to wait spins, sleeps on an eventfd, or both ({@link WaitStrategy}).
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

  /**
   * Pauses between the checks of a spinning wait that need more than one load (clock, close, peer
   * gone): a few microseconds at most, which bounds how late a spin notices them.
   */
  private static final int SPIN_BURST = 64;

  private final long address;
  private final long size;
  private final ByteBuffer region;
  private final int capacity;
  private final int mask;
  private final int maxRecord;
  private final WaitStrategy strategy;
  private final long spinNanos;

  private final int txCtl;
  private final int txData;
  private final Fd txDataBell;
  private final Fd txSpaceBell;
  private final int rxCtl;
  private final int rxData;
  private final Fd rxDataBell;
  private final Fd rxSpaceBell;
  private final Wakeup wakeup;
  private final Wakeup.Waiter sending;
  private final Wakeup.Waiter receiving;

  private final ByteBuffer bellBuf = ByteBuffer.allocateDirect(8).order(ByteOrder.nativeOrder());
  private final long bellBufAddress = address(bellBuf);
  private final ByteBuffer drainBuf = ByteBuffer.allocateDirect(8).order(ByteOrder.nativeOrder());
  private final long drainBufAddress = address(drainBuf);

  // Producer state, under the send lock.
  private long txTail;
  private long txHeadSeen;
  private IOException txFailure;

  // Consumer state, under the receive lock.
  private long rxHead;
  private long rxTailSeen;
  private int messageLength = -1; // of the fragmented message being assembled, else -1
  private int messageRemaining;
  private ByteBuffer stash;
  private boolean eof;
  private IOException rxFailure;

  /**
   * @param address where the region is mapped; the channel unmaps it when closed
   * @param txRing the ring this side produces into (0 on the server, 1 on the client)
   * @param bells the four doorbells in ring order: ring 0 data, ring 0 space, ring 1 data, ring 1
   *     space; owned by the channel from now on
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
    this.strategy = strategy;
    this.spinNanos = spinNanos;
    int rxRing = 1 - txRing;
    this.txCtl = Layout.RING_CONTROL[txRing];
    this.txData = Layout.dataOffset(txRing, capacity);
    this.txDataBell = bells.get(2 * txRing);
    this.txSpaceBell = bells.get(2 * txRing + 1);
    this.rxCtl = Layout.RING_CONTROL[rxRing];
    this.rxData = Layout.dataOffset(rxRing, capacity);
    this.rxDataBell = bells.get(2 * rxRing);
    this.rxSpaceBell = bells.get(2 * rxRing + 1);
    this.wakeup = new Wakeup();
    this.sending = wakeup.newWaiter();
    this.receiving = wakeup.newWaiter();
  }

  private static long address(ByteBuffer direct) {
    return Pointer.nativeValue(Native.getDirectBufferPointer(direct));
  }

  // ------------------------------------------------------------------------------------ send

  @Override
  protected void doSend(ByteBuffer message) throws IOException {
    if (txFailure != null) {
      throw txFailure;
    }
    int total = message.remaining();
    if (total <= maxRecord) {
      writeRecord(message, total, (total << 2) | Layout.KIND_WHOLE);
      return;
    }
    boolean first = true;
    while (message.hasRemaining()) {
      int len = Math.min(maxRecord, message.remaining());
      int info = first ? (total << 2) | Layout.KIND_FIRST
          : len == message.remaining() ? Layout.KIND_LAST : Layout.KIND_MIDDLE;
      writeRecord(message, len, info);
      first = false;
    }
  }

  private void writeRecord(ByteBuffer src, int len, int info) throws IOException {
    int need = Layout.recordSize(len);
    awaitSpace(need);
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
  }

  private void awaitSpace(int need) throws IOException {
    if (capacity - (txTail - txHeadSeen) >= need) {
      return;
    }
    long spinUntil = strategy == WaitStrategy.SPIN_THEN_PARK ? System.nanoTime() + spinNanos : 0;
    while (true) {
      txHeadSeen = readHead();
      if (capacity - (txTail - txHeadSeen) >= need) {
        return;
      }
      checkNotClosedWhileWaiting();
      if (isPeerGone() || (int) INT.getVolatile(region, txCtl + Layout.CTL_CONSUMER_CLOSED) != 0) {
        throw new PeerClosedException("memfd: peer closed the channel; message not sent");
      }
      if (strategy == WaitStrategy.SPIN
          || strategy == WaitStrategy.SPIN_THEN_PARK && System.nanoTime() - spinUntil < 0) {
        Thread.onSpinWait();
        continue;
      }
      INT.setVolatile(region, txCtl + Layout.CTL_PRODUCER_WAITING, 1);
      VarHandle.fullFence();
      txHeadSeen = readHead();
      if (capacity - (txTail - txHeadSeen) < need && isOpen() && !isPeerGone()
          && (int) INT.getVolatile(region, txCtl + Layout.CTL_CONSUMER_CLOSED) == 0) {
        sleep(sending, txSpaceBell, NO_DEADLINE);
      }
      INT.setVolatile(region, txCtl + Layout.CTL_PRODUCER_WAITING, 0);
    }
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
  protected int doReceive(ByteBuffer dst, long deadline) throws IOException {
    if (rxFailure != null) {
      throw rxFailure;
    }
    if (eof) {
      return -1;
    }
    int start = dst.position();
    if (stash != null) { // the first part of a message whose receive timed out
      if (dst.remaining() < messageLength) {
        throw new BufferTooSmallException(messageLength, dst.remaining());
      }
      dst.put(stash.flip());
      stash = null;
    }
    while (true) {
      boolean more;
      try {
        more = awaitData(deadline);
      } catch (IpcTimeoutException e) {
        if (messageLength >= 0) {
          stash = ByteBuffer.allocate(messageLength);
          stash.put(dst.duplicate().position(start).limit(dst.position()));
          dst.position(start);
        }
        throw e;
      }
      if (!more) {
        eof = true;
        dst.position(start); // a fragmented message the peer never finished did not happen
        return -1;
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
          copyOut(dst, at, len);
          messageRemaining -= len;
          if (kind == Layout.KIND_LAST) {
            int length = messageLength;
            messageLength = -1;
            return length;
          }
      }
    }
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

  /**
   * Waits until a record is published.
   *
   * @return false at end of stream: the peer closed or is gone and everything it published has
   *     been read
   * @throws IpcTimeoutException if {@code deadline} passes first
   */
  private boolean awaitData(long deadline) throws IOException {
    if (rxTailSeen - rxHead > 0) {
      return true;
    }
    long spinUntil = 0;
    boolean spinning = false;
    while (true) {
      checkNotClosedWhileWaiting();
      // Read "gone" before the tail: whatever the peer published before it went is then seen.
      boolean gone = isPeerGone()
          || (int) INT.getVolatile(region, rxCtl + Layout.CTL_PRODUCER_CLOSED) != 0;
      rxTailSeen = readTail();
      if (rxTailSeen - rxHead > 0) {
        return true;
      }
      if (gone) {
        return false;
      }
      if (strategy != WaitStrategy.PARK) {
        // The clock is read only once the ring has been found empty, and then once per burst of
        // spins: a publication is noticed within one load and one pause, as in a C spin loop.
        long now = System.nanoTime();
        if (!spinning) {
          spinning = true;
          spinUntil = now + spinNanos;
        }
        if (strategy == WaitStrategy.SPIN || now - spinUntil < 0) {
          if (deadline != NO_DEADLINE && deadline - now <= 0) {
            throw timeout();
          }
          if (spinForTail()) {
            return true;
          }
          continue;
        }
      }
      INT.setVolatile(region, rxCtl + Layout.CTL_CONSUMER_WAITING, 1);
      VarHandle.fullFence();
      rxTailSeen = readTail();
      boolean ready = true;
      if (rxTailSeen - rxHead == 0 && isOpen() && !isPeerGone()
          && (int) INT.getVolatile(region, rxCtl + Layout.CTL_PRODUCER_CLOSED) == 0) {
        ready = sleep(receiving, rxDataBell, deadline);
      }
      INT.setVolatile(region, rxCtl + Layout.CTL_CONSUMER_WAITING, 0);
      if (!ready) {
        throw timeout();
      }
    }
  }

  /**
   * Spins a burst of {@link #SPIN_BURST} pauses reading nothing but the tail; close, peer gone, the
   * deadline and the end of spinning are the caller's checks between bursts.
   *
   * @return true once a record is published
   */
  private boolean spinForTail() throws ProtocolException {
    for (int i = 0; i < SPIN_BURST; i++) {
      Thread.onSpinWait();
      rxTailSeen = readTail();
      if (rxTailSeen - rxHead > 0) {
        return true;
      }
    }
    return false;
  }

  private IpcTimeoutException timeout() {
    return new IpcTimeoutException("memfd: no message before the timeout");
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

  // ------------------------------------------------------------------------------------ waiting

  private void ring(Fd bell) {
    bellBuf.putLong(0, 1);
    // Fails only if the counter would overflow, which a sleeping peer resets long before.
    LibC.write(bell.intValue(), bellBufAddress, 8);
  }

  /**
   * Sleeps until {@code bell} rings, the channel is woken (close, peer gone) or {@code deadline}
   * passes; consumes the bell's count.
   *
   * @return false if the deadline passed
   */
  private boolean sleep(Wakeup.Waiter waiter, Fd bell, long deadline) throws IOException {
    if (!waiter.await(bell.intValue(), LibC.POLLIN, deadline)) {
      return false;
    }
    if ((waiter.readyEvents() & LibC.POLLIN) != 0) {
      synchronized (drainBuf) { // sender and receiver may both drain
        LibC.read(bell.intValue(), drainBufAddress, 8); // EAGAIN: nothing left to reset
      }
    }
    return true;
  }

  @Override
  protected void wakeUp() {
    wakeup.signal();
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
      List<Fd> fds = new ArrayList<>(List.of(txDataBell, txSpaceBell, rxDataBell, rxSpaceBell));
      try {
        Fd.closeAll(fds);
      } finally {
        wakeup.close();
      }
    }
  }
}
