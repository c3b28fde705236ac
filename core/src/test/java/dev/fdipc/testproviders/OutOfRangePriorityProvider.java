package dev.fdipc.testproviders;

import dev.fdipc.StubTransportProvider;

/** Test provider: priority 42, outside 0..10. Registered only in the jars that TransportRegistryTest builds. */
public class OutOfRangePriorityProvider extends StubTransportProvider {
  public OutOfRangePriorityProvider() {
    super("too-high", 42);
  }
}
