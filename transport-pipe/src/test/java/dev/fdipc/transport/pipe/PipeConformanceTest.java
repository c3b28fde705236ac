package dev.fdipc.transport.pipe;

import dev.fdipc.spi.TransportProvider;
import dev.fdipc.testkit.TransportConformanceSuite;

class PipeConformanceTest extends TransportConformanceSuite {
  @Override
  protected TransportProvider provider() {
    return new PipeTransportProvider();
  }
}
