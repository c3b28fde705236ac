package dev.fdipc.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The bench as a user runs it, in its own JVM (it pins itself, which must not happen to the test
 * JVM): a short run of a transport and its C baseline, pinned and unpinned.
 */
class BenchRunTest {

  private static String run(Path json, String transports, String cpus) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"), Bench.class.getName(),
        "--transport=" + transports, "--sizes=64", "--mode=latency,throughput",
        "--warmup=0", "--duration=0.1", "--json=" + json, "--cpus=" + cpus));
    Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(90, TimeUnit.SECONDS), "bench did not finish");
    assertEquals(0, p.exitValue(), out);
    return out;
  }

  @Test
  @Timeout(120)
  void shouldPinBothSidesAndSayWhereInTheTableAndTheJson(@TempDir Path dir) throws Exception {
    assumeTrue(CBaseline.unavailability() == null, "no C baselines: "
        + CBaseline.unavailability());
    List<Integer> cpus = Placement.allowedCpus();
    assumeTrue(cpus.size() >= 2, "needs 2 CPUs, this process may use " + cpus);
    Path json = dir.resolve("out.json");
    String pair = cpus.get(1) + "," + cpus.get(0); // not the default order: the option is used
    String out = run(json, "pipe,c-pipe", pair);
    assertTrue(out.startsWith("placement: client side on CPU " + cpus.get(1)
        + ", server side on CPU " + cpus.get(0)), out);
    String j = Files.readString(json);
    for (String key : List.of("\"transport\": \"pipe\", \"mode\": \"latency\"",
        "\"transport\": \"pipe\", \"mode\": \"throughput\"",
        "\"transport\": \"c-pipe\", \"mode\": \"latency\"",
        "\"transport\": \"c-pipe\", \"mode\": \"throughput\"")) {
      assertTrue(j.contains(key), key + " in " + j);
    }
    assertEquals(4, j.split("\"cpus\": \"" + pair + "\"", -1).length - 1, j);
    assertTrue(out.contains("pipe p50 / C pipe ("), out);
  }

  @Test
  @Timeout(120)
  void shouldRunUnpinnedOnRequest(@TempDir Path dir) throws Exception {
    Path json = dir.resolve("out.json");
    String out = run(json, "pipe", "none");
    assertTrue(out.startsWith("placement: not pinned (--cpus=none)"), out);
    assertTrue(Files.readString(json).contains("\"cpus\": \"none\""));
  }
}
