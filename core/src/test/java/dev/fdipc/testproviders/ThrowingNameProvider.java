package dev.fdipc.testproviders;

import dev.fdipc.StubTransportProvider;

/** Test provider: name() throws. Registered only in the jars that TransportRegistryTest builds. */
public class ThrowingNameProvider extends StubTransportProvider {
  public ThrowingNameProvider() {
    super("unused", 5);
  }

  @Override
  public String name() {
    throw new IllegalStateException("name exploded");
  }
}
