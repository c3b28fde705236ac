package dev.fdipc.negotiation;

import dev.fdipc.StubTransportProvider;
import dev.fdipc.spi.ClientEnd;
import dev.fdipc.spi.ServerEnd;
import dev.fdipc.spi.TransportChannel;
import dev.fdipc.spi.TransportSettings;
import java.io.IOException;
import java.util.concurrent.atomic.AtomicInteger;

/** An available transport whose kernel object can never be created: {@code createServer} throws. */
public final class FailingProvider extends StubTransportProvider {
  private final String message;
  private final AtomicInteger attempts = new AtomicInteger();

  public FailingProvider(String name, String message) {
    super(name, DEFAULT_PRIORITY);
    this.message = message;
  }

  /** How many times the server tried to create this transport. */
  public int attempts() {
    return attempts.get();
  }

  @Override
  public ServerEnd createServer(TransportSettings settings) throws IOException {
    attempts.incrementAndGet();
    throw new IOException(message);
  }

  @Override
  public TransportChannel openClient(ClientEnd end, TransportSettings settings)
      throws IOException {
    throw new IOException(name() + ": the server can never create this transport");
  }
}
