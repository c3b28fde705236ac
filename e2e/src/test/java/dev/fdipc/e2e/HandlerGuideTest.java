package dev.fdipc.e2e;

import static java.nio.charset.StandardCharsets.UTF_8;
import static java.util.concurrent.TimeUnit.SECONDS;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import dev.fdipc.FdipcClient;
import dev.fdipc.FdipcServer;
import dev.fdipc.IpcChannel;
import dev.fdipc.e2e.guide.BlockingEcho;
import dev.fdipc.e2e.guide.EventEcho;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The handler guide's two examples are these files word for word, they compile with the build,
 * and they serve real clients over every built-in transport.
 */
@Timeout(60)
class HandlerGuideTest {
  private static final Path GUIDE = Proc.ROOT.resolve("docs/handler-guide.md");
  private static final Pattern LISTING = Pattern.compile(
      "<!-- listing: (\\S+) -->\\n```\\w*\\n(.*?)\\n```\\n", Pattern.DOTALL);

  @TempDir
  Path dir;

  @Test
  void everyListingIsItsFileVerbatim() throws IOException {
    Matcher m = LISTING.matcher(Files.readString(GUIDE));
    List<String> files = new ArrayList<>();
    while (m.find()) {
      files.add(m.group(1));
      assertEquals(Files.readString(Proc.ROOT.resolve(m.group(1))).stripTrailing(), m.group(2),
          "the listing of " + m.group(1) + " in " + GUIDE + " differs from the file");
    }
    assertEquals(List.of("e2e/src/test/java/dev/fdipc/e2e/guide/BlockingEcho.java",
        "e2e/src/test/java/dev/fdipc/e2e/guide/EventEcho.java"), files);
  }

  @ParameterizedTest
  @ValueSource(strings = {"pipe", "socketpair", "memfd", "mqueue"})
  void bothExamplesEchoEveryMessage(String transport) throws Exception {
    try (FdipcServer blocking = BlockingEcho.start(dir.resolve("b.sock"))) {
      echo(dir.resolve("b.sock"), transport);
    }
    try (FdipcServer events = EventEcho.start(dir.resolve("e.sock"))) {
      echo(dir.resolve("e.sock"), transport);
    }
  }

  /**
   * Batches of 5 messages in flight, then a large one alone: more in flight than both directions'
   * kernel buffers hold deadlocks any echo (mqueue holds 10 messages a direction; PROTOCOL.md §10.5).
   */
  private static void echo(Path socket, String transport) throws IOException {
    try (IpcChannel ch = FdipcClient.builder().socket(socket).transports(transport).connect()) {
      for (int batch = 0; batch < 40; batch++) {
        for (int i = 0; i < 5; i++) {
          ch.send(("m" + batch + "." + i).getBytes(UTF_8));
        }
        for (int i = 0; i < 5; i++) {
          byte[] back = ch.receive(10, SECONDS);
          assertNotNull(back, "end of stream at " + batch + "." + i);
          assertEquals("m" + batch + "." + i, new String(back, UTF_8));
        }
      }
      byte[] big = new byte[256 * 1024];
      big[big.length - 1] = 7;
      ch.send(big);
      assertArrayEquals(big, ch.receive(10, SECONDS));
    }
  }
}
