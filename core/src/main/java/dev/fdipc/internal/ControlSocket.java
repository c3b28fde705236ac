package dev.fdipc.internal;

import dev.fdipc.ErrorCode;
import dev.fdipc.ProtocolException;
import dev.fdipc.spi.Fd;
import dev.fdipc.spi.NativeIoException;
import java.io.EOFException;
import java.io.IOException;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The connecting side of a control connection on a raw descriptor: connect, write a frame whole,
 * read one frame (with the fds that ride on it, or refusing any) before a deadline. The client's
 * handshake runs on this, on the connecting thread; afterwards the shared loop reads the same
 * descriptor without waiting. A raw descriptor rather than a junixsocket socket: no duplicate fd
 * for a reader, fds received with {@code MSG_CMSG_CLOEXEC}, no socket object whose cleaner or
 * EPIPE handling closes the descriptor behind the caller's back, and a handshake that costs a few
 * system calls.
 */
public final class ControlSocket {
  private ControlSocket() {}

  /** A frame and the fds that came with it (owned by the caller). */
  public record Received(Frame frame, List<Fd> fds) {}

  /**
   * Connects a close-on-exec UNIX stream socket to {@code path}; blocks while the server's
   * backlog is full, as connect(2) does.
   *
   * @return the connected descriptor, owned by the caller
   * @throws NativeIoException with connect(2)'s errno (ENOENT, ECONNREFUSED, EACCES...) or
   *     socket(2)'s
   */
  public static int connect(Path path) throws NativeIoException {
    byte[] addr = sockaddrUn(path);
    int fd = LibC.socket(LibC.AF_UNIX, LibC.SOCK_STREAM | LibC.SOCK_CLOEXEC, 0);
    if (fd < 0) {
      throw NativeIoException.lastError("socket");
    }
    boolean retried = false;
    while (LibC.connect(fd, addr, addr.length) != 0) {
      int errno = LibC.errno();
      if (errno == LibC.EINTR) { // interrupted while the backlog was full: nothing happened yet
        retried = true;
        continue;
      }
      if (retried && errno == LibC.EISCONN) {
        break;
      }
      LibC.close(fd);
      throw new NativeIoException("connect", errno);
    }
    return fd;
  }

  /** {@code struct sockaddr_un} for {@code path}: sa_family in host order, path, NUL. */
  static byte[] sockaddrUn(Path path) {
    byte[] p = path.toString().getBytes(StandardCharsets.UTF_8);
    ByteBuffer b = ByteBuffer.allocate(2 + p.length + 1).order(ByteOrder.nativeOrder());
    b.putShort((short) LibC.AF_UNIX).put(p).put((byte) 0);
    return b.array();
  }

  /**
   * Writes {@code frame} whole, with {@code fds} on its first byte, waiting while the socket's
   * buffer is full (a frame is at most 64 KiB; a peer that reads nothing holds this up only until
   * {@code deadline}, 0 for none). Never raises SIGPIPE.
   *
   * @throws IOException EPIPE or ECONNRESET when the peer is gone
   */
  public static void write(int fd, byte[] frame, List<Fd> fds, long deadline) throws IOException {
    ControlIo io = new ControlIo();
    try {
      int off = 0;
      List<Fd> attach = fds;
      while (off < frame.length) {
        int n = io.write(fd, frame, off, frame.length - off, attach);
        if (n > 0) {
          off += n;
          attach = List.of(); // fds go with the first byte only
        } else if (!io.awaitWritable(fd, deadline)) {
          throw new SocketTimeoutException("the peer took no data before the deadline");
        }
      }
    } finally {
      io.close();
    }
  }

  /**
   * Reads one frame, all of it before {@code deadline} ({@link System#nanoTime()}; 0 for none),
   * so that a peer trickling a byte at a time cannot stretch the wait. With {@code acceptFds} the
   * fds that arrived with it are returned and must number exactly what the header announced;
   * otherwise a header announcing fds, or any fd that arrives, is refused
   * ({@link ErrorCode#FDS_REFUSED}; what arrived is closed).
   *
   * @return the frame, or {@code null} at a clean end of stream before its first byte
   * @throws SocketTimeoutException when the deadline passes
   * @throws EOFException if the stream ends inside a frame
   * @throws ProtocolException if the frame is malformed
   */
  public static Received read(int fd, boolean acceptFds, long deadline) throws IOException {
    return read(fd, acceptFds, deadline, false);
  }

  /**
   * How long a handshake spins for the server's answer before it sleeps: a local server answers
   * within about a hundred microseconds, and a thread that slept for it pays another wake-up
   * (tens of microseconds on a virtual machine) on top.
   */
  private static final long SPIN_NANOS = 200_000;

  /**
   * Reads one frame as {@link #read(int, boolean, long)} does; with {@code spinReply}, a platform
   * thread first spins for it a moment (within the process's {@link SpinBudget}, and only where
   * another CPU can run the peer) instead of sleeping at once.
   */
  public static Received read(int fd, boolean acceptFds, long deadline, boolean spinReply)
      throws IOException {
    boolean spin = spinReply && SpinBudget.peerHasCpu() && !VirtualThreads.isCurrentVirtual();
    ControlIo io = new ControlIo();
    List<Fd> fds = new ArrayList<>();
    boolean spinStarted = false;
    boolean spinning = false;
    long spinUntil = 0;
    try {
      FrameReader frames = new FrameReader();
      FrameReader.Source source = acceptFds
          ? (b, off, len) -> io.read(fd, b, off, len, fds)
          : (b, off, len) -> io.read(fd, b, off, len);
      while (true) {
        FrameReader.Status s = frames.read(source, null, acceptFds);
        if (s == FrameReader.Status.END) {
          return null;
        }
        if (s == FrameReader.Status.FRAME) {
          if (fds.size() != frames.announcedFds()) {
            throw new ProtocolException(ErrorCode.MALFORMED_FRAME, Frame.typeName(frames.type())
                + " frame announces " + frames.announcedFds() + " fds but " + fds.size()
                + " arrived");
          }
          return new Received(new Frame(frames.type(), frames.announcedFds(), frames.body()),
              fds);
        }
        if (spin && !spinStarted) {
          spinStarted = true;
          spinUntil = System.nanoTime() + SPIN_NANOS;
          spinning = SpinBudget.tryAcquire();
        }
        if (spinning) {
          if (System.nanoTime() - spinUntil < 0) {
            Thread.onSpinWait();
            continue;
          }
          spinning = false;
          SpinBudget.release();
        }
        if (!io.awaitReadable(fd, deadline)) {
          throw new SocketTimeoutException("deadline passed");
        }
      }
    } catch (IOException | RuntimeException e) {
      Fd.closeAllAfter(e, fds);
      throw e;
    } finally {
      if (spinning) {
        SpinBudget.release();
      }
      io.close();
    }
  }
}
