package dev.fdipc.examples.fifo;

import dev.fdipc.spi.TransportProvider;
import dev.fdipc.testkit.TransportConformanceSuite;

/** The whole fdipc conformance suite, run against the {@code fifo} transport. */
class FifoConformanceTest extends TransportConformanceSuite {
  @Override
  protected TransportProvider provider() {
    return new FifoTransportProvider();
  }
}
