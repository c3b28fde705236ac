package dev.fdipc.transport.memfd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fdipc.testkit.FdCount;
import dev.fdipc.testkit.Loopback;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Mappings and descriptors come back; every client gets a region of its own. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class MemfdResourceTest {
  /**
   * This process's mappings of fdipc memfds, from {@code /proc/self/maps}. Only these are
   * counted: the JVM maps and unmaps memory of its own (code cache, thread stacks that glibc
   * caches) at times no test controls.
   */
  static int memfdMappings() {
    try {
      return (int) Files.readAllLines(Path.of("/proc/self/maps")).stream()
          .filter(l -> l.contains("/memfd:fdipc")).count();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Test
  void mappingsAndDescriptorsReturnToTheirStartAfterAThousandConnections() throws IOException {
    try (Loopback loopback = new Loopback(new MemfdTransportProvider(), 1 << 20,
        Map.of("memfd.ring-size", "65536"))) {
      try (Loopback.Pair warm = loopback.connect()) {
        warm.client().send(new byte[8]);
        warm.server().receive();
      }
      int maps = memfdMappings();
      var fds = FdCount.snapshot();
      for (int i = 0; i < 1000; i++) {
        try (Loopback.Pair pair = loopback.connect()) {
          assertEquals(maps + 2, memfdMappings(), "one mapping per side while connected");
          pair.client().send(new byte[] {(byte) i});
          assertEquals(1, pair.server().receive().length);
          pair.server().send(new byte[100]);
          assertEquals(100, pair.client().receive().length);
        }
      }
      assertEquals(maps, memfdMappings(), "memfd mappings after 1000 connections");
      String diff = FdCount.diff(fds, FdCount.snapshot());
      assertTrue(diff.isEmpty(), "descriptors changed over 1000 connections:" + diff);
    }
  }

  @Test
  void everyClientGetsARegionOfItsOwn() throws IOException {
    try (Loopback loopback = new Loopback(new MemfdTransportProvider(), 1 << 20)) {
      int before = memfdMappings();
      List<Loopback.Pair> pairs = new ArrayList<>();
      try {
        for (int i = 0; i < 5; i++) {
          pairs.add(loopback.connect());
        }
        assertEquals(before + 10, memfdMappings(), "two mappings (server, client) per client");
        for (int i = 0; i < pairs.size(); i++) {
          pairs.get(i).client().send(new byte[] {(byte) i});
        }
        for (int i = 0; i < pairs.size(); i++) {
          assertEquals(i, pairs.get(i).server().receive()[0], "client " + i + "'s message");
        }
      } finally {
        for (Loopback.Pair p : pairs) {
          p.close();
        }
      }
      assertEquals(before, memfdMappings());
    }
  }
}
