package dev.fdipc;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** Defaults shared by server and client so that both find the same socket. */
public final class FdipcDefaults {
  /** The default maximum message size: 1 MiB. */
  public static final int MAX_MESSAGE_SIZE = 1 << 20;

  /** The largest maximum message size either side accepts: 64 MiB. */
  public static final int MAX_MESSAGE_SIZE_LIMIT = 64 << 20;

  private FdipcDefaults() {}

  /**
   * Checks a maximum message size given to a builder.
   *
   * @return {@code bytes}
   * @throws IllegalArgumentException if it is outside 1 to {@link #MAX_MESSAGE_SIZE_LIMIT}
   */
  public static int checkMaxMessageSize(int bytes) {
    if (bytes < 1 || bytes > MAX_MESSAGE_SIZE_LIMIT) {
      throw new IllegalArgumentException("maxMessageSize " + bytes + " out of range [1, "
          + MAX_MESSAGE_SIZE_LIMIT + "]");
    }
    return bytes;
  }

  /**
   * The socket path: {@code explicit} if given, else {@code $FDIPC_SOCKET}, else
   * {@code $XDG_RUNTIME_DIR/fdipc.sock}, else {@code /tmp/fdipc-<uid>/fdipc.sock}: a directory of
   * this user's alone (the server creates it 0700 and refuses one that another user owns or can
   * write), since a socket directly in the world-writable /tmp could be taken over by anyone while
   * the server is down.
   *
   * @param explicit the path given on the command line or to a builder, or {@code null}
   * @param env the environment to read, normally {@link System#getenv()}
   */
  public static Path socketPath(Path explicit, Map<String, String> env) {
    if (explicit != null) {
      return explicit;
    }
    String s = env.get("FDIPC_SOCKET");
    if (s != null && !s.isEmpty()) {
      return Path.of(s);
    }
    String runtime = env.get("XDG_RUNTIME_DIR");
    if (runtime != null && !runtime.isEmpty()) {
      return Path.of(runtime, "fdipc.sock");
    }
    return privateDirectory().resolve("fdipc.sock");
  }

  /** {@code /tmp/fdipc-<uid>}: the directory of the default socket when there is no runtime dir. */
  public static Path privateDirectory() {
    return Path.of("/tmp", "fdipc-" + currentUid());
  }

  /** The effective uid of this process (the owner of {@code /proc/self}). */
  public static long currentUid() {
    try {
      return ((Number) Files.getAttribute(Path.of("/proc/self"), "unix:uid")).longValue();
    } catch (IOException | UnsupportedOperationException e) {
      throw new IllegalStateException("cannot read this process's uid from /proc/self", e);
    }
  }
}
