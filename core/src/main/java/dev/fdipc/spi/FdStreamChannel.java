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
import java.nio.ByteOrder;
import java.util.List;

/**
 * A message channel over byte-stream descriptors (pipes, stream sockets, FIFOs): each message is a
 * 4-byte big-endian length followed by that many bytes. A blocked call always wakes on
 * {@link #close()} and {@link #peerGone()}:
 *
 * <ul>
 *   <li>One {@code AF_UNIX} stream socket used both ways stays in blocking mode. A send, and a
 *       receive without a timeout, is one {@code send(2)} or {@code recv(2)}, the way C drives a
 *       socket; a timed receive polls the socket. To wake them, {@link #close()} and
 *       {@link #peerGone()} {@code shutdown(2)} our own end: the kernel wakes every recv, send and
 *       poll blocked on it, and a recv still returns the data already queued before it reports end
 *       of stream. (Waiting in {@code poll(2)} made a 64-byte socketpair round trip 1.36-1.43 times
 *       as slow as C's; blocking makes it 1.10-1.26 times.)
 *   <li>Other descriptors (pipes, FIFOs) cannot be shut down. They are switched to non-blocking
 *       mode and wait in {@code poll(2)} on the descriptor and on an eventfd ({@link Wakeup}) that
 *       {@link #close()} and {@link #peerGone()} signal.
 * </ul>
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
  /** One AF_UNIX stream socket for both directions: blocking calls, shutdown(2) wakes them. */
  private final boolean socket;
  /** Held by {@link #wakeUp()} and {@link #release()}: shutdown(2) never meets a closed fd. */
  private final Object fdGuard = new Object();
  /** Null for a socket. */
  private final Wakeup wakeup;
  private final Wakeup.Waiter sending;
  private final Wakeup.Waiter receiving;
  private final List<Closeable> resources;

  private final ByteBuffer rbuf;
  private final long rbufAddress;
  private final ByteBuffer sbuf;
  private final long sbufAddress;
  /** One {@code struct pollfd} for a socket's timed receives. */
  private final ByteBuffer pollfd = ByteBuffer.allocateDirect(8).order(ByteOrder.nativeOrder());
  private final long pollfdAddress = address(pollfd);

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
   * @param out the descriptor messages are written to; may be the same as {@code in}. When it is
   *     the same {@code AF_UNIX} stream socket, the channel switches it to blocking mode and shuts
   *     it down on close, so it must not be shared with anyone who goes on using it
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
      this.wakeup = socket ? null : new Wakeup();
    } catch (IOException | RuntimeException e) {
      Fd.closeAllAfter(e, owned(in, out, this.resources));
      throw e;
    }
    this.sending = socket ? null : wakeup.newWaiter();
    this.receiving = socket ? null : wakeup.newWaiter();
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
      long n = socket
          ? LibC.send(fd, sbufAddress + done, length - done, LibC.MSG_NOSIGNAL)
          : LibC.write(fd, sbufAddress + done, length - done);
      if (n >= 0) {
        done += (int) n;
        continue;
      }
      int errno = LibC.errno();
      if (errno == LibC.EAGAIN && !socket) {
        if (isPeerGone()) {
          throw new PeerClosedException(transport() + ": peer is gone; message not sent");
        }
        sending.await(fd, LibC.POLLOUT, NO_DEADLINE);
        checkNotClosedWhileWaiting();
      } else if (errno == LibC.EPIPE || errno == LibC.ECONNRESET) {
        checkNotClosedWhileWaiting(); // a socket's close() shuts down our end
        if (isPeerGone()) {
          throw new PeerClosedException(transport() + ": peer is gone; message not sent");
        }
        throw new PeerClosedException(transport() + ": peer closed the channel",
            new NativeIoException(socket ? "send" : "write", errno));
      } else if (errno == LibC.EINTR) {
        checkNotClosedWhileWaiting();
      } else {
        throw new NativeIoException(socket ? "send" : "write", errno);
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
      return socket ? fillFromSocket(fd, deadline) : fillFromPipe(fd, deadline);
    } finally {
      rbuf.flip();
    }
  }

  private boolean fillFromSocket(int fd, long deadline) throws IOException {
    boolean blocking = deadline == NO_DEADLINE;
    while (true) {
      long n = LibC.recv(fd, rbufAddress + rbuf.position(), rbuf.remaining(),
          blocking ? 0 : LibC.MSG_DONTWAIT);
      if (n > 0) {
        rbuf.position(rbuf.position() + (int) n);
        return true;
      }
      if (n == 0) {
        // End of stream, or our own end shut down by close() (a failure) or peerGone() (the end
        // of stream it is, after everything the peer sent).
        checkNotClosedWhileWaiting();
        return false;
      }
      int errno = LibC.errno();
      if (errno == LibC.EAGAIN && !blocking) {
        if (!awaitReadable(fd, deadline)) {
          throw new IpcTimeoutException(transport() + ": no message before the timeout");
        }
      } else if (errno == LibC.ECONNRESET) {
        checkNotClosedWhileWaiting();
        return false;
      } else if (errno == LibC.EINTR) {
        checkNotClosedWhileWaiting();
      } else {
        throw new NativeIoException("recv", errno);
      }
    }
  }

  /** Polls the socket alone: shutdown(2) of our end makes it readable, so close still wakes it. */
  private boolean awaitReadable(int fd, long deadline) throws IOException {
    pollfd.putInt(0, fd).putShort(4, LibC.POLLIN).putShort(6, (short) 0);
    while (true) {
      int timeout = pollMillis(deadline);
      if (timeout == 0) {
        return false;
      }
      int r = LibC.poll(pollfdAddress, 1, timeout);
      if (r > 0) {
        return true;
      }
      if (r == 0) {
        if (expired(deadline)) {
          return false;
        }
      } else if (LibC.errno() != LibC.EINTR) {
        throw NativeIoException.lastError("poll");
      }
    }
  }

  private boolean fillFromPipe(int fd, long deadline) throws IOException {
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
  }

  @Override
  protected void wakeUp() {
    if (wakeup != null) {
      wakeup.signal();
      return;
    }
    synchronized (fdGuard) {
      if (in.isOpen()) {
        // Both directions: wakes a blocked read, send or poll on our end; queued data stays
        // readable. The peer sees what it would see when we close: end of stream, EPIPE.
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
      if (wakeup != null) {
        wakeup.close();
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
