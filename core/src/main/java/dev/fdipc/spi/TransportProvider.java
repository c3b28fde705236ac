package dev.fdipc.spi;

import java.io.IOException;

/**
 * A kind of IPC that fdipc can negotiate: the plugin contract. Implementations are found with
 * {@link java.util.ServiceLoader}, so a transport is added by putting its jar on the classpath.
 *
 * <p>A provider is registered in {@code META-INF/services/dev.fdipc.spi.TransportProvider} (the
 * {@code @AutoService(TransportProvider.class)} annotation writes that file), has a public no-arg
 * constructor, is stateless and thread-safe, and should not throw from its constructor: anything
 * that can fail belongs in the availability probe. One provider instance serves every client.
 *
 * <p><b>Life of one client connection.</b>
 * <ol>
 *   <li>The server calls {@link #createServer} to make a fresh kernel object for the client. The
 *       provider returns a {@link ServerEnd}: the channel the server keeps, the client's fds
 *       (at most {@value #MAX_FDS}), and the text parameters the client needs.</li>
 *   <li>Core sends the fds and parameters over the control socket, then closes the server's copies
 *       of the client's fds. The provider never closes them itself.</li>
 *   <li>The client's core receives them and calls {@link #openClient} with a {@link ClientEnd}; the
 *       provider opens the client's channel from them and from then on owns those fds.</li>
 * </ol>
 *
 * <p><b>End of stream.</b> Some kernel objects (shared memory, message queues) cannot tell a reader
 * that the writer died. Core watches the control connection for both sides and calls
 * {@link TransportChannel#peerGone()} when it breaks; a channel must then deliver what it already
 * holds and report end of stream, waking any blocked call.
 */
public interface TransportProvider {
  /** Most fds one transport may hand to a client; the control protocol carries no more. */
  int MAX_FDS = 8;

  /** The lowest priority. */
  int MIN_PRIORITY = 0;

  /** The priority of an ordinary transport. */
  int DEFAULT_PRIORITY = 5;

  /** The highest priority. */
  int MAX_PRIORITY = 10;

  /**
   * The transport's name: also its identifier on the wire and on command lines. Lower case,
   * {@code [a-z0-9][a-z0-9._-]*}, at most 32 characters, and stable across versions.
   */
  String name();

  /**
   * From {@value #MIN_PRIORITY} to {@value #MAX_PRIORITY}, default {@value #DEFAULT_PRIORITY}. When
   * a client leaves the choice to the server, the available transport with the highest priority is
   * chosen (ties go to the name that sorts first).
   */
  default int priority() {
    return DEFAULT_PRIORITY;
  }

  /**
   * Why the transport cannot work in this process, or {@code null} when it can. The answer must
   * come from really exercising the kernel feature once (create the object, close it), and should be
   * computed once and cached; {@link Availability} does both. Must not throw.
   */
  Throwable unavailabilityCause();

  /**
   * How many more clients this transport can serve right now in this process, and what limits
   * that, as one line for {@code server --list-transports}: for example {@code "about 9 clients
   * (RLIMIT_MSGQUEUE 819200 bytes, 81920 per client)"}. Empty when the transport has no limit worth
   * stating. Must not throw.
   */
  default String capacity() {
    return "";
  }

  /**
   * Checks the options meant for this transport (keys starting with {@code name() + "."}) before
   * the server starts, so that a bad value stops the server with a clear message instead of failing
   * every client. The default accepts anything.
   *
   * @param settings the server's settings
   * @throws IllegalArgumentException naming the option, the bad value and the allowed range
   */
  default void checkOptions(TransportSettings settings) {}

  /** True when {@link #unavailabilityCause()} is {@code null}. */
  default boolean isAvailable() {
    return unavailabilityCause() == null;
  }

  /**
   * Creates a fresh kernel object for one client. Called on the server, once per client, possibly
   * from many threads at once.
   *
   * @param settings the negotiated message size and the server's transport options
   * @return the server's channel, the fds for the client and the client's parameters
   * @throws IOException if the kernel object cannot be created; the message should name the limit
   *     that was reached and how to raise it. Nothing may be left open when this throws.
   */
  ServerEnd createServer(TransportSettings settings) throws IOException;

  /**
   * Opens the client's channel from what the server sent. Called on the client.
   *
   * @param end the received fds (owned by the provider from this call on, also when it throws) and
   *     parameters
   * @param settings the negotiated message size and the client's transport options
   * @throws IOException if the fds or parameters are not what this transport's server sends
   */
  TransportChannel openClient(ClientEnd end, TransportSettings settings) throws IOException;
}
