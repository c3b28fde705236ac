package dev.fdipc.testproviders;

import dev.fdipc.StubTransportProvider;

/** Test provider: available, priority 9. Registered only in the jars that TransportRegistryTest builds. */
public class HighProvider extends StubTransportProvider {
  public HighProvider() {
    super("high", 9);
  }
}
