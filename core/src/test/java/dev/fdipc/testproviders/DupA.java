package dev.fdipc.testproviders;

import dev.fdipc.StubTransportProvider;

/** Test provider: named "dup", priority 5. Registered only in the jars that TransportRegistryTest builds. */
public class DupA extends StubTransportProvider {
  public DupA() {
    super("dup", 5);
  }
}
