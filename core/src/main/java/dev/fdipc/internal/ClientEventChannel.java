package dev.fdipc.internal;

import dev.fdipc.ChannelHandler;
import dev.fdipc.EventChannel;
import dev.fdipc.PeerClosedException;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * A client connection driven by events on the shared loop: the {@link ClientChannel} (whose
 * control watch the loop already runs) plus a {@link ChannelDriver} for its transport channel.
 */
public final class ClientEventChannel implements EventChannel {
  private final ClientChannel client;
  private final ChannelHandler handler;
  private final ChannelDriver driver;
  private volatile Object attachment;
  private boolean closed; // loop thread

  private ClientEventChannel(ClientChannel client, ChannelHandler handler) {
    this.client = client;
    this.handler = handler;
    this.driver = new ChannelDriver(client.loop(), client.transportChannel(), new Callbacks(), 0);
  }

  /** Starts delivering {@code client}'s messages to {@code handler} on the loop. */
  public static ClientEventChannel start(ClientChannel client, ChannelHandler handler) {
    ClientEventChannel c = new ClientEventChannel(client, handler);
    client.onGone(c.driver::peerGone);
    client.loop().reactor().execute(() -> {
      try {
        handler.opened(c);
      } catch (Exception | LinkageError e) {
        c.end(e);
        return;
      }
      if (!c.closed) {
        c.driver.start();
      }
    });
    return c;
  }

  @Override
  public String transport() {
    return client.transport();
  }

  @Override
  public int maxMessageSize() {
    return client.maxMessageSize();
  }

  @Override
  public boolean send(ByteBuffer message) throws IOException {
    if (closed) {
      throw new PeerClosedException(transport() + ": the connection is closed; message not sent");
    }
    return driver.send(message);
  }

  @Override
  public boolean isWritable() {
    return !closed && driver.isWritable();
  }

  @Override
  public void attach(Object attachment) {
    this.attachment = attachment;
  }

  @Override
  public Object attachment() {
    return attachment;
  }

  @Override
  public void execute(Runnable task) {
    client.loop().reactor().execute(task);
  }

  @Override
  public void close() {
    if (client.loop().reactor().inLoop()) {
      end(null);
    } else {
      client.loop().reactor().execute(() -> end(null));
    }
  }

  private void end(Throwable failure) {
    if (closed) {
      return;
    }
    closed = true;
    driver.stop();
    try {
      handler.closed(this, failure);
    } catch (RuntimeException | LinkageError e) {
      System.err.println("fdipc: a ChannelHandler failed in closed(): " + e);
    }
    try {
      client.close();
    } catch (IOException ignored) {
      // the connection is over either way
    }
  }

  private final class Callbacks implements ChannelDriver.Callbacks {
    @Override
    public void message(ByteBuffer message) throws Exception {
      handler.received(ClientEventChannel.this, message);
    }

    @Override
    public void writable() throws Exception {
      handler.writable(ClientEventChannel.this);
    }

    @Override
    public void stalled(long nanos) {
      // no stall limit on the client side
    }

    @Override
    public void ended(Throwable failure) {
      end(failure);
    }
  }

  @Override
  public String toString() {
    return "ClientEventChannel[" + client + "]";
  }
}
