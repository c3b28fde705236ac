package dev.fdipc.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Access control of the real {@code bin/server}: what is at the socket path, who may connect
 * (--allow-uid, --allow-gid, --socket-group), how many connections a uid may hold. A second uid
 * is uid 65534 through setpriv(1), which needs root; those tests skip with the reason otherwise.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class AccessControlTest {
  private static final Duration WAIT = Commands.WAIT;
  private static final int NOBODY = 65534;

  @TempDir
  Path dir;

  private Path socket;
  private Commands cmd;

  @BeforeEach
  void setUp() {
    socket = dir.resolve("s.sock");
    cmd = new Commands(socket, Map.of());
  }

  @AfterEach
  void tearDown() {
    cmd.close();
  }

  // ---------------------------------------------------------------- what is at the path

  @Test
  void symlinkAtTheSocketPathIsRefusedAndNothingIsDeleted() throws Exception {
    Path target = dir.resolve("precious.txt");
    Files.writeString(target, "keep me");
    Files.setLastModifiedTime(target, FileTime.fromMillis(1_000_000_000_000L));
    Files.createSymbolicLink(socket, target);

    Proc server = cmd.startServer();

    assertEquals(1, server.waitFor(WAIT), server::transcript);
    String err = String.join("\n", server.stderr());
    assertTrue(err.contains(socket + " is a symbolic link; refusing to replace it"), err);
    assertTrue(err.contains("choose another --socket"), err);
    Commands.assertNoStackTrace(server);
    assertTrue(Files.isSymbolicLink(socket), "the symlink is gone");
    assertEquals(target, Files.readSymbolicLink(socket));
    assertEquals("keep me", Files.readString(target));
    assertEquals(FileTime.fromMillis(1_000_000_000_000L), Files.getLastModifiedTime(target));
  }

  @Test
  void regularFileAtTheSocketPathIsRefusedAndLeftUntouched() throws Exception {
    Files.writeString(socket, "not a socket");
    Files.setLastModifiedTime(socket, FileTime.fromMillis(1_000_000_000_000L));
    Object inode = Files.getAttribute(socket, "unix:ino");

    Proc server = cmd.startServer();

    assertEquals(1, server.waitFor(WAIT), server::transcript);
    String err = String.join("\n", server.stderr());
    assertTrue(err.contains(socket + " exists and is not a socket; refusing to delete it"), err);
    Commands.assertNoStackTrace(server);
    assertTrue(Files.isRegularFile(socket, LinkOption.NOFOLLOW_LINKS));
    assertEquals(inode, Files.getAttribute(socket, "unix:ino"));
    assertEquals("not a socket", Files.readString(socket));
    assertEquals(FileTime.fromMillis(1_000_000_000_000L), Files.getLastModifiedTime(socket));
  }

  // ---------------------------------------------------------------- who may connect

  @Test
  void allowUidRefusesAnotherUserWithAccessDeniedAndAdmitsTheListedOne() throws Exception {
    assumeSecondUid();
    long me = myUid();
    Proc server = cmd.server("--socket-mode=0666", "--allow-uid=" + me);

    Proc nobody = nobodyClient("7");
    assertEquals(4, nobody.waitFor(WAIT), nobody::transcript);
    String err = String.join("\n", nobody.stderr());
    assertTrue(err.contains("server refused the connection (ACCESS_DENIED): uid " + NOBODY
        + " (primary gid " + NOBODY + ") is not allowed"), err);
    assertTrue(err.contains("--allow-uid=" + NOBODY), err);
    String refused = server.awaitOut("refused: new connection refused (ACCESS_DENIED)", WAIT);
    assertTrue(refused.contains("uid " + NOBODY), refused);
    assertFalse(String.join("\n", server.stdout()).contains("client 7 connected"),
        server::transcript);

    cmd.converse(server, "8", "pipe"); // the listed uid is served
  }

  @Test
  void allowGidAdmitsAPeerByItsPrimaryGroup() throws Exception {
    assumeSecondUid();
    Proc server = cmd.server("--socket-mode=0666", "--allow-uid=" + (myUid() + 1),
        "--allow-gid=" + NOBODY);
    Proc nobody = nobodyClient("5");
    nobody.awaitOut("as client 5", WAIT);
    server.awaitOut("client 5 connected", WAIT);
    nobody.send("exit");
    assertEquals(0, nobody.waitFor(WAIT), nobody::transcript);

    Proc me = cmd.client("6");
    assertEquals(4, me.waitFor(WAIT), me::transcript); // uid and primary gid are not listed
  }

  @Test
  void allowGidDoesNotAdmitBySupplementaryGroup() throws Exception {
    assumeSecondUid();
    openDirectoryToEveryone();
    cmd.server("--socket-mode=0666", "--allow-gid=4");
    Proc client = cmd.track(Proc.startRaw("client-nobody-adm", List.of("setpriv",
        "--reuid=" + NOBODY, "--regid=" + NOBODY, "--groups=4", bin("client"), "3",
        "--socket=" + socket), Map.of("HOME", "/tmp")));
    assertEquals(4, client.waitFor(WAIT), client::transcript);
    assertTrue(String.join("\n", client.stderr()).contains("(ACCESS_DENIED): uid " + NOBODY
        + " (primary gid " + NOBODY + ")"), client::transcript);
  }

  @Test
  void socketGroupWithMode0660LetsThatGroupConnectAndNoOtherGroup() throws Exception {
    assumeSecondUid();
    openDirectoryToEveryone(); // r-x for others: they reach the socket, its mode decides
    Proc server = cmd.server("--socket-group=nogroup", "--socket-mode=0660");
    assertEquals(NOBODY, ((Number) Files.getAttribute(socket, "unix:gid",
        LinkOption.NOFOLLOW_LINKS)).intValue());
    assertEquals("rw-rw----", PosixFilePermissions.toString(Files.getPosixFilePermissions(socket,
        LinkOption.NOFOLLOW_LINKS)));

    Proc member = nobodyClient("1"); // uid 65534, gid 65534 = nogroup
    member.awaitOut("as client 1", WAIT);
    server.awaitOut("client 1 connected", WAIT);
    member.send("exit");
    assertEquals(0, member.waitFor(WAIT), member::transcript);

    Proc outsider = asUser(NOBODY, 1, "client-outsider", List.of(bin("client"), "2",
        "--socket=" + socket));
    assertEquals(1, outsider.waitFor(WAIT), outsider::transcript);
    assertTrue(String.join("\n", outsider.stderr()).contains("permission denied: the socket's "
        + "mode or group does not admit this user"),
        outsider::transcript);
  }

  @Test
  void socketGroupTheServersUserIsNotInIsAClearErrorAndLeavesNoSocket() throws Exception {
    assumeSecondUid();
    Path shared = Files.createDirectory(dir.resolve("shared"));
    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
    Files.setPosixFilePermissions(shared, PosixFilePermissions.fromString("rwxrwxrwx"));
    Path sock = shared.resolve("s.sock");
    Proc server = asUser(NOBODY, NOBODY, "server-nobody", List.of(bin("server"),
        "--socket=" + sock, "--socket-group=root", "--socket-mode=0660"));
    assertEquals(1, server.waitFor(WAIT), server::transcript);
    String err = String.join("\n", server.stderr());
    assertTrue(err.contains("cannot give the socket to group root (Operation not permitted); "
        + "the server's user must be a member of that group"), err);
    Commands.assertNoStackTrace(server);
    assertFalse(Files.exists(sock, LinkOption.NOFOLLOW_LINKS), "the socket was left behind");
  }

  /**
   * The system calls that make the socket, traced with strace(1): the file is created with at
   * most the owner bits, gets its group and final mode, and only then does the socket listen, so
   * no one outside the final mode can connect at any moment. (junixsocket's own bind would chmod
   * the file to 0666 and listen at once.)
   */
  @Test
  void socketGetsItsGroupAndModeBeforeItListens() throws Exception {
    Assumptions.assumeTrue(hasCommand("strace"), "needs strace(1) to watch the system calls");
    boolean root = myUid() == 0;
    Path trace = dir.resolve("trace");
    List<String> command = new ArrayList<>(List.of("strace", "-f", "--seccomp-bpf", "-qq", "-e",
        "trace=socket,fchmod,bind,lchown,fchownat,chown,chmod,fchmodat,listen", "-o",
        trace.toString(), bin("server"), "--socket=" + socket, "--socket-mode=0660"));
    if (root) {
      command.add("--socket-group=nogroup");
    }
    Proc server = cmd.track(Proc.startRaw("server-strace", command, Map.of()));
    String ready = server.awaitOut("ready", WAIT);
    long javaPid = Long.parseLong(ready.replaceAll(".*\\(pid (\\d+)\\).*", "$1"));
    Process kill = new ProcessBuilder("kill", "-TERM", Long.toString(javaPid)).start();
    assertEquals(0, kill.waitFor(), "kill -TERM " + javaPid);
    server.waitFor(WAIT);

    List<String> lines = Files.readAllLines(trace);
    String path = "\"" + socket + "\"";
    int bindAt = indexOf(lines, l -> l.contains(" bind(") && l.contains(path) && l.endsWith("= 0"));
    assertTrue(bindAt >= 0, () -> "no bind of " + path + " in\n" + String.join("\n", lines));
    String fd = lines.get(bindAt).replaceAll(".* bind\\((\\d+),.*", "$1");
    String pid = lines.get(bindAt).split(" ")[0];
    List<String> mine = lines.stream().filter(l -> l.startsWith(pid + " ")
        && (l.contains("(" + fd + ",") || l.contains(path))).map(l -> l.substring(pid.length())
        .strip()).toList();
    String all = String.join("\n", mine);
    int listenAt = indexOf(mine, l -> l.startsWith("listen(" + fd + ","));
    assertTrue(listenAt > 0, all);
    List<String> before = mine.subList(0, listenAt);
    assertTrue(before.get(0).startsWith("fchmod(" + fd + ", 0600)")
        || before.get(0).startsWith("fchmod(" + fd + ", 0660)"), all);
    for (String l : before) {
      if (l.startsWith("chmod(") || l.startsWith("fchmodat(")) {
        assertTrue(l.contains(", 0660") || l.contains(", 0600"), "looser mode before listen:\n"
            + all);
      }
    }
    assertTrue(before.get(before.size() - 1).matches("(chmod|fchmodat)\\(.*0660.*= 0"),
        "the final mode is not the last thing set before listen:\n" + all);
    if (root) {
      int chownAt = indexOf(before, l -> l.matches("(lchown|fchownat|chown)\\(.*65534.*= 0"));
      assertTrue(chownAt > indexOf(before, l -> l.startsWith("bind(")), all);
    }
    assertFalse(mine.subList(listenAt, mine.size()).stream()
        .anyMatch(l -> l.startsWith("chmod(") || l.startsWith("fchmodat(")),
        "mode changed after listen:\n" + all);
  }

  private static int indexOf(List<String> lines, java.util.function.Predicate<String> p) {
    for (int i = 0; i < lines.size(); i++) {
      if (p.test(lines.get(i))) {
        return i;
      }
    }
    return -1;
  }

  @Test
  void unknownSocketGroupIsABadCommandLine() throws Exception {
    Proc server = cmd.startServer("--socket-group=no-such-group-fdipc");
    assertEquals(2, server.waitFor(WAIT), server::transcript);
    assertTrue(String.join("\n", server.stderr())
        .contains("socket group 'no-such-group-fdipc' does not exist"), server::transcript);
    assertFalse(Files.exists(socket, LinkOption.NOFOLLOW_LINKS));
  }

  @Test
  void socketInADirectoryOthersCanWriteGetsAWarning() throws Exception {
    Path shared = Files.createDirectory(dir.resolve("shared"));
    Files.setPosixFilePermissions(shared, PosixFilePermissions.fromString("rwxrwxrwx"));
    Proc server = cmd.withEnv(Map.of()).run("server", List.of("--socket="
        + shared.resolve("s.sock")));
    server.awaitOut("ready", WAIT);
    String w = server.awaitErr("warning: socket directory " + shared, WAIT);
    assertTrue(w.contains("writable by every user"), w);
    assertTrue(w.contains("$XDG_RUNTIME_DIR"), w);
  }

  // ---------------------------------------------------------------- connections per uid

  @Test
  void uidOverItsCapIsRefusedWithBusyWhileAnotherUidConnects() throws Exception {
    assumeSecondUid();
    Proc server = cmd.server("--socket-mode=0666", "--max-connections-per-uid=2");
    List<Proc> mine = new ArrayList<>();
    for (String id : List.of("1", "2")) {
      Proc c = cmd.client(id);
      c.awaitOut("as client " + id, WAIT);
      mine.add(c);
    }

    Proc third = cmd.client("3");
    assertEquals(4, third.waitFor(WAIT), third::transcript);
    String err = String.join("\n", third.stderr());
    assertTrue(err.contains("(BUSY): uid " + myUid() + " already has 2 connections"), err);
    assertTrue(err.contains("--max-connections-per-uid (now 2)"), err);
    server.awaitOut("refused: new connection refused (BUSY)", WAIT);

    Proc other = nobodyClient("9");
    other.awaitOut("as client 9", WAIT);
    other.send("4");
    other.awaitOut("ok: total 4", WAIT);
    other.send("exit");
    assertEquals(0, other.waitFor(WAIT), other::transcript);
    for (Proc c : mine) {
      c.send("exit");
      assertEquals(0, c.waitFor(WAIT), c::transcript);
    }
  }

  @Test
  void helpDescribesTheAccessOptions() throws Exception {
    Proc help = cmd.run("server", List.of("--help"));
    assertEquals(0, help.waitFor(WAIT));
    String text = String.join(" ", help.stdout()).replaceAll("\\s+", " ");
    for (String option : List.of("--allow-uid=UID", "--allow-gid=GID", "--socket-group=GROUP",
        "--max-connections-per-uid=N", "--max-pending-handshakes=N", "SO_PEERCRED",
        "Default: 256", "Default: 128")) {
      assertTrue(text.contains(option), () -> option + " missing from --help:\n" + text);
    }
  }

  // ---------------------------------------------------------------- helpers

  private Proc nobodyClient(String id) throws IOException {
    openDirectoryToEveryone();
    return asUser(NOBODY, NOBODY, "client-nobody", List.of(bin("client"), id,
        "--socket=" + socket));
  }

  @Test
  void clientRefusedByPermissionsIsNotToldToStartAServer() throws Exception {
    assumeSecondUid();
    cmd.server(); // 0600: its owner only
    Proc nobody = nobodyClient("3");
    assertEquals(1, nobody.waitFor(WAIT), nobody::transcript);
    String err = String.join("\n", nobody.stderr());
    assertTrue(err.contains("permission denied"), err);
    assertTrue(err.contains("--socket-mode=0660"), err);
    assertFalse(err.contains("start one"), err);
  }

  @Test
  void serverInADirectoryItCannotWriteOrSearchSaysPermissionDenied() throws Exception {
    assumeSecondUid();
    openDirectoryToEveryone(); // 0755, root's: nobody can search it but not write it
    Proc unwritable = asUser(NOBODY, NOBODY, "server-nobody", List.of(bin("server"),
        "--socket=" + dir.resolve("n.sock")));
    assertEquals(1, unwritable.waitFor(WAIT), unwritable::transcript);
    String err = String.join("\n", unwritable.stderr());
    assertTrue(err.contains("permission denied: this user cannot create files in " + dir), err);
    assertFalse(Files.exists(dir.resolve("n.sock.lock")));

    Path locked = Files.createDirectory(dir.resolve("locked"),
        PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
    Proc unsearchable = asUser(NOBODY, NOBODY, "server-nobody", List.of(bin("server"),
        "--socket=" + locked.resolve("sub/n.sock")));
    assertEquals(1, unsearchable.waitFor(WAIT), unsearchable::transcript);
    err = String.join("\n", unsearchable.stderr());
    assertTrue(err.contains("permission denied: a directory on the way to " + locked.resolve("sub")
        + " cannot be searched"), err);
    assertFalse(err.contains("does not exist"), err);
  }

  private Proc asUser(int uid, int gid, String name, List<String> command) throws IOException {
    List<String> cmdLine = new ArrayList<>(List.of("setpriv", "--reuid=" + uid, "--regid=" + gid,
        "--clear-groups"));
    cmdLine.addAll(command);
    return cmd.track(Proc.startRaw(name, cmdLine, Map.of("HOME", "/tmp")));
  }

  private void openDirectoryToEveryone() throws IOException {
    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
  }

  private static String bin(String command) {
    return Proc.ROOT.resolve("bin").resolve(command).toString();
  }

  private static void assumeSecondUid() throws IOException {
    Assumptions.assumeTrue(myUid() == 0 && hasCommand("setpriv"),
        "needs root and setpriv(1) to run a process as uid " + NOBODY);
  }

  private static long myUid() throws IOException {
    return ((Number) Files.getAttribute(Path.of("/proc/self"), "unix:uid")).longValue();
  }

  private static boolean hasCommand(String name) {
    for (String d : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
      if (Files.isExecutable(Path.of(d, name))) {
        return true;
      }
    }
    return false;
  }

}
