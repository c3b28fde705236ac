package dev.fdipc.internal;

import java.nio.ByteBuffer;

/**
 * An event loop with the scratch space its handlers share: control-socket I/O, a buffer for
 * dropped frame bodies, and the receive buffer that event-driven sessions read messages into.
 * Sharing them per loop thread is what keeps a connection small (a few hundred bytes of state
 * instead of a few KiB of buffers). Everything but {@link #reactor()} is loop-thread only.
 */
public final class Loop {
  private final Reactor reactor;
  private final ControlIo controlIo = new ControlIo();
  private final byte[] scratch = new byte[4096];
  private ByteBuffer receiveBuffer = ByteBuffer.allocate(64 * 1024);

  public Loop(Reactor reactor) {
    this.reactor = reactor;
  }

  public Reactor reactor() {
    return reactor;
  }

  public ControlIo controlIo() {
    return controlIo;
  }

  public byte[] scratch() {
    return scratch;
  }

  /**
   * The loop's receive buffer, cleared, with room for at least {@code maxMessageSize} bytes;
   * valid until the handler it is given to returns.
   */
  public ByteBuffer receiveBuffer(int maxMessageSize) {
    if (receiveBuffer.capacity() < maxMessageSize) {
      receiveBuffer = ByteBuffer.allocate(maxMessageSize);
    }
    return receiveBuffer.clear();
  }

  private static volatile Loop shared;

  /** The process's shared loop, on {@link Reactor#shared()}. */
  public static Loop shared() throws java.io.IOException {
    Loop l = shared;
    if (l == null) {
      synchronized (Loop.class) {
        l = shared;
        if (l == null) {
          l = new Loop(Reactor.shared());
          shared = l;
        }
      }
    }
    return l;
  }
}
