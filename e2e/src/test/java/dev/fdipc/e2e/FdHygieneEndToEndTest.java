package dev.fdipc.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.jna.Library;
import com.sun.jna.Native;
import dev.fdipc.FdipcClient;
import dev.fdipc.IpcChannel;
import dev.fdipc.internal.ControlSocket;
import dev.fdipc.internal.Frame;
import dev.fdipc.internal.LibC;
import dev.fdipc.internal.Wire;
import dev.fdipc.spi.Fd;
import dev.fdipc.testkit.FdCount;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What the real server holds and hands out: every fd it holds is close-on-exec while clients of
 * every transport are connected, and each client receives exactly the fds agreed for its transport
 * (count and kind), none of which the server keeps a copy of.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class FdHygieneEndToEndTest {
  private static final Duration WAIT = Duration.ofSeconds(30);
  private static final List<String> TRANSPORTS = List.of("pipe", "socketpair", "memfd", "mqueue");
  private static final int O_CLOEXEC = 02000000;
  private static final int O_ACCMODE = 3;

  @TempDir
  Path dir;

  private Commands cmd;
  private Proc server;
  private Path socket;

  @BeforeEach
  void setUp() throws Exception {
    socket = dir.resolve("s.sock");
    cmd = new Commands(socket, Map.of());
    server = cmd.server("--transport=" + String.join(",", TRANSPORTS));
  }

  @AfterEach
  void tearDown() {
    cmd.close();
  }

  @Test
  void shouldHoldEveryFdCloseOnExecWithClientsOfEveryTransport() throws Exception {
    List<IpcChannel> clients = new ArrayList<>();
    try {
      for (String t : TRANSPORTS) {
        clients.add(FdipcClient.builder().socket(socket).clientId(clients.size() + 1)
            .transports(t).connect());
        server.awaitOut("client " + clients.size() + " connected: transport=" + t, WAIT);
      }
      // A conversation on each, so that every lazily opened fd of the server exists.
      for (IpcChannel c : clients) {
        c.send(java.nio.ByteBuffer.wrap("hello".getBytes(StandardCharsets.UTF_8)));
        java.nio.ByteBuffer reply = java.nio.ByteBuffer.allocate(c.maxMessageSize());
        assertTrue(c.receive(reply, 30, TimeUnit.SECONDS) > 0, "no reply over " + c.transport());
      }
      StringBuilder offenders = new StringBuilder();
      int checked = 0;
      for (Map.Entry<Integer, String> e : serverFds(server).entrySet()) {
        int fd = e.getKey();
        if (fd <= 2) {
          continue; // stdin, stdout, stderr: meant to be inherited
        }
        Integer flags = flags(server.pid(), fd);
        if (flags == null) {
          continue; // closed while listing
        }
        checked++;
        if ((flags & O_CLOEXEC) == 0) {
          offenders.append("\n  ").append(fd).append(" -> ").append(e.getValue())
              .append(" flags=0").append(Integer.toOctalString(flags));
        }
      }
      assertTrue(checked > 4 * 2, "expected the server to hold fds for 4 clients, checked only "
          + checked);
      assertEquals("", offenders.toString(), "server fds without O_CLOEXEC");
    } finally {
      for (IpcChannel c : clients) {
        c.close();
      }
    }
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"pipe", "socketpair", "memfd", "mqueue"})
  void shouldGiveTheClientExactlyTheAgreedFdsAndKeepNoCopy(String transport) throws Exception {
    assertExactFds(socket, server, transport, expectedKinds(transport));
  }

  /**
   * Handshakes with the server on {@code socket} for {@code transport} as a client would and
   * checks that the ACCEPT opened exactly {@code kinds} in this process (see {@link #kind}) and that
   * the server kept no fd sharing an open file with them, doorbell eventfds excepted.
   */
  static void assertExactFds(Path socket, Proc server, String transport, List<String> kinds)
      throws Exception {
    // The first handshake in this JVM opens fds of its own (libffi's closure file, say).
    int warm = ControlSocket.connect(socket);
    try {
      ControlSocket.write(warm, hello(76, transport), List.of(),
          System.nanoTime() + WAIT.toNanos());
      ControlSocket.Received warmUp = ControlSocket.read(warm, true,
          System.nanoTime() + WAIT.toNanos());
      assertNotNull(warmUp, "server closed instead of answering");
      Fd.closeAll(warmUp.fds());
    } finally {
      LibC.close(warm);
    }
    int control = ControlSocket.connect(socket);
    try {
      ControlSocket.write(control, hello(77, transport), List.of(),
          System.nanoTime() + WAIT.toNanos());
      Map<Integer, String> before = FdCount.snapshot();
      ControlSocket.Received accept = ControlSocket.read(control, true,
          System.nanoTime() + WAIT.toNanos());
      Map<Integer, String> after = FdCount.snapshot();
      assertNotNull(accept, "server closed instead of answering");
      assertEquals(Frame.ACCEPT, accept.frame().type(), () -> Frame.typeName(
          accept.frame().type()));
      List<Fd> fds = accept.fds();
      try {
        server.awaitOut("client 77 connected: transport=" + transport, WAIT);
        assertEquals(fds.size(), after.size() - before.size(),
            "fds opened in the client by the ACCEPT:" + FdCount.diff(before, after));
        List<String> received = new ArrayList<>();
        for (Fd fd : fds) {
          received.add(kind(fd.intValue()));
        }
        assertEquals(kinds, received, "fds received for " + transport);

        // The server closed its copies of what it sent: no fd of its refers to the same open file
        // as one of the client's, except the memfd doorbells, which are shared by design (the
        // server keeps one end of each eventfd, the client gets a duplicate).
        long self = ProcessHandle.current().pid();
        for (Fd fd : fds) {
          int shared = 0;
          for (int serverFd : serverFds(server).keySet()) {
            if (Kcmp.sameFile(self, fd.intValue(), server.pid(), serverFd)) {
              shared++;
            }
          }
          String kind = kind(fd.intValue());
          int allowed = kind.equals("anon_inode:[eventfd]") ? 1 : 0;
          assertEquals(allowed, shared, "server fds sharing the open file of the client's "
              + kind + " (fd " + fd.intValue() + ")");
        }
      } finally {
        Fd.closeAll(fds);
      }
    } finally {
      LibC.close(control);
    }
  }

  private static byte[] hello(int clientId, String transport) {
    return Wire.frame(Frame.HELLO, 0,
        Wire.encodeHello(new Wire.Hello(clientId, 0, List.of(transport))));
  }

  /** The kind of each fd a transport sends, in ACCEPT order, with pipe ends' access mode. */
  private static List<String> expectedKinds(String transport) {
    switch (transport) {
      case "pipe":
        return List.of("pipe r", "pipe w"); // to the client, to the server
      case "socketpair":
        return List.of("socket rw");
      case "memfd":
        return List.of("memfd rw", "anon_inode:[eventfd]", "anon_inode:[eventfd]",
            "anon_inode:[eventfd]", "anon_inode:[eventfd]");
      case "mqueue":
        return List.of("mqueue r", "mqueue w", "socket rw"); // the peer link detects a dead peer
      default:
        throw new IllegalArgumentException(transport);
    }
  }

  /**
   * What {@code fd} of this process is, with its access mode (r, w, rw): {@code pipe},
   * {@code socket}, {@code memfd}, {@code mqueue}, {@code fifo} (a named FIFO), or the readlink
   * text of an {@code anon_inode}.
   */
  static String kind(int fd) throws IOException {
    String target = Files.readSymbolicLink(Path.of("/proc/self/fd/" + fd)).toString();
    int mode = flags(ProcessHandle.current().pid(), fd) & O_ACCMODE;
    String access = mode == 0 ? "r" : mode == 1 ? "w" : "rw";
    if (target.startsWith("anon_inode:")) {
      return target;
    }
    if (target.startsWith("pipe:")) {
      return "pipe " + access;
    }
    if (target.startsWith("socket:")) {
      return "socket " + access;
    }
    if (target.startsWith("/memfd:")) {
      return "memfd " + access;
    }
    if (isMqueue(fd)) {
      return "mqueue " + access;
    }
    int fileMode = (Integer) Files.getAttribute(Path.of("/proc/self/fd/" + fd), "unix:mode");
    if ((fileMode & 0170000) == 0010000) {
      return "fifo " + access;
    }
    return target + " " + access;
  }

  /** A POSIX message queue: its file system's {@code f_type} is {@code MQUEUE_MAGIC}. */
  private static boolean isMqueue(int fd) {
    try (com.sun.jna.Memory statfs = new com.sun.jna.Memory(256)) {
      return Kcmp.C.fstatfs(fd, statfs) == 0 && statfs.getLong(0) == 0x19800202L;
    }
  }

  private static Integer flags(long pid, int fd) throws IOException {
    try {
      for (String l : Files.readAllLines(Path.of("/proc/" + pid + "/fdinfo/" + fd))) {
        if (l.startsWith("flags:")) {
          return Integer.parseInt(l.substring(6).trim(), 8);
        }
      }
    } catch (java.nio.file.NoSuchFileException e) {
      return null;
    }
    return null;
  }

  private static Map<Integer, String> serverFds(Proc server) throws IOException {
    TreeMap<Integer, String> fds = new TreeMap<>();
    try (Stream<Path> s = Files.list(Path.of("/proc/" + server.pid() + "/fd"))) {
      s.forEach(p -> {
        try {
          fds.put(Integer.parseInt(p.getFileName().toString()),
              Files.readSymbolicLink(p).toString());
        } catch (IOException e) {
          // closed while listing
        }
      });
    }
    return fds;
  }

  /**
   * {@code kcmp(2)} with {@code KCMP_FILE}: do two fds of two processes share an open file? And
   * {@code fstatfs(2)}.
   */
  private interface Kcmp extends Library {
    Kcmp C = Native.load("c", Kcmp.class);
    long SYS_KCMP = 312; // x86-64
    int KCMP_FILE = 0;

    long syscall(long number, Object... args);

    int fstatfs(int fd, com.sun.jna.Pointer buf);

    static boolean sameFile(long pid1, int fd1, long pid2, int fd2) {
      Assumptions.assumeTrue("amd64".equals(System.getProperty("os.arch")),
          "kcmp's syscall number here is x86-64's");
      long r = C.syscall(SYS_KCMP, (int) pid1, (int) pid2, KCMP_FILE, (long) fd1, (long) fd2);
      if (r < 0) {
        int errno = Native.getLastError();
        Assumptions.assumeTrue(errno != 38 && errno != 1,
            "kcmp(2) is not available here (errno " + errno + "): cannot compare open files");
        return false; // the server's fd closed while we looked
      }
      return r == 0;
    }
  }
}
