package dev.fdipc.spi;

import com.sun.jna.Pointer;
import dev.fdipc.BufferTooSmallException;
import dev.fdipc.ErrorCode;
import dev.fdipc.PeerClosedException;
import dev.fdipc.ProtocolException;
import dev.fdipc.internal.LibC;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * A message channel over byte-stream descriptors (pipes, stream sockets, FIFOs): each message is a
 * 4-byte big-endian length followed by that many bytes. The channel waits for them to become
 * readable or writable through {@link AbstractIpcChannel}.
 *
 * <p>One {@code AF_UNIX} stream socket used both ways stays in blocking mode, and its
 * non-blocking calls pass {@code MSG_DONTWAIT}: then a platform thread's receive without a timeout
 * is one blocking {@code recv(2)}, the way C drives a socket ({@link #doReceiveBlocking}), and
 * {@link #close()} and {@link #peerGone()} wake it by {@code shutdown(2)} of our own end, after
 * which a recv still returns the data already queued before it reports end of stream. (Waiting in
 * {@code poll(2)} made a 64-byte socketpair round trip 1.36-1.43 times as slow as C's; blocking
 * makes it 1.10-1.26 times.) Other descriptors (pipes, FIFOs) are switched to non-blocking mode.
 *
 * <p>Reads go through a buffer, so a burst of small messages costs one {@code read(2)}; a message
 * and its length leave in one {@code write(2)} when they fit the send buffer. Both buffers start
 * at 4 KiB and grow to 64 KiB when larger messages pass, so that thousands of idle channels cost
 * little memory and a stream of large ones few system calls.
 *
 * <p>A length over the maximum message size means the peer is broken or hostile: the receive fails
 * with {@link ProtocolException} and the channel stays failed.
 */
public class FdStreamChannel extends AbstractIpcChannel {
  private static final int HEADER = 4;
  private static final int MIN_BUFFER = 4 * 1024;
  private static final int MAX_BUFFER = 64 * 1024;

  private final Fd in;
  private final Fd out;
  /** One AF_UNIX stream socket for both directions: send(2) with MSG_NOSIGNAL, recv(2). */
  private final boolean socket;
  private final List<Closeable> resources;
  private final Interest readable;
  private final Interest writable;
  /** Held by {@link #wakeUp()} and {@link #release()}: shutdown(2) never meets a closed fd. */
  private final Object fdGuard = new Object();
  /** The receive in progress may block in recv(2) (a socket, from doReceiveBlocking). */
  private boolean blockInKernel;

  // Receive side, under the receive lock. rbuf is in read mode: position..limit is unread data.
  private com.sun.jna.Memory rmem;
  private ByteBuffer rbuf;
  private long rbufAddress;
  /** Length of the message being received, or -1 while its header is still to come. */
  private int pending = -1;
  /** The part of the pending message received so far, when it did not arrive in one piece. */
  private ByteBuffer partial;
  private boolean assembling;
  private boolean eof;
  private IOException failure;

  // Send side, under the send lock. sbuf is in write mode: 0..position is data, 0..sent written.
  private com.sun.jna.Memory smem;
  private ByteBuffer sbuf;
  private long sbufAddress;
  private int sent;
  /** Bytes of the message under way not yet copied into sbuf. */
  private int sendRemaining;
  /** A message is under way: its header went into sbuf and not all of it has been written. */
  private boolean inFlight;

  /**
   * Creates the channel; it owns {@code in}, {@code out} and every resource from now on, and closes
   * them if this constructor throws.
   *
   * @param transport the transport's name
   * @param maxMessageSize the negotiated maximum message size
   * @param in the descriptor messages are read from
   * @param out the descriptor messages are written to; may be the same as {@code in}. Both are
   *     switched to non-blocking mode, so they must not be shared with anyone who goes on using
   *     them
   * @param resources anything else to close with the channel
   */
  public FdStreamChannel(String transport, int maxMessageSize, Fd in, Fd out,
      List<? extends Closeable> resources) throws IOException {
    super(transport, maxMessageSize);
    this.in = in;
    this.out = out;
    this.resources = List.copyOf(resources);
    try {
      this.socket = in == out && LibC.isUnixStreamSocket(in.intValue());
      in.setNonBlocking(!socket);
      out.setNonBlocking(!socket);
      this.readable = Interest.readable(in.intValue());
      this.writable = Interest.writable(out.intValue());
    } catch (IOException | RuntimeException e) {
      Fd.closeAllAfter(e, owned(in, out, this.resources));
      throw e;
    }
  }

  /**
   * The client's channel from what a byte-stream transport's server sent: one descriptor used in
   * both directions (a stream socket), or two, the read end first. Every received descriptor is
   * closed if this fails, as {@link TransportProvider#openClient} requires.
   *
   * @param transport the transport's name, for messages
   * @param fdCount 1 or 2: how many descriptors the server sends
   * @throws IOException if the server sent another number of descriptors
   */
  public static FdStreamChannel openClient(String transport, ClientEnd end,
      TransportSettings settings, int fdCount) throws IOException {
    try {
      Fd in = end.fd(transport, 0, fdCount);
      Fd out = fdCount == 1 ? in : end.fd(transport, 1, fdCount);
      return new FdStreamChannel(transport, settings.maxMessageSize(), in, out, List.of());
    } catch (IOException | RuntimeException e) {
      Fd.closeAllAfter(e, end.fds());
      throw e;
    }
  }

  /**
   * Native memory of at least {@code need} bytes (rounded to a power of two, 4 to 64 KiB). JNA
   * memory rather than a direct buffer: {@link #release()} frees it at once, so thousands of
   * short connections leave no backlog of cleaners for the garbage collector.
   */
  private static com.sun.jna.Memory allocate(int need) {
    int size = MIN_BUFFER;
    while (size < need && size < MAX_BUFFER) {
      size <<= 1;
    }
    return new com.sun.jna.Memory(size);
  }

  /**
   * A big-endian view (JNA's views are in native order; the framing is big-endian). Through a
   * plain {@link Pointer}: {@code Memory.getByteBuffer} also files the Memory in JNA's global
   * holder, which keeps it reachable until a later view purges the holder, so a burst of
   * connections would leave thousands of them on the heap after the last one closed. The view
   * is used only while the channel is open, and {@link #release()} frees the memory after that.
   */
  private static ByteBuffer view(com.sun.jna.Memory m) {
    return new Pointer(Pointer.nativeValue(m)).getByteBuffer(0, m.size())
        .order(java.nio.ByteOrder.BIG_ENDIAN);
  }

  // ---------------------------------------------------------------------------------- send

  @Override
  protected boolean doTrySend(ByteBuffer message) throws IOException {
    if (!inFlight) {
      int size = message.remaining();
      if (sbuf == null || sbuf.capacity() < Math.min(MAX_BUFFER, size + HEADER)) {
        if (smem != null) {
          smem.close();
        }
        smem = allocate(size + HEADER);
        sbuf = view(smem);
        sbufAddress = Pointer.nativeValue(smem);
      }
      sbuf.clear();
      sent = 0;
      sbuf.putInt(size);
      sendRemaining = size;
      inFlight = true;
    }
    while (true) {
      if (sendRemaining > 0 && sbuf.hasRemaining()) {
        int chunk = Math.min(sbuf.remaining(), sendRemaining);
        int limit = message.limit();
        message.limit(message.position() + chunk);
        sbuf.put(message);
        message.limit(limit);
        sendRemaining -= chunk;
      }
      if (!flush()) {
        return false;
      }
      if (sendRemaining == 0) {
        inFlight = false;
        return true;
      }
    }
  }

  /**
   * Writes what sbuf holds; true once all of it is written (sbuf is then empty).
   */
  private boolean flush() throws IOException {
    int fd = out.intValue();
    int length = sbuf.position();
    while (sent < length) {
      long n = socket
          ? LibC.send(fd, sbufAddress + sent, length - sent, LibC.MSG_NOSIGNAL | LibC.MSG_DONTWAIT)
          : LibC.write(fd, sbufAddress + sent, length - sent);
      if (n >= 0) {
        sent += (int) n;
        continue;
      }
      int errno = LibC.errno();
      if (errno == LibC.EAGAIN) {
        return false;
      } else if (errno == LibC.EPIPE || errno == LibC.ECONNRESET) {
        if (isPeerGone()) {
          throw new PeerClosedException(transport() + ": peer is gone; message not sent");
        }
        throw new PeerClosedException(transport() + ": peer closed the channel",
            new NativeIoException(socket ? "send" : "write", errno));
      } else if (errno != LibC.EINTR) {
        throw new NativeIoException(socket ? "send" : "write", errno);
      }
    }
    sbuf.clear();
    sent = 0;
    return true;
  }

  @Override
  protected Interest doArmSend() {
    return writable;
  }

  // ---------------------------------------------------------------------------------- receive

  @Override
  protected int doTryReceive(ByteBuffer dst) throws IOException {
    if (failure != null) {
      throw failure;
    }
    if (eof) {
      return -1;
    }
    if (rbuf == null) {
      rmem = allocate(MIN_BUFFER);
      rbuf = view(rmem);
      rbufAddress = Pointer.nativeValue(rmem);
      rbuf.flip();
    }
    while (pending < 0) {
      if (rbuf.remaining() >= HEADER) {
        int length = rbuf.getInt();
        if (length < 0 || length > maxMessageSize()) {
          failure = new ProtocolException(ErrorCode.MALFORMED_FRAME, transport()
              + ": peer sent a message length of " + Integer.toUnsignedString(length)
              + ", over maxMessageSize=" + maxMessageSize() + "; the stream is corrupt");
          throw failure;
        }
        pending = length;
        if (length + HEADER > rbuf.capacity() && rbuf.capacity() < MAX_BUFFER) {
          grow(length + HEADER);
        }
      } else {
        int r = fill();
        if (r == 0) {
          return WOULD_BLOCK;
        }
        if (r < 0) {
          eof = true;
          return -1;
        }
      }
    }
    if (dst.remaining() < pending) {
      throw new BufferTooSmallException(pending, dst.remaining());
    }
    if (!assembling && rbuf.remaining() >= pending) { // the whole message is here: no copy more
      take(dst, pending);
      return finish();
    }
    if (!assembling) {
      if (partial == null || partial.capacity() < pending) {
        partial = ByteBuffer.allocate(pending);
      }
      partial.clear().limit(pending);
      assembling = true;
    }
    while (true) {
      if (rbuf.hasRemaining()) {
        take(partial, Math.min(partial.remaining(), rbuf.remaining()));
      }
      if (!partial.hasRemaining()) {
        dst.put(partial.flip());
        assembling = false;
        if (partial.capacity() > MAX_BUFFER) {
          partial = null; // do not keep a large message's buffer for the channel's life
        }
        return finish();
      }
      int r = fill();
      if (r == 0) {
        return WOULD_BLOCK;
      }
      if (r < 0) { // the peer died in the middle of a message: it never fully existed
        eof = true;
        assembling = false;
        return -1;
      }
    }
  }

  private int finish() {
    int length = pending;
    pending = -1;
    return length;
  }

  private void take(ByteBuffer into, int k) {
    int limit = rbuf.limit();
    rbuf.limit(rbuf.position() + k);
    into.put(rbuf);
    rbuf.limit(limit);
  }

  private void grow(int need) {
    com.sun.jna.Memory m = allocate(need);
    ByteBuffer bigger = view(m);
    bigger.put(rbuf);
    bigger.flip();
    rmem.close();
    rmem = m;
    rbuf = bigger;
    rbufAddress = Pointer.nativeValue(m);
  }

  /**
   * Reads what has arrived into the receive buffer, without waiting.
   *
   * @return the number of bytes read, 0 if nothing has arrived, -1 at end of stream
   */
  private int fill() throws IOException {
    int fd = in.intValue();
    rbuf.compact();
    try {
      while (true) {
        boolean goneBeforeRead = isPeerGone();
        long n = socket
            ? LibC.recv(fd, rbufAddress + rbuf.position(), rbuf.remaining(),
                blockInKernel ? 0 : LibC.MSG_DONTWAIT)
            : LibC.read(fd, rbufAddress + rbuf.position(), rbuf.remaining());
        if (n > 0) {
          rbuf.position(rbuf.position() + (int) n);
          return (int) n;
        }
        if (n == 0) {
          // End of stream, or our own end shut down by close() (a failure) or peerGone() (the end
          // of stream it is, after everything the peer sent).
          checkNotClosedWhileWaiting();
          return -1;
        }
        int errno = LibC.errno();
        if (errno == LibC.EAGAIN) {
          // The peer wrote everything before it went, and all of it has been read.
          return goneBeforeRead ? -1 : 0;
        } else if (errno == LibC.ECONNRESET) {
          return -1;
        } else if (errno != LibC.EINTR) {
          throw new NativeIoException(socket ? "recv" : "read", errno);
        }
      }
    } finally {
      rbuf.flip();
    }
  }

  @Override
  protected Interest doArmReceive() {
    return readable;
  }

  @Override
  protected int doReceiveBlocking(ByteBuffer dst) throws IOException {
    if (!socket) {
      return WOULD_BLOCK;
    }
    blockInKernel = true;
    try {
      return doTryReceive(dst);
    } finally {
      blockInKernel = false;
    }
  }

  @Override
  protected void wakeUp() {
    if (!socket) {
      return;
    }
    synchronized (fdGuard) {
      if (in.isOpen()) {
        // Both directions: wakes a blocked recv on our end; queued data stays readable. The peer
        // sees what it would see when we close: end of stream, EPIPE.
        LibC.shutdown(in.intValue(), LibC.SHUT_RDWR);
      }
    }
  }

  @Override
  protected void release() throws IOException {
    try {
      synchronized (fdGuard) {
        Fd.closeAll(owned(in, out, resources));
      }
    } finally {
      for (com.sun.jna.Memory m : new com.sun.jna.Memory[] {rmem, smem}) {
        if (m != null) {
          m.close();
        }
      }
    }
  }

  private static List<Closeable> owned(Fd in, Fd out, List<Closeable> resources) {
    List<Closeable> all = new java.util.ArrayList<>(resources.size() + 2);
    all.add(in);
    all.add(out);
    all.addAll(resources);
    return all;
  }
}
