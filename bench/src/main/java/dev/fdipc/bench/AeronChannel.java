package dev.fdipc.bench;

import dev.fdipc.IpcChannel;
import dev.fdipc.MessageTooLargeException;
import dev.fdipc.PeerClosedException;
import io.aeron.Aeron;
import io.aeron.FragmentAssembler;
import io.aeron.Publication;
import io.aeron.Subscription;
import io.aeron.logbuffer.Header;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.util.concurrent.TimeUnit;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.BackoffIdleStrategy;
import org.agrona.concurrent.IdleStrategy;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * The {@code aeron-ipc} baseline: an Aeron IPC publication one way and a subscription the other
 * ({@value #CHANNEL}), adapted to {@link IpcChannel} so that the same runners measure it. Waiting
 * sides use Aeron's default {@link BackoffIdleStrategy} (spin, yield, then park up to 1 ms), the
 * counterpart of memfd's spin-park. The term length (8 MiB) is the smallest that carries a 1 MiB
 * message; sparse term files keep 100 clients affordable.
 *
 * <p>Benchmark use only: no timeouts, one sender and one receiver thread.
 */
final class AeronChannel implements IpcChannel {
  static final String NAME = "aeron-ipc";
  static final String CHANNEL = "aeron:ipc?term-length=8m|sparse=true";

  private final Publication publication;
  private final Subscription subscription;
  private final IdleStrategy sendIdle = new BackoffIdleStrategy();
  private final IdleStrategy receiveIdle = new BackoffIdleStrategy();
  private final UnsafeBuffer view = new UnsafeBuffer(0, 0);
  private final FragmentAssembler assembler = new FragmentAssembler(this::onMessage);
  private ByteBuffer target;
  private int received = -1;
  private boolean fitted;
  private boolean wasConnected;
  private volatile boolean open = true;
  private volatile boolean peerGone;

  private AeronChannel(Publication publication, Subscription subscription) {
    this.publication = publication;
    this.subscription = subscription;
  }

  /** Publishes on {@code outStream}, subscribes to {@code inStream}, waits until both connect. */
  static AeronChannel open(Aeron aeron, int outStream, int inStream, long timeoutNanos)
      throws IOException {
    Subscription sub = aeron.addSubscription(CHANNEL, inStream);
    Publication pub = aeron.addExclusivePublication(CHANNEL, outStream);
    AeronChannel ch = new AeronChannel(pub, sub);
    long deadline = System.nanoTime() + timeoutNanos;
    IdleStrategy idle = new BackoffIdleStrategy();
    while (!pub.isConnected() || !sub.isConnected()) {
      if (System.nanoTime() > deadline) {
        ch.close();
        throw new IOException(NAME + ": streams " + outStream + "/" + inStream
            + " did not connect");
      }
      idle.idle();
    }
    ch.wasConnected = true;
    return ch;
  }

  @Override
  public String transport() {
    return NAME;
  }

  @Override
  public int maxMessageSize() {
    return Bench.MAX_MESSAGE;
  }

  @Override
  public void send(ByteBuffer message) throws IOException {
    int n = message.remaining();
    if (n > Bench.MAX_MESSAGE) {
      throw new MessageTooLargeException(n, Bench.MAX_MESSAGE);
    }
    if (message.isDirect()) {
      view.wrap(message, message.position(), n);
    } else {
      view.wrap(message.array(), message.arrayOffset() + message.position(), n);
    }
    sendIdle.reset();
    while (true) {
      long r = publication.offer(view, 0, n);
      if (r > 0) {
        break;
      } else if (!open || r == Publication.CLOSED) {
        throw new ClosedChannelException();
      } else if (r == Publication.NOT_CONNECTED || peerGone) {
        throw new PeerClosedException(NAME + ": the subscriber is gone");
      } else if (r == Publication.MAX_POSITION_EXCEEDED) {
        throw new IOException(NAME + ": publication reached its maximum position");
      }
      sendIdle.idle(); // back pressured or admin action: try again
    }
    message.position(message.limit());
  }

  @Override
  public int receive(ByteBuffer dst, long timeout, TimeUnit unit) throws IOException {
    target = dst;
    received = -1;
    receiveIdle.reset();
    while (received < 0) {
      if (!open) {
        throw new ClosedChannelException();
      }
      int fragments = subscription.poll(assembler, 1); // one fragment: at most one message
      if (fragments == 0) {
        if (peerGone || wasConnected && !subscription.isConnected()) {
          return -1;
        }
        receiveIdle.idle();
      }
    }
    if (!fitted) {
      throw new IOException(NAME + ": a message of " + received + " bytes was dropped: the "
          + "buffer had room for " + dst.remaining());
    }
    return received;
  }

  private void onMessage(DirectBuffer buffer, int offset, int length, Header header) {
    fitted = length <= target.remaining();
    if (fitted) {
      buffer.getBytes(offset, target, target.position(), length);
      target.position(target.position() + length);
    }
    received = length;
  }

  /**
   * Tells a waiting receiver that the peer is gone. Aeron learns it only after the peer's
   * publication lingers out (seconds); the bench's rendezvous socket tells at once.
   */
  void peerGone() {
    peerGone = true;
  }

  @Override
  public boolean isOpen() {
    return open;
  }

  @Override
  public void close() {
    if (open) {
      open = false;
      publication.close();
      subscription.close();
    }
  }
}
