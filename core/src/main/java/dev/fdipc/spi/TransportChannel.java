package dev.fdipc.spi;

import dev.fdipc.IpcChannel;

/**
 * The channel a transport creates: an {@link IpcChannel} that core can tell the peer is gone.
 * Extend {@link AbstractIpcChannel} (or use {@link FdStreamChannel} for byte-stream kernel objects)
 * rather than implementing this directly.
 */
public interface TransportChannel extends IpcChannel {
  /**
   * Core saw the peer's control connection close: the peer will send nothing more. The channel
   * delivers the messages it already holds, then end of stream; blocked calls wake up. Called at
   * most once, from any thread; must not block.
   */
  void peerGone();
}
