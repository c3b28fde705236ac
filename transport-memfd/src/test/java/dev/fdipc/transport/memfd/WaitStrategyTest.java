package dev.fdipc.transport.memfd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fdipc.IpcTimeoutException;
import dev.fdipc.spi.TransportSettings;
import dev.fdipc.testkit.ChildProcess;
import dev.fdipc.testkit.Loopback;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Each wait strategy carries messages, wakes on the peer's death, and costs what it says. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class WaitStrategyTest {
  private static Map<String, String> waiting(WaitStrategy w) {
    return Map.of(MemfdTransportProvider.WAIT, w.alias(), MemfdTransportProvider.RING_SIZE,
        "8192");
  }

  @ParameterizedTest
  @EnumSource(WaitStrategy.class)
  void carriesMessagesBothWaysThroughASmallRing(WaitStrategy strategy) throws Exception {
    ExecutorService echo = Executors.newSingleThreadExecutor();
    try (Loopback loopback = new Loopback(new MemfdTransportProvider(), 1 << 20,
        waiting(strategy)); Loopback.Pair pair = loopback.connect()) {
      Future<?> echoing = echo.submit(() -> {
        byte[] m;
        while ((m = pair.server().receive()) != null) {
          pair.server().send(m);
        }
        return null;
      });
      // Sizes cross the 8 KiB ring's record limit (2040 bytes), so most messages are fragmented
      // and the ring fills: both sides wait for space and for data with this strategy.
      for (int i = 0; i < 500; i++) {
        byte[] m = new byte[(i * 97) % 20_000];
        Arrays.fill(m, (byte) i);
        pair.client().send(m);
        assertArrayEquals(m, pair.client().receive(10, TimeUnit.SECONDS), "message " + i);
      }
      pair.client().close();
      echoing.get(10, TimeUnit.SECONDS);
    } finally {
      echo.shutdownNow();
    }
  }

  @ParameterizedTest
  @EnumSource(WaitStrategy.class)
  void blockedReceiverSeesThePeersDeathAsEndOfStream(WaitStrategy strategy) throws Exception {
    try (Loopback loopback = new Loopback(new MemfdTransportProvider(), 1 << 20,
        waiting(strategy))) {
      Process child = ChildProcess.start("client", loopback.socket(), MemfdTransportProvider.NAME);
      try (Loopback.Pair pair = loopback.nextSession(null, Duration.ofSeconds(30))) {
        assertEquals("hello", new String(pair.server().receive(10, TimeUnit.SECONDS)));
        child.destroyForcibly();
        assertTrue(child.waitFor(10, TimeUnit.SECONDS));
        long start = System.nanoTime();
        // Death is learnt from the control connection; 5 s is a bound that cannot be confused
        // with a hang, not a speed requirement.
        assertNull(pair.server().receive(5, TimeUnit.SECONDS));
        System.out.printf("%s: end of stream %.1f ms after the child died%n", strategy.alias(),
            (System.nanoTime() - start) / 1e6);
      } finally {
        child.destroyForcibly();
      }
    }
  }

  @Test
  void idleReceiverBurnsNoCpuWithTheDefaultButDoesWhenSpinning() throws Exception {
    long parked = cpuWhileIdle(WaitStrategy.SPIN_THEN_PARK);
    long spinning = cpuWhileIdle(WaitStrategy.SPIN);
    System.out.printf("CPU over 500 ms idle: spin-park %.1f ms, spin %.1f ms%n", parked / 1e6,
        spinning / 1e6);
    assertTrue(parked < TimeUnit.MILLISECONDS.toNanos(50),
        "spin-park used " + parked / 1e6 + " ms of CPU in 500 ms of idle waiting");
    // The contrast shows the measurement can see a spinning waiter.
    assertTrue(spinning > TimeUnit.MILLISECONDS.toNanos(100),
        "spin used only " + spinning / 1e6 + " ms of CPU in 500 ms: the measurement is blind");
  }

  private static long cpuWhileIdle(WaitStrategy strategy) throws Exception {
    ThreadMXBean threads = ManagementFactory.getThreadMXBean();
    try (Loopback loopback = new Loopback(new MemfdTransportProvider(), 1 << 20,
        waiting(strategy)); Loopback.Pair pair = loopback.connect()) {
      long before = threads.getCurrentThreadCpuTime();
      assertThrows(IpcTimeoutException.class,
          () -> pair.client().receive(ByteBuffer.allocate(64), 500, TimeUnit.MILLISECONDS));
      return threads.getCurrentThreadCpuTime() - before;
    }
  }

  @Test
  void badOptionsAreRejectedNamingTheAllowedValues() {
    MemfdTransportProvider p = new MemfdTransportProvider();
    for (String size : new String[] {"1000", "3145728", "134217728", "2048", "lots"}) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> p.checkOptions(new TransportSettings(1 << 20, Map.of("memfd.ring-size", size))));
      assertTrue(e.getMessage().contains("power of two from 4096 to 67108864"), e.getMessage());
    }
    IllegalArgumentException wait = assertThrows(IllegalArgumentException.class,
        () -> p.checkOptions(new TransportSettings(1 << 20, Map.of("memfd.wait", "nap"))));
    assertTrue(wait.getMessage().contains("spin, spin-park or park"), wait.getMessage());
    IllegalArgumentException spin = assertThrows(IllegalArgumentException.class,
        () -> p.checkOptions(new TransportSettings(1 << 20, Map.of("memfd.spin-micros", "-1"))));
    assertTrue(spin.getMessage().contains("0 to 1000000"), spin.getMessage());
    IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class,
        () -> p.checkOptions(new TransportSettings(1 << 20, Map.of("memfd.ringsize", "4096"))));
    assertTrue(unknown.getMessage().contains("unknown option memfd.ringsize"),
        unknown.getMessage());
    p.checkOptions(new TransportSettings(1 << 20, Map.of("memfd.ring-size", "4096",
        "memfd.wait", "SPIN", "pipe.other", "x")));
  }
}
