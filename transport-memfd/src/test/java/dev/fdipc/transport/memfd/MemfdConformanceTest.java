package dev.fdipc.transport.memfd;

import dev.fdipc.spi.TransportProvider;
import dev.fdipc.testkit.TransportConformanceSuite;

class MemfdConformanceTest extends TransportConformanceSuite {
  @Override
  protected TransportProvider provider() {
    return new MemfdTransportProvider();
  }
}
