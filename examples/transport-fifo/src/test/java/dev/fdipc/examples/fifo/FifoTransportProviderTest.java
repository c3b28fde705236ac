package dev.fdipc.examples.fifo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fdipc.spi.Fd;
import dev.fdipc.spi.NativeIoException;
import dev.fdipc.spi.ServerEnd;
import dev.fdipc.spi.TransportSettings;
import dev.fdipc.testkit.FdCount;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** What the conformance suite cannot see: where the FIFOs live, who may open them, and when. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class FifoTransportProviderTest {
  private static final int S_IFMT = 0170000;
  private static final int S_IFIFO = 0010000;
  private static final int O_ACCMODE = 3;

  @TempDir
  Path parent;

  private final FifoTransportProvider provider = new FifoTransportProvider();

  private TransportSettings settings(Path dir) {
    return new TransportSettings(1 << 20, Map.of(FifoTransportProvider.DIR_OPTION,
        dir.toString()));
  }

  @Test
  void leavesNoNameOnDiskOnceTheClientsEndsExist() throws IOException {
    ServerEnd end = provider.createServer(settings(parent));
    try {
      assertEquals(List.of(), entries(parent), "private directory or FIFOs left behind");
      assertEquals(2, end.clientFds().size());
      Fd in = end.clientFds().get(0);
      Fd out = end.clientFds().get(1);
      String privateDir = parent + "/fdipc-fifo-[^/]+/";
      assertTrue(target(in).matches(privateDir + "s2c \\(deleted\\)"), target(in));
      assertTrue(target(out).matches(privateDir + "c2s \\(deleted\\)"), target(out));
      for (Fd fd : end.clientFds()) {
        int mode = (Integer) Files.getAttribute(procFd(fd.intValue()), "unix:mode");
        assertEquals(S_IFIFO, mode & S_IFMT, "not a FIFO: " + Integer.toOctalString(mode));
        assertEquals(0600, mode & 0777, "FIFO mode " + Integer.toOctalString(mode & 0777));
      }
      assertEquals(0, accessMode(in), "the client reads server-to-client");
      assertEquals(1, accessMode(out), "the client writes client-to-server");
    } finally {
      end.channel().close();
      Fd.closeAll(end.clientFds());
    }
  }

  @Test
  void opensEachFifoOnceForReadingAndOnceForWritingAndNeverBoth() throws IOException {
    // The server's ends live inside its channel; /proc shows them beside the client's. A second
    // writer of client-to-server (or an O_RDWR end) would keep the server from ever seeing end of
    // stream when the client dies.
    ServerEnd end = provider.createServer(settings(parent));
    try {
      for (String fifo : List.of("c2s", "s2c")) {
        List<Integer> modes = new ArrayList<>();
        for (Map.Entry<Integer, String> e : FdCount.snapshot().entrySet()) {
          if (e.getValue().startsWith(parent + "/") && e.getValue().endsWith("/" + fifo
              + " (deleted)")) {
            modes.add(accessMode(e.getKey()));
          }
        }
        modes.sort(null);
        assertEquals(List.of(0, 1), modes, fifo + ": access modes of its open ends");
      }
    } finally {
      end.channel().close();
      Fd.closeAll(end.clientFds());
    }
  }

  @Test
  void privateDirectoryIsOwnerOnlyAndLeavesWithItsFifos() throws IOException {
    try (Fifos.PrivateDirectory dir = new Fifos.PrivateDirectory(parent)) {
      List<Path> made = entries(parent);
      assertEquals(1, made.size(), made::toString);
      assertEquals("rwx------", PosixFilePermissions.toString(
          Files.getPosixFilePermissions(made.get(0))));
      Path fifo = dir.mkfifo("x");
      assertEquals(made.get(0), fifo.getParent());
      assertTrue(Files.exists(fifo));
    }
    assertEquals(List.of(), entries(parent));
  }

  @Test
  void mkfifoFailureNamesTheCallTheErrorAndThePath() throws IOException {
    try (Fifos.PrivateDirectory dir = new Fifos.PrivateDirectory(parent)) {
      Path fifo = dir.mkfifo("x");
      NativeIoException e = assertThrows(NativeIoException.class, () -> dir.mkfifo("x"));
      assertEquals("mkfifo", e.call());
      assertEquals(17, e.errno()); // EEXIST
      assertTrue(e.getMessage().startsWith("mkfifo(..) failed with error(17): "), e.getMessage());
      assertTrue(e.getMessage().endsWith(fifo.toString()), e.getMessage());
    }
  }

  @Test
  void missingDirectoryFailsWithItsPathAndLeaksNothing() throws IOException {
    Path missing = parent.resolve("missing");
    provider.unavailabilityCause(); // probe first: it opens and closes descriptors once
    java.util.Map<Integer, String> before = FdCount.snapshot();
    IOException e = assertThrows(IOException.class,
        () -> provider.createServer(settings(missing)));
    assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());
    assertEquals(java.util.Map.of(), FdCount.openedSince(before), FdCount::describe);
    assertEquals(List.of(), entries(parent));
  }

  private static List<Path> entries(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.collect(Collectors.toList());
    }
  }

  private static Path procFd(int fd) {
    return Path.of("/proc/self/fd/" + fd);
  }

  private static String target(Fd fd) throws IOException {
    return Files.readSymbolicLink(procFd(fd.intValue())).toString();
  }

  private static int accessMode(Fd fd) throws IOException {
    return accessMode(fd.intValue());
  }

  /** O_RDONLY (0), O_WRONLY (1) or O_RDWR (2), from the {@code flags:} line of fdinfo. */
  private static int accessMode(int fd) throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/self/fdinfo/" + fd))) {
      if (line.startsWith("flags:")) {
        return Integer.parseInt(line.substring("flags:".length()).trim(), 8) & O_ACCMODE;
      }
    }
    throw new AssertionError("no flags in /proc/self/fdinfo/" + fd);
  }

  @Test
  void shouldRejectADirectoryThatCannotWorkWhenTheServerStarts() throws IOException {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> provider.checkOptions(settings(Path.of("/nonexistent"))));
    assertEquals("fifo.dir=/nonexistent: the directory does not exist; create it (mkdir -m 0700 "
        + "/nonexistent) or choose another", e.getMessage());
    Path file = Files.writeString(parent.resolve("file"), "");
    assertTrue(assertThrows(IllegalArgumentException.class,
        () -> provider.checkOptions(settings(file))).getMessage().contains("is not a directory"));
    provider.checkOptions(settings(parent));
  }

  @Test
  void shouldNameTheErrnoWhenTheDirectoryGoesAwayLater() {
    IOException e = assertThrows(IOException.class,
        () -> provider.createServer(settings(parent.resolve("gone"))));
    assertTrue(e.getMessage().startsWith("cannot make a private directory in " + parent
        + "/gone: error(2): No such file or directory"), e.getMessage());
  }
}
