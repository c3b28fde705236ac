package dev.fdipc.negotiation;

import dev.fdipc.StubTransportProvider;
import dev.fdipc.spi.ClientEnd;
import dev.fdipc.spi.ServerEnd;
import dev.fdipc.spi.TransportChannel;
import dev.fdipc.spi.TransportSettings;

/** An installed transport that cannot work here; its cause is the given text. */
public final class UnavailableTestProvider extends StubTransportProvider {
  private final String cause;

  public UnavailableTestProvider(String name, String cause) {
    super(name, DEFAULT_PRIORITY);
    this.cause = cause;
  }

  @Override
  public Throwable unavailabilityCause() {
    return new UnsupportedOperationException(cause);
  }

  @Override
  public ServerEnd createServer(TransportSettings settings) {
    throw new IllegalStateException(name() + " is unavailable: createServer must not be called");
  }

  @Override
  public TransportChannel openClient(ClientEnd end, TransportSettings settings) {
    throw new IllegalStateException(name() + " is unavailable: openClient must not be called");
  }
}
