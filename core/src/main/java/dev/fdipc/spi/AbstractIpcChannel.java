package dev.fdipc.spi;

import dev.fdipc.IpcTimeoutException;
import dev.fdipc.MessageTooLargeException;
import dev.fdipc.PeerClosedException;
import dev.fdipc.internal.ParkingLot;
import dev.fdipc.internal.VirtualThreads;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.ClosedChannelException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Everything of a channel that does not depend on the kernel object: the size check, one sender
 * and one receiver at a time, close-once, the peer-gone flag, and the blocking {@code send} and
 * {@code receive}, written once here on top of the transport's non-blocking half.
 *
 * <p>A transport implements {@link #doTryReceive}, {@link #doTrySend}, {@link #doArmReceive},
 * {@link #doArmSend} and {@link #release}; it may spin before waiting ({@link #receiveSpinNanos}).
 *
 * <p>How a blocking call waits, once the non-blocking call cannot progress and the channel is
 * armed: a platform thread polls the channel's {@link Interest} together with an eventfd that
 * close and peer-gone signal (created on the first such wait); a virtual thread parks on the
 * shared event loop ({@code ParkingLot}) and is unparked by readiness, close or peer gone, so it
 * never blocks its carrier in a native call.
 *
 * <p>Close protocol: {@link #close()} marks the channel closed, wakes blocked calls, waits for the
 * sender and receiver to leave, and only then calls {@link #release()}. A descriptor is therefore
 * never closed while another thread may still pass its number to the kernel.
 */
public abstract class AbstractIpcChannel implements TransportChannel {
  /** The deadline of a call that waits as long as it takes. */
  protected static final long NO_DEADLINE = Long.MAX_VALUE;

  /** Spins between the checks of a spinning wait that need more than a load (clock, close). */
  private static final int SPIN_BURST = 64;

  private final String transport;
  private final int maxMessageSize;
  private final ReentrantLock sendLock = new ReentrantLock();
  private final ReentrantLock receiveLock = new ReentrantLock();
  private final AtomicBoolean closed = new AtomicBoolean();
  private final AtomicBoolean gone = new AtomicBoolean();
  private final Role sending = new Role();
  private final Role receiving = new Role();
  /** Signalled for good by close and peer gone; created by the first platform-thread wait. */
  private volatile Wakeup wakeup;
  private IOException sendBroken;

  /** The waiting state of one direction; used under that direction's lock. */
  private static final class Role {
    volatile Thread parked;
    Wakeup.Waiter waiter;
  }

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

  // ---------------------------------------------------------------------- the non-blocking half

  @Override
  public final int tryReceive(ByteBuffer dst) throws IOException {
    receiveLock.lock();
    try {
      ensureOpen();
      return doTryReceive(dst);
    } finally {
      receiveLock.unlock();
    }
  }

  @Override
  public final boolean trySend(ByteBuffer message) throws IOException {
    sendLock.lock();
    try {
      ensureOpen();
      checkSendable();
      return trySendOnce(message);
    } finally {
      sendLock.unlock();
    }
  }

  @Override
  public final Interest armReceive() throws IOException {
    receiveLock.lock();
    try {
      ensureOpen();
      return doArmReceive();
    } finally {
      receiveLock.unlock();
    }
  }

  @Override
  public final Interest armSend() throws IOException {
    sendLock.lock();
    try {
      ensureOpen();
      return doArmSend();
    } finally {
      sendLock.unlock();
    }
  }

  /**
   * Receives one whole message if it has arrived; called with the receive lock held.
   *
   * @return the length, -1 at end of stream (the peer closed or {@link #isPeerGone()}, and all it
   *     sent was received), or {@link #WOULD_BLOCK}
   */
  protected abstract int doTryReceive(ByteBuffer dst) throws IOException;

  /**
   * Sends what the kernel object takes of {@code message} now; called with the send lock held,
   * the size checked. See {@link TransportChannel#trySend}.
   *
   * @return true once the whole message is handed on
   */
  protected abstract boolean doTrySend(ByteBuffer message) throws IOException;

  /** See {@link TransportChannel#armReceive()}; called with the receive lock held. */
  protected abstract Interest doArmReceive() throws IOException;

  /** See {@link TransportChannel#armSend()}; called with the send lock held. */
  protected abstract Interest doArmSend() throws IOException;

  /**
   * How long a blocking receive on a platform thread spins, calling {@link #doTryReceive}, before
   * it arms and waits: 0 (the default) waits at once; {@code Long.MAX_VALUE} spins until the
   * deadline. Virtual threads never spin: they would hold a carrier others need. Nor does a thread
   * when half the CPUs already have a spinner (a per-process budget, not per channel).
   */
  protected long receiveSpinNanos() {
    return 0;
  }

  /** Like {@link #receiveSpinNanos()}, for a send that finds the kernel object full. */
  protected long sendSpinNanos() {
    return 0;
  }

  /**
   * Optional: receives one message by blocking in the kernel, for a platform thread that waits
   * without a deadline, when that is cheaper than poll-then-read (a stream socket: one
   * {@code recv(2)}, as C does it). The transport must then make {@link #wakeUp()} end such a
   * call (shutting its own socket down, say). Called with the receive lock held after
   * {@link #doTryReceive} found nothing.
   *
   * @return as {@link #doTryReceive}; {@link #WOULD_BLOCK} (the default) if the transport does not
   *     block in the kernel, and the caller waits the usual way
   */
  protected int doReceiveBlocking(ByteBuffer dst) throws IOException {
    return WOULD_BLOCK;
  }

  // ---------------------------------------------------------------------- the blocking half

  @Override
  public final void send(ByteBuffer message) throws IOException {
    send(message, 0);
  }

  /**
   * Sends {@code message} whole, blocking while the peer is behind, but fails once the peer has
   * taken nothing for {@code stallNanos}: a slow reader is tolerated, one that stopped is not.
   * After such a failure the channel cannot send any more (the message was cut); the caller drops
   * the peer.
   *
   * @param stallNanos how long the peer may take nothing; 0 waits as long as it takes
   * @throws IpcTimeoutException if the peer took nothing for {@code stallNanos}
   */
  public final void send(ByteBuffer message, long stallNanos) throws IOException {
    int size = message.remaining();
    if (size > maxMessageSize) {
      throw new MessageTooLargeException(size, maxMessageSize);
    }
    sendLock.lock();
    try {
      ensureOpen();
      checkSendable();
      long spin = VirtualThreads.isCurrentVirtual() ? 0 : sendSpinNanos();
      long deadline = stallNanos <= 0 ? NO_DEADLINE : System.nanoTime() + stallNanos;
      while (true) {
        int before = message.position();
        if (trySendOnce(message)) {
          return;
        }
        if (stallNanos > 0 && message.position() != before) {
          deadline = System.nanoTime() + stallNanos; // progress: the peer reads, slowly
        }
        if (spin > 0 && dev.fdipc.internal.SpinBudget.tryAcquire()) {
          try {
            if (spinUntilSent(message, spin, deadline)) {
              return;
            }
          } finally {
            dev.fdipc.internal.SpinBudget.release();
          }
        }
        spin = 0; // once per send, as a receive spins once: after a wake-up, wait at once
        if (expired(deadline)) {
          sendBroken = new PeerClosedException(transport + ": an earlier send was cut off after"
              + " the peer took nothing for " + TimeUnit.NANOSECONDS.toMillis(stallNanos)
              + " ms");
          throw new IpcTimeoutException(transport + ": the peer took nothing for "
              + TimeUnit.NANOSECONDS.toMillis(stallNanos) + " ms");
        }
        Interest interest = doArmSend();
        if (interest != null) {
          await(sending, interest, deadline);
          checkNotClosedWhileWaiting();
        }
      }
    } finally {
      sendLock.unlock();
    }
  }

  private boolean trySendOnce(ByteBuffer message) throws IOException {
    if (doTrySend(message)) {
      return true;
    }
    if (isPeerGone()) {
      // The message may be cut: the transport still thinks it under way, so nothing may follow.
      sendBroken = new PeerClosedException(transport + ": peer is gone; message not sent");
      throw sendBroken;
    }
    return false;
  }

  private boolean spinUntilSent(ByteBuffer message, long spin, long deadline) throws IOException {
    long until = spin == Long.MAX_VALUE ? NO_DEADLINE : System.nanoTime() + spin;
    while (true) {
      for (int i = 0; i < SPIN_BURST; i++) {
        if (trySendOnce(message)) {
          return true;
        }
        Thread.onSpinWait();
      }
      checkNotClosedWhileWaiting();
      if (expired(until) || expired(deadline)) {
        return false;
      }
    }
  }

  @Override
  public final int receive(ByteBuffer dst, long timeout, TimeUnit unit) throws IOException {
    long deadline = deadline(timeout, unit);
    receiveLock.lock();
    try {
      ensureOpen();
      long spin = -1;
      while (true) {
        int n = doTryReceive(dst);
        if (n != WOULD_BLOCK) {
          return n;
        }
        if (spin < 0) {
          boolean virtual = VirtualThreads.isCurrentVirtual();
          spin = virtual ? 0 : receiveSpinNanos();
          if (spin > 0 && dev.fdipc.internal.SpinBudget.tryAcquire()) {
            try {
              if ((n = spinUntilReceived(dst, spin, deadline)) != WOULD_BLOCK) {
                return n;
              }
            } finally {
              dev.fdipc.internal.SpinBudget.release();
            }
          }
          if (!virtual && deadline == NO_DEADLINE && !gone.get()
              && (n = doReceiveBlocking(dst)) != WOULD_BLOCK) {
            checkNotClosedWhileWaiting();
            return n;
          }
        }
        if (expired(deadline)) {
          throw new IpcTimeoutException(transport + ": no message before the timeout");
        }
        Interest interest = doArmReceive();
        if (interest != null) {
          await(receiving, interest, deadline);
          checkNotClosedWhileWaiting();
        }
      }
    } finally {
      receiveLock.unlock();
    }
  }

  private int spinUntilReceived(ByteBuffer dst, long spin, long deadline) throws IOException {
    long until = spin == Long.MAX_VALUE ? NO_DEADLINE : System.nanoTime() + spin;
    while (true) {
      // The clock is read once per burst: a message is noticed within one try and one pause.
      for (int i = 0; i < SPIN_BURST; i++) {
        int n = doTryReceive(dst);
        if (n != WOULD_BLOCK) {
          return n;
        }
        Thread.onSpinWait(); // after the try: a message that arrived is taken without a pause
      }
      checkNotClosedWhileWaiting();
      if (expired(until) || expired(deadline) || isPeerGone()) {
        return WOULD_BLOCK;
      }
    }
  }

  /**
   * Waits for {@code interest}, a wake-up or the deadline; returns in every case, and the caller
   * tries again. Called with the direction's lock held.
   */
  private void await(Role role, Interest interest, long deadline) throws IOException {
    if (VirtualThreads.isCurrentVirtual()) {
      role.parked = Thread.currentThread();
      try {
        if (!closed.get() && !gone.get()) { // else the wake-up came before the park
          ParkingLot.shared().await(interest, deadline);
        }
      } finally {
        role.parked = null;
      }
      return;
    }
    if (role.waiter == null) {
      role.waiter = wakeup().newWaiter();
    }
    if (!closed.get() && !gone.get()) {
      role.waiter.await(interest.fd(), interest.events(), deadline);
    }
  }

  /**
   * Creates now the wake-up eventfd that the first wait of a platform thread would create, so that
   * a channel used with blocking calls holds its descriptors from the start (core calls this for
   * channels it hands to blocking code on platform threads; event-driven use never needs it).
   */
  public final void preparePlatformWaits() throws IOException {
    wakeup();
  }

  private Wakeup wakeup() throws IOException {
    Wakeup w = wakeup;
    if (w == null) {
      synchronized (this) {
        w = wakeup;
        if (w == null) {
          w = new Wakeup();
          wakeup = w;
          if (closed.get() || gone.get()) {
            w.signal(); // the wake-up came before there was anything to signal
          }
        }
      }
    }
    return w;
  }

  /** Wakes every blocked call so that it sees the close or the peer gone. */
  private void wakeAll() {
    synchronized (this) {
      Wakeup w = wakeup;
      if (w != null) {
        w.signal();
      }
    }
    unpark(sending.parked);
    unpark(receiving.parked);
    wakeUp();
  }

  private static void unpark(Thread t) {
    if (t != null) {
      java.util.concurrent.locks.LockSupport.unpark(t);
    }
  }

  /**
   * Anything more a transport must do so that a blocked call returns on close or peer gone, beyond
   * what this class does (which wakes every wait it started itself). Must not block, may be called
   * more than once. The default does nothing.
   */
  protected void wakeUp() {}

  /** Releases the kernel objects. Called once, after every send and receive has returned. */
  protected abstract void release() throws IOException;

  @Override
  public final void peerGone() {
    if (gone.compareAndSet(false, true)) {
      wakeAll();
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
    wakeAll();
    sendLock.lock();
    receiveLock.lock();
    try {
      release();
    } finally {
      try {
        Wakeup w;
        synchronized (this) {
          w = wakeup;
        }
        if (w != null) {
          w.close();
        }
      } finally {
        receiveLock.unlock();
        sendLock.unlock();
      }
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

  private void checkSendable() throws IOException {
    if (sendBroken != null) {
      throw sendBroken;
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
