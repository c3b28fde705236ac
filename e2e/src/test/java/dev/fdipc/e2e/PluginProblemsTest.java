package dev.fdipc.e2e;

import static dev.fdipc.e2e.Commands.WAIT;
import static dev.fdipc.e2e.PluginJars.cls;
import static dev.fdipc.e2e.PluginJars.provider;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Broken and clashing plugin jars as a user meets them: on the classpath of the real commands. Each
 * broken jar is reported in one warning line naming the jar and the cause, every other transport
 * still works, and a name clash is settled by the documented rule.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class PluginProblemsTest {
  private static final String WARNING = "warning: ";

  @TempDir
  Path dir;

  private Commands cmd;

  @BeforeEach
  void setUp() {
    cmd = new Commands(dir.resolve("s.sock"), Map.of());
  }

  @AfterEach
  void tearDown() {
    cmd.close();
  }

  @Test
  void eachBrokenJarGetsOneWarningWithItsCauseAndEveryOtherTransportWorks() throws Exception {
    Path constructorThrows = PluginJars.jar(dir.resolve("constructor-throws.jar"),
        List.of(cls("ConstructorThrows")), provider("ConstructorThrows", "ctor", 5,
            "throw new IllegalStateException(\"constructor failed on purpose\");",
            "return null;"));
    Path classMissing = PluginJars.jar(dir.resolve("class-missing.jar"),
        List.of(cls("NotInTheJar")));
    Path probeThrows = PluginJars.jar(dir.resolve("probe-throws.jar"),
        List.of(cls("ProbeThrows")), provider("ProbeThrows", "probe-throws", 5, "",
            "throw new IllegalStateException(\"probe failed on purpose\");"));
    Map<Path, String> causes = Map.of(
        constructorThrows, cls("ConstructorThrows") + ".*constructor failed on purpose",
        classMissing, cls("NotInTheJar") + " not found",
        probeThrows, "'probe-throws'.*availability probe threw.*probe failed on purpose");
    Commands broken = cmd.withEnv(Map.of("CLASSPATH",
        constructorThrows + ":" + classMissing + ":" + probeThrows));

    Proc list = broken.run("server", List.of("--list-transports"));
    assertEquals(0, list.waitFor(WAIT), list::transcript);
    assertOneWarningPerJar(list, causes);
    assertTrue(list.awaitOut("socketpair ", WAIT).matches("socketpair\\s+6\\s+available\\s.*"));
    assertTrue(list.awaitOut("pipe ", WAIT).matches("pipe\\s+5\\s+available\\s.*"));
    String probe = list.awaitOut("probe-throws", WAIT);
    assertTrue(probe.matches("probe-throws\\s+5\\s+unavailable: probe failed on purpose\\s+"
        + Pattern.quote(probeThrows.toString())), probe);

    Proc server = broken.server();
    for (String transport : List.of("pipe", "socketpair")) {
      Proc client = broken.converse(server, transport.equals("pipe") ? "1" : "2", transport);
      assertOneWarningPerJar(client, causes);
    }
    server.signal("TERM");
    assertEquals(0, server.waitFor(WAIT), server::transcript);
    assertOneWarningPerJar(server, causes);
  }

  @Test
  void equalPriorityClashGoesToTheJarWhoseNameSortsFirstInThePluginDirectory() throws Exception {
    Path plugins = Files.createDirectory(dir.resolve("plugins"));
    // The launcher lists a directory's jars in byte order, where "B-..." comes before "a-..."
    // (a locale's collation, such as en_US's, would put it after).
    Path b = PluginJars.jar(plugins.resolve("B-dup.jar"), List.of(cls("DupB")),
        provider("DupB", "dup", 5));
    Path a = PluginJars.jar(plugins.resolve("a-dup.jar"), List.of(cls("DupA")),
        provider("DupA", "dup", 5));
    Commands withDuplicates = cmd.withEnv(Map.of("FDIPC_PLUGINS", plugins.toString()));
    Proc list = withDuplicates.run("server", List.of("--list-transports"));
    assertEquals(0, list.waitFor(WAIT), list::transcript);
    assertTrue(list.awaitOut("dup ", WAIT).matches("dup\\s+5\\s+available\\s+"
        + Pattern.quote(b.toString())), list::transcript);
    String w = onlyWarning(list);
    assertTrue(w.matches(".*'dup'.*" + Pattern.quote(b.toString()) + ".*" + Pattern.quote(
        a.toString()) + ".*using " + Pattern.quote(b.toString()) + " \\(first on the classpath\\)"),
        w);
  }

  @Test
  void pluginNamedLikeABuiltInLosesAtEqualPriorityAndWinsAtAHigherOne() throws Exception {
    Path samePriority = PluginJars.jar(dir.resolve("pipe-5.jar"), List.of(cls("Pipe5")),
        provider("Pipe5", "pipe", 5));
    Commands withPipe5 = cmd.withEnv(Map.of("CLASSPATH", samePriority.toString()));
    Proc list = withPipe5.run("server", List.of("--list-transports"));
    assertEquals(0, list.waitFor(WAIT), list::transcript);
    String builtIn = list.awaitOut("pipe ", WAIT);
    assertTrue(builtIn.matches("pipe\\s+5\\s+available\\s+.*/dist/target/lib/"
        + "fdipc-transport-pipe-.*\\.jar"), builtIn);
    String w = onlyWarning(list);
    assertTrue(w.contains(samePriority.toString()) && w.contains("fdipc-transport-pipe-")
        && w.endsWith("(first on the classpath)"), w);
    Proc server = withPipe5.server("--transport=pipe"); // the built-in one, on both sides
    withPipe5.converse(server, "3", "pipe");

    Path higher = PluginJars.jar(dir.resolve("pipe-9.jar"), List.of(cls("Pipe9")),
        provider("Pipe9", "pipe", 9));
    Commands withPipe9 = cmd.withEnv(Map.of("CLASSPATH", higher.toString()));
    list = withPipe9.run("server", List.of("--list-transports"));
    assertEquals(0, list.waitFor(WAIT), list::transcript);
    String plugin = list.awaitOut("pipe ", WAIT);
    assertTrue(plugin.matches("pipe\\s+9\\s+available\\s+" + Pattern.quote(higher.toString())),
        plugin);
    w = onlyWarning(list);
    assertTrue(w.contains(higher.toString()) && w.contains("fdipc-transport-pipe-")
        && w.endsWith("(higher priority)"), w);
  }

  private static List<String> warnings(Proc p) {
    return p.stderr().stream().filter(l -> l.startsWith(WARNING)).collect(Collectors.toList());
  }

  private static String onlyWarning(Proc p) {
    assertEquals(p.stderr(), warnings(p), p::transcript);
    assertEquals(1, warnings(p).size(), p::transcript);
    return warnings(p).get(0).substring(WARNING.length());
  }

  /** Exactly one warning per jar, naming its path and matching its cause; nothing else. */
  private static void assertOneWarningPerJar(Proc p, Map<Path, String> causes) {
    List<String> warnings = warnings(p);
    assertEquals(p.stderr(), warnings, () -> "stderr holds more than warnings:\n"
        + p.transcript());
    assertEquals(causes.size(), warnings.size(), p::transcript);
    for (Map.Entry<Path, String> e : causes.entrySet()) {
      List<String> about = warnings.stream().filter(w -> w.contains(e.getKey().toString()))
          .collect(Collectors.toList());
      assertEquals(1, about.size(), () -> e.getKey() + " in " + warnings);
      assertTrue(Pattern.compile(e.getValue()).matcher(about.get(0)).find(),
          () -> "'" + e.getValue() + "' not in: " + about.get(0));
    }
  }
}
