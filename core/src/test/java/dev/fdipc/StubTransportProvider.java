package dev.fdipc;

import dev.fdipc.spi.ClientEnd;
import dev.fdipc.spi.ServerEnd;
import dev.fdipc.spi.TransportChannel;
import dev.fdipc.spi.TransportProvider;
import dev.fdipc.spi.TransportSettings;

/**
 * A provider that only has a name and a priority: enough for registry tests, which never open a
 * channel. Lives outside {@code dev.fdipc.testproviders} so that the jars TransportRegistryTest
 * builds can extend it while their own classes stay hidden from the parent class loader.
 */
public abstract class StubTransportProvider implements TransportProvider {
  private final String name;
  private final int priority;

  protected StubTransportProvider(String name, int priority) {
    this.name = name;
    this.priority = priority;
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public int priority() {
    return priority;
  }

  @Override
  public Throwable unavailabilityCause() {
    return null;
  }

  @Override
  public ServerEnd createServer(TransportSettings settings) throws java.io.IOException {
    throw new UnsupportedOperationException("test provider");
  }

  @Override
  public TransportChannel openClient(ClientEnd end, TransportSettings settings)
      throws java.io.IOException {
    throw new UnsupportedOperationException("test provider");
  }
}
