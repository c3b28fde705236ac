package dev.fdipc.transport.mqueue;

import com.sun.jna.Native;
import com.sun.jna.Pointer;
import dev.fdipc.BufferTooSmallException;
import dev.fdipc.ErrorCode;
import dev.fdipc.PeerClosedException;
import dev.fdipc.ProtocolException;
import dev.fdipc.spi.AbstractIpcChannel;
import dev.fdipc.spi.Fd;
import dev.fdipc.spi.Interest;
import dev.fdipc.spi.NativeIoException;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * One side of an mqueue connection: it sends into one queue and receives from the other. A message
 * travels as one or more kernel messages (fragments), each with an 8-byte header:
 *
 * <pre>
 *   0       1       2               4                               8
 *   +-------+-------+---------------+-------------------------------+------------------+
 *   | flags |   0   | index (u16)   | total (u32)                   | payload ...      |
 *   +-------+-------+---------------+-------------------------------+------------------+
 *   flags: 0x01 FIRST, 0x02 LAST, other bits 0. index: 0, 1, 2, ... within the message, modulo
 *   65536. total: the length of the whole message, the same in every fragment. Big-endian.
 * </pre>
 *
 * A message of up to {@code mq_msgsize - 8} bytes is one fragment with both flags; a longer one
 * is cut into full fragments and a last, shorter one. Everything the peer sends is checked before
 * it is used: a fragment that breaks these rules fails the receiving direction with
 * {@link ProtocolException}, and nothing is allocated from a length the peer chose unless it is
 * within the maximum message size.
 *
 * <p><b>Waiting.</b> This side's descriptions are non-blocking (each side has descriptions of its
 * own, see {@link Queues#create}): {@link #tryReceive} and {@link #trySend} never wait, and keep a
 * message that is partly received or partly sent for the next call. What to wait for is an epoll
 * descriptor per direction, created by the first wait in that direction: it holds the queue
 * ({@code EPOLLIN} resp. {@code EPOLLOUT}) and the peer link, so that a wait ends when the queue
 * can progress or the peer goes. {@link AbstractIpcChannel} does the waiting.
 *
 * <p><b>End of stream.</b> A queue cannot tell its reader that the writer went away, so each side
 * also holds one end of a socket pair (the peer link) that it never writes to: when the other end
 * closes, on {@code close()} or with the death of its process, {@code poll(2)} reports
 * {@code POLLHUP}. A peer that only shuts its end down ({@code POLLRDHUP}) counts as gone too:
 * the epoll descriptors report it, and a condition they report must let the channel progress, or
 * a waiting loop would spin. From then on, and also once core reports the control connection
 * gone, a receive drains what is queued and then returns end of stream, and a send that finds the
 * queue full fails with {@link PeerClosedException}. Every fragment the peer sent before it went
 * is already in the queue then, because {@code mq_send} returns only once the message is queued;
 * a message the peer did not finish is dropped.
 */
final class MqueueChannel extends AbstractIpcChannel {
  /** Bytes of fragment header. */
  static final int HEADER = 8;
  static final int FIRST = 0x01;
  static final int LAST = 0x02;

  private final Fd in;
  private final Fd out;
  private final Fd link;
  private final List<Closeable> resources;
  private final int inMessageSize;
  private final int outMessageSize;

  private final ByteBuffer rbuf;
  private final long rbufAddress;
  private final ByteBuffer sbuf;
  private final long sbufAddress;
  /** A {@code struct pollfd} for the link, one per direction: both may check it at once. */
  private final ByteBuffer recvLinkPoll = linkPollfd();
  private final ByteBuffer sendLinkPoll = linkPollfd();

  /** Set once the peer link reported the other end closed. */
  private volatile boolean peerClosed;

  // Receive state, under the receive lock.
  /** The queue and the link, for a receive to wait on; created by the first wait. */
  private Fd recvEpoll;
  private Interest recvInterest;
  /** rbuf holds a fragment that a call received but could not use yet. */
  private boolean held;
  private int heldLength;
  /** Total length of the message being assembled, or -1 between messages. */
  private int total = -1;
  private int assembled;
  private int nextIndex;
  /**
   * The message being assembled once a call found the queue empty in its middle: later fragments
   * go here, and the whole message into the caller's buffer at the end. Null while a message is
   * assembled straight into the caller's buffer.
   */
  private ByteBuffer stash;
  private boolean eof;
  private IOException failure;

  // Send state, under the send lock.
  /** The queue and the link, for a send to wait on; created by the first wait. */
  private Fd sendEpoll;
  private Interest sendInterest;
  /** A message is under way: some of its fragments are sent, or one is built in sbuf. */
  private boolean sending;
  private int sendTotal;
  private int sendIndex;
  /** sbuf holds a fragment, taken from the message, that the queue had no room for yet. */
  private boolean staged;
  private int stagedLength;
  private boolean stagedLast;

  /**
   * Creates the channel; it owns the descriptors and resources from now on and closes them if this
   * constructor throws.
   *
   * @param in the queue this side receives from (readable)
   * @param out the queue this side sends to (writable)
   * @param link this side's end of the peer link
   * @param resources closed with the channel, after the descriptors
   */
  MqueueChannel(int maxMessageSize, Fd in, Fd out, Fd link, List<? extends Closeable> resources)
      throws IOException {
    super(MqueueTransportProvider.NAME, maxMessageSize);
    this.in = in;
    this.out = out;
    this.link = link;
    this.resources = List.copyOf(resources);
    try {
      this.inMessageSize = messageSize(in, "receive from");
      this.outMessageSize = messageSize(out, "send to");
    } catch (IOException | RuntimeException | LinkageError e) {
      Fd.closeAllAfter(e, owned());
      throw e;
    }
    rbuf = ByteBuffer.allocateDirect(inMessageSize).order(ByteOrder.BIG_ENDIAN);
    rbufAddress = address(rbuf);
    sbuf = ByteBuffer.allocateDirect(outMessageSize).order(ByteOrder.BIG_ENDIAN);
    sbufAddress = address(sbuf);
  }

  /** The message size of a queue, checked to be one this channel can work with. */
  private static int messageSize(Fd q, String role) throws IOException {
    long[] attr = MqNative.mqGetattr(q.intValue());
    if (attr == null) {
      throw new NativeIoException("mq_getattr", MqNative.errno(),
          "the descriptor to " + role + " is not a message queue");
    }
    long size = attr[2];
    if (size < QueueSizes.MIN_MESSAGE_SIZE || size > QueueSizes.HARD_MESSAGE_SIZE) {
      throw new ProtocolException(ErrorCode.MALFORMED_FRAME, "mqueue: the queue to " + role
          + " has messages of " + size + " bytes; expected " + QueueSizes.MIN_MESSAGE_SIZE
          + " to " + QueueSizes.HARD_MESSAGE_SIZE);
    }
    return (int) size;
  }

  private static ByteBuffer linkPollfd() {
    return ByteBuffer.allocateDirect(8).order(ByteOrder.nativeOrder());
  }

  private static long address(ByteBuffer direct) {
    return Pointer.nativeValue(Native.getDirectBufferPointer(direct));
  }

  /** The number of the descriptor this side receives from, for tests that inspect the queue. */
  int inboundQueue() {
    return in.intValue();
  }

  // ------------------------------------------------------------------------------------ send

  @Override
  protected boolean doTrySend(ByteBuffer message) throws IOException {
    if (!sending) {
      sendTotal = message.remaining();
      sendIndex = 0;
      sending = true;
    }
    int room = outMessageSize - HEADER;
    while (true) {
      if (!staged) {
        int chunk = Math.min(room, message.remaining());
        int flags = (sendIndex == 0 ? FIRST : 0) | (chunk == message.remaining() ? LAST : 0);
        sbuf.clear();
        sbuf.put((byte) flags).put((byte) 0).putShort((short) sendIndex).putInt(sendTotal);
        int limit = message.limit();
        message.limit(message.position() + chunk);
        sbuf.put(message);
        message.limit(limit);
        staged = true;
        stagedLength = HEADER + chunk;
        stagedLast = (flags & LAST) != 0;
      }
      if (!sendFragment()) {
        return false;
      }
      staged = false;
      sendIndex++;
      if (stagedLast) {
        sending = false;
        return true;
      }
    }
  }

  /**
   * Queues the fragment in sbuf.
   *
   * @return false if the queue is full
   * @throws PeerClosedException if the queue is full and the peer is gone: nobody will make room
   */
  private boolean sendFragment() throws IOException {
    int fd = out.intValue();
    while (true) {
      if (MqNative.mq_timedsend(fd, sbufAddress, stagedLength, 0, 0) == 0) {
        return true;
      }
      int errno = MqNative.errno();
      if (errno == MqNative.EAGAIN) {
        if (peerClosed || isPeerGone() || linkHungUp(sendLinkPoll)) {
          sending = false; // the message is cut; there is nobody to notice
          staged = false;
          throw new PeerClosedException(transport() + ": peer is gone; message not sent");
        }
        return false;
      } else if (errno != MqNative.EINTR) {
        throw new NativeIoException("mq_timedsend", errno);
      }
    }
  }

  @Override
  protected Interest doArmSend() throws IOException {
    if (sendInterest == null) {
      sendEpoll = MqNative.epollOf(out.intValue(), MqNative.EPOLLOUT, link.intValue(),
          MqNative.EPOLLRDHUP);
      sendInterest = Interest.readable(sendEpoll.intValue());
    }
    return sendInterest;
  }

  // ------------------------------------------------------------------------------------ receive

  @Override
  protected int doTryReceive(ByteBuffer dst) throws IOException {
    if (failure != null) {
      throw failure;
    }
    if (eof) {
      return -1;
    }
    if (total >= 0 && dst.remaining() < total) { // a message an earlier call began
      throw new BufferTooSmallException(total, dst.remaining());
    }
    int start = dst.position();
    while (true) {
      if (!held) {
        int n;
        try {
          n = nextFragment();
        } catch (IOException e) {
          if (total >= 0) { // part of a message is gone with this call: the stream cannot go on
            failure = e;
            total = -1;
            stash = null;
          }
          dst.position(start);
          throw e;
        }
        if (n == WOULD_BLOCK) {
          if (total >= 0 && stash == null) { // keep what this call assembled for the next one
            stash = ByteBuffer.allocate(total);
            stash.put(0, dst, start, assembled).position(assembled);
            dst.position(start);
          }
          return WOULD_BLOCK;
        }
        if (n < 0) { // the peer is gone; a message it did not finish never existed
          eof = true;
          total = -1;
          stash = null;
          dst.position(start);
          return -1;
        }
        held = true;
        heldLength = n;
      }
      int payload;
      try {
        payload = check(heldLength);
      } catch (ProtocolException e) {
        failure = e;
        held = false;
        total = -1;
        stash = null;
        dst.position(start);
        throw e;
      }
      if (total < 0) {
        int announced = rbuf.getInt(4);
        if (dst.remaining() < announced) {
          throw new BufferTooSmallException(announced, dst.remaining()); // the fragment stays held
        }
        total = announced;
        assembled = 0;
        nextIndex = 0;
      }
      ByteBuffer into = stash != null ? stash : dst;
      into.put(into.position(), rbuf, HEADER, payload).position(into.position() + payload);
      held = false;
      assembled += payload;
      nextIndex++;
      if (assembled == total) {
        if (stash != null) {
          dst.put(stash.flip());
          stash = null;
        }
        int length = total;
        total = -1;
        return length;
      }
    }
  }

  /**
   * Checks the held fragment against the message being assembled (or, if none, as the first of a
   * new one).
   *
   * @return the fragment's payload length
   * @throws ProtocolException naming what is wrong, with the values
   */
  private int check(int length) throws ProtocolException {
    if (length < HEADER) {
      throw violation("a fragment of " + length + " bytes, shorter than the " + HEADER
          + "-byte header");
    }
    int flags = rbuf.get(0) & 0xff;
    int reserved = rbuf.get(1) & 0xff;
    int index = rbuf.getShort(2) & 0xffff;
    long announced = rbuf.getInt(4) & 0xffffffffL;
    int payload = length - HEADER;
    if ((flags & ~(FIRST | LAST)) != 0 || reserved != 0) {
      throw violation("a fragment header with flags=0x" + Integer.toHexString(flags)
          + " reserved=" + reserved + "; only FIRST (0x1) and LAST (0x2) are defined");
    }
    boolean first = (flags & FIRST) != 0;
    boolean last = (flags & LAST) != 0;
    if (total < 0) {
      if (!first || index != 0) {
        throw violation("fragment " + index + " of a message that never began (no FIRST "
            + "fragment before it)");
      }
      if (announced > maxMessageSize()) {
        throw violation("a message of " + announced + " bytes, over maxMessageSize="
            + maxMessageSize());
      }
      checkEnd(payload, announced, 0, last);
    } else {
      if (first) {
        throw violation("a new message before the previous one ended (" + assembled + " of "
            + total + " bytes received)");
      }
      if (index != (nextIndex & 0xffff)) {
        throw violation("fragment " + index + " where fragment " + (nextIndex & 0xffff)
            + " was due");
      }
      if (announced != total) {
        throw violation("a fragment announcing a message of " + announced + " bytes in the "
            + "middle of one of " + total);
      }
      if (payload == 0) {
        throw violation("an empty fragment in the middle of a message");
      }
      checkEnd(payload, announced, assembled, last);
    }
    return payload;
  }

  private void checkEnd(int payload, long announced, int already, boolean last)
      throws ProtocolException {
    long end = (long) already + payload;
    if (end > announced) {
      throw violation("a fragment that ends at byte " + end + " of a message of " + announced
          + " bytes");
    }
    if (last != (end == announced)) {
      throw violation(last ? "a LAST fragment at byte " + end + " of a message of " + announced
          + " bytes" : "a fragment that completes the message of " + announced
          + " bytes without the LAST flag");
    }
  }

  private ProtocolException violation(String what) {
    return new ProtocolException(ErrorCode.MALFORMED_FRAME, transport() + ": the peer sent "
        + what + "; the channel is unusable");
  }

  /**
   * Receives the next fragment into {@code rbuf}, without waiting.
   *
   * @return its length, {@link #WOULD_BLOCK} if the queue is empty, or -1 when the peer is gone and
   *     the queue is empty
   */
  private int nextFragment() throws IOException {
    int fd = in.intValue();
    while (true) {
      boolean goneBefore = peerClosed || isPeerGone();
      long n = MqNative.mq_timedreceive(fd, rbufAddress, inMessageSize, 0, 0);
      if (n >= 0) {
        return (int) n;
      }
      int errno = MqNative.errno();
      if (errno == MqNative.EAGAIN) {
        if (goneBefore) {
          return -1; // everything the peer sent before it went has been received
        }
        if (!linkHungUp(recvLinkPoll)) {
          return WOULD_BLOCK;
        }
        // The peer went after the queue was found empty: look once more, then it is the end.
      } else if (errno != MqNative.EINTR) {
        throw new NativeIoException("mq_timedreceive", errno);
      }
    }
  }

  @Override
  protected Interest doArmReceive() throws IOException {
    if (recvInterest == null) {
      recvEpoll = MqNative.epollOf(in.intValue(), MqNative.EPOLLIN, link.intValue(),
          MqNative.EPOLLRDHUP);
      recvInterest = Interest.readable(recvEpoll.intValue());
    }
    return recvInterest;
  }

  // ------------------------------------------------------------------------------------ the link

  /**
   * True once the peer link reports the other end closed, or shut down ({@code POLLRDHUP}, which
   * the epoll descriptors watch for). Bytes a hostile peer writes into it are not asked about.
   * One {@code poll(2)}, done only when the queue is empty or full.
   */
  private boolean linkHungUp(ByteBuffer pollfd) throws IOException {
    if (peerClosed) {
      return true;
    }
    pollfd.putInt(0, link.intValue()).putShort(4, MqNative.POLLRDHUP).putShort(6, (short) 0);
    while (true) {
      int r = MqNative.Libc.poll(address(pollfd), 1, 0);
      if (r > 0) {
        peerClosed = true; // POLLRDHUP, POLLHUP or POLLERR: the other end is no more
        return true;
      }
      if (r == 0) {
        return false;
      }
      if (MqNative.errno() != MqNative.EINTR) {
        throw NativeIoException.lastError("poll");
      }
    }
  }

  @Override
  protected void release() throws IOException {
    List<Closeable> all = new ArrayList<>(owned());
    if (recvEpoll != null) {
      all.add(0, recvEpoll);
    }
    if (sendEpoll != null) {
      all.add(0, sendEpoll);
    }
    Fd.closeAll(all);
  }

  private List<Closeable> owned() {
    List<Closeable> all = new ArrayList<>(resources.size() + 3);
    all.add(in);
    all.add(out);
    all.add(link);
    all.addAll(resources);
    return all;
  }
}
