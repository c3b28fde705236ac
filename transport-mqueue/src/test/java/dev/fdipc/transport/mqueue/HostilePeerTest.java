package dev.fdipc.transport.mqueue;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.jna.Native;
import com.sun.jna.Pointer;
import dev.fdipc.BufferTooSmallException;
import dev.fdipc.ErrorCode;
import dev.fdipc.IpcTimeoutException;
import dev.fdipc.ProtocolException;
import dev.fdipc.spi.Fd;
import dev.fdipc.spi.ServerEnd;
import dev.fdipc.spi.TransportChannel;
import dev.fdipc.spi.TransportSettings;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A peer that writes whatever it likes into the queue: the server's channel, fed raw kernel
 * messages through the client's descriptor, must fail with a clear {@link ProtocolException} and
 * allocate nothing from a length it has not checked.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS,
    threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class HostilePeerTest {
  private static final int MAX = 1 << 20;
  private static final int FIRST = MqueueChannel.FIRST;
  private static final int LAST = MqueueChannel.LAST;

  private ServerEnd end;
  private TransportChannel server;
  /** The client's write-only descriptor of the client-to-server queue. */
  private int toServer;

  @BeforeEach
  void open() throws IOException {
    end = new MqueueTransportProvider().createServer(TransportSettings.of(MAX));
    server = end.channel();
    toServer = end.clientFds().get(1).intValue();
  }

  @AfterEach
  void close() throws IOException {
    server.close();
    Fd.closeAll(end.clientFds());
  }

  /** Sends one raw kernel message: the header fields as given, then {@code payload} bytes. */
  private void inject(int flags, int reserved, int index, long total, int payload) {
    ByteBuffer b = ByteBuffer.allocateDirect(MqueueChannel.HEADER + payload);
    b.put((byte) flags).put((byte) reserved).putShort((short) index).putInt((int) total);
    injectRaw(b, MqueueChannel.HEADER + payload);
  }

  private void injectRaw(ByteBuffer direct, int length) {
    long address = Pointer.nativeValue(Native.getDirectBufferPointer(direct));
    assertEquals(0, MqNative.mq_timedsend(toServer, address, length, 0, 0),
        () -> "mq_timedsend: errno " + MqNative.errno());
  }

  private ProtocolException assertViolation(String expected) {
    ProtocolException e = assertThrows(ProtocolException.class,
        () -> server.receive(ByteBuffer.allocate(MAX), 5, TimeUnit.SECONDS));
    assertEquals(ErrorCode.MALFORMED_FRAME, e.code());
    assertTrue(e.getMessage().startsWith("mqueue: the peer sent "), e.getMessage());
    assertTrue(e.getMessage().contains(expected), e.getMessage());
    ProtocolException again = assertThrows(ProtocolException.class, () -> server.receive());
    assertSame(e, again, "the failure is sticky: the channel never reads that queue again");
    return e;
  }

  @Test
  void shouldRejectAFragmentShorterThanTheHeader() {
    injectRaw(ByteBuffer.allocateDirect(3), 3);
    assertViolation("a fragment of 3 bytes, shorter than the 8-byte header");
  }

  @Test
  void shouldRejectAnEmptyKernelMessage() {
    injectRaw(ByteBuffer.allocateDirect(1), 0);
    assertViolation("a fragment of 0 bytes");
  }

  @Test
  void shouldRejectUnknownFlags() {
    inject(FIRST | LAST | 0x80, 0, 0, 1, 1);
    assertViolation("flags=0x83");
  }

  @Test
  void shouldRejectANonZeroReservedByte() {
    inject(FIRST | LAST, 7, 0, 1, 1);
    assertViolation("reserved=7");
  }

  @Test
  void shouldRejectALengthBeyondTheMaximumWithoutAllocatingIt() {
    inject(FIRST, 0, 0, 0xffff_ffffL, 100);
    assertViolation("a message of 4294967295 bytes, over maxMessageSize=" + MAX);
  }

  @Test
  void shouldRejectMaximumPlusOne() {
    inject(FIRST, 0, 0, MAX + 1, 100);
    assertViolation("a message of " + (MAX + 1) + " bytes, over maxMessageSize=" + MAX);
  }

  @Test
  void shouldRejectAContinuationWithoutAFirstFragment() {
    inject(LAST, 0, 1, 10, 10);
    assertViolation("fragment 1 of a message that never began");
  }

  @Test
  void shouldRejectAFirstFragmentWithANonZeroIndex() {
    inject(FIRST | LAST, 0, 3, 10, 10);
    assertViolation("fragment 3 of a message that never began");
  }

  @Test
  void shouldRejectAFragmentOutOfSequence() {
    inject(FIRST, 0, 0, 30, 10);
    inject(0, 0, 2, 30, 10);
    assertViolation("fragment 2 where fragment 1 was due");
  }

  @Test
  void shouldRejectANewMessageBeforeThePreviousOneEnded() {
    inject(FIRST, 0, 0, 30, 10);
    inject(FIRST | LAST, 0, 0, 5, 5);
    assertViolation("a new message before the previous one ended (10 of 30 bytes received)");
  }

  @Test
  void shouldRejectATotalThatChangesInTheMiddle() {
    inject(FIRST, 0, 0, 30, 10);
    inject(0, 0, 1, 40, 10);
    assertViolation("announcing a message of 40 bytes in the middle of one of 30");
  }

  @Test
  void shouldRejectMorePayloadThanAnnounced() {
    inject(FIRST | LAST, 0, 0, 5, 10);
    assertViolation("a fragment that ends at byte 10 of a message of 5 bytes");
  }

  @Test
  void shouldRejectALastFlagBeforeTheEnd() {
    inject(FIRST | LAST, 0, 0, 30, 10);
    assertViolation("a LAST fragment at byte 10 of a message of 30 bytes");
  }

  @Test
  void shouldRejectACompleteMessageWithoutTheLastFlag() {
    inject(FIRST, 0, 0, 30, 10);
    inject(0, 0, 1, 30, 20);
    assertViolation("completes the message of 30 bytes without the LAST flag");
  }

  @Test
  void shouldRejectAnEmptyFragmentInTheMiddle() {
    inject(FIRST, 0, 0, 30, 10);
    inject(0, 0, 1, 30, 0);
    assertViolation("an empty fragment in the middle of a message");
  }

  @Test
  void shouldAcceptWellFormedFragmentsOfAnySizeTheQueueAllows() throws IOException {
    inject(FIRST, 0, 0, 6, 1);
    inject(0, 0, 1, 6, 2);
    inject(LAST, 0, 2, 6, 3);
    assertEquals(6, server.receive().length);
  }

  @Test
  void shouldKeepAPartlyReceivedMessageAcrossATimeoutAndABufferTooSmall() throws IOException {
    inject(FIRST, 0, 0, 30, 10);
    inject(0, 0, 1, 30, 10);
    assertThrows(IpcTimeoutException.class,
        () -> server.receive(ByteBuffer.allocate(100), 50, TimeUnit.MILLISECONDS));
    BufferTooSmallException e = assertThrows(BufferTooSmallException.class,
        () -> server.receive(ByteBuffer.allocate(29)));
    assertEquals(30, e.messageSize());
    inject(LAST, 0, 2, 30, 10);
    ByteBuffer dst = ByteBuffer.allocate(64);
    dst.position(5);
    assertEquals(30, server.receive(dst));
    assertEquals(35, dst.position());
    assertArrayEquals(new byte[30], java.util.Arrays.copyOfRange(dst.array(), 5, 35));
  }

  @Test
  void shouldDropAMessageThePeerNeverFinishedAndReportEndOfStream() throws IOException {
    inject(FIRST | LAST, 0, 0, 2, 2);
    inject(FIRST, 0, 0, MAX, 100); // announces 1 MiB, sends 100 bytes, then goes
    Fd.closeAll(end.clientFds());
    assertEquals(2, server.receive(5, TimeUnit.SECONDS).length);
    assertNull(server.receive(5, TimeUnit.SECONDS));
    assertNull(server.receive(5, TimeUnit.SECONDS));
  }
}
