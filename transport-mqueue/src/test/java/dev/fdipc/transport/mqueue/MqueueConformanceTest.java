package dev.fdipc.transport.mqueue;

import dev.fdipc.spi.TransportProvider;
import dev.fdipc.testkit.TransportConformanceSuite;

class MqueueConformanceTest extends TransportConformanceSuite {
  @Override
  protected TransportProvider provider() {
    return new MqueueTransportProvider();
  }
}
