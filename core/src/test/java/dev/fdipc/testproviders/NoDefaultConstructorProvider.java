package dev.fdipc.testproviders;

import dev.fdipc.spi.ClientEnd;
import dev.fdipc.spi.ServerEnd;
import dev.fdipc.spi.TransportChannel;
import dev.fdipc.spi.TransportProvider;
import dev.fdipc.spi.TransportSettings;

/**
 * Test provider: no public no-arg constructor.
 * Registered only in the jars that TransportRegistryTest builds.
 */
public class NoDefaultConstructorProvider implements TransportProvider {
  public NoDefaultConstructorProvider(String unused) {
  }

  @Override
  public String name() {
    return "no-default-ctor";
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
