package dev.fdipc.bench;

import dev.fdipc.FdipcServer;
import dev.fdipc.IpcChannel;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.zip.CRC32C;

/**
 * The benchmark's server process. Each session starts with a one-byte mode: {@code 'E'} echoes
 * every message; {@code 'S'} swallows messages until an empty one, then answers with the count and
 * a checksum of everything received, so the client can prove nothing was lost.
 *
 * <p>Arguments: socket path, then transport options as {@code key=value}.
 */
public final class BenchServer {
  private BenchServer() {}

  /** Entry point of the server process. */
  public static void main(String[] args) throws Exception {
    FdipcServer.Builder b = FdipcServer.builder().socket(Path.of(args[0]))
        .maxMessageSize(Bench.MAX_MESSAGE);
    for (int i = 1; i < args.length; i++) {
      String[] kv = args[i].split("=", 2);
      b.option(kv[0], kv[1]);
    }
    FdipcServer server = b.handler(session -> {
      IpcChannel ch = session.channel();
      ByteBuffer buf = ByteBuffer.allocateDirect(Bench.MAX_MESSAGE);
      if (ch.receive(buf) < 0) {
        return;
      }
      byte mode = buf.get(0);
      if (mode == 'E') {
        while (true) {
          buf.clear();
          if (ch.receive(buf) < 0) {
            return;
          }
          buf.flip();
          ch.send(buf);
        }
      }
      long count = 0;
      CRC32C crc = new CRC32C();
      while (true) {
        buf.clear();
        int n = ch.receive(buf);
        if (n <= 0) {
          break;
        }
        buf.flip();
        crc.update(buf);
        count++;
      }
      ch.send(ByteBuffer.allocate(16).putLong(count).putLong(crc.getValue()).flip());
    }).start();
    System.out.println("ready");
    System.out.flush();
    server.awaitTermination();
  }
}
