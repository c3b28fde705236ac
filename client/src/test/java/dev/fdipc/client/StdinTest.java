package dev.fdipc.client;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Telling a closed-at-start stdin (fd 0 reused for a JVM file) from a real one. */
@Timeout(10)
class StdinTest {
  @TempDir
  Path dir;

  @Test
  void shouldTreatFdZeroOnTheJdksOwnFilesAsNoInput() throws Exception {
    Path modules = Path.of(System.getProperty("java.home"), "lib", "modules").toRealPath();
    Path fd0 = Files.createSymbolicLink(dir.resolve("fd0"), modules);
    assertTrue(Stdin.isJvmFile(fd0));
  }

  @Test
  void shouldReadAnyOtherFileOrDevice() throws Exception {
    Path input = Files.writeString(dir.resolve("input.txt"), "1\n2\n");
    assertFalse(Stdin.isJvmFile(Files.createSymbolicLink(dir.resolve("a"), input)));
    assertFalse(Stdin.isJvmFile(Files.createSymbolicLink(dir.resolve("b"), Path.of("/dev/null"))));
    assertFalse(Stdin.isJvmFile(dir.resolve("no-such-link")));
  }
}
