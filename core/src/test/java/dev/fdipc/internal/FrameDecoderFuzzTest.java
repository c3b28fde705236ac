package dev.fdipc.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.fdipc.ErrorCode;
import dev.fdipc.ProtocolException;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;
import org.newsclub.net.unix.AFUNIXServerSocket;
import org.newsclub.net.unix.AFUNIXSocket;
import org.newsclub.net.unix.AFUNIXSocketAddress;
import org.newsclub.net.unix.FileDescriptorCast;

/**
 * Fuzzes the control frame decoder: {@link Wire#bodyLength} on its own, and
 * {@link ControlSocket#read(int, boolean, long)} (the client's handshake reader, on the
 * {@link FrameReader} the server's loops read with too) over a real UNIX stream socket fed
 * arbitrary bytes. Each outcome is compared with a reference reading of PROTOCOL.md section 3.2
 * written here from the text (except that a receiver accepting no fds refuses a header announcing
 * some before reading its body, as FrameReader does), so the fuzzer checks more than "no crash":
 * the right frames, the right error code, nothing else.
 *
 * <p>Without {@code JAZZER_FUZZ} each method replays its saved inputs under
 * {@code src/test/resources/dev/fdipc/internal/FrameDecoderFuzzTestInputs/<method>/}; with
 * {@code JAZZER_FUZZ=1} it fuzzes (see the README, "How to fuzz longer"). The {@code @Timeout}
 * bounds each replayed input; while fuzzing, Jazzer's own per-input timeout applies.
 */
@Timeout(value = 20, unit = TimeUnit.SECONDS)
class FrameDecoderFuzzTest {
  /** Inputs beyond this are cut: all of it must fit in the socket's buffer before the read. */
  private static final int MAX_STREAM = 100_000;
  /** Per read: the body (at most 64 KiB) plus what the JDK and the reader need. */
  private static final long READ_ALLOCATION_LIMIT = Frame.MAX_FRAME_SIZE + (256 << 10);

  private static Path dir;
  private static AFUNIXServerSocket listener;
  private static AFUNIXSocketAddress address;

  @BeforeAll
  static void listen() throws IOException {
    dir = Files.createTempDirectory("fdipc-fuzz");
    address = AFUNIXSocketAddress.of(dir.resolve("control.sock"));
    listener = AFUNIXServerSocket.newInstance();
    listener.bind(address);
    // Load the classes every outcome needs, so that the first input's allocation is its own.
    byte[] frame = Wire.frame(Frame.GOODBYE, 0, new byte[] {0, 1, 0, 0});
    byte[] bad = frame.clone();
    bad[4] = 9;
    for (byte[] warm : List.of(frame, bad, Arrays.copyOf(frame, 5), new byte[0])) {
      readAll(warm, false, false);
      readAll(warm, true, false);
    }
  }

  @AfterAll
  static void stop() throws IOException {
    listener.close();
    Files.deleteIfExists(dir.resolve("control.sock"));
    Files.deleteIfExists(dir);
  }

  /** What PROTOCOL.md 3.2 says a header means: a body length, or the first check it fails. */
  private static Object expectedHeader(byte[] h) {
    long length = ByteBuffer.wrap(h).getInt() & 0xffffffffL;
    int version = h[4] & 0xff;
    int type = h[5] & 0xff;
    int fds = h[6] & 0xff;
    int reserved = h[7] & 0xff;
    if (length < 8 || length > 65536) {
      return ErrorCode.MALFORMED_FRAME;
    }
    if (version != 1) {
      return ErrorCode.UNSUPPORTED_VERSION;
    }
    if (reserved != 0) {
      return ErrorCode.MALFORMED_FRAME;
    }
    if (fds > 8) {
      return ErrorCode.MALFORMED_FRAME;
    }
    if (type < 1 || type > 4) {
      return ErrorCode.UNEXPECTED_FRAME;
    }
    return (int) length - 8;
  }

  @FuzzTest(maxDuration = "5m")
  void header(byte[] data) {
    byte[] h = Arrays.copyOf(data, Frame.HEADER_SIZE);
    Object expected = expectedHeader(h);
    try {
      int body = Wire.bodyLength(h);
      assertEquals(expected, body, "header " + hex(h));
    } catch (ProtocolException e) {
      assertEquals(expected, e.code(), () -> "header " + hex(h) + ": " + e.getMessage());
      assertNotNull(e.getMessage());
    }
  }

  /**
   * Arbitrary bytes as a control stream, read once as the server reads (no fds accepted) and once
   * as a client waiting for its answer (fds accepted; none arrive). Frames must come out exactly
   * as they went in; a stream that breaks the protocol must end in the {@link ProtocolException}
   * or {@link EOFException} the reference expects, before anything larger than a frame is
   * allocated and without waiting for bytes that will never come.
   */
  @FuzzTest(maxDuration = "5m")
  void stream(byte[] data) throws IOException {
    byte[] stream = data.length > MAX_STREAM ? Arrays.copyOf(data, MAX_STREAM) : data;
    readAll(stream, false, true);
    readAll(stream, true, true);
  }

  private static void readAll(byte[] stream, boolean acceptFds, boolean measure)
      throws IOException {
    try (AFUNIXSocket peer = AFUNIXSocket.newInstance()) {
      peer.connect(address);
      try (AFUNIXSocket socket = listener.accept()) {
        OutputStream out = peer.getOutputStream();
        out.write(stream);
        HalfClose.output(peer);
        int fd = FileDescriptorCast.using(socket.getFileDescriptor()).as(Integer.class);
        int at = 0;
        // Each successful read consumes at least a header, so this loop ends.
        for (int frames = 0; frames <= stream.length / Frame.HEADER_SIZE; frames++) {
          Object expected = expectedFrame(stream, at, acceptFds);
          long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
          long before = Allocation.current();
          ControlSocket.Received r;
          try {
            r = ControlSocket.read(fd, acceptFds, deadline);
          } catch (ProtocolException e) {
            assertEquals(expected, e.code(), () -> "at " + at(stream, 0) + ": " + e.getMessage());
            return;
          } catch (EOFException e) {
            assertEquals(expected, EOFException.class, () -> "at " + at(stream, 0) + ": " + e);
            return;
          }
          long allocated = Allocation.current() - before;
          assertTrue(!measure || allocated <= READ_ALLOCATION_LIMIT, () -> "one read allocated " + allocated
              + " bytes, limit " + READ_ALLOCATION_LIMIT);
          if (r == null) {
            assertNull(expected, "clean end of stream where the reference expects " + expected);
            return;
          }
          assertTrue(r.fds().isEmpty(), "fds arrived that nobody sent");
          byte[] again = Wire.frame(r.frame().type(), r.frame().fdCount(), r.frame().body());
          assertTrue(expected instanceof byte[], () -> "decoded a frame where the reference "
              + "expects " + expected);
          assertArrayEquals((byte[]) expected, again, "the frame re-encoded differs from the "
              + "bytes read");
          at += again.length;
        }
        fail("more frames than the stream has headers");
      }
    }
  }

  /**
   * The reference: the frame starting at {@code at} (its bytes), {@code null} for a clean end,
   * {@code EOFException.class} for a stream cut inside a frame, or the error code.
   */
  private static Object expectedFrame(byte[] s, int at, boolean acceptFds) {
    int left = s.length - at;
    if (left == 0) {
      return null;
    }
    if (left < Frame.HEADER_SIZE) {
      return EOFException.class;
    }
    Object header = expectedHeader(Arrays.copyOfRange(s, at, at + Frame.HEADER_SIZE));
    if (header instanceof ErrorCode) {
      return header;
    }
    if (s[at + 6] != 0 && !acceptFds) {
      // FrameReader, which the server and the client read with, refuses from the header,
      // before reading the body
      return ErrorCode.FDS_REFUSED;
    }
    int body = (Integer) header;
    if (left < Frame.HEADER_SIZE + body) {
      return EOFException.class;
    }
    if (s[at + 6] != 0) {
      return ErrorCode.MALFORMED_FRAME; // announced fds that never arrive
    }
    return Arrays.copyOfRange(s, at, at + Frame.HEADER_SIZE + body);
  }

  private static String at(byte[] s, int from) {
    return hex(Arrays.copyOfRange(s, from, Math.min(s.length, from + 64)));
  }

  private static String hex(byte[] b) {
    StringBuilder sb = new StringBuilder();
    for (byte x : b) {
      sb.append(String.format("%02x", x & 0xff));
    }
    return sb.toString();
  }
}
