package dev.fdipc.spi;

import dev.fdipc.MessageTooLargeException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.ClosedChannelException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The part of every channel that does not depend on the kernel object: the size check, one sender
 * and one receiver at a time, deadlines, close-once, and the peer-gone flag. A transport implements
 * {@link #doSend}, {@link #doReceive}, {@link #wakeUp} and {@link #release}.
 *
 * <p>Close protocol: {@link #close()} marks the channel closed, calls {@link #wakeUp()} so that
 * blocked calls return, waits for the sender and receiver to leave, and only then calls
 * {@link #release()}. A descriptor is therefore never closed while another thread may still pass
 * its number to the kernel.
 */
public abstract class AbstractIpcChannel implements TransportChannel {
  /** The deadline of a call that waits as long as it takes. */
  protected static final long NO_DEADLINE = Long.MAX_VALUE;

  private final String transport;
  private final int maxMessageSize;
  private final ReentrantLock sendLock = new ReentrantLock();
  private final ReentrantLock receiveLock = new ReentrantLock();
  private final AtomicBoolean closed = new AtomicBoolean();
  private final AtomicBoolean gone = new AtomicBoolean();

  /**
   * @param transport the transport's name, for {@link #transport()} and messages
   * @param maxMessageSize the negotiated maximum message size
   */
  protected AbstractIpcChannel(String transport, int maxMessageSize) {
    if (maxMessageSize < 1) {
      throw new IllegalArgumentException("maxMessageSize must be positive: " + maxMessageSize);
    }
    this.transport = transport;
    this.maxMessageSize = maxMessageSize;
  }

  @Override
  public final String transport() {
    return transport;
  }

  @Override
  public final int maxMessageSize() {
    return maxMessageSize;
  }

  @Override
  public final void send(ByteBuffer message) throws IOException {
    int size = message.remaining();
    if (size > maxMessageSize) {
      throw new MessageTooLargeException(size, maxMessageSize);
    }
    sendLock.lock();
    try {
      ensureOpen();
      doSend(message);
    } finally {
      sendLock.unlock();
    }
  }

  @Override
  public final int receive(ByteBuffer dst, long timeout, TimeUnit unit) throws IOException {
    long deadline = deadline(timeout, unit);
    receiveLock.lock();
    try {
      ensureOpen();
      return doReceive(dst, deadline);
    } finally {
      receiveLock.unlock();
    }
  }

  /**
   * Sends {@code message} whole; called with the send lock held and the size already checked.
   * Blocks while the kernel object is full; returns early only by throwing.
   */
  protected abstract void doSend(ByteBuffer message) throws IOException;

  /**
   * Receives one message; called with the receive lock held.
   *
   * @param deadline a {@link System#nanoTime()} value, or {@link #NO_DEADLINE}
   * @return the message's length, or -1 at end of stream
   */
  protected abstract int doReceive(ByteBuffer dst, long deadline) throws IOException;

  /**
   * Makes blocked {@link #doSend} and {@link #doReceive} calls return promptly so that they can see
   * {@link #isOpen()} or {@link #isPeerGone()}. Called on close and on {@link #peerGone()}; must not
   * block and must tolerate being called more than once.
   */
  protected abstract void wakeUp();

  /** Releases the kernel objects. Called once, after every send and receive has returned. */
  protected abstract void release() throws IOException;

  @Override
  public final void peerGone() {
    if (gone.compareAndSet(false, true)) {
      wakeUp();
    }
  }

  /** True once core reported that the peer's control connection is gone. */
  protected final boolean isPeerGone() {
    return gone.get();
  }

  @Override
  public final boolean isOpen() {
    return !closed.get();
  }

  @Override
  public final void close() throws IOException {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    wakeUp();
    sendLock.lock();
    receiveLock.lock();
    try {
      release();
    } finally {
      receiveLock.unlock();
      sendLock.unlock();
    }
  }

  /**
   * Throws the exception a blocked call owes its caller after a wake-up on close.
   *
   * @throws AsynchronousCloseException if the channel was closed while the caller waited
   */
  protected final void checkNotClosedWhileWaiting() throws AsynchronousCloseException {
    if (closed.get()) {
      throw new AsynchronousCloseException();
    }
  }

  private void ensureOpen() throws ClosedChannelException {
    if (closed.get()) {
      throw new ClosedChannelException();
    }
  }

  /** Converts a timeout into a deadline; {@code Long.MAX_VALUE} of any unit means none. */
  protected static long deadline(long timeout, TimeUnit unit) {
    if (timeout < 0) {
      throw new IllegalArgumentException("negative timeout: " + timeout);
    }
    long nanos = unit.toNanos(timeout);
    if (nanos >= Long.MAX_VALUE / 2) {
      return NO_DEADLINE;
    }
    return System.nanoTime() + nanos;
  }

  /**
   * Milliseconds left before {@code deadline}, rounded up, for {@code poll(2)}: -1 for no deadline,
   * 0 once it has passed.
   */
  protected static int pollMillis(long deadline) {
    if (deadline == NO_DEADLINE) {
      return -1;
    }
    long left = deadline - System.nanoTime();
    if (left <= 0) {
      return 0;
    }
    return (int) Math.min(Integer.MAX_VALUE, (left + 999_999) / 1_000_000);
  }

  /** True once {@code deadline} has passed. */
  protected static boolean expired(long deadline) {
    return deadline != NO_DEADLINE && deadline - System.nanoTime() <= 0;
  }

  @Override
  public String toString() {
    return getClass().getSimpleName() + "[" + transport + (isOpen() ? "" : ", closed")
        + (isPeerGone() ? ", peer gone" : "") + "]";
  }
}
