package dev.fdipc.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class JsonWriterTest {

  @Test
  void shouldEscapeQuotesBackslashesAndControlCharacters() {
    assertEquals("\"a\\\"b\\\\c\\nd\\te\\u0001\\u2028\"",
        JsonWriter.string("a\"b\\c\nd\te\u0001\u2028"));
    assertEquals("\"memfd:wait=spin µs\"", JsonWriter.string("memfd:wait=spin µs"));
  }

  @Test
  void shouldWriteOnlyTheFiguresThatApplyToEachMode() {
    Measurement latency = new Measurement("memfd", Mode.LATENCY, 64, 1, 120, 130, 500, 900, 2000,
        Double.NaN, Double.NaN, Map.of());
    Measurement throughput = Measurement.ofRate("pipe", 4096, 10, 2_000_000, 2_000_000_000L);
    String json = JsonWriter.write(List.of(latency, throughput), "0,1");
    String[] lines = json.split("\n");
    assertEquals("[", lines[0]);
    assertEquals("  {\"transport\": \"memfd\", \"mode\": \"latency\", \"size\": 64, "
        + "\"clients\": 1, \"cpus\": \"0,1\", \"p50_ns\": 120, \"p90_ns\": 130, "
        + "\"p99_ns\": 500, \"p999_ns\": 900, \"max_ns\": 2000},", lines[1]);
    assertEquals("  {\"transport\": \"pipe\", \"mode\": \"throughput\", \"size\": 4096, "
        + "\"clients\": 10, \"cpus\": \"0,1\", \"msgs_per_s\": 1000000, \"mb_per_s\": 4096}",
        lines[2]);
    assertEquals("]", lines[3]);
  }

  @Test
  void shouldKeepTheIdleFiguresInOrder() {
    Measurement idle = Measurement.ofIdle("memfd", 100, new java.util.LinkedHashMap<>(Map.of(
        "server_threads_per_client", 2.0)));
    String json = JsonWriter.write(List.of(idle), "none");
    assertTrue(json.contains("\"mode\": \"idle\", \"size\": 0, \"clients\": 100, "
        + "\"cpus\": \"none\", \"server_threads_per_client\": 2}"), json);
    assertFalse(json.contains("p50_ns"), json);
  }

  @Test
  void shouldWriteNullForNumbersJsonCannotHold() {
    assertEquals("null", JsonWriter.number(Double.NaN));
    assertEquals("null", JsonWriter.number(Double.POSITIVE_INFINITY));
    assertEquals("1.500", JsonWriter.number(1.5));
  }

  @Test
  void shouldWriteAnEmptyArray() {
    assertEquals("[]\n", JsonWriter.write(List.of(), "none"));
  }
}
