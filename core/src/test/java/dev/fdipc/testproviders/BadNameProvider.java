package dev.fdipc.testproviders;

import dev.fdipc.StubTransportProvider;

/** Test provider: an invalid name. Registered only in the jars that TransportRegistryTest builds. */
public class BadNameProvider extends StubTransportProvider {
  public BadNameProvider() {
    super("Bad Name", 5);
  }
}
