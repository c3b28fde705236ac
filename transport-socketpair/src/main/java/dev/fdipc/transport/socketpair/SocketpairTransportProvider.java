package dev.fdipc.transport.socketpair;

import com.google.auto.service.AutoService;
import dev.fdipc.spi.Availability;
import dev.fdipc.spi.ClientEnd;
import dev.fdipc.spi.Fd;
import dev.fdipc.spi.FdStreamChannel;
import dev.fdipc.spi.ServerEnd;
import dev.fdipc.spi.TransportChannel;
import dev.fdipc.spi.TransportProvider;
import dev.fdipc.spi.TransportSettings;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * One {@code socketpair(AF_UNIX, SOCK_STREAM)}: one descriptor per side, both directions, with
 * messages framed by length. Stream rather than SEQPACKET because a 1 MiB message is larger than a
 * socket buffer, which a SEQPACKET record must fit into; framing a stream costs nothing extra. The
 * client receives one fd. A socket reports end of stream when the peer's end closes.
 */
@AutoService(TransportProvider.class)
public final class SocketpairTransportProvider implements TransportProvider {
  /** The transport's name. */
  public static final String NAME = "socketpair";

  private static final Availability AVAILABILITY = Availability.probe(NAME, () -> {
    Fd.closeAll(SocketPair.open());
    return null;
  });

  /** Public no-arg constructor for {@link java.util.ServiceLoader}. */
  public SocketpairTransportProvider() {}

  @Override
  public String name() {
    return NAME;
  }

  /** One descriptor instead of two and full-duplex buffers: preferred over pipes. */
  @Override
  public int priority() {
    return 6;
  }

  @Override
  public Throwable unavailabilityCause() {
    return AVAILABILITY.unavailabilityCause();
  }

  @Override
  public ServerEnd createServer(TransportSettings settings) throws IOException {
    AVAILABILITY.ensureAvailable();
    List<Fd> opened = new ArrayList<>(2);
    try {
      opened.addAll(SocketPair.open());
      Fd server = opened.get(0);
      Fd client = opened.get(1);
      TransportChannel channel = new FdStreamChannel(NAME, settings.maxMessageSize(), server,
          server, List.of());
      return new ServerEnd(channel, List.of(client), Map.of());
    } catch (IOException | RuntimeException e) {
      Fd.closeAllAfter(e, opened);
      throw e;
    }
  }

  @Override
  public TransportChannel openClient(ClientEnd end, TransportSettings settings)
      throws IOException {
    return FdStreamChannel.openClient(NAME, end, settings, 1);
  }
}
