package dev.fdipc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import dev.fdipc.internal.Frame;
import dev.fdipc.internal.Wire;
import java.io.IOException;
import java.io.InputStream;
import java.net.SocketException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;

/** Helpers shared by the tests that run a live server in this JVM and talk to it raw. */
final class LiveServerSupport {
  private LiveServerSupport() {}

  /** A session handler that sends every message back until end of stream. */
  static void echo(ClientSession s) throws IOException {
    byte[] m;
    while ((m = s.channel().receive()) != null) {
      s.channel().send(m);
    }
  }

  /**
   * One control frame, checked with {@link Wire#bodyLength}; {@code null} at end of stream, and
   * with {@code resetIsEnd} also when the connection was reset (a server that refuses on sight
   * closes with the client's bytes unread).
   */
  static Frame readFrame(InputStream in, boolean resetIsEnd) throws IOException {
    byte[] header = new byte[Frame.HEADER_SIZE];
    int n;
    try {
      n = in.readNBytes(header, 0, header.length);
    } catch (SocketException e) {
      if (resetIsEnd) {
        return null;
      }
      throw e;
    }
    if (n == 0) {
      return null;
    }
    if (n < header.length) {
      fail("the stream ended inside a frame header after " + n + " bytes");
    }
    int length = Wire.bodyLength(header);
    byte[] body = in.readNBytes(length);
    assertEquals(length, body.length, "the stream ended inside a frame body");
    return new Frame(header[5] & 0xff, header[6] & 0xff, body);
  }

  /** This process's open descriptors: number to what it points at. */
  static Map<String, String> openFds() throws IOException {
    Map<String, String> fds = new TreeMap<>();
    try (DirectoryStream<Path> stream = Files.newDirectoryStream(Path.of("/proc/self/fd"))) {
      for (Path p : stream) {
        String target;
        try {
          target = Files.readSymbolicLink(p).toString();
        } catch (IOException e) {
          target = "(closed while listing)";
        }
        if (!(target.startsWith("/proc/") && target.endsWith("/fd"))) { // this listing itself
          fds.put(p.getFileName().toString(), target);
        }
      }
    }
    return fds;
  }

  /** The entries of {@code a} that {@code b} does not have with the same value. */
  static Map<String, String> only(Map<String, String> a, Map<String, String> b) {
    Map<String, String> r = new TreeMap<>(a);
    r.entrySet().removeIf(e -> e.getValue().equals(b.get(e.getKey())));
    return r;
  }
}
