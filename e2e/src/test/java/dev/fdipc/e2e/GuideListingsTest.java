package dev.fdipc.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The code listings of {@code docs/writing-a-transport.md} are the example transport's files, word
 * for word: the guide shows code that compiles and passes the conformance suite.
 */
class GuideListingsTest {
  private static final Path GUIDE = Proc.ROOT.resolve("docs/writing-a-transport.md");
  private static final Pattern LISTING = Pattern.compile(
      "<!-- listing: (\\S+) -->\\n```\\w*\\n(.*?)\\n```\\n", Pattern.DOTALL);

  @Test
  void everyListingIsItsFileVerbatim() throws IOException {
    Matcher m = LISTING.matcher(Files.readString(GUIDE));
    List<String> files = new ArrayList<>();
    while (m.find()) {
      Path file = Proc.ROOT.resolve(m.group(1));
      files.add(m.group(1));
      assertEquals(Files.readString(file).stripTrailing(), m.group(2),
          "the listing of " + m.group(1) + " in " + GUIDE + " differs from the file");
    }
    assertTrue(files.contains("examples/transport-fifo/src/main/java/dev/fdipc/examples/fifo/"
        + "FifoTransportProvider.java"), () -> "listings found: " + files);
  }

  @Test
  void readmeLinksTheGuide() throws IOException {
    assertTrue(Files.readString(Proc.ROOT.resolve("README.md"))
        .contains("(docs/writing-a-transport.md)"));
  }
}
