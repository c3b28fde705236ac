package dev.fdipc.testkit;

import dev.fdipc.ClientSession;
import dev.fdipc.FdipcClient;
import dev.fdipc.FdipcServer;
import dev.fdipc.IpcChannel;
import dev.fdipc.TransportRegistry;
import dev.fdipc.spi.TransportProvider;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A real fdipc server for one transport, in this process, on a socket in a fresh temporary
 * directory: every {@link #connect()} goes through the control protocol and SCM_RIGHTS exactly as
 * between two processes, and returns both ends of the new channel.
 */
public final class Loopback implements AutoCloseable {
  private final Path dir;
  private final Path socket;
  private final TransportRegistry registry;
  private final String transport;
  private final int maxMessageSize;
  private final FdipcServer server;
  private final BlockingQueue<Accepted> accepted = new LinkedBlockingQueue<>();
  private final java.util.Map<String, String> options;

  private final java.util.Map<ClientSession, CompletableFuture<Void>> ended =
      new java.util.concurrent.ConcurrentHashMap<>();

  private record Accepted(ClientSession session, CompletableFuture<Void> done) {}

  /** Both ends of one connection. Closing the pair closes both and ends the server's session. */
  public static final class Pair implements AutoCloseable {
    private final IpcChannel server;
    private final IpcChannel client;
    private final ClientSession session;
    private final CompletableFuture<Void> done;
    private final CompletableFuture<Void> ended;

    Pair(IpcChannel server, IpcChannel client, ClientSession session,
        CompletableFuture<Void> done, CompletableFuture<Void> ended) {
      this.server = server;
      this.client = client;
      this.session = session;
      this.done = done;
      this.ended = ended;
    }

    /**
     * Waits until the server has released everything the session held (its handler returned and
     * its channel and control connection are closed).
     */
    public void awaitSessionEnd(Duration timeout) throws IOException {
      await(ended, timeout);
    }

    /** The server's end. */
    public IpcChannel server() {
      return server;
    }

    /** The client's end. */
    public IpcChannel client() {
      return client;
    }

    /** The server's view of the client. */
    public ClientSession session() {
      return session;
    }

    /** Closes both ends and waits up to 10 s for the server to release the session. */
    @Override
    public void close() throws IOException {
      try {
        client.close();
      } finally {
        try {
          server.close();
        } finally {
          done.complete(null);
        }
      }
      awaitSessionEnd(Duration.ofSeconds(10));
    }
  }

  /**
   * Starts a server offering only {@code provider}'s transport.
   *
   * @param maxMessageSize the maximum message size both sides use
   */
  public Loopback(TransportProvider provider, int maxMessageSize) throws IOException {
    this(provider, maxMessageSize, java.util.Map.of());
  }

  /**
   * Starts a server offering only {@code provider}'s transport, with transport options given to
   * both the server and every client.
   *
   * @param options transport options such as {@code memfd.wait=spin}
   */
  public Loopback(TransportProvider provider, int maxMessageSize,
      java.util.Map<String, String> options) throws IOException {
    this.options = java.util.Map.copyOf(options);
    this.dir = Files.createTempDirectory("fdipc-test");
    this.socket = dir.resolve("s.sock");
    this.registry = TransportRegistry.of(provider);
    this.transport = provider.name();
    this.maxMessageSize = maxMessageSize;
    FdipcServer.Builder builder = FdipcServer.builder();
    options.forEach(builder::option);
    this.server = builder
        .socket(socket)
        .registry(registry)
        .maxMessageSize(maxMessageSize)
        .shutdownTimeout(Duration.ofSeconds(2))
        .listener(new dev.fdipc.ServerListener() {
          @Override
          public void sessionEnded(ClientSession session) {
            ended.computeIfAbsent(session, k -> new CompletableFuture<>()).complete(null);
          }
        })
        .handler(session -> {
          ended.computeIfAbsent(session, k -> new CompletableFuture<>());
          CompletableFuture<Void> done = new CompletableFuture<>();
          accepted.put(new Accepted(session, done));
          done.get(); // the test owns the session until it closes the pair
        })
        .start();
  }

  /** The socket the server listens on. */
  public Path socket() {
    return socket;
  }

  /** The server. */
  public FdipcServer server() {
    return server;
  }

  /** Opens a connection and returns both of its ends. */
  public Pair connect() throws IOException {
    FdipcClient.Builder builder = FdipcClient.builder();
    options.forEach(builder::option);
    IpcChannel client = builder
        .socket(socket)
        .registry(registry)
        .transports(transport)
        .maxMessageSize(maxMessageSize)
        .connect();
    try {
      Accepted a = accepted.poll(10, TimeUnit.SECONDS);
      if (a == null) {
        throw new IOException("server did not start a session within 10 s");
      }
      return new Pair(a.session().channel(), client, a.session(), a.done(),
          ended.get(a.session()));
    } catch (InterruptedException e) {
      client.close();
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    } catch (IOException | RuntimeException e) {
      client.close();
      throw e;
    }
  }

  /**
   * Waits for the next session the server starts (for clients connected from another process).
   */
  public Pair nextSession(IpcChannel clientOrNull, Duration timeout) throws IOException {
    try {
      Accepted a = accepted.poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
      if (a == null) {
        throw new IOException("no session within " + timeout);
      }
      return new Pair(a.session().channel(), clientOrNull == null ? a.session().channel()
          : clientOrNull, a.session(), a.done(), ended.get(a.session()));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    }
  }

  @Override
  public void close() throws IOException {
    server.close();
    Files.deleteIfExists(socket);
    Files.deleteIfExists(dir.resolve("s.sock.lock"));
    Files.deleteIfExists(dir);
  }

  /** Waits for a future, turning failures into IOException. */
  static <T> T await(CompletableFuture<T> f, Duration timeout) throws IOException {
    try {
      return f.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    } catch (ExecutionException | TimeoutException e) {
      throw new IOException(e);
    }
  }
}
