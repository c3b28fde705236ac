package dev.fdipc.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bin/bench scale} and {@code bin/bench churn} as a user runs them, in their own JVM, small:
 * real server command, real client processes, real SIGKILLs.
 */
class ServerCommandRunTest {

  private static String run(List<String> args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"), Bench.class.getName()));
    cmd.addAll(args);
    Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(150, TimeUnit.SECONDS), "bench did not finish");
    assertEquals(0, p.exitValue(), out);
    return out;
  }

  private static long number(String json, String key) {
    Matcher m = Pattern.compile("\"" + key + "\": (-?\\d+)").matcher(json);
    assertTrue(m.find(), key + " in " + json);
    return Long.parseLong(m.group(1));
  }

  @Test
  @Timeout(180)
  void churnKillsVictimsMidMessageAndTheServerComesBackToItsBaseline(@TempDir Path dir)
      throws Exception {
    Path json = dir.resolve("churn.json");
    String out = run(List.of("churn", "--transport=memfd", "--clients=40", "--workers=2",
        "--duration=6", "--kill-every=2", "--rate=40", "--json=" + json));
    String j = Files.readString(json);
    assertTrue(j.contains("\"back_to_baseline\": true"), out + j);
    assertTrue(number(j, "killed") >= 20, j); // two kills at least, of 20 connections each
    assertTrue(number(j, "connections") > 40, j);
    assertEquals(number(j, "server_fds_before"), number(j, "server_fds_after"), j);
    assertEquals(number(j, "server_memfd_maps_before"), number(j, "server_memfd_maps_after"), j);
  }

  @Test
  @Timeout(180)
  void scaleHoldsTheClientsAndGivesTheirFdsBack(@TempDir Path dir) throws Exception {
    Path json = dir.resolve("scale.json");
    run(List.of("scale", "--transport=socketpair", "--clients=50", "--json=" + json));
    String j = Files.readString(json);
    assertEquals(50, number(j, "clients"), j);
    assertEquals(number(j, "server_fds_idle"), number(j, "server_fds_after_close"), j);
    assertTrue(number(j, "server_fds") >= number(j, "server_fds_idle") + 100, j); // 2 per client
  }
}
