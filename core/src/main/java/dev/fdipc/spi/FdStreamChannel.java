package dev.fdipc.spi;

import com.sun.jna.Native;
import com.sun.jna.Pointer;
import dev.fdipc.BufferTooSmallException;
import dev.fdipc.ErrorCode;
import dev.fdipc.IpcTimeoutException;
import dev.fdipc.PeerClosedException;
import dev.fdipc.ProtocolException;
import dev.fdipc.internal.LibC;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * A message channel over byte-stream descriptors (pipes, stream sockets, FIFOs): each message is a
 * 4-byte big-endian length followed by that many bytes. The descriptors are switched to
 * non-blocking mode; waiting is {@code poll(2)} on the descriptor and on an eventfd that
 * {@link #close()} and {@link #peerGone()} signal, so a blocked call always wakes.
 *
 * <p>Reads go through a 64 KiB buffer, so a burst of small messages costs one {@code read(2)}; a
 * message and its length leave in one {@code write(2)} when they fit the send buffer.
 *
 * <p>A length over the maximum message size means the peer is broken or hostile: the receive fails
 * with {@link ProtocolException} and the channel stays failed.
 */
public class FdStreamChannel extends AbstractIpcChannel {
  private static final int HEADER = 4;
  private static final int BUFFER = 64 * 1024;

  private final Fd in;
  private final Fd out;
  private final Wakeup wakeup;
  private final Wakeup.Waiter sending;
  private final Wakeup.Waiter receiving;
  private final List<Closeable> resources;

  private final ByteBuffer rbuf;
  private final long rbufAddress;
  private final ByteBuffer sbuf;
  private final long sbufAddress;

  /** Length of the message being received, or -1 while its header is still to come. */
  private int pending = -1;
  /** Part of the pending message received by a call that then timed out. */
  private ByteBuffer stash;
  private boolean eof;
  private IOException failure;

  /**
   * Creates the channel; it owns {@code in}, {@code out} and every resource from now on, and closes
   * them if this constructor throws.
   *
   * @param transport the transport's name
   * @param maxMessageSize the negotiated maximum message size
   * @param in the descriptor messages are read from
   * @param out the descriptor messages are written to; may be the same as {@code in}
   * @param resources anything else to close with the channel
   */
  public FdStreamChannel(String transport, int maxMessageSize, Fd in, Fd out,
      List<? extends Closeable> resources) throws IOException {
    super(transport, maxMessageSize);
    this.in = in;
    this.out = out;
    this.resources = List.copyOf(resources);
    try {
      in.setNonBlocking(true);
      out.setNonBlocking(true);
      this.wakeup = new Wakeup();
    } catch (IOException | RuntimeException e) {
      Fd.closeAllAfter(e, owned(in, out, this.resources));
      throw e;
    }
    this.sending = wakeup.newWaiter();
    this.receiving = wakeup.newWaiter();
    rbuf = ByteBuffer.allocateDirect(BUFFER);
    rbuf.flip();
    rbufAddress = address(rbuf);
    sbuf = ByteBuffer.allocateDirect(BUFFER);
    sbufAddress = address(sbuf);
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

  private static long address(ByteBuffer direct) {
    return Pointer.nativeValue(Native.getDirectBufferPointer(direct));
  }

  @Override
  protected void doSend(ByteBuffer message) throws IOException {
    int size = message.remaining();
    sbuf.clear();
    sbuf.putInt(size);
    boolean first = true;
    while (first || message.hasRemaining()) {
      first = false;
      int chunk = Math.min(sbuf.remaining(), message.remaining());
      int limit = message.limit();
      message.limit(message.position() + chunk);
      sbuf.put(message);
      message.limit(limit);
      writeFully(sbuf.position());
      sbuf.clear();
    }
  }

  private void writeFully(int length) throws IOException {
    int fd = out.intValue();
    int done = 0;
    while (done < length) {
      long n = LibC.write(fd, sbufAddress + done, length - done);
      if (n >= 0) {
        done += (int) n;
        continue;
      }
      int errno = LibC.errno();
      if (errno == LibC.EAGAIN) {
        if (isPeerGone()) {
          throw new PeerClosedException(transport() + ": peer is gone; message not sent");
        }
        sending.await(fd, LibC.POLLOUT, NO_DEADLINE);
        checkNotClosedWhileWaiting();
      } else if (errno == LibC.EPIPE || errno == LibC.ECONNRESET) {
        throw new PeerClosedException(transport() + ": peer closed the channel",
            new NativeIoException("write", errno));
      } else if (errno != LibC.EINTR) {
        throw new NativeIoException("write", errno);
      }
    }
  }

  @Override
  protected int doReceive(ByteBuffer dst, long deadline) throws IOException {
    if (failure != null) {
      throw failure;
    }
    if (eof) {
      return -1;
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
      } else if (!fill(deadline)) {
        eof = true;
        return -1;
      }
    }
    if (dst.remaining() < pending) {
      throw new BufferTooSmallException(pending, dst.remaining());
    }
    int start = dst.position();
    if (stash != null) {
      dst.put(stash.flip());
      stash = null;
    }
    int need = pending - (dst.position() - start);
    while (need > 0) {
      if (!rbuf.hasRemaining()) {
        boolean more;
        try {
          more = fill(deadline);
        } catch (IpcTimeoutException e) {
          keepPartial(dst, start);
          throw e;
        }
        if (!more) { // the peer died in the middle of a message: it never fully existed
          eof = true;
          dst.position(start);
          return -1;
        }
      }
      int k = Math.min(need, rbuf.remaining());
      int limit = rbuf.limit();
      rbuf.limit(rbuf.position() + k);
      dst.put(rbuf);
      rbuf.limit(limit);
      need -= k;
    }
    int length = pending;
    pending = -1;
    return length;
  }

  private void keepPartial(ByteBuffer dst, int start) {
    int got = dst.position() - start;
    stash = ByteBuffer.allocate(pending);
    stash.put(dst.duplicate().position(start).limit(start + got));
    dst.position(start);
  }

  /**
   * Reads more bytes into the receive buffer.
   *
   * @return false at end of stream
   */
  private boolean fill(long deadline) throws IOException {
    int fd = in.intValue();
    rbuf.compact();
    try {
      while (true) {
        boolean goneBeforeRead = isPeerGone();
        long n = LibC.read(fd, rbufAddress + rbuf.position(), rbuf.remaining());
        if (n > 0) {
          rbuf.position(rbuf.position() + (int) n);
          return true;
        }
        if (n == 0) {
          return false;
        }
        int errno = LibC.errno();
        if (errno == LibC.EAGAIN) {
          if (goneBeforeRead) {
            return false; // the peer wrote everything before it went; all of it has been read
          }
          if (!receiving.await(fd, LibC.POLLIN, deadline)) {
            throw new IpcTimeoutException(transport() + ": no message before the timeout");
          }
          checkNotClosedWhileWaiting();
        } else if (errno == LibC.ECONNRESET) {
          return false;
        } else if (errno != LibC.EINTR) {
          throw new NativeIoException("read", errno);
        }
      }
    } finally {
      rbuf.flip();
    }
  }

  @Override
  protected void wakeUp() {
    wakeup.signal();
  }

  @Override
  protected void release() throws IOException {
    try {
      Fd.closeAll(owned(in, out, resources));
    } finally {
      wakeup.close();
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
