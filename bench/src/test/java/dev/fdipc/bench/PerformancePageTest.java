package dev.fdipc.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PerformancePageTest {
  private static final Path DOCS = root().resolve("docs");

  @TempDir
  Path dir;

  private static Path root() {
    Path p = Path.of("").toAbsolutePath();
    while (p != null && !Files.exists(p.resolve("PROTOCOL.md"))) {
      p = p.getParent();
    }
    if (p == null) {
      throw new IllegalStateException("not inside the fdipc repository: " + Path.of("")
          .toAbsolutePath());
    }
    return p;
  }

  @Test
  void shouldRenderEveryFigureOfTheCheckedInJson() throws IOException {
    String json = Files.readString(DOCS.resolve("bench.json"));
    List<Map<String, Object>> rows = PerformancePage.Json.parseArray(json);
    String md = PerformancePage.render(json, new PerformancePage.Run("bench.json",
        "a test machine", "2026-11-21 08:53 UTC", "bin/bench --json=docs/bench.json"));

    assertTrue(md.startsWith("Measured on a test machine, 2026-11-21 08:53 UTC, with "
        + "`bin/bench --json=docs/bench.json`. Placement: client side pinned to CPU 0, server "
        + "side to CPU 1 (`--cpus=0,1`). Raw figures: [bench.json](bench.json).\n"), md);
    long tableRows = md.lines().filter(l -> l.startsWith("| ") && !l.startsWith("| transport")
        && !l.startsWith("| ratio") && !l.startsWith("| ---")).count();
    long ratioRows = md.lines().filter(l -> l.endsWith("| met |") || l.endsWith("| not met |"))
        .count();
    assertEquals(rows.size(), tableRows - ratioRows, md);
    assertTrue(md.contains("| memfd | 64 B | 1 | 0.22 | 0.25 | 0.31 | 0.65 | 4073.47 |"), md);
    assertTrue(md.contains("| memfd | 1 MiB | 1 | 12,721 | 13339.2 |"), md);
    assertTrue(md.contains("| aeron-ipc | 1 | 16171.01 |"), md);
    assertTrue(md.contains("| memfd:wait=spin | 1 | 1.00 | 4584 | 99.698 |"), md);
    assertTrue(md.contains("| memfd p50 / C spinning ring p50 | 1.83 | ≤ 2 | met |"), md);
  }

  @Test
  void shouldKeepTheCheckedInPageEqualToWhatItsJsonRendersTo() throws IOException {
    String page = Files.readString(DOCS.resolve("performance.md"));
    assertTrue(page.contains("<!-- BEGIN generated from bench.json -->"), "no generated section");
    assertEquals(PerformancePage.regenerate(page, DOCS), page,
        "docs/performance.md differs from what its JSON files render to; regenerate it with "
            + "PerformancePage (see its Javadoc) instead of editing the figures by hand");
  }

  @Test
  void shouldReplaceOnlyTheGeneratedPartAndKeepWhereTheFiguresComeFrom() throws IOException {
    Files.writeString(dir.resolve("run.json"), "[{\"transport\": \"pipe\", \"mode\": "
        + "\"throughput\", \"size\": 4096, \"clients\": 10, \"cpus\": \"none\", "
        + "\"msgs_per_s\": 1000000, \"mb_per_s\": null}]\n");
    String page = "# Intro, by hand\n\n<!-- BEGIN generated from run.json -->\n"
        + "<!-- machine: box -->\n<!-- date: today -->\nstale figures\n"
        + "<!-- END generated from run.json -->\n\nOutro, by hand.\n";

    String out = PerformancePage.regenerate(page, dir);

    assertEquals("# Intro, by hand\n\n<!-- BEGIN generated from run.json -->\n"
        + "<!-- machine: box -->\n<!-- date: today -->\n"
        + "Measured on box, today. Placement: left to the scheduler (`--cpus=none`). "
        + "Raw figures: [run.json](run.json).\n\n"
        + "**One-way stream (throughput)**\n\n"
        + "| transport | size | clients | msgs/s | MB/s |\n"
        + "| --- | ---: | ---: | ---: | ---: |\n"
        + "| pipe | 4 KiB | 10 | 1,000,000 | – |\n\n"
        + "<!-- END generated from run.json -->\n\nOutro, by hand.\n", out);
    assertEquals(out, PerformancePage.regenerate(out, dir), "regenerating twice changes nothing");
  }

  @Test
  void shouldReadWhatJsonWriterWrites() {
    Measurement m = new Measurement("a\"b", Mode.LATENCY, 64, 1, 120, 130, 500, 900, 2000,
        Double.NaN, Double.NaN, Map.of());
    List<Map<String, Object>> rows = PerformancePage.Json.parseArray(
        JsonWriter.write(List.of(m), "0,1"));
    assertEquals(1, rows.size());
    assertEquals("a\"b", rows.get(0).get("transport"));
    assertEquals(120.0, rows.get(0).get("p50_ns"));
    assertEquals("0,1", rows.get(0).get("cpus"));
    assertEquals(List.of(), PerformancePage.Json.parseArray("[]\n"));
  }

  @Test
  void shouldRejectJsonItCannotRead() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> PerformancePage.Json.parseArray("[{\"size\": x}]"));
    assertTrue(e.getMessage().contains("offset 10"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> PerformancePage.Json.parseArray("[] []"));
  }
}
