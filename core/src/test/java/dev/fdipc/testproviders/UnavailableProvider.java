package dev.fdipc.testproviders;

import dev.fdipc.StubTransportProvider;

/** Test provider: unavailable, with a cause. Registered only in the jars that TransportRegistryTest builds. */
public class UnavailableProvider extends StubTransportProvider {
  public UnavailableProvider() {
    super("unavailable", 5);
  }

  @Override
  public Throwable unavailabilityCause() {
    return new java.io.IOException("no kernel support");
  }
}
