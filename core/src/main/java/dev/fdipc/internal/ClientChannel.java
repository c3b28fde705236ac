package dev.fdipc.internal;

import dev.fdipc.IpcChannel;
import dev.fdipc.ServerGoneListener;
import dev.fdipc.spi.TransportChannel;
import java.io.IOException;
import dev.fdipc.spi.Fd;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The client's channel: the transport's channel plus the control connection, which stays open as
 * the lifeline. The process's shared event loop watches the control connections of every channel
 * (no thread per connection); a GOODBYE or the connection's end marks the transport's peer as
 * gone and tells the listener, on the loop thread.
 *
 * <p>The control socket is read on the loop thread, and deregistered and closed under the same
 * lock as that read, after which the loop never touches it again: no read can meet its number
 * after the kernel gave it to another connection, and closing needs no round trip to the loop.
 */
public final class ClientChannel implements IpcChannel {
  private final TransportChannel channel;
  /**
   * Guards the control socket against the loop's read: a private object, not the channel, which
   * the user may lock (a lock of theirs would then stall the shared loop).
   */
  private final Object lock = new Object();
  /** The control socket; -1 once closed. Guarded by {@code lock}. */
  private int control;
  private final ServerGoneListener listener;
  private final Loop loop;
  private final AtomicBoolean closed = new AtomicBoolean();
  private final FrameReader frames = new FrameReader();
  /** What to do on the loop when the server is gone; the transport channel's peerGone by default. */
  private volatile Runnable onGone;
  // Guarded by lock:
  private long key = -1;
  private boolean watching;

  private ClientChannel(TransportChannel channel, int control,
      ServerGoneListener listener, Loop loop) {
    this.channel = channel;
    this.control = control;
    this.listener = listener;
    this.loop = loop;
  }

  /**
   * Wraps the channel and starts watching {@code control} on the shared loop; the channel owns the
   * descriptor from then on (on failure the caller still does).
   */
  public static ClientChannel start(TransportChannel channel, int control,
      ServerGoneListener listener) throws IOException {
    try {
      ClientChannel c = new ClientChannel(channel, control, listener, Loop.shared());
      c.watch();
      return c;
    } catch (IOException | RuntimeException e) {
      Fd.closeAllAfter(e, List.of(channel)); // the caller closes the control connection
      throw e;
    }
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
    synchronized (lock) {
      key = loop.reactor().newKey();
      watching = true;
      try {
        loop.reactor().register(key, control, LibC.EPOLLIN, events -> readControl());
      } catch (IOException e) {
        watching = false;
        throw e;
      }
    }
  }

  /** Loop thread. */
  private void readControl() {
    boolean goodbye = false;
    String message;
    try {
      FrameReader.Status s;
      synchronized (lock) {
        if (!watching) {
          return; // closed meanwhile: the descriptor is no longer ours to read
        }
        int fd = control;
        s = frames.read((b, off, len) -> loop.controlIo().read(fd, b, off, len), loop.scratch(),
            false);
      }
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
    synchronized (lock) {
      unwatchLocked();
    }
  }

  private void unwatchLocked() {
    if (watching) {
      watching = false;
      loop.reactor().release(key);
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

  /** Closes the channel, then the control connection, which tells the server. Any thread. */
  @Override
  public void close() throws IOException {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    try {
      channel.close();
    } finally {
      synchronized (lock) {
        unwatchLocked();
        LibC.shutdown(control, LibC.SHUT_RDWR); // the server sees the end even if a child holds it
        LibC.close(control);
        control = -1;
      }
    }
  }

  @Override
  public String toString() {
    return "ClientChannel[" + channel + "]";
  }
}
