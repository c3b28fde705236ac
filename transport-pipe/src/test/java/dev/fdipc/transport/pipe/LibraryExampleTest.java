package dev.fdipc.transport.pipe;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.fdipc.FdipcClient;
import dev.fdipc.FdipcServer;
import dev.fdipc.IpcChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The library example of the README, verbatim apart from the socket path and the assertion. */
class LibraryExampleTest {
  @TempDir
  Path dir;

  @Test
  @Timeout(value = 30, unit = TimeUnit.SECONDS)
  void readmeExampleRuns() throws Exception {
    Path socket = dir.resolve("app.sock");
    // --- README: server
    FdipcServer server = FdipcServer.builder()
        .socket(socket)
        .transports("pipe")
        .handler(session -> {
          IpcChannel ch = session.channel();
          byte[] m;
          while ((m = ch.receive()) != null) { // null: the client is gone
            ch.send(m); // echo
          }
        })
        .start();
    // --- README: client
    try (IpcChannel ch = FdipcClient.builder()
        .socket(socket)
        .clientId(2)
        .connect()) {
      ch.send("hello".getBytes(StandardCharsets.UTF_8));
      byte[] reply = ch.receive(5, TimeUnit.SECONDS);
      // --- end of README
      assertEquals("hello", new String(reply, StandardCharsets.UTF_8));
      assertEquals("pipe", ch.transport());
    }
    server.close();
  }
}
