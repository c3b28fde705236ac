package dev.fdipc.transport.mqueue;

import dev.fdipc.spi.ClientEnd;
import dev.fdipc.spi.ServerEnd;
import dev.fdipc.spi.TransportChannel;
import dev.fdipc.spi.TransportSettings;
import java.io.IOException;
import java.util.Map;

/**
 * Both ends of one mqueue connection in this process, without a control connection: the client's
 * descriptors go straight from {@code createServer} to {@code openClient}. For tests that need the
 * channels themselves or the raw descriptors.
 */
final class DirectPair implements AutoCloseable {
  final TransportChannel server;
  final TransportChannel client;

  DirectPair(TransportChannel server, TransportChannel client) {
    this.server = server;
    this.client = client;
  }

  static DirectPair open(int maxMessageSize, Map<String, String> options) throws IOException {
    MqueueTransportProvider p = new MqueueTransportProvider();
    TransportSettings settings = new TransportSettings(maxMessageSize, options);
    ServerEnd end = p.createServer(settings);
    TransportChannel client;
    try {
      client = p.openClient(new ClientEnd(end.clientFds(), end.parameters()), settings);
    } catch (IOException | RuntimeException e) {
      end.channel().close();
      throw e;
    }
    return new DirectPair(end.channel(), client);
  }

  @Override
  public void close() throws IOException {
    try {
      client.close();
    } finally {
      server.close();
    }
  }
}
