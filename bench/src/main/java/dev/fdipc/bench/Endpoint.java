package dev.fdipc.bench;

import dev.fdipc.FdipcClient;
import dev.fdipc.IpcChannel;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/** Something the runners open channels to: an fdipc transport or a baseline. */
interface Endpoint extends AutoCloseable {

  /** The name figures are reported under, e.g. {@code memfd:wait=spin}. */
  String label();

  /** Opens a usable channel to the bench server; the time this takes is connect-to-ready. */
  IpcChannel open() throws IOException;

  /** Releases what the endpoint holds in this process (not the channels it opened). */
  @Override
  default void close() {}

  /** An fdipc client of the bench server, negotiating exactly one transport. */
  static Endpoint fdipc(String label, Path socket, String transport,
      Map<String, String> options) {
    return new Endpoint() {
      @Override
      public String label() {
        return label;
      }

      @Override
      public IpcChannel open() throws IOException {
        FdipcClient.Builder b = FdipcClient.builder().socket(socket).transports(transport)
            .maxMessageSize(Bench.MAX_MESSAGE);
        options.forEach(b::option);
        return b.connect();
      }
    };
  }

  /** The hand-written junixsocket baseline. */
  static Endpoint uds(Path path) {
    return new Endpoint() {
      @Override
      public String label() {
        return UdsChannel.NAME;
      }

      @Override
      public IpcChannel open() throws IOException {
        return UdsChannel.connect(path, Bench.MAX_MESSAGE);
      }
    };
  }
}
