package dev.fdipc.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fdipc.FdipcDefaults;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The default socket's directory when there is no $XDG_RUNTIME_DIR: made 0700, and refused when
 * someone else could have made it or can write it.
 */
@Timeout(10)
class PrivateDirectoryTest {
  @TempDir
  Path tmp;

  private final long me = FdipcDefaults.currentUid();

  @Test
  void shouldCreateTheDirectoryOwnerOnly() throws IOException {
    Path dir = tmp.resolve("fdipc-" + me);
    SocketBinding.ensurePrivateDirectory(dir, me);
    assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir)));
    SocketBinding.ensurePrivateDirectory(dir, me); // the second start finds it as it should be
    assertTrue(SocketBinding.directoryWarning(dir.resolve("fdipc.sock")).isEmpty(),
        "no world-writable-directory warning for the default socket");
  }

  @Test
  void shouldRefuseADirectoryOthersCanWriteOrAnotherUserOwns() throws IOException {
    Path open = Files.createDirectory(tmp.resolve("open"));
    Files.setPosixFilePermissions(open, PosixFilePermissions.fromString("rwxrwxrwx"));
    IOException e = assertThrows(IOException.class,
        () -> SocketBinding.ensurePrivateDirectory(open, me));
    assertTrue(e.getMessage().contains("has mode 0777; it must be this user's alone: chmod 0700"),
        e.getMessage());
    Path mine = Files.createDirectory(tmp.resolve("mine"));
    e = assertThrows(IOException.class, () -> SocketBinding.ensurePrivateDirectory(mine, me + 1));
    assertTrue(e.getMessage().contains("belongs to uid " + me + ", not to this user"),
        e.getMessage());
    Path file = Files.writeString(tmp.resolve("file"), "");
    e = assertThrows(IOException.class, () -> SocketBinding.ensurePrivateDirectory(file, me));
    assertTrue(e.getMessage().contains("is not a directory"), e.getMessage());
  }

  @Test
  void shouldPutTheDefaultSocketInTheUsersPrivateDirectory() {
    assertEquals(Path.of("/tmp/fdipc-" + me + "/fdipc.sock"),
        FdipcDefaults.socketPath(null, java.util.Map.of()));
  }
}
