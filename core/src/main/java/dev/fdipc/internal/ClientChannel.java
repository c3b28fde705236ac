package dev.fdipc.internal;

import dev.fdipc.IpcChannel;
import dev.fdipc.ServerGoneListener;
import dev.fdipc.spi.TransportChannel;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The client's channel: the transport's channel plus the control connection, which stays open as
 * the lifeline. A daemon thread reads the control connection; a GOODBYE or its end marks the
 * transport's peer as gone and tells the listener.
 */
public final class ClientChannel implements IpcChannel {
  private final TransportChannel channel;
  /** How long close() waits for the watcher; it returns at once after the shutdown, normally. */
  private static final long WATCHER_EXIT_MILLIS = 5000;

  private final ControlConnection control;
  private final ServerGoneListener listener;
  private final AtomicBoolean closed = new AtomicBoolean();
  private Thread watcher;

  private ClientChannel(TransportChannel channel, ControlConnection control,
      ServerGoneListener listener) {
    this.channel = channel;
    this.control = control;
    this.listener = listener;
  }

  public static ClientChannel start(TransportChannel channel, ControlConnection control,
      ServerGoneListener listener) {
    ClientChannel c = new ClientChannel(channel, control, listener);
    Thread t = new Thread(c::watch, "fdipc-client-control");
    t.setDaemon(true);
    c.watcher = t;
    t.start();
    return c;
  }

  private void watch() {
    boolean goodbye = false;
    String message;
    try {
      ControlConnection.Received r = control.read(false);
      if (r == null) {
        message = "server closed the connection";
      } else if (r.frame().type() == Frame.GOODBYE) {
        goodbye = true;
        message = Wire.decodeGoodbye(r.frame().body()).message();
      } else if (r.frame().type() == Frame.ERROR) {
        message = "server reported an error: " + Wire.decodeError(r.frame().body()).message();
      } else {
        message = "server sent an unexpected " + Frame.typeName(r.frame().type()) + " frame";
      }
    } catch (IOException e) {
      message = "connection to the server broke: " + e.getMessage();
    }
    channel.peerGone();
    if (!closed.get()) {
      listener.serverGone(goodbye, message);
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

  @Override
  public void close() throws IOException {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    try {
      channel.close();
    } finally {
      control.shutdown();
      awaitWatcher();
      control.close();
    }
  }

  /**
   * Waits for the watcher to leave its read, which the shutdown ends, before the socket is closed:
   * a watcher that had not reached read(2) yet would otherwise read whatever connection is given
   * the freed fd number next, stealing another connection's frame (seen in SoakTest: a handshake
   * that found the body of its ACCEPT where the header belonged).
   */
  private void awaitWatcher() {
    if (Thread.currentThread() == watcher) {
      return; // close() from the ServerGoneListener: the watcher is past its read
    }
    try {
      watcher.join(WATCHER_EXIT_MILLIS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  @Override
  public String toString() {
    return "ClientChannel[" + channel + "]";
  }
}
