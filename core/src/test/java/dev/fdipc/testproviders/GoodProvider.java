package dev.fdipc.testproviders;

import dev.fdipc.StubTransportProvider;

/** Test provider: available, priority 5. Registered only in the jars that TransportRegistryTest builds. */
public class GoodProvider extends StubTransportProvider {
  public GoodProvider() {
    super("good", 5);
  }
}
