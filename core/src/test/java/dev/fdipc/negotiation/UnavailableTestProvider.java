package dev.fdipc.negotiation;

import dev.fdipc.spi.ClientEnd;
import dev.fdipc.spi.ServerEnd;
import dev.fdipc.spi.TransportChannel;
import dev.fdipc.spi.TransportProvider;
import dev.fdipc.spi.TransportSettings;
import java.io.IOException;

/** An installed transport that cannot work here; its cause is the given text. */
public final class UnavailableTestProvider implements TransportProvider {
  private final String name;
  private final String cause;

  public UnavailableTestProvider(String name, String cause) {
    this.name = name;
    this.cause = cause;
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public Throwable unavailabilityCause() {
    return new UnsupportedOperationException(cause);
  }

  @Override
  public ServerEnd createServer(TransportSettings settings) throws IOException {
    throw new IllegalStateException(name + " is unavailable: createServer must not be called");
  }

  @Override
  public TransportChannel openClient(ClientEnd end, TransportSettings settings)
      throws IOException {
    throw new IllegalStateException(name + " is unavailable: openClient must not be called");
  }
}
