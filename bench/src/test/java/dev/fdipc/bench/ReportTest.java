package dev.fdipc.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;

class ReportTest {
  private static final List<Measurement> RESULTS = List.of(
      new Measurement("memfd", Mode.LATENCY, 64, 1, 230, 280, 360, 730, 35_000, Double.NaN,
          Double.NaN, Map.of()),
      new Measurement("a<b&\"c\"", Mode.LATENCY, 64, 1, 47_000, 51_000, 70_000, 115_000,
          2_000_000, Double.NaN, Double.NaN, Map.of()),
      Measurement.ofRate("memfd", 64, 1, 15_000_000, 1_000_000_000L),
      Measurement.ofRate("memfd", 1 << 20, 1, 12_000, 1_000_000_000L),
      Measurement.ofRate("a<b&\"c\"", 64, 1, 800_000, 1_000_000_000L));

  @Test
  void shouldWriteWellFormedSvgWithOneBarPerFigureAndEscapedNames() throws Exception {
    String svg = Report.svg(RESULTS);
    Document doc = DocumentBuilderFactory.newInstance().newDocumentBuilder()
        .parse(new ByteArrayInputStream(svg.getBytes(StandardCharsets.UTF_8)));
    assertEquals("svg", doc.getDocumentElement().getTagName());
    // 2 transports x 4 percentiles, then 3 throughput figures; plus background and legend boxes
    long bars = doc.getElementsByTagName("title").getLength();
    assertEquals(2 * 4 + 3, bars);
    assertTrue(svg.contains("a&lt;b&amp;&quot;c&quot;"), svg);
    assertTrue(svg.contains(">1 MiB<"), svg);
  }

  @Test
  void shouldWrapTheChartAndTheTableInHtml() {
    String html = Report.write(Path.of("r.html"), RESULTS, "a <table>");
    assertTrue(html.startsWith("<!DOCTYPE html>"), html);
    assertTrue(html.contains("<svg"), html);
    assertTrue(html.contains("<pre>a &lt;table&gt;</pre>"), html);
  }
}
