package dev.fdipc.transport.socketpair;

import dev.fdipc.spi.TransportProvider;
import dev.fdipc.testkit.TransportConformanceSuite;

class SocketpairConformanceTest extends TransportConformanceSuite {
  @Override
  protected TransportProvider provider() {
    return new SocketpairTransportProvider();
  }
}
