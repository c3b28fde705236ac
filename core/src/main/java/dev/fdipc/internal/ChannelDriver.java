package dev.fdipc.internal;

import dev.fdipc.spi.Interest;
import dev.fdipc.spi.NativeIoException;
import dev.fdipc.spi.TransportChannel;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Drives one channel from an event loop: delivers each message to a callback on the loop thread,
 * sends without blocking, and signals backpressure instead of blocking on it. It is the channel's
 * non-blocking half ({@code tryReceive}, {@code trySend}, {@code arm*}) plus epoll registrations
 * of the descriptors the channel names, so it works for every transport alike.
 *
 * <p>Receiving reads up to {@value #BUDGET} messages per turn, then yields to the loop's other work;
 * a channel that still has data is served again in the next round. Messages are read into the
 * loop's shared receive buffer and handed over read-only, valid until the callback returns.
 *
 * <p>Sending: {@link #send} hands the message to the channel; what the kernel object cannot take
 * now is copied and kept (one message at most), the descriptor is watched for room, and
 * {@link Callbacks#writable()} says when the next message may be sent. While something is kept,
 * {@link #send} refuses more (returns false) and no more messages are delivered: a peer that sends
 * without reading its replies is slowed to the pace at which it reads, and a handler that answers
 * each message once never sees a refusal. A kept message that makes no progress for the stall
 * timeout calls {@link Callbacks#stalled(long)}.
 *
 * <p>Loop thread only, except where a method says otherwise.
 */
public final class ChannelDriver implements Reactor.Handler {
  /** Messages delivered per turn before the loop's other channels get theirs. */
  static final int BUDGET = 64;

  /** What the driver reports, on the loop thread. */
  public interface Callbacks {
    /** A message; {@code message} is read-only and valid until this returns. */
    void message(ByteBuffer message) throws Exception;

    /** Room again after {@link ChannelDriver#send} kept part of a message. */
    void writable() throws Exception;

    /** The kept message has made no progress for {@code nanos}: the peer stopped reading. */
    void stalled(long nanos);

    /**
     * The channel ended: end of stream (the peer closed or is gone, {@code failure} null) or a
     * failure of the channel or of a callback. Called once; nothing is delivered after it.
     */
    void ended(Throwable failure);
  }

  private final Loop loop;
  private final TransportChannel channel;
  private final Callbacks callbacks;
  private final long stallNanos;

  private long readKey = -1;
  private int readFd = -1;
  private long writeKey = -1;
  private int writeFd = -1;
  /** A stream socket waits for both directions on one descriptor: one registration for both. */
  private long sharedKey = -1;
  private int sharedFd = -1;
  private boolean wantRead;
  private boolean wantWrite;

  private ByteBuffer kept;
  private int keptProgress;
  private Reactor.Timer stallTimer;
  private boolean readScheduled;
  private boolean ended;

  /**
   * @param stallNanos how long a kept message may make no progress; 0 for no limit
   */
  public ChannelDriver(Loop loop, TransportChannel channel, Callbacks callbacks, long stallNanos) {
    this.loop = loop;
    this.channel = channel;
    this.callbacks = callbacks;
    this.stallNanos = stallNanos;
  }

  /** Starts delivering messages. */
  public void start() {
    readMore();
  }

  /** The peer is gone (core was told): deliver what is left, then end. */
  public void peerGone() {
    channel.peerGone();
    scheduleRead();
  }

  private void scheduleRead() {
    if (!readScheduled && !ended) {
      readScheduled = true;
      loop.reactor().execute(() -> {
        readScheduled = false;
        readMore();
      });
    }
  }

  @Override
  public void ready(int events) {
    readMore();
  }

  private final Reactor.Handler onWritable = events -> flushKept();

  /** The shared registration: the events say which side may progress; hang-up wakes both. */
  private final Reactor.Handler onEither = events -> {
    boolean all = (events & (LibC.EPOLLERR | LibC.EPOLLHUP)) != 0;
    if (wantWrite && (all || (events & LibC.EPOLLOUT) != 0)) {
      flushKept();
    }
    if (wantRead && (all || (events & LibC.EPOLLIN) != 0)) {
      readMore();
    }
  };

  private void readMore() {
    if (ended) {
      return;
    }
    try {
      for (int i = 0; i < BUDGET; i++) {
        if (kept != null) {
          // The peer is behind: read nothing more until it has caught up, so that replies never
          // pile up (writable() resumes). Reads are not watched meanwhile, or a level-triggered
          // descriptor would report at once again.
          pauseRead();
          return;
        }
        ByteBuffer buf = loop.receiveBuffer(channel.maxMessageSize());
        int n = channel.tryReceive(buf);
        if (n >= 0) {
          buf.flip();
          callbacks.message(buf.asReadOnlyBuffer());
          if (ended) {
            return;
          }
          continue;
        }
        if (n == -1) {
          end(null);
          return;
        }
        Interest interest = channel.armReceive();
        if (interest == null) {
          continue;
        }
        watchRead(interest);
        return;
      }
      scheduleRead(); // budget spent: the rest in the next round, after the others' turn
    } catch (Exception | LinkageError e) {
      end(e);
    }
  }

  /**
   * Sends {@code message} without blocking. Loop thread only.
   *
   * @throws dev.fdipc.MessageTooLargeException if it exceeds the channel's maximum
   *
   * @return true if the channel took it (whole, or the rest is kept and sent when there is room);
   *     false if an earlier message is still kept: nothing was taken, {@link Callbacks#writable()}
   *     follows
   */
  public boolean send(ByteBuffer message) throws IOException {
    if (!loop.reactor().inLoop()) {
      throw new IllegalStateException("send from a thread other than the connection's loop: use"
          + " execute(...)");
    }
    if (message.remaining() > channel.maxMessageSize()) {
      throw new dev.fdipc.MessageTooLargeException(message.remaining(), channel.maxMessageSize());
    }
    if (kept != null) {
      return false;
    }
    if (channel.trySend(message)) {
      return true;
    }
    ByteBuffer copy = ByteBuffer.allocate(message.remaining());
    copy.put(message).flip();
    kept = copy;
    keptProgress = copy.position();
    armStallTimer();
    flush(false); // never writable() from inside send(): the caller was not refused
    return true;
  }

  /** True when {@link #send} would take a message now. */
  public boolean isWritable() {
    return kept == null && !ended;
  }

  private void flushKept() {
    flush(true);
  }

  /** Sends what is kept; {@code notify}: say writable() once it is all sent. */
  private void flush(boolean notify) {
    if (kept == null || ended) {
      return;
    }
    try {
      while (true) {
        if (channel.trySend(kept)) {
          kept = null;
          if (stallTimer != null) {
            stallTimer.cancel();
            stallTimer = null;
          }
          stopWrite();
          if (notify) {
            callbacks.writable();
          }
          scheduleRead(); // reading paused while the message was kept
          return;
        }
        if (kept.position() != keptProgress) {
          keptProgress = kept.position();
          armStallTimer();
        }
        Interest interest = channel.armSend();
        if (interest != null) {
          watchWrite(interest);
          return;
        }
      }
    } catch (Exception | LinkageError e) {
      end(e);
    }
  }

  private void armStallTimer() {
    if (stallNanos <= 0) {
      return;
    }
    if (stallTimer != null) {
      stallTimer.cancel();
    }
    stallTimer = loop.reactor().schedule(System.nanoTime() + stallNanos, () -> {
      stallTimer = null;
      if (kept != null && !ended) {
        callbacks.stalled(stallNanos);
      }
    });
  }

  // ------------------------------------------------------------------------ registrations

  private void watchRead(Interest interest) throws NativeIoException {
    wantRead = true;
    int fd = interest.fd();
    if (sharedKey >= 0 && fd == sharedFd) {
      loop.reactor().modify(sharedKey, bothEvents());
    } else if (writeKey >= 0 && fd == writeFd) {
      share(fd);
    } else if (readKey < 0 || readFd != fd) { // else level-triggered: still registered
      if (readKey >= 0) {
        loop.reactor().deregister(readKey);
      }
      readFd = fd;
      readKey = loop.reactor().register(fd, epollEvents(interest), this);
    }
  }

  private void watchWrite(Interest interest) throws NativeIoException {
    wantWrite = true;
    int fd = interest.fd();
    if (sharedKey >= 0 && fd == sharedFd) {
      loop.reactor().modify(sharedKey, bothEvents());
    } else if (readKey >= 0 && fd == readFd) {
      share(fd);
    } else if (writeKey < 0 || writeFd != fd) {
      if (writeKey >= 0) {
        loop.reactor().deregister(writeKey);
      }
      writeFd = fd;
      writeKey = loop.reactor().register(fd, epollEvents(interest), onWritable);
    }
  }

  /** Both directions wait on {@code fd} (readable to receive, writable to send): one registration. */
  private void share(int fd) throws NativeIoException {
    if (readKey >= 0) {
      loop.reactor().deregister(readKey);
    }
    if (writeKey >= 0) {
      loop.reactor().deregister(writeKey);
    }
    readKey = writeKey = -1;
    readFd = writeFd = -1;
    sharedFd = fd;
    sharedKey = loop.reactor().register(fd, bothEvents(), onEither);
  }

  private static int epollEvents(Interest interest) {
    return interest.events() == Interest.READABLE ? LibC.EPOLLIN : LibC.EPOLLOUT;
  }

  private int bothEvents() {
    return (wantRead ? LibC.EPOLLIN : 0) | (wantWrite ? LibC.EPOLLOUT : 0);
  }

  private void pauseRead() throws NativeIoException {
    wantRead = false;
    if (sharedKey >= 0) {
      loop.reactor().modify(sharedKey, bothEvents());
    } else if (readKey >= 0) {
      loop.reactor().deregister(readKey);
      readKey = -1;
      readFd = -1;
    }
  }

  private void stopWrite() {
    wantWrite = false;
    if (sharedKey >= 0) {
      try {
        loop.reactor().modify(sharedKey, bothEvents());
      } catch (NativeIoException e) {
        end(e);
      }
    } else if (writeKey >= 0) {
      loop.reactor().deregister(writeKey);
      writeKey = -1;
      writeFd = -1;
    }
  }

  /**
   * Stops watching the channel's descriptors; after this they may be closed. Nothing more is
   * delivered. Idempotent.
   */
  public void stop() {
    ended = true;
    if (stallTimer != null) {
      stallTimer.cancel();
      stallTimer = null;
    }
    for (long key : new long[] {readKey, writeKey, sharedKey}) {
      if (key >= 0) {
        loop.reactor().deregister(key);
      }
    }
    readKey = writeKey = sharedKey = -1;
    readFd = writeFd = sharedFd = -1;
  }

  private void end(Throwable failure) {
    if (ended) {
      return;
    }
    stop();
    callbacks.ended(failure);
  }
}
