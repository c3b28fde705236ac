package dev.fdipc.bench;

import dev.fdipc.IpcChannel;
import io.aeron.Aeron;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The client side of the aeron-ipc baseline: one Aeron client attached to the bench server's
 * media driver; each {@link #open()} picks two fresh stream ids, sends them over the rendezvous
 * socket (see {@link AeronHost}) and waits until both streams are connected.
 */
final class AeronEndpoint implements Endpoint {
  private final Path rendezvous;
  private final Aeron aeron;
  private final AtomicInteger streams = new AtomicInteger(1000);

  AeronEndpoint(Path rendezvous, Path aeronDir) {
    this.rendezvous = rendezvous;
    this.aeron = Aeron.connect(new Aeron.Context().aeronDirectoryName(aeronDir.toString()));
  }

  @Override
  public String label() {
    return AeronChannel.NAME;
  }

  @Override
  public IpcChannel open() throws IOException {
    int out = streams.getAndAdd(2);
    int in = out + 1;
    UdsChannel lifeline = UdsChannel.connect(rendezvous, 16);
    try {
      lifeline.send(ByteBuffer.allocate(9).put(AeronHost.RENDEZVOUS).putInt(out).putInt(in)
          .flip());
      AeronChannel ch = AeronChannel.open(aeron, out, in, AeronHost.CONNECT_TIMEOUT_NANOS);
      return new Lifelined(ch, lifeline);
    } catch (IOException | RuntimeException e) {
      lifeline.close();
      throw e;
    }
  }

  @Override
  public void close() {
    aeron.close();
  }

  /** The Aeron channel, closing its rendezvous socket with it. */
  private record Lifelined(AeronChannel ch, UdsChannel lifeline) implements IpcChannel {
    @Override
    public String transport() {
      return ch.transport();
    }

    @Override
    public int maxMessageSize() {
      return ch.maxMessageSize();
    }

    @Override
    public void send(ByteBuffer message) throws IOException {
      ch.send(message);
    }

    @Override
    public int receive(ByteBuffer dst, long timeout, TimeUnit unit) throws IOException {
      return ch.receive(dst, timeout, unit);
    }

    @Override
    public boolean isOpen() {
      return ch.isOpen();
    }

    @Override
    public void close() throws IOException {
      try {
        ch.close();
      } finally {
        lifeline.close();
      }
    }
  }
}
