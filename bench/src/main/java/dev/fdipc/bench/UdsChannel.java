package dev.fdipc.bench;

import dev.fdipc.BufferTooSmallException;
import dev.fdipc.IpcChannel;
import dev.fdipc.MessageTooLargeException;
import dev.fdipc.PeerClosedException;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.newsclub.net.unix.AFUNIXSocketAddress;
import org.newsclub.net.unix.AFUNIXSocketChannel;

/**
 * The {@code junixsocket-uds} baseline: what a Java user writes by hand today. A plain blocking
 * junixsocket UNIX stream socket with a 4-byte big-endian length before each message, adapted to
 * {@link IpcChannel} so that the same runners measure it. Header and payload go out in one
 * {@code write}; reads are buffered so that small messages cost one {@code read} each.
 *
 * <p>Benchmark use only: timeouts are not supported (a timed receive blocks like an untimed one).
 */
final class UdsChannel implements IpcChannel {
  static final String NAME = "junixsocket-uds";
  private static final int BUFFER = 256 * 1024;

  private final AFUNIXSocketChannel socket;
  private final int maxMessage;
  private final ByteBuffer out = ByteBuffer.allocateDirect(BUFFER);
  private final ByteBuffer in = ByteBuffer.allocateDirect(BUFFER).flip(); // empty, readable
  private final ByteBuffer header = ByteBuffer.allocateDirect(4);
  private final Object sendLock = new Object();
  private final Object receiveLock = new Object();

  UdsChannel(AFUNIXSocketChannel socket, int maxMessage) {
    this.socket = socket;
    this.maxMessage = maxMessage;
  }

  static UdsChannel connect(Path path, int maxMessage) throws IOException {
    AFUNIXSocketChannel s = AFUNIXSocketChannel.open();
    try {
      s.connect(AFUNIXSocketAddress.of(path));
      return new UdsChannel(s, maxMessage);
    } catch (IOException | RuntimeException e) {
      s.close();
      throw e;
    }
  }

  @Override
  public String transport() {
    return NAME;
  }

  @Override
  public int maxMessageSize() {
    return maxMessage;
  }

  @Override
  public void send(ByteBuffer message) throws IOException {
    synchronized (sendLock) {
      sendLocked(message);
    }
  }

  private void sendLocked(ByteBuffer message) throws IOException {
    int n = message.remaining();
    if (n > maxMessage) {
      throw new MessageTooLargeException(n, maxMessage);
    }
    try {
      if (n + 4 <= BUFFER) {
        out.clear();
        out.putInt(n).put(message).flip();
        writeFully(out);
      } else {
        header.clear();
        header.putInt(n).flip();
        writeFully(header);
        writeFully(message);
      }
    } catch (IOException e) {
      if (!socket.isOpen()) {
        throw e;
      }
      throw new PeerClosedException(NAME + ": peer closed: " + e.getMessage(), e);
    }
  }

  private void writeFully(ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      socket.write(b);
    }
  }

  @Override
  public int receive(ByteBuffer dst, long timeout, TimeUnit unit) throws IOException {
    synchronized (receiveLock) {
      return receiveLocked(dst);
    }
  }

  private int receiveLocked(ByteBuffer dst) throws IOException {
    if (!fill(4, true)) {
      return -1;
    }
    int n = in.getInt(in.position());
    if (n < 0 || n > maxMessage) {
      throw new IOException(NAME + ": peer broke the framing: length " + n);
    }
    if (n > dst.remaining()) {
      throw new BufferTooSmallException(n, dst.remaining());
    }
    in.position(in.position() + 4);
    int buffered = Math.min(n, in.remaining());
    dst.put(in.slice(in.position(), buffered));
    in.position(in.position() + buffered);
    int left = n - buffered;
    if (left > 0) {
      ByteBuffer rest = dst.slice(dst.position(), left);
      while (rest.hasRemaining()) {
        if (socket.read(rest) < 0) {
          throw new EOFException(NAME + ": peer closed in the middle of a message");
        }
      }
      dst.position(dst.position() + left);
    }
    return n;
  }

  /** Reads until {@code bytes} are buffered; false at end of stream on a message boundary. */
  private boolean fill(int bytes, boolean boundary) throws IOException {
    while (in.remaining() < bytes) {
      in.compact();
      int r = socket.read(in);
      in.flip();
      if (r < 0) {
        if (boundary && !in.hasRemaining()) {
          return false;
        }
        throw new EOFException(NAME + ": peer closed in the middle of a message");
      }
    }
    return true;
  }

  @Override
  public boolean isOpen() {
    return socket.isOpen();
  }

  @Override
  public void close() throws IOException {
    socket.close();
  }
}
