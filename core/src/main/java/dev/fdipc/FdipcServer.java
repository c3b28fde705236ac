package dev.fdipc;

import dev.fdipc.internal.Admission;
import dev.fdipc.internal.FdReserve;
import dev.fdipc.internal.Frame;
import dev.fdipc.internal.LibC;
import dev.fdipc.internal.Loop;
import dev.fdipc.internal.Reactor;
import dev.fdipc.internal.ServerConnection;
import dev.fdipc.internal.SocketBinding;
import dev.fdipc.internal.VirtualThreads;
import dev.fdipc.internal.Wire;
import dev.fdipc.spi.NativeIoException;
import dev.fdipc.spi.TransportSettings;
import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Path;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.UserPrincipalNotFoundException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * An fdipc server: listens on a UNIX socket, negotiates a transport with each client, creates a
 * fresh kernel object for it, passes the client its fds, and serves it with a blocking
 * {@link SessionHandler} or an event-driven {@link MessageHandler}.
 *
 * <pre>{@code
 * try (FdipcServer server = FdipcServer.builder()
 *     .socket(Path.of("/tmp/app.sock"))
 *     .handler(session -> {
 *       byte[] m;
 *       while ((m = session.channel().receive()) != null) {
 *         session.channel().send(m); // echo
 *       }
 *     })
 *     .start()) {
 *   server.awaitTermination();
 * }
 * }</pre>
 *
 * <p>One event-loop thread (or {@link Builder#loopThreads(int) several}) accepts, runs every
 * handshake, watches every control connection and drives event-driven sessions
 * ({@link Builder#messageHandler(MessageHandler)}); blocking sessions run on an executor. No
 * thread is created per client by the server itself.
 *
 * <p>{@link #shutdown()} (or {@link #close()}) says goodbye to every client over its control
 * connection, ends every session, releases every kernel object and removes the socket file, if it is
 * still the one this server created.
 */
public final class FdipcServer implements Closeable {
  private static final int ACCEPT_BATCH = 64;
  /** accept(2) failing for want of fds has no readiness signal for "freed": retry after this. */
  private static final long ACCEPT_RETRY_NANOS = TimeUnit.MILLISECONDS.toNanos(50);

  private final Builder config;
  private final List<String> offered;
  private final SocketBinding binding;
  private final Loop[] loops;
  private final Executor executor;
  private final ExecutorService ownedExecutor;
  private final ServerConnection.Context context;
  private final Set<ServerConnection> connections = ConcurrentHashMap.newKeySet();
  private final AtomicBoolean shuttingDown = new AtomicBoolean();
  private final AtomicBoolean finished = new AtomicBoolean();
  private final CountDownLatch terminated = new CountDownLatch(1);
  private final FdReserve reserve;
  private final Admission admission;
  private volatile boolean acceptStopped;
  private long listenKey = -1;
  private int nextLoop;
  private long refusedOutOfFds;

  private FdipcServer(Builder b, List<String> offered) throws IOException {
    if (b.handler != null && b.executor == null && VirtualThreads.available()) {
      // Virtual handlers park on the shared loop: set it up first (four fds, once per process),
      // so that the server holds from its start every descriptor it will hold when idle.
      dev.fdipc.internal.ParkingLot.shared();
    }
    this.config = b;
    this.offered = offered;
    this.admission = new Admission(b.allowUids, b.allowGids, b.maxConnectionsPerUid,
        b.maxPendingHandshakes);
    this.binding = SocketBinding.bind(b.socket, b.socketMode, b.socketGroup);
    SocketBinding.directoryWarning(binding.path()).ifPresent(w -> b.listener.warning(w, null));
    this.reserve = new FdReserve(); // after bind: a failed bind leaves nothing to close
    this.loops = new Loop[b.loopThreads];
    try {
      if (LibC.fcntl(binding.fd(), LibC.F_SETFL,
          LibC.fcntl(binding.fd(), LibC.F_GETFL) | LibC.O_NONBLOCK) < 0) {
        throw NativeIoException.lastError("fcntl(O_NONBLOCK)");
      }
      for (int i = 0; i < loops.length; i++) {
        loops[i] = new Loop(new Reactor("fdipc-loop-" + i, false,
            (m, e) -> b.listener.warning(m, e)));
      }
    } catch (IOException | RuntimeException e) {
      closeLoops();
      reserve.close();
      binding.close();
      throw e;
    }
    if (b.executor != null) {
      executor = b.executor;
      ownedExecutor = null;
    } else if (b.handler == null) {
      executor = null; // event-driven: everything runs on the loops
      ownedExecutor = null;
    } else {
      ownedExecutor = defaultExecutor(b.handlerThreads);
      executor = ownedExecutor;
    }
    this.context = new ServerConnection.Context(this, b.settings(), b.registry, offered,
        b.handler, b.messageHandler, b.listener, b.handshakeTimeout, b.sendTimeout, executor,
        this::connectionEnded);
    Loop first = loops[0];
    first.reactor().execute(() -> {
      try {
        listenKey = first.reactor().register(binding.fd(), LibC.EPOLLIN, events -> acceptReady());
      } catch (IOException e) {
        b.listener.warning("cannot watch the listening socket " + binding.path() + ": "
            + e.getMessage() + "; the server accepts no clients", e);
      }
    });
  }

  /**
   * One virtual thread per session where the JDK has them, else a pool of at most
   * {@code threads} platform threads, started as sessions need them and ended a second after
   * their session. A session beyond that bound is ended with a warning rather than queued: a blocking
   * handler holds its thread for the whole session, so a queued session might wait forever.
   */
  private static ExecutorService defaultExecutor(int threads) {
    return VirtualThreads.newPerTaskExecutor().orElseGet(() -> {
      AtomicLong n = new AtomicLong();
      // An idle thread ends after a second: a platform thread costs memory while it waits (about
      // 70 KiB of heap here, released when it ends), and a thread-per-session load has few gaps.
      return new ThreadPoolExecutor(0, threads, 1, TimeUnit.SECONDS, new SynchronousQueue<>(),
          r -> {
            Thread t = new Thread(r, "fdipc-handler-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
          });
    });
  }

  /** The default of {@link Builder#maxConnectionsPerUid(int)}. */
  public static final int DEFAULT_MAX_CONNECTIONS_PER_UID = 256;

  /** The default of {@link Builder#maxPendingHandshakes(int)}. */
  public static final int DEFAULT_MAX_PENDING_HANDSHAKES = 128;

  /** The default of {@link Builder#handshakeTimeout(Duration)}. */
  public static final Duration DEFAULT_HANDSHAKE_TIMEOUT = Duration.ofSeconds(5);

  /** The default of {@link Builder#handlerThreads(int)}. */
  public static final int DEFAULT_HANDLER_THREADS = 4096;

  /** A builder with the defaults: socket from {@link FdipcDefaults}, every available transport. */
  public static Builder builder() {
    return new Builder();
  }

  /** The socket this server listens on. */
  public Path socketPath() {
    return binding.path();
  }

  /** The transports this server offers, in its order of preference. */
  public List<String> offeredTransports() {
    return offered;
  }

  /** The number of clients connected right now, including those still in their handshake. */
  public int sessionCount() {
    return connections.size();
  }

  // ---------------------------------------------------------------------------- accepting

  /** The listening socket is readable: accept what is waiting, on the first loop. */
  private void acceptReady() {
    Loop loop = loops[0];
    for (int i = 0; i < ACCEPT_BATCH && !acceptStopped; i++) {
      reserve.refill();
      int fd = LibC.accept4(binding.fd(), 0, 0, LibC.SOCK_NONBLOCK | LibC.SOCK_CLOEXEC);
      if (fd >= 0) {
        connected(fd);
        continue;
      }
      int errno = LibC.errno();
      if (errno == LibC.EAGAIN) {
        return;
      }
      if (errno == LibC.EINTR || errno == ECONNABORTED) {
        continue;
      }
      if ((errno == LibC.EMFILE || errno == LibC.ENFILE) && acceptWithReserve()) {
        continue;
      }
      config.listener.warning("accept failed on " + socketPath() + ": "
          + new NativeIoException("accept4", errno).getMessage() + "; retrying", null);
      pauseAccepting(loop);
      return;
    }
  }

  /** Stops watching the listener for a moment: level-triggered, it would report at once again. */
  private void pauseAccepting(Loop loop) {
    if (listenKey < 0) {
      return;
    }
    loop.reactor().deregister(listenKey);
    listenKey = -1;
    loop.reactor().schedule(System.nanoTime() + ACCEPT_RETRY_NANOS, () -> {
      if (acceptStopped) {
        return;
      }
      try {
        listenKey = loop.reactor().register(binding.fd(), LibC.EPOLLIN, events -> acceptReady());
      } catch (IOException e) {
        config.listener.warning("cannot watch the listening socket again: " + e.getMessage(), e);
      }
    });
  }

  private static final int ECONNABORTED = 103;

  /**
   * accept(2) failed with EMFILE or ENFILE while a client waits. Gives up the spare fd to accept
   * that client anyway: if the spare can be taken back afterwards, fds were freed meanwhile and
   * the client is served; otherwise it gets ERROR BUSY saying why, instead of waiting in the
   * backlog for an answer that never comes.
   *
   * @return false if there was no spare (the caller pauses before retrying)
   */
  private boolean acceptWithReserve() {
    if (!reserve.release()) {
      return false;
    }
    int fd = LibC.accept4(binding.fd(), 0, 0, LibC.SOCK_NONBLOCK | LibC.SOCK_CLOEXEC);
    if (fd < 0) {
      return LibC.errno() == LibC.EAGAIN; // nobody waits after all; else the caller pauses
    }
    if (reserve.refill()) {
      connected(fd);
    } else {
      refuseOutOfFds(fd);
    }
    return true;
  }

  /** Answers ERROR BUSY on a connection the server has no fds to serve, and closes it. */
  private void refuseOutOfFds(int fd) {
    long limit = LibC.openFileLimit();
    String message = "server is out of file descriptors (limit " + (limit < 0 ? "unknown"
        : Long.toString(limit)) + " open files) and refuses new clients until some disconnect:"
        + " try again later, or raise the server's limit (ulimit -n)";
    if (refusedOutOfFds++ == 0) {
      config.listener.warning(message.replace("refuses", "is refusing"), null);
    }
    answerAndClose(fd, Wire.frame(Frame.ERROR, 0,
        Wire.encodeError(ErrorCode.BUSY, message, List.of(), offered)));
    reserve.refill(); // the connection's slot is free again
  }

  /** After refusals for want of fds, a client is served: say how many were refused. */
  private void noteFdsAvailable() {
    if (refusedOutOfFds > 0) {
      config.listener.warning("file descriptors available again; refused " + refusedOutOfFds
          + " client(s) with BUSY while out of them", null);
      refusedOutOfFds = 0;
    }
  }

  /**
   * Writes a small frame to a fresh connection (its empty buffer takes it whole) and closes it.
   */
  private void answerAndClose(int fd, byte[] frame) {
    try {
      loops[0].controlIo().write(fd, frame, 0, frame.length, List.of());
    } catch (IOException e) {
      // the client is gone already
    }
    LibC.close(fd);
  }

  /**
   * A new connection: the access rules and caps apply before anything is created for the peer;
   * a refused peer gets an ERROR frame at once. An admitted one goes to the next loop.
   */
  private void connected(int fd) {
    if (shuttingDown.get()) {
      LibC.close(fd);
      return;
    }
    PeerCredentials peer;
    try {
      peer = loops[0].controlIo().peerCredentials(fd);
    } catch (IOException e) {
      config.listener.refused(null, "cannot read peer credentials: " + e.getMessage());
      LibC.close(fd);
      return;
    }
    Admission.Decision d = admission.admit(peer);
    if (d.ticket() == null) {
      config.listener.refused(peer, "new connection refused (" + d.code() + "): " + d.message());
      answerAndClose(fd, Wire.frame(Frame.ERROR, 0,
          Wire.encodeError(d.code(), d.message(), List.of(), offered)));
      return;
    }
    noteFdsAvailable();
    Loop loop = loops[nextLoop];
    nextLoop = (nextLoop + 1) % loops.length;
    ServerConnection c = new ServerConnection(context, loop, fd, peer, d.ticket());
    connections.add(c);
    if (loop == loops[0]) {
      c.start();
    } else {
      try {
        loop.reactor().execute(c::start);
      } catch (java.util.concurrent.RejectedExecutionException e) {
        connections.remove(c);
        d.ticket().release();
        LibC.close(fd);
      }
    }
  }

  private void connectionEnded(ServerConnection c, boolean session) {
    connections.remove(c);
    if (session) {
      try {
        config.listener.sessionEnded(c);
      } catch (RuntimeException e) {
        config.listener.warning("the listener failed in sessionEnded: " + e, e);
      }
    }
    finishWhenIdle();
  }

  private void finishWhenIdle() {
    if (shuttingDown.get() && acceptStopped && connections.isEmpty()
        && finished.compareAndSet(false, true)) {
      if (ownedExecutor != null) {
        ownedExecutor.shutdown();
      }
      // The loops end after this task; a thread of their own closes them so that none waits for
      // itself.
      Thread closer = new Thread(() -> {
        closeLoops();
        terminated.countDown();
      }, "fdipc-server-close");
      closer.setDaemon(true);
      closer.start();
    }
  }

  private void closeLoops() {
    for (Loop l : loops) {
      if (l != null) {
        l.reactor().close();
      }
    }
  }

  /** True once {@link #shutdown()} has been called. */
  public boolean isShuttingDown() {
    return shuttingDown.get();
  }

  /**
   * Starts shutting down and returns at once: stops accepting, removes the socket file, says
   * goodbye to every client and makes every session's channel report end of stream after what the
   * client already sent. Idempotent.
   */
  public void shutdown() {
    if (!shuttingDown.compareAndSet(false, true)) {
      return;
    }
    Runnable stop = () -> {
      if (listenKey >= 0) {
        loops[0].reactor().deregister(listenKey);
        listenKey = -1;
      }
      acceptStopped = true;
      binding.close();
      reserve.close();
      for (ServerConnection c : connections) {
        c.goodbye("server is shutting down");
      }
      finishWhenIdle();
    };
    try {
      loops[0].reactor().execute(stop);
    } catch (java.util.concurrent.RejectedExecutionException e) {
      stop.run(); // the loop has ended: nothing watches the listener any more
    }
  }

  /** Waits until every session has ended after {@link #shutdown()}. */
  public void awaitTermination() throws InterruptedException {
    terminated.await();
  }

  /**
   * Waits at most {@code timeout} for every session to end.
   *
   * @return true if the server terminated in time
   */
  public boolean awaitTermination(Duration timeout) throws InterruptedException {
    return terminated.await(timeout.toNanos(), TimeUnit.NANOSECONDS);
  }

  /**
   * Shuts down, waits up to the builder's {@code shutdownTimeout} for sessions to finish on their
   * own, then closes the rest forcibly.
   */
  @Override
  public void close() {
    shutdown();
    try {
      if (!awaitTermination(config.shutdownTimeout)) {
        for (ServerConnection c : connections) {
          c.abort();
        }
        awaitTermination(config.shutdownTimeout);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Configures and starts a server. */
  public static final class Builder {
    private Path socket;
    private List<String> transports;
    private int maxMessageSize = FdipcDefaults.MAX_MESSAGE_SIZE;
    private final Map<String, String> options = new LinkedHashMap<>();
    private SessionHandler handler;
    private MessageHandler messageHandler;
    private Executor executor;
    private int handlerThreads = DEFAULT_HANDLER_THREADS;
    private int loopThreads = 1;
    private ServerListener listener = new ServerListener() {};
    private TransportRegistry registry;
    private Duration handshakeTimeout = DEFAULT_HANDSHAKE_TIMEOUT;
    private Duration shutdownTimeout = Duration.ofSeconds(5);
    private Duration sendTimeout = Duration.ofSeconds(10);
    private java.util.Set<java.nio.file.attribute.PosixFilePermission> socketMode =
        java.nio.file.attribute.PosixFilePermissions.fromString("rw-------");
    private String socketGroupName;
    private GroupPrincipal socketGroup;
    private Set<Long> allowUids;
    private Set<Long> allowGids;
    private int maxConnectionsPerUid = DEFAULT_MAX_CONNECTIONS_PER_UID;
    private int maxPendingHandshakes = DEFAULT_MAX_PENDING_HANDSHAKES;

    private Builder() {}

    /**
     * The group the socket file is given, as a name or a number; default: the server's own group.
     * With {@link #socketMode(String) socketMode("0660")} it lets that group's members connect. The
     * server's user must be a member of the group (or root), or {@link #start()} fails.
     */
    public Builder socketGroup(String group) {
      this.socketGroupName = group;
      return this;
    }

    /**
     * Admits only peers with one of these uids, or with a primary gid from
     * {@link #allowGids(Collection)}; default: no uid rule. Identity comes from {@code SO_PEERCRED}
     * at connect time, never from the client's word; the server's own uid is not implied. Others
     * are refused with {@link ErrorCode#ACCESS_DENIED} before anything is created for them. An
     * empty collection removes the rule.
     */
    public Builder allowUids(Collection<Long> uids) {
      this.allowUids = checkIds(uids, "uid");
      return this;
    }

    /** Like {@link #allowUids(Collection)}. */
    public Builder allowUids(long... uids) {
      return allowUids(java.util.Arrays.stream(uids).boxed().toList());
    }

    /**
     * Admits peers whose <em>primary</em> (effective) gid is one of these, as {@code SO_PEERCRED}
     * reports it at connect time; supplementary groups are not considered. Combined with
     * {@link #allowUids(Collection)}: a peer matching either list is admitted. Default: no gid
     * rule; an empty collection removes the rule.
     */
    public Builder allowGids(Collection<Long> gids) {
      this.allowGids = checkIds(gids, "gid");
      return this;
    }

    /** Like {@link #allowGids(Collection)}. */
    public Builder allowGids(long... gids) {
      return allowGids(java.util.Arrays.stream(gids).boxed().toList());
    }

    private static Set<Long> checkIds(Collection<Long> ids, String what) {
      if (ids == null || ids.isEmpty()) {
        return null;
      }
      for (Long id : ids) {
        if (id == null || id < 0 || id > 0xFFFF_FFFEL) {
          throw new IllegalArgumentException(what + " " + id + " is not a valid " + what
              + ": use a number from 0 to 4294967294");
        }
      }
      return Set.copyOf(ids);
    }

    /**
     * The most connections one uid may hold at once, counting those still in their handshake;
     * default 256. One more is refused at once with {@link ErrorCode#BUSY} while other uids still
     * connect.
     */
    public Builder maxConnectionsPerUid(int max) {
      this.maxConnectionsPerUid = checkCap(max, "maxConnectionsPerUid");
      return this;
    }

    /**
     * The most connections that may be accepted and not have finished their handshake (sent their
     * HELLO and been answered); default 128. One more is refused at once with
     * {@link ErrorCode#BUSY}. Each such connection holds a descriptor and a few hundred bytes
     * until its {@link #handshakeTimeout(Duration) handshake timeout}, so this bounds what silent
     * peers hold.
     */
    public Builder maxPendingHandshakes(int max) {
      this.maxPendingHandshakes = checkCap(max, "maxPendingHandshakes");
      return this;
    }

    private static int checkCap(int max, String what) {
      if (max < 1) {
        throw new IllegalArgumentException(what + " must be at least 1, got " + max);
      }
      return max;
    }

    /**
     * The socket file's permissions as octal, such as {@code "0660"}; default {@code 0600}, so only
     * the server's user can connect. Connecting needs write permission on the socket.
     *
     * @throws IllegalArgumentException if {@code octal} is not an octal mode from 0 to 0777
     */
    public Builder socketMode(String octal) {
      int m;
      try {
        m = Integer.parseInt(octal, 8);
      } catch (NumberFormatException e) {
        m = -1;
      }
      if (m < 0 || m > 0777) {
        throw new IllegalArgumentException("socket mode '" + octal
            + "' is not an octal permission from 0000 to 0777, such as 0600 or 0660");
      }
      java.util.Set<java.nio.file.attribute.PosixFilePermission> perms =
          java.util.EnumSet.noneOf(java.nio.file.attribute.PosixFilePermission.class);
      java.nio.file.attribute.PosixFilePermission[] order =
          java.nio.file.attribute.PosixFilePermission.values(); // OWNER_READ .. OTHERS_EXECUTE
      for (int bit = 0; bit < 9; bit++) {
        if ((m & (0400 >> bit)) != 0) {
          perms.add(order[bit]);
        }
      }
      this.socketMode = perms;
      return this;
    }

    /** The socket path; default from {@link FdipcDefaults#socketPath}. */
    public Builder socket(Path path) {
      this.socket = path;
      return this;
    }

    /**
     * The transports to offer, in order of preference; default: every available one, in registry
     * order. Each must be known and available, or {@link #start()} throws.
     */
    public Builder transports(List<String> names) {
      this.transports = names == null ? null : List.copyOf(names);
      return this;
    }

    /** Like {@link #transports(List)}. */
    public Builder transports(String... names) {
      return transports(List.of(names));
    }

    /**
     * The largest message this server accepts; a client asking for less gets its own value.
     * Default 1 MiB, at most 64 MiB.
     */
    public Builder maxMessageSize(int bytes) {
      this.maxMessageSize = FdipcDefaults.checkMaxMessageSize(bytes);
      return this;
    }

    /** A transport option such as {@code memfd.ring-size}, passed to providers. */
    public Builder option(String key, String value) {
      options.put(Objects.requireNonNull(key), Objects.requireNonNull(value));
      return this;
    }

    /**
     * Serves each client with blocking calls, on the {@link #executor(Executor) executor}: one
     * virtual thread per session on JDK 21 and later, else a pool of
     * {@link #handlerThreads(int)} threads. This or {@link #messageHandler} is required.
     */
    public Builder handler(SessionHandler handler) {
      this.handler = handler;
      return this;
    }

    /**
     * Serves each client event by event on the server's loop thread, with no thread per client.
     * This or {@link #handler(SessionHandler)} is required.
     */
    public Builder messageHandler(MessageHandler handler) {
      this.messageHandler = handler;
      return this;
    }

    /**
     * Where blocking {@link SessionHandler}s run, one task per session, each for as long as its
     * session lasts; the embedder keeps ownership (the server does not shut it down). Default:
     * a virtual thread per session where the JDK has them, else a pool of
     * {@link #handlerThreads(int)} daemon threads.
     */
    public Builder executor(Executor executor) {
      this.executor = Objects.requireNonNull(executor);
      return this;
    }

    /**
     * The size of the default pool for blocking handlers on a JDK without virtual threads (17 to
     * 20): at most this many blocking sessions at once; one more is ended at once with a warning
     * (use {@link #messageHandler}, JDK 21, or a larger pool for more). Default
     * {@value FdipcServer#DEFAULT_HANDLER_THREADS}; ignored with virtual threads or an
     * {@link #executor(Executor)}.
     */
    public Builder handlerThreads(int threads) {
      this.handlerThreads = checkCap(threads, "handler threads");
      return this;
    }

    /**
     * How many event-loop threads serve the clients (accepting, handshakes, control connections,
     * event-driven sessions); default 1. More than the cores gains nothing.
     */
    public Builder loopThreads(int threads) {
      this.loopThreads = checkCap(threads, "loop threads");
      return this;
    }

    /** Receives refusals and warnings; default ignores them. */
    public Builder listener(ServerListener listener) {
      this.listener = Objects.requireNonNull(listener);
      return this;
    }

    /** The transports to draw from; default {@link TransportRegistry#getDefault()}. */
    public Builder registry(TransportRegistry registry) {
      this.registry = registry;
      return this;
    }

    /** How long a client has to send its HELLO; default 5 s. */
    public Builder handshakeTimeout(Duration timeout) {
      this.handshakeTimeout = Objects.requireNonNull(timeout);
      return this;
    }

    /** How long {@link FdipcServer#close()} waits for sessions before closing them; default 5 s. */
    public Builder shutdownTimeout(Duration timeout) {
      this.shutdownTimeout = Objects.requireNonNull(timeout);
      return this;
    }

    private static GroupPrincipal lookupGroup(String name) {
      try {
        // A number that names no group is taken as that gid.
        return java.nio.file.FileSystems.getDefault().getUserPrincipalLookupService()
            .lookupPrincipalByGroupName(name);
      } catch (UserPrincipalNotFoundException e) {
        throw new IllegalArgumentException("socket group '" + name + "' does not exist: give an "
            + "existing group name or a number (see getent group)");
      } catch (IOException e) {
        throw new IllegalArgumentException("cannot look up socket group '" + name + "': "
            + e.getMessage());
      }
    }

    /**
     * How long one send of a session handler may wait for a client that does not read; default
     * 10 s. A client whose transport buffer stays full that long is dropped: the send throws
     * {@link PeerClosedException}, the session ends, and the listener's
     * {@link ServerListener#dropped} says why. The queue of messages for one client is therefore
     * its transport's own bounded buffer, and no client can hold a session thread (or shutdown)
     * forever. {@link Duration#ZERO} disables the limit.
     *
     * @throws IllegalArgumentException if {@code timeout} is negative
     */
    public Builder sendTimeout(Duration timeout) {
      if (timeout.isNegative()) {
        throw new IllegalArgumentException("send timeout must be 0 (none) or positive: "
            + timeout);
      }
      this.sendTimeout = timeout;
      return this;
    }

    TransportSettings settings() {
      return new TransportSettings(maxMessageSize, options);
    }

    /**
     * Binds the socket and starts accepting clients.
     *
     * @throws IllegalArgumentException if a transport is unknown or unavailable, or no handler is set
     * @throws IOException if the socket cannot be bound; the message says why (a live server on
     *     the path, a file that is not a socket, a missing directory)
     */
    public FdipcServer start() throws IOException {
      if (handler == null && messageHandler == null) {
        throw new IllegalArgumentException(
            "no handler: call handler(...) or messageHandler(...) before start()");
      }
      if (handler != null && messageHandler != null) {
        throw new IllegalArgumentException(
            "both handler(...) and messageHandler(...) were set: choose one");
      }
      if (registry == null) {
        registry = TransportRegistry.getDefault();
      }
      for (String w : registry.warnings()) {
        listener.warning(w, null);
      }
      List<String> offer = transports == null ? registry.availableNames()
          : registry.requireAvailable(transports);
      if (offer.isEmpty()) {
        throw new IllegalArgumentException(
            "no transport available to offer; add a transport jar to the classpath");
      }
      for (String name : offer) {
        registry.lookup(name).orElseThrow().provider().checkOptions(settings());
      }
      socketGroup = socketGroupName == null ? null : lookupGroup(socketGroupName);
      socket = FdipcDefaults.socketPath(socket, System.getenv());
      return new FdipcServer(this, new ArrayList<>(offer));
    }
  }
}
