package dev.fdipc.testproviders;

import dev.fdipc.StubTransportProvider;

/** Test provider: its constructor throws. Registered only in the jars TransportRegistryTest builds. */
public class ThrowingConstructorProvider extends StubTransportProvider {
  public ThrowingConstructorProvider() {
    super("throwing-ctor", 5);
    throw new IllegalStateException("boom in constructor");
  }
}
