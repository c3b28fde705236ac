package dev.fdipc.testproviders;

import dev.fdipc.StubTransportProvider;

/** Test provider: named "dup", priority 5, a different class. Registered only in the jars that TransportRegistryTest builds. */
public class DupB extends StubTransportProvider {
  public DupB() {
    super("dup", 5);
  }
}
