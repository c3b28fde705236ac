package dev.fdipc.internal;

import dev.fdipc.ErrorCode;
import dev.fdipc.ProtocolException;
import dev.fdipc.Refusal;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Encoding and decoding of control frames (PROTOCOL.md). Pure functions over bytes, so the decoder
 * can be tested and fuzzed without sockets. Every length is checked against its bound before
 * anything is allocated.
 */
public final class Wire {
  /** "FDIP", the first four bytes of a HELLO body. */
  public static final int MAGIC = 0x46444950;
  public static final int MAX_TRANSPORTS = 16;
  public static final int MAX_NAME = 32;
  public static final int MAX_PARAMS = 64;
  public static final int MAX_KEY = 255;
  public static final int MAX_VALUE = 1024;
  public static final int MAX_TEXT = 4096;
  public static final int MAX_REFUSALS = 32;
  public static final int MAX_FDS = 8;

  public static final int GOODBYE_SHUTDOWN = 1;
  public static final int GOODBYE_CLOSE = 2;
  public static final int GOODBYE_ERROR = 3;

  private static final Pattern NAME = Pattern.compile("[a-z0-9][a-z0-9._-]{0,31}");

  private Wire() {}

  /** True for a valid transport name: {@code [a-z0-9][a-z0-9._-]*}, 1 to 32 characters. */
  public static boolean isValidName(String name) {
    return name != null && NAME.matcher(name).matches();
  }

  /** The client's HELLO. */
  public record Hello(long clientId, int maxMessageSize, List<String> transports) {}

  /** The server's ACCEPT (the fds travel beside it). */
  public record Accept(String transport, int maxMessageSize, Map<String, String> parameters) {}

  /** An ERROR frame. */
  public record Error(ErrorCode code, int rawCode, String message, List<Refusal> refusals,
      List<String> offered) {}

  /** A GOODBYE frame. */
  public record Goodbye(int reason, String message) {}

  // ---------------------------------------------------------------- header

  /** Builds a whole frame: header then body. */
  public static byte[] frame(int type, int fdCount, byte[] body) {
    int length = Frame.HEADER_SIZE + body.length;
    if (length > Frame.MAX_FRAME_SIZE) {
      throw new IllegalArgumentException("frame too large: length=" + length
          + " max=" + Frame.MAX_FRAME_SIZE);
    }
    ByteBuffer b = ByteBuffer.allocate(length);
    b.putInt(length).put((byte) Frame.VERSION).put((byte) type).put((byte) fdCount).put((byte) 0);
    b.put(body);
    return b.array();
  }

  /**
   * Checks a frame header and returns the body length.
   *
   * @throws ProtocolException for a length out of range, another version, a reserved byte that is
   *     not zero, or more fds than a frame may carry
   */
  public static int bodyLength(byte[] header) throws ProtocolException {
    ByteBuffer b = ByteBuffer.wrap(header);
    int length = b.getInt();
    int version = b.get() & 0xff;
    int type = b.get() & 0xff;
    int fds = b.get() & 0xff;
    int reserved = b.get() & 0xff;
    if (length < Frame.HEADER_SIZE || length > Frame.MAX_FRAME_SIZE) {
      throw new ProtocolException(ErrorCode.MALFORMED_FRAME, "frame length "
          + Integer.toUnsignedString(length) + " out of range [" + Frame.HEADER_SIZE + ", "
          + Frame.MAX_FRAME_SIZE + "]");
    }
    if (version != Frame.VERSION) {
      throw new ProtocolException(ErrorCode.UNSUPPORTED_VERSION, "protocol version " + version
          + " not supported: this side speaks version " + Frame.VERSION);
    }
    if (reserved != 0) {
      throw new ProtocolException(ErrorCode.MALFORMED_FRAME, "reserved header byte is " + reserved
          + ", must be 0");
    }
    if (fds > MAX_FDS) {
      throw new ProtocolException(ErrorCode.MALFORMED_FRAME, "frame announces " + fds
          + " fds, at most " + MAX_FDS + " are allowed");
    }
    if (type < Frame.HELLO || type > Frame.GOODBYE) {
      throw new ProtocolException(ErrorCode.UNEXPECTED_FRAME, "unknown frame type " + type);
    }
    return length - Frame.HEADER_SIZE;
  }

  // ---------------------------------------------------------------- bodies

  public static byte[] encodeHello(Hello h) {
    if (h.transports().size() > MAX_TRANSPORTS) {
      throw new IllegalArgumentException("at most " + MAX_TRANSPORTS
          + " transports can be listed, got " + h.transports().size());
    }
    Out o = new Out();
    o.u32(MAGIC).u32(h.clientId()).u32(h.maxMessageSize());
    o.u8(h.transports().size());
    for (String t : h.transports()) {
      o.name(t);
    }
    return o.bytes();
  }

  public static Hello decodeHello(byte[] body) throws ProtocolException {
    In in = new In(body, "HELLO");
    long magic = in.u32();
    if (magic != (MAGIC & 0xffffffffL)) {
      throw in.malformed("magic is 0x" + Long.toHexString(magic) + ", expected 0x"
          + Integer.toHexString(MAGIC) + " (\"FDIP\"): not an fdipc client");
    }
    long id = in.u32();
    long max = in.u32();
    if (max > Integer.MAX_VALUE) {
      throw in.malformed("max_message_size " + max + " over " + Integer.MAX_VALUE);
    }
    int n = in.u8();
    if (n > MAX_TRANSPORTS) {
      throw in.malformed("transport_count " + n + " over " + MAX_TRANSPORTS);
    }
    List<String> names = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      String name = in.name();
      if (names.contains(name)) {
        throw in.malformed("transport '" + name + "' listed twice");
      }
      names.add(name);
    }
    in.end();
    return new Hello(id, (int) max, names);
  }

  /**
   * Checks transport parameters against what an ACCEPT frame can carry.
   *
   * @throws IllegalArgumentException naming the first limit exceeded
   */
  public static void checkParameters(Map<String, String> parameters) {
    if (parameters.size() > MAX_PARAMS) {
      throw new IllegalArgumentException("too many transport parameters: count="
          + parameters.size() + " max=" + MAX_PARAMS);
    }
    for (Map.Entry<String, String> e : parameters.entrySet()) {
      int k = e.getKey().getBytes(StandardCharsets.UTF_8).length;
      int v = e.getValue().getBytes(StandardCharsets.UTF_8).length;
      if (k < 1 || k > MAX_KEY) {
        throw new IllegalArgumentException("transport parameter key '" + printable(e.getKey())
            + "' is " + k + " bytes; allowed 1 to " + MAX_KEY);
      }
      if (v > MAX_VALUE) {
        throw new IllegalArgumentException("transport parameter '" + printable(e.getKey())
            + "' has a value of " + v + " bytes; allowed at most " + MAX_VALUE);
      }
    }
  }

  public static byte[] encodeAccept(Accept a) {
    checkParameters(a.parameters());
    Out o = new Out();
    o.name(a.transport()).u32(a.maxMessageSize());
    o.u16(a.parameters().size());
    for (Map.Entry<String, String> e : a.parameters().entrySet()) {
      o.text8(e.getKey(), MAX_KEY).text16(e.getValue(), MAX_VALUE);
    }
    return o.bytes();
  }

  public static Accept decodeAccept(byte[] body) throws ProtocolException {
    In in = new In(body, "ACCEPT");
    String name = in.name();
    long max = in.u32();
    if (max < 1 || max > Integer.MAX_VALUE) {
      throw in.malformed("max_message_size " + max + " out of range [1, " + Integer.MAX_VALUE
          + "]");
    }
    int n = in.u16();
    if (n > MAX_PARAMS) {
      throw in.malformed("param_count " + n + " over " + MAX_PARAMS);
    }
    Map<String, String> params = new LinkedHashMap<>();
    for (int i = 0; i < n; i++) {
      String k = in.text8(MAX_KEY);
      String v = in.text16(MAX_VALUE);
      if (params.put(k, v) != null) {
        throw in.malformed("parameter '" + k + "' given twice");
      }
    }
    in.end();
    return new Accept(name, (int) max, params);
  }

  public static byte[] encodeError(ErrorCode code, String message, List<Refusal> refusals,
      List<String> offered) {
    Out o = new Out();
    o.u16(code.wire()).text16(clip(message, MAX_TEXT), MAX_TEXT);
    List<Refusal> rs = refusals.subList(0, Math.min(refusals.size(), MAX_REFUSALS));
    o.u8(rs.size());
    for (Refusal r : rs) {
      o.name(r.transport()).u8(r.reason().wire()).text16(clip(r.detail(), MAX_VALUE), MAX_VALUE);
    }
    List<String> off = offered.subList(0, Math.min(offered.size(), MAX_REFUSALS));
    o.u8(off.size());
    for (String s : off) {
      o.name(s);
    }
    return o.bytes();
  }

  public static Error decodeError(byte[] body) throws ProtocolException {
    In in = new In(body, "ERROR");
    int raw = in.u16();
    String message = in.text16(MAX_TEXT);
    int n = in.u8();
    if (n > MAX_REFUSALS) {
      throw in.malformed("refusal_count " + n + " over " + MAX_REFUSALS);
    }
    List<Refusal> refusals = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      String name = in.name();
      int reason = in.u8();
      String detail = in.text16(MAX_VALUE);
      Refusal.Reason r = Refusal.Reason.fromWire(reason);
      if (r == null) {
        throw in.malformed("unknown refusal reason " + reason + " for '" + name + "'");
      }
      refusals.add(new Refusal(name, r, detail));
    }
    int m = in.u8();
    if (m > MAX_REFUSALS) {
      throw in.malformed("offered_count " + m + " over " + MAX_REFUSALS);
    }
    List<String> offered = new ArrayList<>(m);
    for (int i = 0; i < m; i++) {
      offered.add(in.name());
    }
    in.end();
    return new Error(ErrorCode.fromWire(raw), raw, message, refusals, offered);
  }

  public static byte[] encodeGoodbye(int reason, String message) {
    return new Out().u16(reason).text16(clip(message, MAX_TEXT), MAX_TEXT).bytes();
  }

  public static Goodbye decodeGoodbye(byte[] body) throws ProtocolException {
    In in = new In(body, "GOODBYE");
    int reason = in.u16();
    String message = in.text16(MAX_TEXT);
    in.end();
    return new Goodbye(reason, message);
  }

  private static String clip(String s, int maxBytes) {
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    if (b.length <= maxBytes) {
      return s;
    }
    // Cut on a character boundary so the result is still valid UTF-8.
    int end = maxBytes;
    while (end > 0 && (b[end] & 0xC0) == 0x80) {
      end--;
    }
    return new String(b, 0, end, StandardCharsets.UTF_8);
  }

  // ---------------------------------------------------------------- primitives

  private static final class Out {
    private final ByteArrayOutputStream buf = new ByteArrayOutputStream(64);

    Out u8(int v) {
      buf.write(v);
      return this;
    }

    Out u16(int v) {
      buf.write(v >>> 8);
      buf.write(v);
      return this;
    }

    Out u32(long v) {
      u16((int) (v >>> 16) & 0xffff);
      return u16((int) v & 0xffff);
    }

    Out name(String s) {
      if (!isValidName(s)) {
        throw new IllegalArgumentException("invalid transport name: '" + s + "'");
      }
      return text8(s, MAX_NAME);
    }

    Out text8(String s, int max) {
      byte[] b = s.getBytes(StandardCharsets.UTF_8);
      if (b.length > max) {
        throw new IllegalArgumentException("text of " + b.length + " bytes over " + max);
      }
      u8(b.length);
      buf.writeBytes(b);
      return this;
    }

    Out text16(String s, int max) {
      byte[] b = s.getBytes(StandardCharsets.UTF_8);
      if (b.length > max) {
        throw new IllegalArgumentException("text of " + b.length + " bytes over " + max);
      }
      u16(b.length);
      buf.writeBytes(b);
      return this;
    }

    byte[] bytes() {
      return buf.toByteArray();
    }
  }

  private static final class In {
    private final ByteBuffer b;
    private final String what;

    In(byte[] body, String what) {
      this.b = ByteBuffer.wrap(body);
      this.what = what;
    }

    ProtocolException malformed(String detail) {
      return new ProtocolException(ErrorCode.MALFORMED_FRAME, what + ": " + detail);
    }

    private void need(int n) throws ProtocolException {
      if (b.remaining() < n) {
        throw malformed("body ends at byte " + b.position() + ", " + n + " more expected");
      }
    }

    int u8() throws ProtocolException {
      need(1);
      return b.get() & 0xff;
    }

    int u16() throws ProtocolException {
      need(2);
      return b.getShort() & 0xffff;
    }

    long u32() throws ProtocolException {
      need(4);
      return b.getInt() & 0xffffffffL;
    }

    String name() throws ProtocolException {
      String s = text8(MAX_NAME);
      if (!isValidName(s)) {
        throw malformed("invalid transport name '" + printable(s)
            + "': use lower case [a-z0-9._-], 1 to " + MAX_NAME + " characters");
      }
      return s;
    }

    String text8(int max) throws ProtocolException {
      return text(u8(), max);
    }

    String text16(int max) throws ProtocolException {
      return text(u16(), max);
    }

    private String text(int len, int max) throws ProtocolException {
      if (len > max) {
        throw malformed("text length " + len + " over " + max);
      }
      need(len);
      ByteBuffer slice = b.slice(b.position(), len);
      b.position(b.position() + len);
      try {
        return StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT)
            .decode(slice).toString();
      } catch (CharacterCodingException e) {
        throw malformed("text is not valid UTF-8");
      }
    }

    void end() throws ProtocolException {
      if (b.hasRemaining()) {
        throw malformed(b.remaining() + " unexpected bytes after the last field");
      }
    }
  }

  /** {@code s} with control characters escaped, safe to print on a terminal or in a log. */
  public static String printable(String s) {
    StringBuilder sb = null;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      boolean control = c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || c == '\u2028'
          || c == '\u2029' || (c >= '\u202a' && c <= '\u202e') || (c >= '\u2066' && c <= '\u2069');
      if (control) {
        if (sb == null) {
          sb = new StringBuilder(s.length() + 8).append(s, 0, i);
        }
        sb.append(c == '\t' ? "\\t" : String.format("\\u%04x", (int) c));
      } else if (sb != null) {
        sb.append(c);
      }
    }
    return sb == null ? s : sb.toString();
  }
}
