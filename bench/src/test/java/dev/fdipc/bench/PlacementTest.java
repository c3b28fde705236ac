package dev.fdipc.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

class PlacementTest {

  @Test
  void shouldReadKernelCpuLists() {
    assertEquals(List.of(0, 1, 2, 4), Placement.parseList("0-2,4"));
    assertEquals(List.of(3), Placement.parseList("3"));
  }

  @Test
  void shouldPinTheTwoSidesToTheFirstTwoCpusByDefault() {
    List<Integer> allowed = Placement.allowedCpus();
    assumeTrue(allowed.size() >= 2, "needs 2 CPUs, this process may use " + allowed);
    Placement p = Placement.of(null);
    assertTrue(p.pinned(), p.describe());
    assertEquals(allowed.get(0), p.clientCpu());
    assertEquals(allowed.get(1), p.serverCpu());
    assertEquals(allowed.get(0) + "," + allowed.get(1), p.id());
  }

  @Test
  void shouldRunUnpinnedWhenAskedAndSaySo() {
    Placement p = Placement.of("none");
    assertFalse(p.pinned());
    assertEquals("none", p.id());
    assertEquals(List.of(), p.serverPrefix());
    assertTrue(p.describe().contains("not pinned (--cpus=none)"), p.describe());
  }

  @Test
  void shouldRejectMalformedOrForeignCpus() {
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Placement.of("0"))
        .getMessage().contains("give two CPU numbers"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Placement.of("0,x"))
        .getMessage().contains("'x' is not a CPU number"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Placement.of("0,4096"))
        .getMessage().contains("CPU 4096 is not one this process may run on"));
  }

  @Test
  @Timeout(60)
  void shouldStartTheServerSideOnItsCpu() throws Exception {
    List<Integer> allowed = Placement.allowedCpus();
    assumeTrue(allowed.size() >= 2, "needs 2 CPUs, this process may use " + allowed);
    Placement p = Placement.of(allowed.get(0) + "," + allowed.get(1));
    List<String> cmd = new ArrayList<>(p.serverPrefix());
    cmd.addAll(List.of("grep", "Cpus_allowed_list", "/proc/self/status"));
    Process proc = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(proc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(proc.waitFor(30, TimeUnit.SECONDS));
    assertEquals(0, proc.exitValue(), out);
    assertEquals("Cpus_allowed_list:\t" + allowed.get(1), out.strip());
  }
}
