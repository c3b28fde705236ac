package dev.fdipc.testproviders;

import dev.fdipc.spi.ClientEnd;
import dev.fdipc.spi.ServerEnd;
import dev.fdipc.spi.TransportChannel;
import dev.fdipc.spi.TransportProvider;
import dev.fdipc.spi.TransportSettings;

/**
 * Test provider: installed but unavailable.
 * Registered only in the jars that TransportRegistryTest builds.
 */
public class UnavailableProvider implements TransportProvider {

  @Override
  public String name() {
    return "unavailable";
  }

  @Override
  public int priority() {
    return 5;
  }

  @Override
  public Throwable unavailabilityCause() {
    return new java.io.IOException("no kernel support");
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
