package dev.fdipc.testproviders;

import dev.fdipc.StubTransportProvider;

/** Test provider without a no-arg constructor. Registered only in TransportRegistryTest's jars. */
public class NoDefaultConstructorProvider extends StubTransportProvider {
  public NoDefaultConstructorProvider(String unused) {
    super("no-default-ctor", 5);
  }
}
