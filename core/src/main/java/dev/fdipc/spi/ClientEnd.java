package dev.fdipc.spi;

import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What the client received for its transport: the fds, close-on-exec, in the order the server's
 * provider listed them, and the parameters.
 *
 * @param fds received descriptors; the provider owns them once {@code openClient} is called
 * @param parameters the server provider's parameters
 */
public record ClientEnd(List<Fd> fds, Map<String, String> parameters) {
  /** Copies the fields. */
  public ClientEnd {
    fds = List.copyOf(fds);
    parameters = Map.copyOf(parameters);
  }

  /**
   * The {@code index}-th fd, checking that exactly {@code expected} arrived.
   *
   * @throws java.io.IOException naming the transport if the count is wrong
   */
  public Fd fd(String transport, int index, int expected) throws java.io.IOException {
    if (fds.size() != expected) {
      throw new java.io.IOException(transport + ": expected " + expected
          + " file descriptors from the server, got " + fds.size());
    }
    return fds.get(index);
  }

  /**
   * A required parameter.
   *
   * @throws java.io.IOException naming the transport and the key if it is missing
   */
  public String parameter(String transport, String key) throws java.io.IOException {
    String v = parameters.get(Objects.requireNonNull(key));
    if (v == null) {
      throw new java.io.IOException(transport + ": server sent no parameter '" + key + "'");
    }
    return v;
  }
}
