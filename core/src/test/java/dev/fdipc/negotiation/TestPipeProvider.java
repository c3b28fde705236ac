package dev.fdipc.negotiation;

import dev.fdipc.StubTransportProvider;
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
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A working transport for core's tests, built like the pipe transport (two pipes, one per
 * direction) but under any name, so that one test can register several working transports.
 */
public final class TestPipeProvider extends StubTransportProvider {
  private final AtomicInteger created = new AtomicInteger();

  public TestPipeProvider(String name) {
    this(name, DEFAULT_PRIORITY);
  }

  public TestPipeProvider(String name, int priority) {
    super(name, priority);
  }

  /** How many server ends this provider has created. */
  public int created() {
    return created.get();
  }

  @Override
  public ServerEnd createServer(TransportSettings settings) throws IOException {
    List<Fd> opened = new ArrayList<>(4);
    try {
      List<Fd> toServer = Fd.pipe();
      opened.addAll(toServer);
      List<Fd> toClient = Fd.pipe();
      opened.addAll(toClient);
      TransportChannel channel = new FdStreamChannel(name(), settings.maxMessageSize(),
          toServer.get(0), toClient.get(1), List.of());
      created.incrementAndGet();
      return new ServerEnd(channel, List.of(toClient.get(0), toServer.get(1)), Map.of());
    } catch (IOException | RuntimeException e) {
      Fd.closeAllAfter(e, opened);
      throw e;
    }
  }

  @Override
  public TransportChannel openClient(ClientEnd end, TransportSettings settings)
      throws IOException {
    return FdStreamChannel.openClient(name(), end, settings, 2);
  }

  @Override
  public String toString() {
    return "TestPipeProvider[" + name() + "]";
  }
}
