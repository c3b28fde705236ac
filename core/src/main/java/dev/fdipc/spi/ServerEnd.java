package dev.fdipc.spi;

import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What {@link TransportProvider#createServer} made for one client: the channel the server keeps,
 * the client's fds to pass over the control socket, and the text parameters the client needs.
 *
 * <p>Ownership: the server's copies of {@link #clientFds()} belong to core from the moment this
 * object is returned; core closes them once they are sent (or if sending fails). The
 * {@link #channel()} belongs to core too.
 *
 * @param channel the server's side of the new kernel object
 * @param clientFds the descriptors for the client, in the order {@link TransportProvider#openClient}
 *     expects them; at most {@link TransportProvider#MAX_FDS}
 * @param parameters what else the client needs (sizes, layout versions): at most 64 entries,
 *     keys of 1 to 255 and values of at most 1024 bytes of UTF-8
 */
public record ServerEnd(TransportChannel channel, List<Fd> clientFds,
    Map<String, String> parameters) {
  /** Validates and copies the fields. */
  public ServerEnd {
    Objects.requireNonNull(channel, "channel");
    clientFds = List.copyOf(clientFds);
    parameters = Map.copyOf(parameters);
    if (clientFds.size() > TransportProvider.MAX_FDS) {
      throw new IllegalArgumentException("too many fds for one client: count=" + clientFds.size()
          + " max=" + TransportProvider.MAX_FDS);
    }
    dev.fdipc.internal.Wire.checkParameters(parameters);
  }
}
