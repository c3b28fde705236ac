package dev.fdipc.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** pingpong.c between two real processes, briefly: every kind and mode gives sane figures. */
class CBaselineTest {

  private static Placement placement() {
    List<Integer> cpus = Placement.allowedCpus();
    return cpus.size() >= 2 ? Placement.of(null) : Placement.unpinned("one CPU");
  }

  private interface Run {
    Measurement run() throws IOException;
  }

  /** Skips when other processes of this user hold all of RLIMIT_MSGQUEUE: not this code's fault. */
  private static Measurement unlessQueuesUsedUp(Run run) throws IOException {
    try {
      return run.run();
    } catch (IOException e) {
      assumeFalse(e.getMessage().contains("RLIMIT_MSGQUEUE too small or used up"), e.getMessage());
      throw e;
    }
  }

  @Test
  @Timeout(120)
  void shouldMeasureRoundTripsOverEveryKind() throws IOException {
    assumeTrue(CBaseline.unavailability() == null, "no C baselines: "
        + CBaseline.unavailability());
    for (String name : CBaseline.NAMES) {
      for (int size : List.of(64, 20000)) { // 20000: several mqueue messages and a partial one
        Measurement m = unlessQueuesUsedUp(() -> CBaseline.latency(name, size, 0.05, 0.1,
            placement()));
        assertEquals(name, m.transport());
        assertEquals(Mode.LATENCY, m.mode());
        assertTrue(m.p50Ns() > 0 && m.p50Ns() <= m.p99Ns() && m.p99Ns() <= m.maxNs(),
            name + " " + size + ": " + m);
      }
    }
  }

  @Test
  @Timeout(120)
  void shouldStreamEveryKindAndCountWhatArrived() throws IOException {
    assumeTrue(CBaseline.unavailability() == null, "no C baselines: "
        + CBaseline.unavailability());
    for (String name : CBaseline.NAMES) {
      for (int size : List.of(64, 65536, 1 << 20)) {
        Measurement m = unlessQueuesUsedUp(() -> CBaseline.throughput(name, size, 0.05, 0.1,
            placement()));
        assertEquals(Mode.THROUGHPUT, m.mode());
        assertTrue(m.msgsPerS() > 0 && m.mbPerS() > 0, name + " " + size + ": " + m);
      }
    }
  }

  @Test
  @Timeout(60)
  void shouldFailWithTheProgramsReasonForABadKind() {
    assumeTrue(CBaseline.unavailability() == null, "no C baselines: "
        + CBaseline.unavailability());
    IOException e = org.junit.jupiter.api.Assertions.assertThrows(IOException.class,
        () -> CBaseline.latency("c-carrier-pigeon", 64, 0, 0.01, Placement.unpinned("test")));
    assertTrue(e.getMessage().contains("c-carrier-pigeon: pingpong latency failed: "
        + "pingpong: unknown kind carrier-pigeon"), e.getMessage());
  }
}
