package dev.fdipc.internal;

import java.io.IOException;
import java.net.SocketException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributeView;
import java.util.Objects;
import org.newsclub.net.unix.AFUNIXServerSocket;
import org.newsclub.net.unix.AFUNIXSocket;
import org.newsclub.net.unix.AFUNIXSocketAddress;

/**
 * The server's hold on its socket path.
 *
 * <p>A lock file beside the socket ({@code PATH.lock}, held with {@code flock} for the server's
 * whole life and released by the kernel if it dies) serializes servers that start on the same path,
 * so two of them can never both decide that a socket is stale and delete each other's. Under the
 * lock: a socket that accepts a connection belongs to a live server (refuse); one that refuses
 * connections was left by a crashed server (replace); anything that is not a socket is never
 * touched. At close the socket file is removed only if it is still the inode this server created.
 * The lock file stays: deleting it would reopen the race it closes.
 *
 * <p>The socket file never has a looser mode than the one asked for: Linux creates it with the
 * socket inode's mode masked by the umask, so the socket is {@code fchmod}ed before {@code bind},
 * and {@code chmod}ed to the exact mode after (undoing what the umask removed). Binding elsewhere
 * and linking into place does not work: junixsocket closes a listening socket whose bound path is
 * gone.
 */
public final class SocketBinding {
  private static final int S_IFMT = 0170000;
  private static final int S_IFSOCK = 0140000;
  private static final int BACKLOG = 128;
  private static final int SUN_PATH_MAX = 107;

  private final Path path;
  private final AFUNIXServerSocket serverSocket;
  private final Object inode;
  private final FileChannel lockChannel;
  private boolean closed;

  private SocketBinding(Path path, AFUNIXServerSocket serverSocket, Object inode,
      FileChannel lockChannel) {
    this.path = path;
    this.serverSocket = serverSocket;
    this.inode = inode;
    this.lockChannel = lockChannel;
  }

  /**
   * Binds {@code path}, replacing a stale socket and refusing a live one or a non-socket.
   *
   * @param mode the socket file's permissions, such as {@code rw-------}
   */
  public static SocketBinding bind(Path path, java.util.Set<java.nio.file.attribute.PosixFilePermission> mode)
      throws IOException {
    return bind(path, mode, null);
  }

  /**
   * Binds {@code path} like {@link #bind(Path, java.util.Set)} and gives the socket file
   * {@code group} before its final mode is set. With a group, only the owner bits of {@code mode}
   * are in place before the group is changed: the socket is never open to the server's own group
   * while it belongs to it.
   *
   * @param group the socket file's group, or {@code null} for the server's own
   */
  public static SocketBinding bind(Path path,
      java.util.Set<java.nio.file.attribute.PosixFilePermission> mode, GroupPrincipal group)
      throws IOException {
    Path abs = path.toAbsolutePath();
    int length = abs.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
    if (length > SUN_PATH_MAX) {
      throw new IOException("socket path " + abs + " is " + length + " bytes; UNIX sockets allow "
          + SUN_PATH_MAX + ": choose a shorter --socket");
    }
    Path dir = abs.getParent();
    if (dir == null || !Files.isDirectory(dir)) {
      throw new IOException("cannot create socket " + abs + ": directory " + dir
          + " does not exist");
    }
    Path lockPath = abs.resolveSibling(abs.getFileName() + ".lock");
    FileChannel lockChannel;
    try {
      lockChannel = FileChannel.open(lockPath, java.util.Set.of(StandardOpenOption.CREATE,
          StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS),
          java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
              java.nio.file.attribute.PosixFilePermissions.fromString("rw-------")));
    } catch (IOException e) {
      throw new IOException("cannot open lock file " + lockPath + ": " + e.getMessage(), e);
    }
    try {
      FileLock lock;
      try {
        lock = lockChannel.tryLock();
      } catch (OverlappingFileLockException e) {
        lock = null; // held by another server in this same JVM
      }
      if (lock == null) {
        throw new IOException("another fdipc server is running or starting on " + abs
            + " (it holds " + lockPath + "); stop it or choose another --socket");
      }
      clearStale(abs);
      AFUNIXServerSocket ss = AFUNIXServerSocket.newInstance();
      boolean bound = false;
      try {
        ss.setDeleteOnClose(false);
        int bits = modeBits(mode);
        int fd = org.newsclub.net.unix.FileDescriptorCast.using(ss.getFileDescriptor())
            .as(Integer.class);
        if (LibC.fchmod(fd, group == null ? bits : bits & 0700) != 0) {
          throw dev.fdipc.spi.NativeIoException.lastError("fchmod");
        }
        ss.bind(AFUNIXSocketAddress.of(abs), BACKLOG);
        bound = true;
        if (group != null) {
          setGroup(abs, group);
        }
        Files.setPosixFilePermissions(abs, mode);
        Object key = Files.readAttributes(abs, BasicFileAttributes.class,
            LinkOption.NOFOLLOW_LINKS).fileKey();
        return new SocketBinding(abs, ss, key, lockChannel);
      } catch (IOException e) {
        ss.close();
        if (bound) { // our own socket file, under our lock: no one else's to keep
          Files.deleteIfExists(abs);
        }
        throw new IOException("cannot listen on " + abs + ": " + e.getMessage(), e);
      }
    } catch (IOException | RuntimeException e) {
      lockChannel.close();
      throw e;
    }
  }

  private static void setGroup(Path socket, GroupPrincipal group) throws IOException {
    try {
      Files.getFileAttributeView(socket, PosixFileAttributeView.class, LinkOption.NOFOLLOW_LINKS)
          .setGroup(group);
    } catch (IOException e) {
      String why = e instanceof java.nio.file.FileSystemException f && f.getReason() != null
          ? f.getReason() : e.getMessage();
      throw new IOException("cannot give the socket to group " + group.getName() + " (" + why
          + "); the server's user must be a member of that group: choose one from `id -Gn`, "
          + "or add the user with usermod -aG " + group.getName() + " USER", e);
    }
  }

  /**
   * A warning if the socket's directory is writable by its group or by others, who could then
   * delete or replace the socket (or, in a sticky directory like /tmp, take its name while the
   * server is down) and receive the connections meant for this server; empty otherwise.
   */
  public static java.util.Optional<String> directoryWarning(Path socket) {
    Path dir = socket.toAbsolutePath().getParent();
    int mode;
    try {
      mode = (Integer) Files.getAttribute(dir, "unix:mode");
    } catch (IOException | RuntimeException e) {
      return java.util.Optional.empty(); // we just bound a socket in it; nothing more to learn
    }
    if ((mode & 0022) == 0) {
      return java.util.Optional.empty();
    }
    String who = (mode & 0002) != 0 ? "every user" : "its group";
    if ((mode & 01000) != 0) {
      return java.util.Optional.of("socket directory " + dir + " is writable by " + who
          + " (sticky, like /tmp): they cannot remove " + socket.getFileName() + " while the "
          + "server runs, but while it is down anyone of them can create a socket by that name "
          + "and receive the connections of clients that trust it; use $XDG_RUNTIME_DIR or a "
          + "directory only this user can write (mkdir -m 0700 DIR)");
    }
    return java.util.Optional.of("socket directory " + dir + " is writable by " + who
        + ": anyone of them can delete or replace " + socket.getFileName() + " and receive the "
        + "connections meant for this server; use $XDG_RUNTIME_DIR or a directory only this user "
        + "can write (chmod go-w " + dir + ")");
  }

  private static int modeBits(java.util.Set<java.nio.file.attribute.PosixFilePermission> mode) {
    int bits = 0;
    for (java.nio.file.attribute.PosixFilePermission p : mode) {
      bits |= 0400 >> p.ordinal(); // OWNER_READ is ordinal 0 ... OTHERS_EXECUTE is 8
    }
    return bits;
  }

  private static void clearStale(Path path) throws IOException {
    BasicFileAttributes attrs;
    try {
      attrs = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    } catch (NoSuchFileException e) {
      return;
    }
    if (attrs.isSymbolicLink()) {
      throw new IOException(path + " is a symbolic link; refusing to replace it: remove it or "
          + "choose another --socket");
    }
    int mode = (Integer) Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS);
    if ((mode & S_IFMT) != S_IFSOCK) {
      throw new IOException(path + " exists and is not a socket; refusing to delete it: remove it "
          + "or choose another --socket");
    }
    // Not AFUNIXSocket.connectTo: it leaves its socket open until GC when connect(2) fails.
    try (AFUNIXSocket probe = AFUNIXSocket.newInstance()) {
      probe.connect(AFUNIXSocketAddress.of(path));
      throw new IOException("a server is already listening on " + path
          + "; stop it or choose another --socket");
    } catch (SocketException e) {
      if (!isConnectionRefused(e)) {
        throw new IOException("cannot tell whether the server on " + path + " is alive: "
            + e.getMessage() + "; refusing to replace it", e);
      }
    }
    // Connection refused: nobody listens; a crashed server left it.
    Files.deleteIfExists(path);
  }

  private static boolean isConnectionRefused(SocketException e) {
    return e instanceof java.net.ConnectException
        || e.getClass().getSimpleName().startsWith("ConnectionRefused")
        || String.valueOf(e.getMessage()).contains("Connection refused");
  }

  public Path path() {
    return path;
  }

  public AFUNIXServerSocket serverSocket() {
    return serverSocket;
  }

  /** Stops listening, removes the socket file if it is still ours, and releases the lock. */
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    try {
      serverSocket.close();
    } catch (IOException ignored) {
      // closing a listening socket does not fail in a way anyone can act on
    }
    try {
      Object now = Files.readAttributes(path, BasicFileAttributes.class,
          LinkOption.NOFOLLOW_LINKS).fileKey();
      if (Objects.equals(now, inode)) {
        Files.deleteIfExists(path);
      }
    } catch (IOException ignored) {
      // already gone, or replaced by someone else's file: leave it
    }
    try {
      lockChannel.close();
    } catch (IOException ignored) {
      // the lock is released with the descriptor either way
    }
  }
}
