package dev.fdipc.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The memfd transport between real server and client processes. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class MemfdEndToEndTest {
  private static final Duration WAIT = Duration.ofSeconds(30);

  @TempDir
  Path dir;

  private final List<Proc> procs = new ArrayList<>();

  @AfterEach
  void tearDown() {
    procs.forEach(Proc::close);
  }

  private Proc start(String command, String... args) throws Exception {
    List<String> a = new ArrayList<>(List.of(args));
    a.add("--socket=" + dir.resolve("s.sock"));
    Proc p = Proc.start(command, a, Map.of());
    procs.add(p);
    return p;
  }

  /** Mappings of fdipc memfds in a process, from its /proc/PID/maps. */
  private static long memfdMappings(long pid) throws Exception {
    return Files.readAllLines(Path.of("/proc/" + pid + "/maps")).stream()
        .filter(l -> l.contains("/memfd:fdipc")).count();
  }

  @Test
  void severalMemfdClientsAtOnceEachGetTheirOwnRegion() throws Exception {
    Proc server = start("server", "--transport=memfd");
    server.awaitOut("ready", WAIT);
    List<Proc> clients = new ArrayList<>();
    for (int id = 1; id <= 3; id++) {
      Proc c = start("client", Integer.toString(id), "--transport=memfd");
      c.awaitOut("via memfd", WAIT);
      clients.add(c);
    }
    for (int id = 1; id <= 3; id++) {
      server.awaitOut("client " + id + " connected: transport=memfd", WAIT);
    }
    assertEquals(3, memfdMappings(server.pid()), "one region per connected client");
    for (int i = 0; i < 3; i++) {
      Proc c = clients.get(i);
      c.send(Integer.toString(10 * (i + 1)));
      c.send("5");
      c.send("END");
    }
    for (int i = 0; i < 3; i++) {
      clients.get(i).awaitOut("sum: " + (10 * (i + 1) + 5), WAIT);
      clients.get(i).send("exit");
      assertEquals(0, clients.get(i).waitFor(WAIT));
    }
    for (int id = 1; id <= 3; id++) {
      server.awaitOut("client " + id + " disconnected", WAIT);
    }
  }

  @Test
  void ringSizeIsAServerOptionAndBadValuesAreRefusedAtStart() throws Exception {
    Proc bad = start("server", "--transport=memfd", "--transport-option",
        "memfd.ring-size=1000");
    assertEquals(2, bad.waitFor(WAIT), bad::transcript);
    String err = bad.awaitErr("memfd.ring-size=1000 is not allowed", WAIT);
    assertTrue(err.contains("power of two from 4096 to 67108864"), err);

    Proc server = start("server", "--transport=memfd", "--transport-option",
        "memfd.ring-size=4096");
    server.awaitOut("ready", WAIT);
    Proc client = start("client", "2", "--transport=memfd");
    client.awaitOut("via memfd", WAIT);
    // A line far larger than a 4 KiB ring: fragmented and rejoined.
    String big = "x".repeat(100_000);
    client.send(big);
    client.awaitOut("ok", WAIT);
    // The log shows the start of it and its size, not 100 kB.
    server.awaitOut("[client 2 pid " + client.pid() + "] " + "x".repeat(200) + "… (100000 bytes)",
        WAIT);
  }

  @Test
  void killedMemfdClientIsReportedDisconnected() throws Exception {
    Proc server = start("server", "--transport=memfd");
    server.awaitOut("ready", WAIT);
    Proc client = start("client", "4", "--transport=memfd");
    client.awaitOut("via memfd", WAIT);
    server.awaitOut("client 4 connected", WAIT);
    client.signal("KILL");
    server.awaitOut("client 4 disconnected", WAIT);
    assertEquals(0, memfdMappings(server.pid()), "the region is unmapped once the client is gone");
  }
}
