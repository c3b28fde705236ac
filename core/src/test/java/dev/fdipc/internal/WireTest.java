package dev.fdipc.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.fdipc.ErrorCode;
import dev.fdipc.ProtocolException;
import dev.fdipc.Refusal;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class WireTest {

  // ---------------------------------------------------------------- helpers

  /** A decoder under test, for the loops that feed the same bytes to every decoder. */
  private interface Decoder {
    Object decode(byte[] body) throws ProtocolException;
  }

  private static final Map<String, Decoder> DECODERS = new LinkedHashMap<>();

  static {
    DECODERS.put("HELLO", Wire::decodeHello);
    DECODERS.put("ACCEPT", Wire::decodeAccept);
    DECODERS.put("ERROR", Wire::decodeError);
    DECODERS.put("GOODBYE", Wire::decodeGoodbye);
  }

  private static byte[] header(int length, int version, int type, int fds, int reserved) {
    return ByteBuffer.allocate(Frame.HEADER_SIZE).putInt(length).put((byte) version)
        .put((byte) type).put((byte) fds).put((byte) reserved).array();
  }

  private static ProtocolException assertMalformed(Executable decode) {
    return assertCode(ErrorCode.MALFORMED_FRAME, decode);
  }

  private static ProtocolException assertCode(ErrorCode expected, Executable decode) {
    ProtocolException e = assertThrows(ProtocolException.class, decode);
    assertEquals(expected, e.code(), () -> "code of: " + e.getMessage());
    return e;
  }

  /** Builds bodies byte by byte, so that tests can write what the encoder refuses to. */
  private static final class Bytes {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    Bytes u8(int v) {
      out.write(v);
      return this;
    }

    Bytes u16(int v) {
      out.write(v >>> 8);
      out.write(v);
      return this;
    }

    Bytes u32(long v) {
      return u16((int) (v >>> 16) & 0xffff).u16((int) v & 0xffff);
    }

    Bytes raw(byte[] b) {
      out.writeBytes(b);
      return this;
    }

    Bytes text8(String s) {
      byte[] b = s.getBytes(StandardCharsets.UTF_8);
      return u8(b.length).raw(b);
    }

    Bytes text8(byte[] b) {
      return u8(b.length).raw(b);
    }

    Bytes text16(String s) {
      byte[] b = s.getBytes(StandardCharsets.UTF_8);
      return u16(b.length).raw(b);
    }

    Bytes text16(byte[] b) {
      return u16(b.length).raw(b);
    }

    byte[] bytes() {
      return out.toByteArray();
    }
  }

  /** A HELLO body with these names written as they are, valid or not. */
  private static byte[] helloWithNames(String... names) {
    Bytes b = new Bytes().u32(Wire.MAGIC).u32(7).u32(4096).u8(names.length);
    for (String n : names) {
      b.text8(n);
    }
    return b.bytes();
  }

  private static byte[] validHello() {
    return Wire.encodeHello(new Wire.Hello(42, 65536, List.of("memfd", "pipe", "socketpair")));
  }

  private static byte[] validAccept() {
    Map<String, String> params = new LinkedHashMap<>();
    params.put("ring.size", "65536");
    params.put("label", "h\u00e9llo \u2713");
    return Wire.encodeAccept(new Wire.Accept("memfd", 4096, params));
  }

  private static byte[] validError() {
    return Wire.encodeError(ErrorCode.NO_TRANSPORT, "no transport",
        List.of(new Refusal("memfd", Refusal.Reason.UNAVAILABLE, "ENOSYS"),
            new Refusal("shm", Refusal.Reason.UNKNOWN, "")),
        List.of("pipe", "socketpair"));
  }

  private static byte[] validGoodbye() {
    return Wire.encodeGoodbye(Wire.GOODBYE_SHUTDOWN, "server stopping");
  }

  private static Map<String, byte[]> validBodies() {
    Map<String, byte[]> m = new LinkedHashMap<>();
    m.put("HELLO", validHello());
    m.put("ACCEPT", validAccept());
    m.put("ERROR", validError());
    m.put("GOODBYE", validGoodbye());
    return m;
  }

  private static String repeat(char c, int n) {
    char[] a = new char[n];
    Arrays.fill(a, c);
    return new String(a);
  }

  /** Byte sequences that are not UTF-8: bad continuation, overlong, surrogate, lone lead byte. */
  private static final byte[][] INVALID_UTF8 = {
      {(byte) 0xc3, 0x28},
      {(byte) 0xc0, (byte) 0xaf},
      {(byte) 0xed, (byte) 0xa0, (byte) 0x80},
      {'o', 'k', (byte) 0xe2, (byte) 0x82},
      {(byte) 0xff},
  };

  // ---------------------------------------------------------------- header

  @Test
  void acceptsHeaderAndReturnsBodyLength() throws ProtocolException {
    assertEquals(10, Wire.bodyLength(header(18, Frame.VERSION, Frame.HELLO, 0, 0)));
    assertEquals(0, Wire.bodyLength(header(Frame.HEADER_SIZE, Frame.VERSION, Frame.GOODBYE, 0, 0)));
    assertEquals(Frame.MAX_FRAME_SIZE - Frame.HEADER_SIZE,
        Wire.bodyLength(
            header(Frame.MAX_FRAME_SIZE, Frame.VERSION, Frame.ACCEPT, Wire.MAX_FDS, 0)));
  }

  @Test
  void acceptsEveryKnownFrameType() throws ProtocolException {
    for (int type : new int[] {Frame.HELLO, Frame.ACCEPT, Frame.ERROR, Frame.GOODBYE}) {
      assertEquals(3, Wire.bodyLength(header(11, Frame.VERSION, type, 0, 0)), "type " + type);
    }
  }

  @Test
  void buildsFrameWhoseHeaderPassesTheCheck() throws ProtocolException {
    byte[] body = validHello();
    byte[] frame = Wire.frame(Frame.HELLO, 2, body);
    assertEquals(Frame.HEADER_SIZE + body.length, frame.length);
    byte[] header = Arrays.copyOf(frame, Frame.HEADER_SIZE);
    assertEquals(body.length, Wire.bodyLength(header));
    assertEquals(Frame.HELLO, header[5]);
    assertEquals(2, header[6]);
    assertArrayEquals(body, Arrays.copyOfRange(frame, Frame.HEADER_SIZE, frame.length));
  }

  @Test
  void refusesToBuildFrameOverMaximumSize() {
    byte[] body = new byte[Frame.MAX_FRAME_SIZE - Frame.HEADER_SIZE + 1];
    assertThrows(IllegalArgumentException.class, () -> Wire.frame(Frame.ACCEPT, 0, body));
  }

  @Test
  void rejectsLengthZero() {
    assertMalformed(() -> Wire.bodyLength(header(0, Frame.VERSION, Frame.HELLO, 0, 0)));
  }

  @Test
  void rejectsLengthBelowHeaderSize() {
    assertMalformed(() -> Wire.bodyLength(header(7, Frame.VERSION, Frame.HELLO, 0, 0)));
  }

  @Test
  void rejectsLengthOverMaximumFrameSize() {
    assertMalformed(() -> Wire.bodyLength(header(65537, Frame.VERSION, Frame.HELLO, 0, 0)));
  }

  @Test
  void rejectsLargestPositiveLength() {
    assertMalformed(() -> Wire.bodyLength(header(0x7fffffff, Frame.VERSION, Frame.HELLO, 0, 0)));
  }

  @Test
  void rejectsLengthThatIsNegativeAsSignedIntAndReportsItUnsigned() {
    ProtocolException e = assertMalformed(
        () -> Wire.bodyLength(header(0xffffffff, Frame.VERSION, Frame.HELLO, 0, 0)));
    assertTrue(e.getMessage().contains("4294967295"), e.getMessage());
  }

  @Test
  void rejectsOtherProtocolVersionAsUnsupportedVersion() {
    ProtocolException e = assertCode(ErrorCode.UNSUPPORTED_VERSION,
        () -> Wire.bodyLength(header(16, 2, Frame.HELLO, 0, 0)));
    assertTrue(e.getMessage().contains("version 2"), e.getMessage());
    assertCode(ErrorCode.UNSUPPORTED_VERSION,
        () -> Wire.bodyLength(header(16, 0, Frame.HELLO, 0, 0)));
    assertCode(ErrorCode.UNSUPPORTED_VERSION,
        () -> Wire.bodyLength(header(16, 255, Frame.HELLO, 0, 0)));
  }

  @ParameterizedTest
  @ValueSource(ints = {1, 0x80, 0xff})
  void rejectsNonZeroReservedByte(int reserved) {
    assertMalformed(() -> Wire.bodyLength(header(16, Frame.VERSION, Frame.HELLO, 0, reserved)));
  }

  @ParameterizedTest
  @ValueSource(ints = {9, 0xff})
  void rejectsMoreFdsThanAFrameMayCarry(int fds) {
    assertMalformed(() -> Wire.bodyLength(header(16, Frame.VERSION, Frame.ACCEPT, fds, 0)));
  }

  @ParameterizedTest
  @ValueSource(ints = {0, 5, 0xff})
  void rejectsUnknownFrameType(int type) {
    ProtocolException e = assertCode(ErrorCode.UNEXPECTED_FRAME,
        () -> Wire.bodyLength(header(16, Frame.VERSION, type, 0, 0)));
    assertTrue(e.getMessage().contains(Integer.toString(type)), e.getMessage());
  }

  // ---------------------------------------------------------------- HELLO

  @Test
  void roundTripsHelloWithoutTransports() throws ProtocolException {
    Wire.Hello h = new Wire.Hello(1, 1024, List.of());
    byte[] body = Wire.encodeHello(h);
    assertEquals(13, body.length);
    assertEquals(h, Wire.decodeHello(body));
  }

  @Test
  void roundTripsHelloWithSeveralTransports() throws ProtocolException {
    Wire.Hello h = new Wire.Hello(0xffffffffL, Integer.MAX_VALUE,
        List.of("socketpair", "pipe", "memfd", "a.b-c_d", "0", repeat('z', Wire.MAX_NAME)));
    Wire.Hello back = Wire.decodeHello(Wire.encodeHello(h));
    assertEquals(h, back);
    assertEquals(h.transports(), back.transports()); // the client's preference order is kept
  }

  @Test
  void roundTripsHelloWithMaximumTransportCount() throws ProtocolException {
    List<String> names = new ArrayList<>();
    for (int i = 0; i < Wire.MAX_TRANSPORTS; i++) {
      names.add("t" + i);
    }
    Wire.Hello h = new Wire.Hello(5, 100, names);
    assertEquals(h, Wire.decodeHello(Wire.encodeHello(h)));
  }

  @Test
  void encodesHelloStartingWithMagic() {
    byte[] body = validHello();
    assertArrayEquals("FDIP".getBytes(StandardCharsets.US_ASCII), Arrays.copyOf(body, 4));
  }

  @Test
  void rejectsHelloWithBadMagic() {
    byte[] body = validHello();
    body[0] = 'X';
    ProtocolException e = assertMalformed(() -> Wire.decodeHello(body));
    assertTrue(e.getMessage().contains("magic"), e.getMessage());
  }

  @Test
  void rejectsHelloThatIsHttp() {
    byte[] body = "GET / HTTP/1.1\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
    assertMalformed(() -> Wire.decodeHello(body));
  }

  @Test
  void rejectsHelloTruncatedAtEveryPosition() {
    assertEveryPrefixMalformed("HELLO", validHello(), Wire::decodeHello);
  }

  @Test
  void rejectsHelloWithTrailingGarbage() {
    byte[] body = Arrays.copyOf(validHello(), validHello().length + 1);
    assertMalformed(() -> Wire.decodeHello(body));
  }

  @Test
  void rejectsHelloListingTransportTwice() {
    ProtocolException e = assertMalformed(
        () -> Wire.decodeHello(helloWithNames("pipe", "memfd", "pipe")));
    assertTrue(e.getMessage().contains("pipe"), e.getMessage());
  }

  @ParameterizedTest
  @ValueSource(strings = {"Pipe", "PIPE", "", "-pipe", ".pipe", "pi pe", "pipe/x", "p\u00efpe",
      "abcdefghijklmnopqrstuvwxyz0123456", "pi\npe", "pipe\u0000", "\u001b[31mred",
      "pipe\u202e"})
  void rejectsHelloWithInvalidTransportName(String name) {
    assertMalformed(() -> Wire.decodeHello(helloWithNames("memfd", name)));
  }

  @Test
  void rejectsHelloWithNameOf33Characters() {
    String name = repeat('a', Wire.MAX_NAME + 1);
    assertEquals(33, name.length());
    assertMalformed(() -> Wire.decodeHello(helloWithNames(name)));
  }

  @Test
  void acceptsHelloWithNameOf32Characters() throws ProtocolException {
    String name = repeat('a', Wire.MAX_NAME);
    assertEquals(List.of(name), Wire.decodeHello(helloWithNames(name)).transports());
  }

  @Test
  void rejectsHelloWithTransportCountOver16() {
    String[] names = new String[Wire.MAX_TRANSPORTS + 1];
    for (int i = 0; i < names.length; i++) {
      names[i] = "t" + i;
    }
    ProtocolException e = assertMalformed(() -> Wire.decodeHello(helloWithNames(names)));
    assertTrue(e.getMessage().contains("17"), e.getMessage());
  }

  @Test
  void rejectsHelloWithMaxMessageSizeOverIntRange() {
    byte[] body = new Bytes().u32(Wire.MAGIC).u32(1).u32(0x80000000L).u8(0).bytes();
    assertMalformed(() -> Wire.decodeHello(body));
  }

  @Test
  void rejectsHelloWithNameThatIsNotUtf8() {
    for (byte[] bad : INVALID_UTF8) {
      byte[] body = new Bytes().u32(Wire.MAGIC).u32(1).u32(64).u8(1).text8(bad).bytes();
      assertMalformed(() -> Wire.decodeHello(body));
    }
  }

  @Test
  void refusesToEncodeHelloWithInvalidName() {
    assertThrows(IllegalArgumentException.class,
        () -> Wire.encodeHello(new Wire.Hello(1, 64, List.of("Bad Name"))));
  }

  // ---------------------------------------------------------------- ACCEPT

  @Test
  void roundTripsAcceptWithParameters() throws ProtocolException {
    Map<String, String> params = new LinkedHashMap<>();
    params.put("ring.size", "65536");
    params.put("layout", "v2");
    params.put("empty", "");
    Wire.Accept a = new Wire.Accept("memfd", 1 << 20, params);
    Wire.Accept back = Wire.decodeAccept(Wire.encodeAccept(a));
    assertEquals(a, back);
    assertEquals(List.of("ring.size", "layout", "empty"),
        new ArrayList<>(back.parameters().keySet()));
  }

  @Test
  void roundTripsAcceptWithUtf8Values() throws ProtocolException {
    Map<String, String> params = new LinkedHashMap<>();
    params.put("label", "h\u00e9llo w\u00f6rld \u2713 \u65e5\u672c\u8a9e \ud83c\udf89");
    params.put("cl\u00e9", "\u00fcber");
    Wire.Accept a = new Wire.Accept("pipe", 1, params);
    assertEquals(a, Wire.decodeAccept(Wire.encodeAccept(a)));
  }

  @Test
  void roundTripsAcceptWithoutParametersAndWithLimits() throws ProtocolException {
    Wire.Accept a = new Wire.Accept("socketpair", Integer.MAX_VALUE, Map.of());
    assertEquals(a, Wire.decodeAccept(Wire.encodeAccept(a)));
    Map<String, String> params = new LinkedHashMap<>();
    params.put(repeat('k', Wire.MAX_KEY), repeat('v', Wire.MAX_VALUE));
    Wire.Accept big = new Wire.Accept("socketpair", 8, params);
    assertEquals(big, Wire.decodeAccept(Wire.encodeAccept(big)));
  }

  @Test
  void rejectsAcceptTruncatedAtEveryPosition() {
    assertEveryPrefixMalformed("ACCEPT", validAccept(), Wire::decodeAccept);
  }

  @Test
  void rejectsAcceptWithTrailingGarbage() {
    byte[] valid = validAccept();
    byte[] body = Arrays.copyOf(valid, valid.length + 3);
    assertMalformed(() -> Wire.decodeAccept(body));
  }

  @Test
  void rejectsAcceptWithMaxMessageSizeZero() {
    byte[] body = new Bytes().text8("memfd").u32(0).u16(0).bytes();
    assertMalformed(() -> Wire.decodeAccept(body));
  }

  @Test
  void rejectsAcceptWithInvalidTransportName() {
    byte[] body = new Bytes().text8("MemFD").u32(64).u16(0).bytes();
    assertMalformed(() -> Wire.decodeAccept(body));
  }

  @Test
  void rejectsAcceptWithParameterCountOver64() {
    Bytes b = new Bytes().text8("memfd").u32(64).u16(Wire.MAX_PARAMS + 1);
    for (int i = 0; i <= Wire.MAX_PARAMS; i++) {
      b.text8("k" + i).text16("v");
    }
    byte[] body = b.bytes();
    assertMalformed(() -> Wire.decodeAccept(body));
  }

  @Test
  void rejectsAcceptWithDuplicateParameter() {
    byte[] body = new Bytes().text8("memfd").u32(64).u16(2)
        .text8("size").text16("1").text8("size").text16("2").bytes();
    ProtocolException e = assertMalformed(() -> Wire.decodeAccept(body));
    assertTrue(e.getMessage().contains("size"), e.getMessage());
  }

  @Test
  void rejectsAcceptWithValueOverMaximumLength() {
    byte[] body = new Bytes().text8("memfd").u32(64).u16(1)
        .text8("k").text16(repeat('v', Wire.MAX_VALUE + 1)).bytes();
    assertMalformed(() -> Wire.decodeAccept(body));
  }

  @Test
  void rejectsAcceptWithParameterThatIsNotUtf8() {
    for (byte[] bad : INVALID_UTF8) {
      byte[] badKey = new Bytes().text8("memfd").u32(64).u16(1).text8(bad).text16("v").bytes();
      byte[] badValue = new Bytes().text8("memfd").u32(64).u16(1).text8("k").text16(bad).bytes();
      assertMalformed(() -> Wire.decodeAccept(badKey));
      assertMalformed(() -> Wire.decodeAccept(badValue));
    }
  }

  @Test
  void refusesToEncodeAcceptWithValueOverMaximumLength() {
    Wire.Accept a = new Wire.Accept("memfd", 64, Map.of("k", repeat('v', Wire.MAX_VALUE + 1)));
    assertThrows(IllegalArgumentException.class, () -> Wire.encodeAccept(a));
  }

  @Test
  void refusesToEncodeAcceptThatTheDecoderWouldReject() {
    Map<String, String> params = new LinkedHashMap<>();
    for (int i = 0; i <= Wire.MAX_PARAMS; i++) {
      params.put("k" + i, "v");
    }
    Wire.Accept a = new Wire.Accept("memfd", 64, params);
    byte[] body;
    try {
      body = Wire.encodeAccept(a);
    } catch (IllegalArgumentException expected) {
      return; // refusing to encode is fine
    }
    try {
      Wire.decodeAccept(body);
    } catch (ProtocolException e) {
      fail("encodeAccept produced a body its own decoder rejects: " + e.getMessage());
    }
  }

  // ---------------------------------------------------------------- ERROR

  @Test
  void roundTripsErrorWithRefusalsAndOfferedList() throws ProtocolException {
    List<Refusal> refusals = List.of(
        new Refusal("memfd", Refusal.Reason.UNAVAILABLE, "memfd_create: ENOSYS"),
        new Refusal("shm", Refusal.Reason.UNKNOWN, ""),
        new Refusal("pipe", Refusal.Reason.NOT_OFFERED, "not offered by this server"),
        new Refusal("mq", Refusal.Reason.CREATE_FAILED, "mq_open: EMFILE \u2013 raise ulimit -n"));
    List<String> offered = List.of("socketpair", "pipe");
    byte[] body = Wire.encodeError(ErrorCode.NO_TRANSPORT, "no transport for you \u2639", refusals,
        offered);
    Wire.Error e = Wire.decodeError(body);
    assertEquals(ErrorCode.NO_TRANSPORT, e.code());
    assertEquals(ErrorCode.NO_TRANSPORT.wire(), e.rawCode());
    assertEquals("no transport for you \u2639", e.message());
    assertEquals(refusals, e.refusals());
    assertEquals(offered, e.offered());
  }

  @Test
  void roundTripsErrorWithoutRefusals() throws ProtocolException {
    for (ErrorCode code : ErrorCode.values()) {
      Wire.Error e = Wire.decodeError(Wire.encodeError(code, "", List.of(), List.of()));
      assertEquals(code, e.code());
      assertEquals(code.wire(), e.rawCode());
      assertEquals("", e.message());
      assertTrue(e.refusals().isEmpty());
      assertTrue(e.offered().isEmpty());
    }
  }

  @Test
  void keepsRawValueOfUnknownErrorCode() throws ProtocolException {
    byte[] body = new Bytes().u16(999).text16("from the future").u8(0).u8(0).bytes();
    Wire.Error e = Wire.decodeError(body);
    assertEquals(ErrorCode.UNKNOWN, e.code());
    assertEquals(999, e.rawCode());
    assertEquals("from the future", e.message());
  }

  @Test
  void clipsLongErrorMessageOnCharacterBoundary() throws ProtocolException {
    // 3000 two-byte characters: 6000 bytes, clipped to at most 4096 bytes of valid UTF-8.
    String message = repeat('\u00e9', 3000);
    Wire.Error e = Wire.decodeError(Wire.encodeError(ErrorCode.INTERNAL, message, List.of(),
        List.of()));
    assertEquals(repeat('\u00e9', Wire.MAX_TEXT / 2), e.message());
    // A three-byte character straddling the limit (bytes 4094..4096) is dropped whole.
    String threeByte = "ab" + repeat('\u2713', 2000);
    Wire.Error e2 = Wire.decodeError(Wire.encodeError(ErrorCode.INTERNAL, threeByte, List.of(),
        List.of()));
    assertEquals("ab" + repeat('\u2713', (Wire.MAX_TEXT - 2) / 3), e2.message());
  }

  @Test
  void capsRefusalAndOfferedListsAtTheirMaximum() throws ProtocolException {
    List<Refusal> refusals = new ArrayList<>();
    List<String> offered = new ArrayList<>();
    for (int i = 0; i < Wire.MAX_REFUSALS + 8; i++) {
      refusals.add(new Refusal("t" + i, Refusal.Reason.UNKNOWN, ""));
      offered.add("o" + i);
    }
    Wire.Error e = Wire.decodeError(Wire.encodeError(ErrorCode.NO_TRANSPORT, "x", refusals,
        offered));
    assertEquals(refusals.subList(0, Wire.MAX_REFUSALS), e.refusals());
    assertEquals(offered.subList(0, Wire.MAX_REFUSALS), e.offered());
  }

  @Test
  void rejectsErrorTruncatedAtEveryPosition() {
    assertEveryPrefixMalformed("ERROR", validError(), Wire::decodeError);
  }

  @Test
  void rejectsErrorWithTrailingGarbage() {
    byte[] valid = validError();
    byte[] body = Arrays.copyOf(valid, valid.length + 1);
    assertMalformed(() -> Wire.decodeError(body));
  }

  @Test
  void rejectsErrorWithUnknownRefusalReason() {
    byte[] body = new Bytes().u16(4).text16("").u8(1).text8("memfd").u8(99).text16("").u8(0)
        .bytes();
    assertMalformed(() -> Wire.decodeError(body));
  }

  @Test
  void rejectsErrorWithTooManyRefusalsOrOffered() {
    byte[] refusals = new Bytes().u16(4).text16("").u8(Wire.MAX_REFUSALS + 1).bytes();
    byte[] offered = new Bytes().u16(4).text16("").u8(0).u8(Wire.MAX_REFUSALS + 1).bytes();
    assertMalformed(() -> Wire.decodeError(refusals));
    assertMalformed(() -> Wire.decodeError(offered));
  }

  @Test
  void rejectsErrorWithInvalidNames() {
    byte[] refused = new Bytes().u16(4).text16("").u8(1).text8("Bad Name").u8(1).text16("")
        .u8(0).bytes();
    byte[] offered = new Bytes().u16(4).text16("").u8(0).u8(1).text8("").bytes();
    assertMalformed(() -> Wire.decodeError(refused));
    assertMalformed(() -> Wire.decodeError(offered));
  }

  @Test
  void rejectsErrorWithTextThatIsNotUtf8() {
    for (byte[] bad : INVALID_UTF8) {
      byte[] message = new Bytes().u16(2).text16(bad).u8(0).u8(0).bytes();
      byte[] detail = new Bytes().u16(4).text16("").u8(1).text8("memfd").u8(3).text16(bad).u8(0)
          .bytes();
      assertMalformed(() -> Wire.decodeError(message));
      assertMalformed(() -> Wire.decodeError(detail));
    }
  }

  // ---------------------------------------------------------------- GOODBYE

  @Test
  void roundTripsGoodbye() throws ProtocolException {
    assertEquals(new Wire.Goodbye(Wire.GOODBYE_SHUTDOWN, "server stopping"),
        Wire.decodeGoodbye(Wire.encodeGoodbye(Wire.GOODBYE_SHUTDOWN, "server stopping")));
    assertEquals(new Wire.Goodbye(Wire.GOODBYE_CLOSE, ""),
        Wire.decodeGoodbye(Wire.encodeGoodbye(Wire.GOODBYE_CLOSE, "")));
    assertEquals(new Wire.Goodbye(Wire.GOODBYE_ERROR, "\u00e9chec \u2717"),
        Wire.decodeGoodbye(Wire.encodeGoodbye(Wire.GOODBYE_ERROR, "\u00e9chec \u2717")));
    assertEquals(new Wire.Goodbye(0xffff, "x"),
        Wire.decodeGoodbye(Wire.encodeGoodbye(0xffff, "x")));
  }

  @Test
  void rejectsGoodbyeTruncatedAtEveryPosition() {
    assertEveryPrefixMalformed("GOODBYE", validGoodbye(), Wire::decodeGoodbye);
  }

  @Test
  void rejectsGoodbyeWithTrailingGarbage() {
    byte[] valid = validGoodbye();
    byte[] body = Arrays.copyOf(valid, valid.length + 1);
    assertMalformed(() -> Wire.decodeGoodbye(body));
  }

  @Test
  void rejectsGoodbyeWithMessageThatIsNotUtf8() {
    for (byte[] bad : INVALID_UTF8) {
      byte[] body = new Bytes().u16(1).text16(bad).bytes();
      assertMalformed(() -> Wire.decodeGoodbye(body));
    }
  }

  @Test
  void rejectsGoodbyeWithMessageOverMaximumLength() {
    byte[] body = new Bytes().u16(1).text16(repeat('m', Wire.MAX_TEXT + 1)).bytes();
    assertMalformed(() -> Wire.decodeGoodbye(body));
  }

  // ---------------------------------------------------------------- names and printable

  @ParameterizedTest
  @ValueSource(strings = {"a", "0", "pipe", "memfd", "socketpair", "memfd.v2", "a-b_c.d", "9lives",
      "abcdefghijklmnopqrstuvwxyz012345"})
  void acceptsValidNames(String name) {
    assertTrue(Wire.isValidName(name), name);
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "Pipe", "PIPE", "-pipe", ".pipe", "_pipe", "pi pe", "pipe/x",
      "p\u00efpe", "abcdefghijklmnopqrstuvwxyz0123456", "pipe\n", "\npipe", "pi\tpe", "pipe\u0000",
      "pipe\u202e", "pipe!", "pipe:"})
  void rejectsInvalidNames(String name) {
    assertFalse(Wire.isValidName(name), Wire.printable(name));
  }

  @Test
  void rejectsNullName() {
    assertFalse(Wire.isValidName(null));
  }

  @Test
  void printableLeavesOrdinaryTextAlone() {
    assertEquals("plain ascii: 1+1=2 [ok] ~", Wire.printable("plain ascii: 1+1=2 [ok] ~"));
    assertEquals("h\u00e9llo \u2713 \u65e5\u672c \ud83c\udf89",
        Wire.printable("h\u00e9llo \u2713 \u65e5\u672c \ud83c\udf89"));
    assertEquals("", Wire.printable(""));
  }

  @Test
  void printableEscapesControlCharacters() {
    assertEquals("a\\u000ab", Wire.printable("a\nb"));
    assertEquals("a\\u000db", Wire.printable("a\rb"));
    assertEquals("\\t", Wire.printable("\t"));
    assertEquals("\\u0000", Wire.printable("\u0000"));
    assertEquals("\\u001b[31mred", Wire.printable("\u001b[31mred"));
    assertEquals("x\\u007f", Wire.printable("x\u007f"));
    assertEquals("\\u0085\\u009b", Wire.printable("\u0085\u009b"));
    assertEquals("\\u2028\\u2029", Wire.printable("\u2028\u2029"));
  }

  @Test
  void printableEscapesBidiOverridesAndIsolates() {
    assertEquals("evil\\u202egnp.exe", Wire.printable("evil\u202egnp.exe"));
    for (char c : new char[] {'\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066',
        '\u2067', '\u2068', '\u2069'}) {
      assertEquals(String.format("\\u%04x", (int) c), Wire.printable("" + c));
    }
  }

  @Test
  void printableOutputContainsNoControlOrBidiCharacter() {
    StringBuilder all = new StringBuilder();
    for (char c = 0; c < 0x2100; c++) {
      all.append(c);
    }
    String out = Wire.printable(all.toString());
    for (int i = 0; i < out.length(); i++) {
      char c = out.charAt(i);
      boolean bad = Character.getType(c) == Character.CONTROL
          || (c >= '\u202a' && c <= '\u202e') || (c >= '\u2066' && c <= '\u2069')
          || c == '\u2028' || c == '\u2029';
      assertFalse(bad, () -> "unescaped U+" + Integer.toHexString(c));
    }
  }

  // ---------------------------------------------------------------- robustness

  private static void assertEveryPrefixMalformed(String what, byte[] valid, Decoder decoder) {
    for (int len = 0; len < valid.length; len++) {
      byte[] prefix = Arrays.copyOf(valid, len);
      int n = len;
      try {
        decoder.decode(prefix);
        fail(what + " truncated to " + n + " of " + valid.length + " bytes was accepted");
      } catch (ProtocolException e) {
        assertEquals(ErrorCode.MALFORMED_FRAME, e.code(),
            what + " truncated to " + n + " bytes: " + e.getMessage());
      } catch (RuntimeException e) {
        throw new AssertionError(what + " truncated to " + n + " bytes threw " + e, e);
      }
    }
  }

  /** Feeds {@code body} to every decoder; returns how many accepted it. */
  private static int decodeWithEvery(byte[] body, int round) {
    int accepted = 0;
    for (Map.Entry<String, Decoder> d : DECODERS.entrySet()) {
      try {
        d.getValue().decode(body);
        accepted++;
      } catch (ProtocolException e) {
        // expected for nearly all inputs
      } catch (RuntimeException | java.lang.Error e) {
        throw new AssertionError(d.getKey() + " decoder threw " + e + " in round " + round
            + " on " + Arrays.toString(body), e);
      }
    }
    return accepted;
  }

  @Test
  void decodersThrowOnlyProtocolExceptionOnRandomBytes() {
    Random random = new Random(0x5eed_f01dL);
    int accepted = 0;
    for (int round = 0; round < 10_000; round++) {
      byte[] body = new byte[random.nextInt(round % 10 == 0 ? 2048 : 64)];
      random.nextBytes(body);
      if (body.length >= 4 && random.nextBoolean()) {
        ByteBuffer.wrap(body).putInt(Wire.MAGIC); // get past HELLO's magic check now and then
      }
      accepted += decodeWithEvery(body, round);
    }
    // Random bytes almost never form a valid frame body; some short ones do (an empty GOODBYE).
    assertTrue(accepted < 10_000, "accepted " + accepted);
  }

  @Test
  void decodersThrowOnlyProtocolExceptionOnMutatedValidBodies() {
    Random random = new Random(20240611L);
    List<byte[]> valid = new ArrayList<>(validBodies().values());
    for (int round = 0; round < 10_000; round++) {
      byte[] body = valid.get(random.nextInt(valid.size())).clone();
      int mutations = 1 + random.nextInt(3);
      for (int m = 0; m < mutations; m++) {
        switch (random.nextInt(3)) {
          case 0: // flip a byte
            if (body.length > 0) {
              body[random.nextInt(body.length)] = (byte) random.nextInt(256);
            }
            break;
          case 1: // cut
            body = Arrays.copyOf(body, random.nextInt(body.length + 1));
            break;
          default: // extend
            body = Arrays.copyOf(body, body.length + 1 + random.nextInt(4));
            body[body.length - 1] = (byte) random.nextInt(256);
            break;
        }
      }
      decodeWithEvery(body, round);
      assertCanonicalIfAccepted(body, round);
    }
  }

  /** A body a decoder accepts must encode back to the same bytes: one encoding per message. */
  private static void assertCanonicalIfAccepted(byte[] body, int round) {
    try {
      assertArrayEquals(body, Wire.encodeHello(Wire.decodeHello(body)), "HELLO round " + round);
    } catch (ProtocolException expected) {
      // not a HELLO
    }
    try {
      assertArrayEquals(body, Wire.encodeAccept(Wire.decodeAccept(body)), "ACCEPT round " + round);
    } catch (ProtocolException expected) {
      // not an ACCEPT
    }
    try {
      Wire.Goodbye g = Wire.decodeGoodbye(body);
      assertArrayEquals(body, Wire.encodeGoodbye(g.reason(), g.message()),
          "GOODBYE round " + round);
    } catch (ProtocolException expected) {
      // not a GOODBYE
    }
  }

  @Test
  void headerCheckThrowsOnlyProtocolExceptionOnRandomHeaders() {
    Random random = new Random(77L);
    int accepted = 0;
    for (int round = 0; round < 10_000; round++) {
      byte[] header = new byte[Frame.HEADER_SIZE];
      random.nextBytes(header);
      if (random.nextBoolean()) { // make the later checks reachable
        header[0] = 0;
        header[1] = (byte) random.nextInt(2);
        header[4] = (byte) Frame.VERSION;
        header[5] = (byte) random.nextInt(6);
        header[6] = (byte) random.nextInt(10);
        header[7] = random.nextInt(4) == 0 ? header[7] : 0;
      }
      try {
        int len = Wire.bodyLength(header);
        assertTrue(len >= 0 && len <= Frame.MAX_FRAME_SIZE - Frame.HEADER_SIZE, "length " + len);
        accepted++;
      } catch (ProtocolException e) {
        // expected
      } catch (RuntimeException e) {
        throw new AssertionError("bodyLength threw " + e + " on " + Arrays.toString(header), e);
      }
    }
    assertTrue(accepted > 0 && accepted < 10_000, "accepted " + accepted);
  }
}
