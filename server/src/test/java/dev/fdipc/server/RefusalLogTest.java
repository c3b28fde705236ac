package dev.fdipc.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fdipc.PeerCredentials;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The server log's rate limit on refusals and its cut of long client text. */
@Timeout(10)
class RefusalLogTest {
  private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
  private final PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
  private long now;
  private final RefusalLog log = new RefusalLog(out, () -> now);
  private final PeerCredentials peer = new PeerCredentials(42, 1000, 1000);

  private List<String> lines() {
    return bytes.toString(StandardCharsets.UTF_8).lines().toList();
  }

  @Test
  void shouldShowABurstThenSummarizeTheRestByReason() {
    for (int i = 0; i < 400; i++) {
      log.refused(peer, i % 4 == 0 ? "new connection refused (ACCESS_DENIED): uid 1000"
          : "new connection refused (BUSY): too many");
    }
    assertEquals(RefusalLog.BURST, lines().size(), lines().toString());
    log.flushIfDue();
    assertEquals(RefusalLog.BURST, lines().size(), "no summary before the window is over");
    now += TimeUnit.SECONDS.toNanos(RefusalLog.WINDOW_SECONDS);
    log.flushIfDue();
    List<String> l = lines();
    assertEquals(RefusalLog.BURST + 1, l.size(), l.toString());
    // 400 refusals: 100 ACCESS_DENIED, 300 BUSY; the first five (2 ACCESS_DENIED) were shown.
    assertEquals("refused: 395 more refusals (ACCESS_DENIED: 98, BUSY: 297) in the last 10 s",
        l.get(RefusalLog.BURST));
    log.refused(peer, "handshake failed: x");
    assertTrue(lines().get(RefusalLog.BURST + 1).startsWith("refused: handshake failed: x (pid 42"),
        lines().toString());
  }

  @Test
  void shouldPrintNoSummaryWhenNothingWasSuppressed() {
    log.refused(null, "handshake failed: x");
    now += TimeUnit.SECONDS.toNanos(60);
    log.flushIfDue();
    log.flush();
    assertEquals(List.of("refused: handshake failed: x"), lines());
  }

  @Test
  void shouldCutLongTextWithItsSize() {
    String cut = LogText.cut("y".repeat(1_000_000), 1_000_000);
    assertEquals("y".repeat(LogText.MAX) + "… (1000000 bytes)", cut);
    assertEquals("short", LogText.cut("short", 5));
  }

  @Test
  void shouldFitAReplyIntoTheAgreedMaximumWithoutSplittingACharacter() {
    byte[] reply = "ok: é".getBytes(StandardCharsets.UTF_8); // é is two bytes
    assertEquals("ok: ", new String(ConversationHandler.fit(reply, 5), StandardCharsets.UTF_8));
    assertEquals(reply.length, ConversationHandler.fit(reply, reply.length).length);
    assertEquals(1, ConversationHandler.fit(reply, 1).length);
  }
}
