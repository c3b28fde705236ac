package dev.fdipc;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.sun.security.auth.module.UnixSystem;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The socket path rule, first match wins: the explicit path; else {@code $FDIPC_SOCKET}; else
 * {@code $XDG_RUNTIME_DIR/fdipc.sock}; else {@code /tmp/fdipc-<uid>/fdipc.sock}. Empty values count as
 * unset. Every case passes its own environment, so the real one never matters.
 */
class FdipcDefaultsTest {
  private static final Path EXPLICIT = Path.of("/srv/app/explicit.sock");
  private static final String FDIPC_SOCKET = "/var/run/custom/fdipc-env.sock";
  private static final String XDG = "/run/user/4321";

  private static Map<String, String> env(String fdipcSocket, String xdgRuntimeDir) {
    Map<String, String> env = new HashMap<>();
    env.put("HOME", "/home/nobody"); // unrelated variables are ignored
    if (fdipcSocket != null) {
      env.put("FDIPC_SOCKET", fdipcSocket);
    }
    if (xdgRuntimeDir != null) {
      env.put("XDG_RUNTIME_DIR", xdgRuntimeDir);
    }
    return env;
  }

  private static Path fallback() {
    return Path.of("/tmp/fdipc-" + new UnixSystem().getUid() + "/fdipc.sock");
  }

  @Test
  @Timeout(10)
  void explicitPathWinsOverEveryVariable() {
    assertEquals(EXPLICIT, FdipcDefaults.socketPath(EXPLICIT, env(FDIPC_SOCKET, XDG)));
  }

  @Test
  @Timeout(10)
  void explicitPathWinsWithNoVariables() {
    assertEquals(EXPLICIT, FdipcDefaults.socketPath(EXPLICIT, env(null, null)));
  }

  @Test
  @Timeout(10)
  void explicitRelativePathIsReturnedAsGiven() {
    Path relative = Path.of("rel.sock");
    assertEquals(relative, FdipcDefaults.socketPath(relative, env(FDIPC_SOCKET, XDG)));
  }

  @Test
  @Timeout(10)
  void fdipcSocketWinsOverXdgRuntimeDir() {
    assertEquals(Path.of(FDIPC_SOCKET), FdipcDefaults.socketPath(null, env(FDIPC_SOCKET, XDG)));
  }

  @Test
  @Timeout(10)
  void fdipcSocketAloneIsUsed() {
    assertEquals(Path.of(FDIPC_SOCKET), FdipcDefaults.socketPath(null, env(FDIPC_SOCKET, null)));
  }

  @Test
  @Timeout(10)
  void xdgRuntimeDirGivesFdipcSockInIt() {
    assertEquals(Path.of(XDG, "fdipc.sock"), FdipcDefaults.socketPath(null, env(null, XDG)));
  }

  @Test
  @Timeout(10)
  void emptyFdipcSocketIsIgnored() {
    assertEquals(Path.of(XDG, "fdipc.sock"), FdipcDefaults.socketPath(null, env("", XDG)));
  }

  @Test
  @Timeout(10)
  void noVariablesGiveTmpWithTheUid() {
    assertEquals(fallback(), FdipcDefaults.socketPath(null, env(null, null)));
  }

  @Test
  @Timeout(10)
  void emptyXdgRuntimeDirIsIgnored() {
    assertEquals(fallback(), FdipcDefaults.socketPath(null, env(null, "")));
  }

  @Test
  @Timeout(10)
  void bothVariablesEmptyGiveTmpWithTheUid() {
    assertEquals(fallback(), FdipcDefaults.socketPath(null, env("", "")));
  }

  @Test
  @Timeout(10)
  void emptyEnvironmentMapGivesTmpWithTheUid() {
    assertEquals(fallback(), FdipcDefaults.socketPath(null, Map.of()));
  }

  @Test
  @Timeout(10)
  void currentUidIsThisProcesssUid() {
    assertEquals(new UnixSystem().getUid(), FdipcDefaults.currentUid());
  }
}
