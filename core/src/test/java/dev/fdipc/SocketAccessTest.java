package dev.fdipc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.security.auth.module.UnixSystem;
import dev.fdipc.negotiation.TestPipeProvider;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The socket file's group and the warning about a socket directory others can write. */
@Timeout(30)
class SocketAccessTest {
  @TempDir
  Path dir;

  private FdipcServer server;
  private final List<String> warnings = new CopyOnWriteArrayList<>();

  @AfterEach
  void tearDown() {
    if (server != null) {
      server.close();
    }
  }

  @Test
  void socketGroupGivenByNumberIsSetAndTheModeIsExact() throws Exception {
    long gid = otherGroup();
    Path socket = dir.resolve("n.sock");
    start(socket, b -> b.socketGroup(Long.toString(gid)).socketMode("0660"));
    assertEquals(gid, ((Number) Files.getAttribute(socket, "unix:gid", LinkOption.NOFOLLOW_LINKS))
        .longValue());
    assertEquals("rw-rw----", PosixFilePermissions.toString(Files.getPosixFilePermissions(socket,
        LinkOption.NOFOLLOW_LINKS)));
  }

  @Test
  void socketGroupGivenByNameIsSet() throws Exception {
    long gid = otherGroup();
    String name = groupName(gid);
    Assumptions.assumeTrue(name != null, "gid " + gid + " has no name in /etc/group");
    Path socket = dir.resolve("g.sock");
    start(socket, b -> b.socketGroup(name).socketMode("0660"));
    assertEquals(gid, ((Number) Files.getAttribute(socket, "unix:gid", LinkOption.NOFOLLOW_LINKS))
        .longValue());
  }

  @Test
  void unknownSocketGroupFailsBeforeTheSocketIsCreated() {
    Path socket = dir.resolve("u.sock");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> start(socket, b -> b.socketGroup("no-such-group-fdipc")));
    assertTrue(e.getMessage().contains("socket group 'no-such-group-fdipc' does not exist"),
        e::getMessage);
    assertFalse(Files.exists(socket, LinkOption.NOFOLLOW_LINKS));
  }

  @Test
  void privateDirectoryGetsNoWarning() throws Exception {
    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
    start(dir.resolve("p.sock"), b -> { });
    assertEquals(List.of(), socketDirectoryWarnings());
  }

  @ParameterizedTest
  @CsvSource({
      "rwxrwx---, false, writable by its group",
      "rwxrwxrwx, false, writable by every user",
      "rwxr-x-wx, false, writable by every user",
      "rwxrwxrwx, true, sticky"})
  void directoryWritableByOthersGetsAWarning(String perms, boolean sticky, String says)
      throws Exception {
    Path shared = Files.createDirectory(dir.resolve("shared"));
    Files.setPosixFilePermissions(shared, PosixFilePermissions.fromString(perms));
    if (sticky) {
      Process p = new ProcessBuilder("chmod", "+t", shared.toString()).inheritIO().start();
      assertEquals(0, p.waitFor());
    }
    start(shared.resolve("w.sock"), b -> { });
    List<String> w = socketDirectoryWarnings();
    assertEquals(1, w.size(), () -> "warnings: " + warnings);
    assertTrue(w.get(0).contains(says), w.get(0));
    assertTrue(w.get(0).contains("$XDG_RUNTIME_DIR"), w.get(0));
    assertTrue(w.get(0).contains(sticky ? "while it is down" : "delete or replace w.sock"),
        w.get(0));
  }

  private List<String> socketDirectoryWarnings() {
    return warnings.stream().filter(w -> w.startsWith("socket directory ")).toList();
  }

  private void start(Path socket, Consumer<FdipcServer.Builder> config) throws IOException {
    FdipcServer.Builder b = FdipcServer.builder().socket(socket)
        .registry(TransportRegistry.of(new TestPipeProvider("good")))
        .handler(s -> { }).shutdownTimeout(Duration.ofSeconds(2))
        .listener(new ServerListener() {
          @Override
          public void warning(String message, Throwable cause) {
            warnings.add(message);
          }
        });
    config.accept(b);
    server = b.start();
  }

  /**
   * A group other than this process's own that it may give files to: any group as root (65534),
   * else a supplementary group of this user.
   */
  private static long otherGroup() {
    UnixSystem u = new UnixSystem();
    if (u.getUid() == 0) {
      return 65534;
    }
    for (long g : u.getGroups()) {
      if (g != u.getGid()) {
        return g;
      }
    }
    Assumptions.abort("this user (uid " + u.getUid() + ") is in no group but its own; "
        + "a socket group other than the user's own cannot be set");
    return -1;
  }

  private static String groupName(long gid) throws IOException {
    for (String line : Files.readAllLines(Path.of("/etc/group"))) {
      String[] f = line.split(":");
      if (f.length > 2 && f[2].equals(Long.toString(gid))) {
        return f[0];
      }
    }
    return null;
  }
}
