package dev.fdipc.internal;

import dev.fdipc.IpcChannel;
import dev.fdipc.ServerGoneListener;
import dev.fdipc.spi.TransportChannel;
import java.io.IOException;
import dev.fdipc.spi.Fd;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The client's channel: the transport's channel plus the control connection, which stays open as
 * the lifeline. The process's shared event loop watches the control connections of every channel
 * (no thread per connection); a GOODBYE or the connection's end marks the transport's peer as
 * gone and tells the listener, on the loop thread.
 *
 * <p>The control socket is read, deregistered and closed only on the loop thread, so no read can
 * meet its number after the kernel gave it to another connection.
 */
public final class ClientChannel implements IpcChannel {
  private final TransportChannel channel;
  private final ControlConnection control;
  private final ServerGoneListener listener;
  private final Loop loop;
  private final AtomicBoolean closed = new AtomicBoolean();
  private final FrameReader frames = new FrameReader();
  private final CountDownLatch released = new CountDownLatch(1);
  /** What to do on the loop when the server is gone; the transport channel's peerGone by default. */
  private volatile Runnable onGone;
  // Set before the registration, then loop thread only:
  private volatile long key = -1;
  private volatile boolean watching;

  private ClientChannel(TransportChannel channel, ControlConnection control,
      ServerGoneListener listener, Loop loop) {
    this.channel = channel;
    this.control = control;
    this.listener = listener;
    this.loop = loop;
  }

  /** Wraps the channel and starts watching {@code control} on the shared loop. */
  public static ClientChannel start(TransportChannel channel, ControlConnection control,
      ServerGoneListener listener) throws IOException {
    ClientChannel c = new ClientChannel(channel, control, listener, Loop.shared());
    try {
      c.watch();
    } catch (IOException | RuntimeException e) {
      Fd.closeAllAfter(e, List.of(channel)); // the caller closes the control connection
      throw e;
    }
    return c;
  }

  /** The transport's channel (for the event-driven client API). */
  public TransportChannel transportChannel() {
    return channel;
  }

  /** The loop that watches this channel's control connection. */
  public Loop loop() {
    return loop;
  }

  /** Registers the control connection from the connecting thread: the loop need not wake. */
  private void watch() throws IOException {
    key = loop.reactor().newKey();
    watching = true;
    try {
      loop.reactor().register(key, control.pollFd(), LibC.EPOLLIN, events -> readControl());
    } catch (IOException e) {
      watching = false;
      throw e;
    }
  }

  private void readControl() {
    boolean goodbye = false;
    String message;
    try {
      FrameReader.Status s = frames.read(control::readNow, loop.scratch(), false);
      if (s == FrameReader.Status.INCOMPLETE) {
        return;
      }
      if (s == FrameReader.Status.END) {
        message = "server closed the connection";
      } else if (frames.type() == Frame.GOODBYE) {
        goodbye = true;
        message = Wire.decodeGoodbye(frames.body()).message();
      } else if (frames.type() == Frame.ERROR) {
        message = "server reported an error: " + Wire.decodeError(frames.body()).message();
      } else {
        message = "server sent an unexpected " + Frame.typeName(frames.type()) + " frame";
      }
    } catch (IOException e) {
      message = "connection to the server broke: " + e.getMessage();
    }
    ended(goodbye, message);
  }

  /** In place of telling the channel, run {@code r} on the loop when the server is gone. */
  void onGone(Runnable r) {
    this.onGone = r;
  }

  private void ended(boolean goodbye, String message) {
    unwatch();
    Runnable r = onGone;
    if (r != null) {
      r.run();
    } else {
      channel.peerGone();
    }
    if (!closed.get()) {
      try {
        listener.serverGone(goodbye, message);
      } catch (RuntimeException e) {
        System.err.println("fdipc: a ServerGoneListener failed: " + e);
      }
    }
  }

  private void unwatch() {
    if (watching) {
      watching = false;
      loop.reactor().deregister(key);
      key = -1;
    }
  }

  @Override
  public String transport() {
    return channel.transport();
  }

  @Override
  public int maxMessageSize() {
    return channel.maxMessageSize();
  }

  @Override
  public void send(ByteBuffer message) throws IOException {
    channel.send(message);
  }

  @Override
  public int receive(ByteBuffer dst, long timeout, TimeUnit unit) throws IOException {
    return channel.receive(dst, timeout, unit);
  }

  @Override
  public boolean isOpen() {
    return channel.isOpen();
  }

  /**
   * Closes the channel, then, on the loop, stops the watch and closes the control connection;
   * waits for that (briefly) unless called on the loop itself.
   */
  @Override
  public void close() throws IOException {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    try {
      channel.close();
    } finally {
      Runnable release = () -> {
        unwatch();
        control.shutdown();
        try {
          control.close();
        } catch (IOException ignored) {
          // nothing to tell: the channel is closed
        } finally {
          released.countDown();
        }
      };
      if (loop.reactor().inLoop()) {
        release.run();
      } else {
        try {
          loop.reactor().execute(release);
          released.await(5, TimeUnit.SECONDS);
        } catch (RejectedExecutionException e) {
          release.run(); // the loop is gone: nobody else touches the socket
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
    }
  }

  @Override
  public String toString() {
    return "ClientChannel[" + channel + "]";
  }
}
