package dev.fdipc.e2e;

import static dev.fdipc.e2e.Commands.WAIT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarFile;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The plugin promise, kept for a transport from outside the build: {@code examples/transport-fifo}
 * is built with Maven as its author would build it, and its jar is dropped into a plugin directory
 * or {@code $CLASSPATH} of the unchanged {@code bin/server} and {@code bin/client}.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ThirdPartyTransportTest {
  private static final Path EXAMPLE = Proc.ROOT.resolve("examples/transport-fifo");
  private static final String VERSION = System.getProperty("fdipc.version", "");

  private static Path fifoJar;

  @TempDir
  Path dir;

  private Commands cmd;

  /** Where the jar is dropped. */
  enum DropIn {
    /** {@code plugins/} beside {@code bin/}, the launchers' default. */
    DEFAULT_PLUGINS_DIRECTORY,
    /** A directory named by {@code $FDIPC_PLUGINS}. */
    FDIPC_PLUGINS,
    /** {@code $CLASSPATH}. */
    CLASSPATH
  }

  @BeforeAll
  @Timeout(value = 300, unit = TimeUnit.SECONDS)
  static void buildTheExampleAsItsAuthorWould() throws Exception {
    Path log = Proc.ROOT.resolve("e2e/target/transport-fifo-build.log");
    Files.createDirectories(log.getParent());
    String home = System.getProperty("fdipc.maven.home", "");
    List<String> mvn = new ArrayList<>(List.of(
        home.isEmpty() ? "mvn" : Path.of(home, "bin", "mvn").toString(),
        "-B", "--no-transfer-progress", "-DskipTests", "-f", EXAMPLE.resolve("pom.xml").toString(),
        "clean", "package"));
    String repo = System.getProperty("fdipc.maven.repo", "");
    if (!repo.isEmpty()) {
      mvn.add(1, "-Dmaven.repo.local=" + repo);
    }
    if (Boolean.getBoolean("fdipc.maven.offline")) {
      mvn.add(1, "--offline");
    }
    Process build = new ProcessBuilder(mvn).redirectErrorStream(true)
        .redirectOutput(log.toFile()).start();
    if (!build.waitFor(240, TimeUnit.SECONDS)) {
      build.destroyForcibly();
      throw new AssertionError("building the example took over 240 s; see " + log);
    }
    if (build.exitValue() != 0) {
      List<String> lines = Files.readAllLines(log);
      throw new AssertionError(String.join(" ", mvn) + " failed (exit " + build.exitValue()
          + "). It builds against the fdipc artifacts in the local Maven repository, which "
          + "`mvn install` (bin/test) puts there before this test runs. Its output ends:\n"
          + String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size())));
    }
    try (Stream<Path> s = Files.list(EXAMPLE.resolve("target"))) {
      fifoJar = s.filter(p -> p.getFileName().toString().matches("transport-fifo-.*\\.jar"))
          .findFirst().orElseThrow(() -> new AssertionError("no jar in " + EXAMPLE.resolve(
              "target") + "; see " + log));
    }
  }

  @BeforeEach
  void setUp() {
    cmd = new Commands(dir.resolve("s.sock"), Map.of());
  }

  @AfterEach
  void tearDown() {
    cmd.close();
  }

  @Test
  void clientWithFifoIsRefusedWithTheTypedReasonByAServerThatDoesNotOfferIt() throws Exception {
    Map<String, String> withFifo = Map.of("CLASSPATH", fifoJar.toString());
    // A server without the jar does not know the transport at all: refusal UNKNOWN.
    Proc without = cmd.server();
    assertTrue(without.awaitOut("ready", WAIT).endsWith("transports: memfd, socketpair, pipe, mqueue"),
        without::transcript);
    assertRefused(cmd.withEnv(withFifo).client("4", "--transport=fifo"),
        "fifo: unknown to this server; the server offers memfd, socketpair, pipe, mqueue");
    assertTrue(without.awaitOut("refused", WAIT).contains("client 4"), without::transcript);
    without.signal("TERM");
    assertEquals(0, without.waitFor(WAIT), without::transcript);

    // A server with the jar, told to offer other transports: refusal NOT_OFFERED.
    Proc notOffering = cmd.withEnv(withFifo).server("--transport=socketpair,pipe");
    assertRefused(cmd.withEnv(withFifo).client("5", "--transport=fifo"),
        "fifo: not offered by this server; the server offers socketpair, pipe");
    assertTrue(notOffering.awaitOut("refused", WAIT).contains("client 5"),
        notOffering::transcript);
  }

  @Test
  void clientReceivesExactlyTheTwoFifoEndsAndTheServerKeepsNoCopy() throws Exception {
    Proc server = cmd.withEnv(Map.of("CLASSPATH", fifoJar.toString())).server("--transport=fifo");
    // The read end of the server-to-client FIFO, then the write end of the other.
    FdHygieneEndToEndTest.assertExactFds(dir.resolve("s.sock"), server, "fifo",
        List.of("fifo r", "fifo w"));
  }

  private static void assertRefused(Proc client, String reason) throws Exception {
    assertEquals(4, client.waitFor(WAIT), client::transcript);
    assertEquals(List.of("client: no transport could be negotiated: " + reason), client.stderr(),
        client::transcript);
  }

  @ParameterizedTest
  @EnumSource(DropIn.class)
  void droppedInJarIsListedWithItsPathAndCarriesTheConversation(DropIn where) throws Exception {
    Path jar;
    Map<String, String> env;
    switch (where) {
      case DEFAULT_PLUGINS_DIRECTORY -> {
        // The real plugins/: the other e2e tests use an empty FDIPC_PLUGINS and cannot see it,
        // and surefire runs test classes one at a time. The jar goes whatever happens.
        jar = Proc.ROOT.resolve("plugins/e2e-transport-fifo.jar");
        env = Map.of("FDIPC_PLUGINS", "");
      }
      case FDIPC_PLUGINS -> {
        Path plugins = Files.createDirectory(dir.resolve("my plugins"));
        jar = plugins.resolve(fifoJar.getFileName());
        env = Map.of("FDIPC_PLUGINS", plugins.toString());
      }
      default -> {
        jar = fifoJar;
        env = Map.of("CLASSPATH", fifoJar.toString());
      }
    }
    if (!jar.equals(fifoJar)) {
      Files.copy(fifoJar, jar, StandardCopyOption.REPLACE_EXISTING);
    }
    try {
      Commands withJar = cmd.withEnv(env);
      Proc list = withJar.run("server", List.of("--list-transports"));
      assertEquals(0, list.waitFor(WAIT), list::transcript);
      assertEquals(List.of(), list.stderr(), list::transcript);
      String fifo = list.awaitOut("fifo ", WAIT);
      assertTrue(fifo.matches("fifo\\s+4\\s+available\\s+" + Pattern.quote(jar.toString())),
          fifo);
      Proc server = withJar.server();
      assertTrue(server.awaitOut("ready", WAIT).endsWith("transports: memfd, socketpair, pipe, fifo, mqueue"),
          server::transcript);
      Proc client = withJar.converse(server, "4", "fifo");
      assertEquals(List.of(), client.stderr(), client::transcript);
    } finally {
      if (!jar.equals(fifoJar)) {
        Files.delete(jar);
      }
    }
  }

  @Test
  void exampleJarHoldsOnlyItsOwnClassesAndServicesFile() throws IOException {
    List<String> foreign;
    try (JarFile jar = new JarFile(fifoJar.toFile())) {
      foreign = Collections.list(jar.entries()).stream().map(ZipEntry::getName)
          .filter(n -> !n.startsWith("META-INF/") && !n.startsWith("dev/fdipc/examples/fifo/")
              && !List.of("dev/", "dev/fdipc/", "dev/fdipc/examples/").contains(n))
          .collect(Collectors.toList());
      assertEquals("dev.fdipc.examples.fifo.FifoTransportProvider", new String(
          jar.getInputStream(jar.getEntry("META-INF/services/dev.fdipc.spi.TransportProvider"))
              .readAllBytes(), StandardCharsets.UTF_8).strip());
    }
    assertEquals(List.of(), foreign, "the plugin jar bundles what the fdipc runtime supplies");
  }

  @Test
  void exampleAndBomNameThisVersionOfFdipc() throws IOException {
    assertFalse(VERSION.isEmpty(), "fdipc.version not set by the e2e pom");
    assertEquals(VERSION, first("<fdipc.version>([^<]+)</fdipc.version>",
        EXAMPLE.resolve("pom.xml")), "examples/transport-fifo/pom.xml fdipc.version");
    assertEquals(VERSION, first("<artifactId>fdipc-bom</artifactId>\\s*<version>([^<]+)</version>",
        Proc.ROOT.resolve("bom/pom.xml")), "bom/pom.xml version");
  }

  private static String first(String regex, Path file) throws IOException {
    Matcher m = Pattern.compile(regex).matcher(Files.readString(file));
    return m.find() ? m.group(1) : "(not found in " + file + ")";
  }
}
