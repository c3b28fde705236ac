package dev.fdipc.testproviders;

import dev.fdipc.spi.ClientEnd;
import dev.fdipc.spi.ServerEnd;
import dev.fdipc.spi.TransportChannel;
import dev.fdipc.spi.TransportProvider;
import dev.fdipc.spi.TransportSettings;

/**
 * Test provider: its constructor throws.
 * Registered only in the jars that TransportRegistryTest builds.
 */
public class ThrowingConstructorProvider implements TransportProvider {
  public ThrowingConstructorProvider() {
    throw new IllegalStateException("boom in constructor");
  }

  @Override
  public String name() {
    return "throwing-ctor";
  }

  @Override
  public int priority() {
    return 5;
  }

  @Override
  public Throwable unavailabilityCause() {
    return null;
  }

  @Override
  public ServerEnd createServer(TransportSettings settings) {
    throw new UnsupportedOperationException("test provider");
  }

  @Override
  public TransportChannel openClient(ClientEnd end, TransportSettings settings) {
    throw new UnsupportedOperationException("test provider");
  }
}
