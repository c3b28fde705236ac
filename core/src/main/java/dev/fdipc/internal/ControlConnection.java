package dev.fdipc.internal;

import dev.fdipc.ErrorCode;
import dev.fdipc.PeerCredentials;
import dev.fdipc.ProtocolException;
import dev.fdipc.spi.Fd;
import java.io.Closeable;
import java.io.EOFException;
import java.io.FileDescriptor;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;
import org.newsclub.net.unix.AFUNIXSocket;
import org.newsclub.net.unix.AFUNIXSocketCredentials;
import org.newsclub.net.unix.FileDescriptorCast;

/**
 * Frames over the control socket, with the fds that ride on them. Writes are serialized (the
 * session thread and the shutdown thread both write); there is one reader.
 *
 * <p>fds ride on the first byte of a frame. The side that accepts fds (the client) reads them right
 * after the header and checks that exactly the announced number arrived. Reads that accept no fds
 * (the server always, the client after its handshake) go through {@link FdRefusingReader}: any fd
 * that arrives, 1 to 253 of them, is closed at once and the read fails with
 * {@link ErrorCode#FDS_REFUSED}.
 */
public final class ControlConnection implements Closeable {
  private final AFUNIXSocket socket;
  private final InputStream in;
  private final OutputStream out;
  private final Object writeLock = new Object();
  private final FdRefusingReader refusing;
  private int readTimeoutMillis;

  public ControlConnection(AFUNIXSocket socket) throws IOException {
    this.socket = socket;
    this.in = socket.getInputStream();
    this.out = socket.getOutputStream();
    this.refusing = new FdRefusingReader(
        FileDescriptorCast.using(socket.getFileDescriptor()).as(Integer.class));
  }

  public AFUNIXSocket socket() {
    return socket;
  }

  /** The peer's pid, uid and gid from {@code SO_PEERCRED}. */
  public PeerCredentials peerCredentials() throws IOException {
    AFUNIXSocketCredentials c = socket.getPeerCredentials();
    long[] gids = c.getGids();
    return new PeerCredentials(c.getPid(), c.getUid(), gids.length > 0 ? gids[0] : -1);
  }

  /** Writes one frame, with {@code fds} attached to its first byte. */
  public void write(int type, byte[] body, List<Fd> fds) throws IOException {
    byte[] frame = Wire.frame(type, fds.size(), body);
    synchronized (writeLock) {
      if (fds.isEmpty()) {
        out.write(frame);
      } else {
        FileDescriptor[] descriptors = new FileDescriptor[fds.size()];
        for (int i = 0; i < descriptors.length; i++) {
          descriptors[i] = fds.get(i).fileDescriptor();
        }
        socket.setOutboundFileDescriptors(descriptors);
        try {
          out.write(frame);
        } finally {
          socket.setOutboundFileDescriptors((FileDescriptor[]) null);
        }
      }
      out.flush();
    }
  }

  /** Writes one frame without fds. */
  public void write(int type, byte[] body) throws IOException {
    write(type, body, List.of());
  }

  /** A frame and the fds that came with it (owned by the caller). */
  public record Received(Frame frame, List<Fd> fds) {}

  /**
   * Reads one frame. With {@code acceptFds}, the fds that arrived with it are returned and must
   * number exactly what the header announced; otherwise a header that announces fds is an error.
   *
   * @return the frame, or {@code null} at a clean end of stream before its first byte
   * @throws EOFException if the stream ends inside a frame
   * @throws ProtocolException if the frame is malformed
   */
  public Received read(boolean acceptFds) throws IOException {
    return read(acceptFds, 0);
  }

  /**
   * Reads one frame, all of it before {@code deadline} (a {@link System#nanoTime()} value; 0 for
   * none). The socket's read timeout is set before every read to the time left, so a peer that
   * trickles a byte at a time cannot stretch the wait.
   *
   * @throws java.net.SocketTimeoutException when the deadline passes
   */
  public Received read(boolean acceptFds, long deadline) throws IOException {
    this.deadline = deadline;
    this.acceptingFds = acceptFds;
    byte[] header = new byte[Frame.HEADER_SIZE];
    int first = readSome(header, 0, header.length);
    if (first < 0) {
      return null;
    }
    List<Fd> fds = new ArrayList<>();
    try {
      if (acceptFds) {
        collectFds(fds);
      }
      readFully(header, first);
      if (acceptFds) {
        collectFds(fds);
      }
      int bodyLength = Wire.bodyLength(header);
      int type = header[5] & 0xff;
      int announced = header[6] & 0xff;
      byte[] body = new byte[bodyLength];
      readFully(body, 0);
      if (acceptFds) {
        collectFds(fds);
        if (fds.size() != announced) {
          throw new ProtocolException(ErrorCode.MALFORMED_FRAME, Frame.typeName(type)
              + " frame announces " + announced + " fds but " + fds.size() + " arrived");
        }
      } else if (announced != 0) {
        throw new ProtocolException(ErrorCode.FDS_REFUSED, Frame.typeName(type)
            + " frame carries " + announced + " fds; this side accepts none");
      }
      return new Received(new Frame(type, announced, body), fds);
    } catch (IOException | RuntimeException e) {
      Fd.closeAll(fds);
      throw e;
    }
  }

  private void collectFds(List<Fd> into) throws IOException {
    FileDescriptor[] got = socket.getReceivedFileDescriptors();
    if (got == null) {
      return;
    }
    for (FileDescriptor d : got) {
      Fd fd = Fd.of(d);
      into.add(fd);
      fd.setCloseOnExec(true); // junixsocket does not receive with MSG_CMSG_CLOEXEC
    }
  }

  private long deadline;
  private boolean acceptingFds;

  /** One read of at least one byte (or -1 at end of stream), within the deadline. */
  private int readSome(byte[] b, int off, int len) throws IOException {
    int timeout = readTimeoutMillis;
    if (deadline != 0) {
      long left = deadline - System.nanoTime();
      if (left <= 0) {
        throw new java.net.SocketTimeoutException("deadline passed");
      }
      timeout = (int) Math.max(1, Math.min(Integer.MAX_VALUE, left / 1_000_000));
    }
    if (!acceptingFds) {
      return refusing.read(b, off, len, timeout);
    }
    socket.setSoTimeout(timeout);
    return in.read(b, off, len);
  }

  private void readFully(byte[] b, int from) throws IOException {
    int off = from;
    while (off < b.length) {
      int n = readSome(b, off, b.length - off);
      if (n < 0) {
        throw new EOFException("control connection ended inside a frame after " + off + " of "
            + b.length + " bytes");
      }
      off += n;
    }
  }

  /**
   * The descriptor to {@code poll(2)} for {@link #readNow}. It stays valid until {@link #close()},
   * so whoever polls it must have stopped before the connection is closed.
   */
  int pollFd() {
    return refusing.fd();
  }

  /**
   * Reads what has arrived without waiting, refusing fds as {@link #read(boolean)} does without
   * {@code acceptFds}: for a watcher that polls {@link #pollFd()} for many connections.
   *
   * @return the number of bytes read, 0 if there is nothing to read now, or -1 at end of stream
   * @throws ProtocolException {@link ErrorCode#FDS_REFUSED} if fds arrived; they have been closed
   */
  int readNow(byte[] b, int off, int len) throws IOException {
    return refusing.readNow(b, off, len);
  }

  /** Sets the read timeout for reads without a deadline; 0 waits forever. */
  public void setReadTimeout(int millis) throws IOException {
    readTimeoutMillis = millis;
    socket.setSoTimeout(millis);
  }

  /** Enables or disables receiving fds on this socket. */
  public void acceptFds(boolean on) throws IOException {
    socket.setAncillaryReceiveBufferSize(on ? 256 : 0);
  }

  /**
   * Stops both directions so that a thread blocked in {@link #read} returns. shutdown(2) on the fd
   * rather than junixsocket's shutdownInput/Output: with junixsocket 2.11.1 on JDK 25 those throw
   * "Socket is not connected" on a connected socket and wake nobody.
   */
  public void shutdown() {
    int fd;
    try {
      fd = FileDescriptorCast.using(socket.getFileDescriptor()).as(Integer.class);
    } catch (IOException e) {
      return; // already closed: the reader is returning anyway
    }
    // ENOTCONN or EBADF: already reset or closed, so the reader is returning anyway
    LibC.shutdown(fd, LibC.SHUT_RDWR);
  }

  @Override
  public void close() throws IOException {
    refusing.close();
    socket.close();
  }
}
