package dev.fdipc.transport.pipe;

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
 * Two pipes, one per direction. The client receives the read end of the server-to-client pipe
 * (fd 0) and the write end of the client-to-server pipe (fd 1). A pipe reports end of stream when
 * every write end is closed, so the death of either process is seen without the control
 * connection's help.
 */
@AutoService(TransportProvider.class)
public final class PipeTransportProvider implements TransportProvider {
  /** The transport's name. */
  public static final String NAME = "pipe";

  private static final Availability AVAILABILITY = Availability.probe(NAME, () -> {
    Fd.closeAll(Fd.pipe());
    return null;
  });

  /** Public no-arg constructor for {@link java.util.ServiceLoader}. */
  public PipeTransportProvider() {}

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public int priority() {
    return 5;
  }

  @Override
  public Throwable unavailabilityCause() {
    return AVAILABILITY.unavailabilityCause();
  }

  @Override
  public ServerEnd createServer(TransportSettings settings) throws IOException {
    AVAILABILITY.ensureAvailable();
    List<Fd> opened = new ArrayList<>(4);
    try {
      List<Fd> toServer = Fd.pipe();
      opened.addAll(toServer);
      List<Fd> toClient = Fd.pipe();
      opened.addAll(toClient);
      TransportChannel channel = new FdStreamChannel(NAME, settings.maxMessageSize(),
          toServer.get(0), toClient.get(1), List.of());
      return new ServerEnd(channel, List.of(toClient.get(0), toServer.get(1)), Map.of());
    } catch (IOException | RuntimeException e) {
      Fd.closeAllAfter(e, opened);
      throw e;
    }
  }

  @Override
  public TransportChannel openClient(ClientEnd end, TransportSettings settings)
      throws IOException {
    return FdStreamChannel.openClient(NAME, end, settings, 2);
  }
}
