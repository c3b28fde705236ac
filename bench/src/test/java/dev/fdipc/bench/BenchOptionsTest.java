package dev.fdipc.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class BenchOptionsTest {

  private static Config parse(String... args) {
    Bench bench = new Bench();
    new CommandLine(bench).parseArgs(args);
    return bench.config();
  }

  @Test
  void shouldMeasureEverythingByDefault() {
    Config c = parse();
    assertNull(c.transports());
    assertEquals(EnumSet.allOf(Mode.class), EnumSet.copyOf(c.modes()));
    assertEquals(List.of(64, 4096, 65536), c.latencySizes());
    assertEquals(List.of(64, 4096, 65536, 1 << 20), c.throughputSizes());
    assertEquals(List.of(1), c.clients());
    assertTrue(c.durationSeconds() + c.warmupSeconds() <= 2);
  }

  @Test
  void shouldParseEveryOption() {
    Config c = parse("--transport=memfd:wait=spin,pipe", "--sizes=64,1024", "--mode=latency",
        "--duration=3", "--warmup=0", "--clients=1,10,100", "--json=out.json",
        "--report=chart.svg");
    assertEquals(List.of("memfd:wait=spin", "pipe"), c.transports());
    assertEquals(List.of(64, 1024), c.latencySizes());
    assertEquals(List.of(64, 1024), c.throughputSizes());
    assertEquals(EnumSet.of(Mode.LATENCY), EnumSet.copyOf(c.modes()));
    assertEquals(3, c.durationSeconds());
    assertEquals(List.of(1, 10, 100), c.clients());
    assertEquals(Path.of("out.json"), c.json());
    assertEquals(Path.of("chart.svg"), c.report());
  }

  @Test
  void shouldRejectBadValuesWithTheOptionsName() {
    assertTrue(assertThrows(IllegalArgumentException.class, () -> parse("--mode=fast"))
        .getMessage().contains("unknown mode 'fast'"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> parse("--sizes=4"))
        .getMessage().startsWith("--sizes"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> parse("--clients=0"))
        .getMessage().startsWith("--clients"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> parse("--report=x.pdf"))
        .getMessage().startsWith("--report"));
  }

  @Test
  void shouldTurnTransportSuffixesIntoOptionsForBothSides() {
    assertEquals(Map.of("memfd.wait", "spin", "memfd.spin-micros", "5"),
        Bench.options("memfd:wait=spin:spin-micros=5"));
    assertEquals(Map.of(), Bench.options("pipe"));
    assertThrows(IllegalArgumentException.class, () -> Bench.options("memfd:spin"));
  }

  @Test
  void shouldMeasureEachCBaselineRightAfterItsTransport() {
    assumeTrue(CBaseline.unavailability() == null, "no C compiler: "
        + CBaseline.unavailability());
    List<String> configs = Bench.defaultTransports();
    for (String name : List.of("memfd:wait=spin", "socketpair", "pipe", "mqueue")) {
      if (configs.contains(name)) {
        String c = name.startsWith("memfd") ? "c-spin-ring" : "c-" + name;
        assertEquals(configs.indexOf(name) + 1, configs.indexOf(c), configs.toString());
      }
    }
    assertTrue(configs.containsAll(List.of("junixsocket-uds", "aeron-ipc")), configs.toString());
  }

  @Test
  void shouldPrintAVersion() {
    java.io.StringWriter out = new java.io.StringWriter();
    CommandLine cl = new CommandLine(new Bench());
    cl.setOut(new java.io.PrintWriter(out, true));
    assertEquals(0, cl.execute("--version"));
    assertTrue(out.toString().startsWith("fdipc bench "), out.toString());
  }
}
