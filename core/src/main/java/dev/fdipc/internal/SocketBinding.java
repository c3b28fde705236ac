package dev.fdipc.internal;

import java.io.IOException;
import java.net.SocketException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
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
 * The lock file is removed at close and when a start is refused, under the lock; a server that
 * locked a file whose name was removed meanwhile notices and locks the current one (see
 * {@link #lock}), so removing it does not reopen the race it closes.
 *
 * <p>The socket file never has a looser mode than the one asked for, and nobody can connect
 * before it has its final group and mode: Linux creates it with the socket inode's mode masked by
 * the umask, so the socket is {@code fchmod}ed before {@code bind}, given its group, {@code chmod}ed
 * to the exact mode (undoing what the umask removed), and only then put in {@code listen}. These
 * calls are made directly, not through junixsocket, whose bind sets the file to 0666 and listens
 * at once. Binding elsewhere and linking into place does not work: junixsocket closes a listening
 * socket whose bound path is gone.
 */
public final class SocketBinding {
  private static final int S_IFMT = 0170000;
  private static final int S_IFSOCK = 0140000;
  private static final int BACKLOG = 128;
  private static final int SUN_PATH_MAX = 107;

  private final Path path;
  private final AFUNIXServerSocket serverSocket;
  private final Object inode;
  private final Path lockPath;
  private final int lockFd;
  private final int fd;
  private boolean closed;

  private SocketBinding(Path path, AFUNIXServerSocket serverSocket, int fd, Object inode,
      Path lockPath, int lockFd) {
    this.lockPath = lockPath;
    this.lockFd = lockFd;
    this.path = path;
    this.serverSocket = serverSocket;
    this.fd = fd;
    this.inode = inode;
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
    checkPathLength(abs);
    Path dir = abs.getParent();
    if (dir != null && dir.equals(dev.fdipc.FdipcDefaults.privateDirectory())) {
      ensurePrivateDirectory(dir, dev.fdipc.FdipcDefaults.currentUid());
    }
    checkDirectory(abs, dir);
    Path lockPath = abs.resolveSibling(abs.getFileName() + ".lock");
    int lockFd = lock(abs, lockPath);
    try {
      clearStale(abs);
      return listen(abs, modeBits(mode), group, lockPath, lockFd);
    } catch (IOException | RuntimeException e) {
      unlock(lockPath, lockFd); // refused before the bind: leave no lock file behind
      throw e;
    }
  }

  /**
   * Opens and locks {@code lockPath} with flock(2) and returns the descriptor. The lock file is
   * removed by its holder when done ({@link #unlock}), so a server may lock a file whose name was
   * removed meanwhile while a third creates and locks a new one: after locking, each checks that
   * the name still leads to the file it locked (the same inode as its descriptor), and tries
   * again if not. flock rather than fcntl locks: an fcntl lock is dropped when the process closes
   * any descriptor of the file, including one the check would open.
   */
  private static int lock(Path abs, Path lockPath) throws IOException {
    for (int attempt = 0; attempt < 100; attempt++) {
      int fd = LibC.open(lockPath.toString(), LibC.O_WRONLY | LibC.O_CREAT | LibC.O_NOFOLLOW
          | LibC.O_CLOEXEC, 0600);
      if (fd < 0) {
        int errno = LibC.errno();
        if (errno == LibC.EACCES) {
          throw new IOException("cannot create socket " + abs + ": permission denied: this user "
              + "cannot create files in " + abs.getParent() + " (for the lock file "
              + lockPath.getFileName() + "); choose a --socket in a directory it can write, such "
              + "as $XDG_RUNTIME_DIR");
        }
        throw new IOException("cannot open lock file " + lockPath + ": "
            + new dev.fdipc.spi.NativeIoException("open", errno).getMessage());
      }
      boolean keep = false;
      try {
        if (LibC.flock(fd, LibC.LOCK_EX | LibC.LOCK_NB) != 0) {
          throw new IOException("another fdipc server is running or starting on " + abs
              + " (it holds " + lockPath + "); stop it or choose another --socket");
        }
        Object locked = Files.readAttributes(Path.of("/proc/self/fd/" + fd),
            BasicFileAttributes.class).fileKey(); // stat(2) through the link: opens nothing
        Object named;
        try {
          named = Files.readAttributes(lockPath, BasicFileAttributes.class,
              LinkOption.NOFOLLOW_LINKS).fileKey();
        } catch (NoSuchFileException e) {
          named = null; // removed by the server that held it before us
        }
        if (Objects.equals(locked, named)) {
          keep = true;
          return fd;
        }
      } finally {
        if (!keep) {
          LibC.close(fd);
        }
      }
    }
    throw new IOException("cannot lock " + lockPath + ": it keeps being replaced; is a program "
        + "deleting files in " + lockPath.getParent() + "?");
  }

  /** Removes the lock file while still holding its lock, then releases it. */
  private static void unlock(Path lockPath, int lockFd) {
    try {
      Files.deleteIfExists(lockPath);
    } catch (IOException ignored) {
      // a lock file left behind is harmless: the next server locks and reuses it
    }
    LibC.close(lockFd);
  }

  /**
   * Refuses a path longer than {@code sun_path} holds, in the words both the server and the client
   * use.
   */
  public static void checkPathLength(Path abs) throws IOException {
    int length = abs.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
    if (length > SUN_PATH_MAX) {
      throw new IOException("socket path " + abs + " is " + length + " bytes; UNIX sockets allow "
          + SUN_PATH_MAX + ": choose a shorter --socket");
    }
  }

  /**
   * Creates {@code dir} with mode 0700 if it is missing; refuses one that is not a real directory,
   * belongs to another user, or that others can write: in /tmp, anyone could have made it first.
   */
  public static void ensurePrivateDirectory(Path dir, long uid) throws IOException {
    try {
      Files.createDirectory(dir, java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
          java.nio.file.attribute.PosixFilePermissions.fromString("rwx------")));
    } catch (java.nio.file.FileAlreadyExistsException e) {
      // checked below, whoever made it
    }
    java.util.Map<String, Object> a = Files.readAttributes(dir, "unix:mode,uid,isDirectory,"
        + "isSymbolicLink", LinkOption.NOFOLLOW_LINKS);
    if (!(Boolean) a.get("isDirectory") || (Boolean) a.get("isSymbolicLink")) {
      throw new IOException(dir + " is not a directory; remove it, or choose a --socket "
          + "elsewhere (or set $XDG_RUNTIME_DIR)");
    }
    long owner = ((Number) a.get("uid")).longValue();
    int mode = (Integer) a.get("mode") & 07777;
    if (owner != uid) {
      throw new IOException(dir + " belongs to uid " + owner + ", not to this user (uid " + uid
          + "), who might take the connections meant for this server; remove it, or choose a "
          + "--socket elsewhere (or set $XDG_RUNTIME_DIR)");
    }
    if ((mode & 0077) != 0) {
      throw new IOException(dir + " has mode 0" + Integer.toOctalString(mode) + "; it must be "
          + "this user's alone: chmod 0700 " + dir);
    }
  }

  /** The directory of the socket: there, a directory, and reachable by this user. */
  private static void checkDirectory(Path abs, Path dir) throws IOException {
    if (dir == null) {
      throw new IOException("cannot create socket " + abs + ": it has no directory");
    }
    BasicFileAttributes a;
    try {
      a = Files.readAttributes(dir, BasicFileAttributes.class);
    } catch (java.nio.file.AccessDeniedException e) {
      throw new IOException("cannot create socket " + abs + ": permission denied: a directory "
          + "on the way to " + dir + " cannot be searched by this user; choose a --socket in a "
          + "directory it can reach", e);
    } catch (NoSuchFileException e) {
      throw new IOException("cannot create socket " + abs + ": directory " + dir
          + " does not exist; create it (mkdir -m 0700 " + dir + ") or choose another --socket", e);
    }
    if (!a.isDirectory()) {
      throw new IOException("cannot create socket " + abs + ": " + dir + " is not a directory");
    }
  }

  /** The reason of a file-system failure, which the JDK often leaves out of the message. */
  static String reason(IOException e) {
    if (e instanceof java.nio.file.AccessDeniedException) {
      return "permission denied";
    }
    if (e instanceof NoSuchFileException) {
      return "no such file or directory";
    }
    if (e instanceof java.nio.file.FileSystemException f && f.getReason() != null) {
      return f.getReason();
    }
    return String.valueOf(e.getMessage());
  }

  /**
   * socket, fchmod, bind, chown, chmod, listen, by hand: junixsocket's bind chmods the new socket
   * file to 0666 (checked with strace on 2.11.1), which would let anyone connect until the mode is
   * set, and it listens at once. Here the file is created with at most the final mode's owner bits
   * (the socket's own mode before bind), and nobody can connect at all until it has its final
   * group and mode, because listen comes last. junixsocket takes over the listening fd but does
   * not own it: closing the server socket leaves the fd open, so {@link #close()} closes it.
   */
  private static SocketBinding listen(Path abs, int bits, GroupPrincipal group, Path lockPath,
      int lockFd) throws IOException {
    int fd = LibC.socket(LibC.AF_UNIX, LibC.SOCK_STREAM | LibC.SOCK_CLOEXEC, 0);
    if (fd < 0) {
      throw new IOException("cannot listen on " + abs + ": "
          + dev.fdipc.spi.NativeIoException.lastError("socket").getMessage());
    }
    AFUNIXServerSocket ss = null;
    boolean bound = false;
    try {
      if (LibC.fchmod(fd, group == null ? bits : bits & 0700) != 0) {
        throw dev.fdipc.spi.NativeIoException.lastError("fchmod");
      }
      byte[] addr = ControlSocket.sockaddrUn(abs);
      if (LibC.bind(fd, addr, addr.length) != 0) {
        throw dev.fdipc.spi.NativeIoException.lastError("bind");
      }
      bound = true;
      if (group != null) {
        setGroup(abs, group);
      }
      Files.setPosixFilePermissions(abs, permissions(bits)); // undoes what the umask removed
      if (LibC.listen(fd, BACKLOG) != 0) {
        throw dev.fdipc.spi.NativeIoException.lastError("listen");
      }
      ss = org.newsclub.net.unix.FileDescriptorCast.unsafeUsing(fd).as(AFUNIXServerSocket.class);
      ss.setDeleteOnClose(false);
      Object key = Files.readAttributes(abs, BasicFileAttributes.class,
          LinkOption.NOFOLLOW_LINKS).fileKey();
      return new SocketBinding(abs, ss, fd, key, lockPath, lockFd);
    } catch (IOException | RuntimeException e) {
      if (ss != null) {
        closeQuietly(ss);
      }
      LibC.close(fd);
      if (bound) { // our own socket file, under our lock: no one else's to keep
        Files.deleteIfExists(abs);
      }
      throw new IOException("cannot listen on " + abs + ": " + e.getMessage(), e);
    }
  }

  private static java.util.Set<java.nio.file.attribute.PosixFilePermission> permissions(int bits) {
    java.util.Set<java.nio.file.attribute.PosixFilePermission> perms =
        java.util.EnumSet.noneOf(java.nio.file.attribute.PosixFilePermission.class);
    for (java.nio.file.attribute.PosixFilePermission p
        : java.nio.file.attribute.PosixFilePermission.values()) {
      if ((bits & (0400 >> p.ordinal())) != 0) {
        perms.add(p);
      }
    }
    return perms;
  }

  private static void closeQuietly(java.io.Closeable c) {
    try {
      c.close();
    } catch (IOException ignored) {
      // failing already; the first error is the one to report
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

  /** The listening socket's descriptor; valid until {@link #close()}. */
  public int fd() {
    return fd;
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
    LibC.close(fd); // junixsocket does not close an fd it was handed (unsafeUsing)
    try {
      Object now = Files.readAttributes(path, BasicFileAttributes.class,
          LinkOption.NOFOLLOW_LINKS).fileKey();
      if (Objects.equals(now, inode)) {
        Files.deleteIfExists(path);
      }
    } catch (IOException ignored) {
      // already gone, or replaced by someone else's file: leave it
    }
    unlock(lockPath, lockFd);
  }
}
