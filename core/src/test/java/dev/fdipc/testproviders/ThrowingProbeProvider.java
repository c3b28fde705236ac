package dev.fdipc.testproviders;

import dev.fdipc.spi.ClientEnd;
import dev.fdipc.spi.ServerEnd;
import dev.fdipc.spi.TransportChannel;
import dev.fdipc.spi.TransportProvider;
import dev.fdipc.spi.TransportSettings;

/**
 * Test provider: its availability probe throws.
 * Registered only in the jars that TransportRegistryTest builds.
 */
public class ThrowingProbeProvider implements TransportProvider {

  @Override
  public String name() {
    return "probe-throws";
  }

  @Override
  public int priority() {
    return 5;
  }

  @Override
  public Throwable unavailabilityCause() {
    throw new RuntimeException("probe exploded");
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
