package dev.fdipc.testproviders;

import dev.fdipc.StubTransportProvider;

/** Test provider: named "dup", priority 7. Registered only in the jars that TransportRegistryTest builds. */
public class DupHigh extends StubTransportProvider {
  public DupHigh() {
    super("dup", 7);
  }
}
