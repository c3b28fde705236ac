package dev.fdipc.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The server's conversation rules, without sockets. */
class ConversationTest {
  private static final long SERVER_UID = 1000;
  private static final long OTHER_UID = 1001;
  private static final String NOT_A_NUMBER = "ok: not a number, total unchanged";

  private final Conversation c = new Conversation(SERVER_UID);

  private Conversation.Reply say(String line) {
    return c.onLine(line, SERVER_UID);
  }

  @Test
  @Timeout(10)
  void textIsAcknowledgedOk() {
    Conversation.Reply r = say("hello there");
    assertEquals(NOT_A_NUMBER, r.text());
    assertFalse(r.shutdown());
    assertEquals(0, c.total());
  }

  @Test
  @Timeout(10)
  void emptyLineIsAcknowledgedOk() {
    assertEquals(NOT_A_NUMBER, say("").text());
    assertEquals(0, c.total());
  }

  @Test
  @Timeout(10)
  void integersAddUp() {
    assertEquals("ok: total 5", say("+5").text());
    assertEquals("ok: total 2", say("-3").text());
    assertEquals("ok: total 9", say(" 7 ").text());
    assertEquals(9, c.total());
    assertFalse(say("1").shutdown());
  }

  @Test
  @Timeout(10)
  void integerWithTabsAndNewlineIsTrimmed() {
    assertEquals("ok: total 12", say("\t12\n").text());
    assertEquals(12, c.total());
  }

  @Test
  @Timeout(10)
  void endReportsTheSumAndResets() {
    say("+5");
    say("-3");
    say(" 7 ");
    Conversation.Reply r = say("END");
    assertEquals("sum: 9", r.text());
    assertFalse(r.shutdown());
    assertEquals(0, c.total());
  }

  @Test
  @Timeout(10)
  void secondEndGivesZero() {
    say("40");
    assertEquals("sum: 40", say("END").text());
    assertEquals("sum: 0", say("END").text());
  }

  @Test
  @Timeout(10)
  void totalStartsAgainAfterEnd() {
    say("40");
    say("END");
    assertEquals("ok: total 2", say("2").text());
    assertEquals("sum: 2", say("END").text());
  }

  @Test
  @Timeout(10)
  void endWithSurroundingSpacesIsEnd() {
    say("3");
    assertEquals("sum: 3", say("  END  ").text());
  }

  @Test
  @Timeout(10)
  void integerBeyond64BitsIsRefusedWithoutChangingTheTotal() {
    say("10");
    String big = "9223372036854775808"; // Long.MAX_VALUE + 1
    Conversation.Reply r = say(big);
    assertTrue(r.text().startsWith("error: "), r.text());
    assertTrue(r.text().contains(big), r.text());
    assertTrue(r.text().contains("total 10"), r.text());
    assertFalse(r.shutdown());
    assertEquals(10, c.total());
    Conversation.Reply negative = say("-99999999999999999999999");
    assertTrue(negative.text().startsWith("error: "), negative.text());
    assertEquals(10, c.total());
    assertEquals("sum: 10", say("END").text());
  }

  @Test
  @Timeout(10)
  void overflowOfTheTotalIsRefusedWithoutChangingIt() {
    say(Long.toString(Long.MAX_VALUE));
    Conversation.Reply r = say("1");
    assertTrue(r.text().startsWith("error: "), r.text());
    assertTrue(r.text().contains("overflow"), r.text());
    assertTrue(r.text().contains("total " + Long.MAX_VALUE), r.text());
    assertEquals(Long.MAX_VALUE, c.total());
    assertEquals("ok: total " + (Long.MAX_VALUE - 1), say("-1").text());
  }

  @Test
  @Timeout(10)
  void negativeOverflowOfTheTotalIsRefusedWithoutChangingIt() {
    say(Long.toString(Long.MIN_VALUE));
    Conversation.Reply r = say("-1");
    assertTrue(r.text().startsWith("error: "), r.text());
    assertEquals(Long.MIN_VALUE, c.total());
  }

  @Test
  @Timeout(10)
  void downFromTheServersUidShutsDown() {
    Conversation.Reply r = c.onLine("DOWN", SERVER_UID);
    assertTrue(r.shutdown());
    assertTrue(r.text().startsWith("ok"), r.text());
  }

  @Test
  @Timeout(10)
  void downFromAnotherUidIsRefused() {
    Conversation.Reply r = c.onLine("DOWN", OTHER_UID);
    assertFalse(r.shutdown());
    assertTrue(r.text().startsWith("refused"), r.text());
    assertTrue(r.text().contains("uid " + SERVER_UID), r.text());
    assertTrue(r.text().contains("uid " + OTHER_UID), r.text());
  }

  @Test
  @Timeout(10)
  void downFromRootIsRefusedForAnotherServerUid() {
    Conversation.Reply r = c.onLine("DOWN", 0);
    assertFalse(r.shutdown());
    assertTrue(r.text().contains("uid 0"), r.text());
  }

  @Test
  @Timeout(10)
  void lowerCaseCommandsAreText() {
    say("5");
    Conversation.Reply end = say("end");
    assertEquals(NOT_A_NUMBER, end.text());
    assertEquals(5, c.total(), "lower-case end must not reset the total");
    Conversation.Reply down = c.onLine("down", SERVER_UID);
    assertEquals(NOT_A_NUMBER, down.text());
    assertFalse(down.shutdown());
  }

  @Test
  @Timeout(10)
  void numberFollowedByLettersIsText() {
    assertEquals(NOT_A_NUMBER, say("5x").text());
    assertEquals(0, c.total());
  }

  @Test
  @Timeout(10)
  void otherAlmostIntegersAreText() {
    for (String s : new String[] {"+", "-", "1.5", "1e3", "0x10", "+-1", "1 2", "5 x"}) {
      assertEquals(NOT_A_NUMBER, say(s).text(), s);
    }
    assertEquals(0, c.total());
  }

  @Test
  @Timeout(10)
  void shouldCutEchoedInputSoThatTheReplyToAMaximalLineFits() {
    String digits = "9".repeat(1 << 20); // 1 MiB of digits: an integer too large for 64 bits
    Conversation.Reply r = say(digits);
    assertTrue(r.text().startsWith("error: 9999"), r.text());
    assertTrue(r.text().contains("… (1048576 bytes)"), r.text());
    assertTrue(r.text().length() < 200, r.text());
    assertEquals(0, c.total());
  }
}
