package dev.fdipc.testproviders;

import dev.fdipc.StubTransportProvider;

/** Test provider: its availability probe throws. Registered only in the jars that TransportRegistryTest builds. */
public class ThrowingProbeProvider extends StubTransportProvider {
  public ThrowingProbeProvider() {
    super("probe-throws", 5);
  }

  @Override
  public Throwable unavailabilityCause() {
    throw new RuntimeException("probe exploded");
  }
}
