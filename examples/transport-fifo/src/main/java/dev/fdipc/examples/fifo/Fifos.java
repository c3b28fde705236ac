package dev.fdipc.examples.fifo;

import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Platform;
import dev.fdipc.spi.Fd;
import dev.fdipc.spi.NativeIoException;
import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The four open ends of one client's two FIFOs, with no name left in the file system.
 *
 * @param serverIn the read end of client-to-server, kept by the server
 * @param serverOut the write end of server-to-client, kept by the server
 * @param clientIn the read end of server-to-client, for the client
 * @param clientOut the write end of client-to-server, for the client
 */
record Fifos(Fd serverIn, Fd serverOut, Fd clientIn, Fd clientOut) {
  private static final FileAttribute<Set<PosixFilePermission>> OWNER_ONLY =
      PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------"));
  private static final String C2S = "c2s";
  private static final String S2C = "s2c";

  /** All four ends. */
  List<Fd> all() {
    return List.of(serverIn, serverOut, clientIn, clientOut);
  }

  /**
   * Makes two FIFOs in a fresh private directory under {@code parent} (or {@code java.io.tmpdir}),
   * opens all four ends, and removes the FIFOs' names and the directory. Leaves nothing open or on
   * disk when it throws.
   */
  static Fifos create(Path parent) throws IOException {
    List<Fd> fds = new ArrayList<>(4);
    try {
      try (PrivateDirectory dir = new PrivateDirectory(parent)) {
        Path c2s = dir.mkfifo(C2S);
        Path s2c = dir.mkfifo(S2C);
        // A read end opened with O_NONBLOCK never waits for a writer, and a write end opens at
        // once when a reader exists, so this order never blocks. O_RDWR would not block either,
        // but a FIFO reports end of stream only once every write end is closed: a side that held
        // a write end it never writes to would never see the other side go.
        fds.add(open(c2s, LibC.O_RDONLY));
        fds.add(open(c2s, LibC.O_WRONLY));
        fds.add(open(s2c, LibC.O_RDONLY));
        fds.add(open(s2c, LibC.O_WRONLY));
      } // the names go now: nobody, not even this user, can open these FIFOs again
      return new Fifos(fds.get(0), fds.get(3), fds.get(2), fds.get(1));
    } catch (IOException | RuntimeException e) {
      Fd.closeAllAfter(e, fds);
      throw e;
    }
  }

  private static Fd open(Path fifo, int access) throws IOException {
    int fd = LibC.INSTANCE.open(fifo.toString(), access | LibC.O_NONBLOCK | LibC.O_CLOEXEC);
    if (fd < 0) {
      throw new NativeIoException("open", Native.getLastError(), fifo.toString());
    }
    return Fd.of(fd);
  }

  /** A directory only its owner can enter, removed with everything made in it on close. */
  static final class PrivateDirectory implements Closeable {
    private final Path path;
    private final List<Path> made = new ArrayList<>(2);

    PrivateDirectory(Path parent) throws IOException {
      try {
        path = parent == null ? Files.createTempDirectory("fdipc-fifo-", OWNER_ONLY)
            : Files.createTempDirectory(parent, "fdipc-fifo-", OWNER_ONLY);
      } catch (java.nio.file.FileSystemException e) {
        // The JDK's exceptions name the file but often not the errno: say both.
        String reason = e instanceof java.nio.file.NoSuchFileException
            ? "error(2): No such file or directory"
            : e instanceof java.nio.file.AccessDeniedException ? "error(13): Permission denied"
            : String.valueOf(e.getReason());
        throw new IOException("cannot make a private directory in "
            + (parent == null ? System.getProperty("java.io.tmpdir") : parent) + ": " + reason, e);
      }
    }

    Path mkfifo(String name) throws IOException {
      Path fifo = path.resolve(name);
      if (LibC.INSTANCE.mkfifo(fifo.toString(), 0600) != 0) {
        throw new NativeIoException("mkfifo", Native.getLastError(), fifo.toString());
      }
      made.add(fifo);
      return fifo;
    }

    @Override
    public void close() throws IOException {
      for (Path p : made) {
        Files.delete(p);
      }
      Files.delete(path);
    }
  }

  /**
   * The C library calls this transport needs. Interface mapping because {@code open} is variadic;
   * speed does not matter here, it runs once per client.
   */
  interface LibC extends Library {
    LibC INSTANCE = Native.load(Platform.C_LIBRARY_NAME, LibC.class);

    // Linux values (x86_64, aarch64 and the other architectures on the generic ABI).
    int O_RDONLY = 0;
    int O_WRONLY = 1;
    int O_NONBLOCK = 0x800;
    int O_CLOEXEC = 0x80000;

    int mkfifo(String path, int mode);

    int open(String path, int flags, Object... mode);
  }
}
