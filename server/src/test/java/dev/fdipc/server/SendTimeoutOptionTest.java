package dev.fdipc.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The durations {@code --send-timeout} takes. */
class SendTimeoutOptionTest {
  @Test
  void acceptsMillisecondsSecondsMinutesAndBareSeconds() {
    assertEquals(Duration.ofMillis(500), ServerMain.duration("--send-timeout", "500ms"));
    assertEquals(Duration.ofSeconds(10), ServerMain.duration("--send-timeout", "10s"));
    assertEquals(Duration.ofMinutes(2), ServerMain.duration("--send-timeout", "2m"));
    assertEquals(Duration.ofSeconds(3), ServerMain.duration("--send-timeout", "3"));
    assertEquals(Duration.ZERO, ServerMain.duration("--send-timeout", "0"));
  }

  @Test
  void rejectsAnythingElseSayingHowToWriteIt() {
    for (String bad : new String[] {"", "-1s", "1.5s", "10 sec", "1h", "9999999999s"}) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> ServerMain.duration("--send-timeout", bad), bad);
      assertTrue(e.getMessage().startsWith("--send-timeout=" + bad + " is not a duration"),
          e.getMessage());
      assertTrue(e.getMessage().contains("such as 500ms, 10s or 2m"), e.getMessage());
    }
  }
}
