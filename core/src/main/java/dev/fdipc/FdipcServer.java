package dev.fdipc;

import dev.fdipc.internal.Admission;
import dev.fdipc.internal.ControlConnection;
import dev.fdipc.internal.ControlWatcher;
import dev.fdipc.internal.FdReserve;
import dev.fdipc.internal.Frame;
import dev.fdipc.internal.LibC;
import dev.fdipc.internal.SendWatchdog;
import dev.fdipc.internal.SocketBinding;
import dev.fdipc.internal.ServerSession;
import dev.fdipc.internal.Wire;
import dev.fdipc.spi.TransportSettings;
import java.io.Closeable;
import java.io.IOException;
import java.net.SocketException;
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
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.newsclub.net.unix.AFUNIXServerSocket;
import org.newsclub.net.unix.AFUNIXSocket;

/**
 * An fdipc server: listens on a UNIX socket, negotiates a transport with each client, creates a
 * fresh kernel object for it, passes the client its fds, and runs a {@link SessionHandler} for it.
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
 * <p>{@link #shutdown()} (or {@link #close()}) says goodbye to every client over its control
 * connection, ends every session, releases every kernel object and removes the socket file, if it is
 * still the one this server created.
 */
public final class FdipcServer implements Closeable {
  private final Builder config;
  private final List<String> offered;
  private final SocketBinding binding;
  private final AFUNIXServerSocket serverSocket;
  private final Set<ServerSession> sessions = ConcurrentHashMap.newKeySet();
  private final AtomicBoolean shuttingDown = new AtomicBoolean();
  private final CountDownLatch terminated = new CountDownLatch(1);
  private final AtomicLong sessionNumbers = new AtomicLong();
  private final Thread acceptThread;
  private final AtomicBoolean acceptDone = new AtomicBoolean();
  private final FdReserve reserve;
  private long refusedOutOfFds;
  private final Admission admission;
  private final SendWatchdog sendWatchdog;
  private final ControlWatcher controlWatcher;

  private FdipcServer(Builder b, List<String> offered) throws IOException {
    this.config = b;
    this.offered = offered;
    this.admission = new Admission(b.allowUids, b.allowGids, b.maxConnectionsPerUid,
        b.maxPendingHandshakes);
    this.binding = SocketBinding.bind(b.socket, b.socketMode, b.socketGroup);
    SocketBinding.directoryWarning(binding.path()).ifPresent(w -> b.listener.warning(w, null));
    this.serverSocket = binding.serverSocket();
    this.reserve = new FdReserve(); // after bind: a failed bind leaves nothing to close
    try {
      this.controlWatcher = new ControlWatcher(b.listener, "fdipc-control-watcher");
    } catch (IOException | RuntimeException e) {
      reserve.close();
      binding.close();
      throw e;
    }
    this.sendWatchdog = new SendWatchdog(b.sendTimeout, "fdipc-send-watchdog");
    this.acceptThread = new Thread(this::acceptLoop, "fdipc-accept");
    acceptThread.start();
  }

  /** The default of {@link Builder#maxConnectionsPerUid(int)}. */
  public static final int DEFAULT_MAX_CONNECTIONS_PER_UID = 256;

  /** The default of {@link Builder#maxPendingHandshakes(int)}. */
  public static final int DEFAULT_MAX_PENDING_HANDSHAKES = 128;

  /** The default of {@link Builder#handshakeTimeout(Duration)}. */
  public static final Duration DEFAULT_HANDSHAKE_TIMEOUT = Duration.ofSeconds(5);

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

  /** The number of clients with a session right now. */
  public int sessionCount() {
    return sessions.size();
  }

  private void acceptLoop() {
    try {
      while (!shuttingDown.get()) {
        AFUNIXSocket socket;
        reserve.refill();
        try {
          socket = serverSocket.accept();
        } catch (SocketException e) {
          if (shuttingDown.get() || serverSocket.isClosed()) {
            break;
          }
          if (LibC.isOutOfFds(e) && acceptWithReserve()) {
            continue;
          }
          config.listener.warning("accept failed on " + socketPath() + ": " + e.getMessage()
              + "; retrying", e);
          pauseAfterAcceptFailure();
          continue;
        } catch (IOException e) {
          if (shuttingDown.get()) {
            break;
          }
          if (LibC.isOutOfFds(e) && acceptWithReserve()) {
            continue;
          }
          config.listener.warning("accept failed on " + socketPath() + ": " + e.getMessage()
              + "; retrying", e);
          pauseAfterAcceptFailure();
          continue;
        }
        if (shuttingDown.get()) { // the wake-up connection from shutdown(), or a late client
          closeQuietly(socket);
          break;
        }
        startSession(socket);
      }
    } finally {
      acceptDone.set(true);
      reserve.close();
      finishWhenIdle();
    }
  }

  /**
   * accept(2) failed with EMFILE or ENFILE while a client waits. Gives up the spare fd to accept
   * that client anyway: if the spare can be taken back afterwards, fds were freed meanwhile and
   * the client is served; otherwise it gets ERROR BUSY saying why, instead of waiting in the
   * backlog for an answer that never comes while the loop retries.
   *
   * @return false if there was no spare (the caller pauses before retrying)
   */
  private boolean acceptWithReserve() {
    if (!reserve.release()) {
      return false;
    }
    AFUNIXSocket socket;
    try {
      socket = serverSocket.accept();
    } catch (IOException e) {
      return false; // the slot went elsewhere; the caller pauses
    }
    if (shuttingDown.get()) {
      closeQuietly(socket);
      return true;
    }
    if (reserve.refill()) {
      startSession(socket);
    } else {
      refuseOutOfFds(socket);
    }
    return true;
  }

  /** Answers ERROR BUSY on a connection the server has no fds to serve, and closes it. */
  private void refuseOutOfFds(AFUNIXSocket socket) {
    long limit = LibC.openFileLimit();
    String message = "server is out of file descriptors (limit " + (limit < 0 ? "unknown"
        : Long.toString(limit)) + " open files) and refuses new clients until some disconnect:"
        + " try again later, or raise the server's limit (ulimit -n)";
    synchronized (reserve) {
      if (refusedOutOfFds++ == 0) {
        config.listener.warning(message.replace("refuses", "is refusing"), null);
      }
    }
    try {
      socket.getOutputStream().write(Wire.frame(Frame.ERROR, 0,
          Wire.encodeError(ErrorCode.BUSY, message, List.of(), offered)));
    } catch (IOException e) {
      // the client is gone already
    }
    closeQuietly(socket);
    reserve.refill(); // the connection's slot is free again
  }

  /** After refusals for want of fds, a session started: say how many were refused. */
  private void noteFdsAvailable() {
    long refused;
    synchronized (reserve) {
      refused = refusedOutOfFds;
      refusedOutOfFds = 0;
    }
    if (refused > 0) {
      config.listener.warning("file descriptors available again; refused " + refused
          + " client(s) with BUSY while out of them", null);
    }
  }

  private static void pauseAfterAcceptFailure() {
    // accept(2) fails persistently when the process is out of fds; without a pause the loop would
    // spin on the CPU. There is no readiness signal for "an fd was freed".
    try {
      Thread.sleep(50);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private void startSession(AFUNIXSocket socket) {
    ServerSession session;
    Admission.Ticket ticket;
    ControlConnection control = null;
    try {
      control = new ControlConnection(socket);
      ticket = admit(control);
      if (ticket == null) {
        return;
      }
      session = new ServerSession(this, control, config.settings(),
          config.registry, offered, config.handler, config.listener, config.handshakeTimeout,
          sendWatchdog, controlWatcher);
    } catch (IOException e) {
      if (control == null && LibC.isOutOfFds(e)) { // no fd for the control connection's reader
        refuseOutOfFds(socket);
        return;
      }
      config.listener.warning("could not set up a connection: " + e.getMessage(), e);
      closeQuietly(control == null ? socket : control);
      return;
    }
    noteFdsAvailable();
    session.onHandshakeDone(ticket::handshakeDone);
    sessions.add(session);
    if (shuttingDown.get()) {
      session.goodbye("server is shutting down");
    }
    Thread t = new Thread(() -> {
      try {
        session.run();
      } finally {
        ticket.release();
        sessions.remove(session);
        if (session.channel() != null) {
          config.listener.sessionEnded(session);
        }
        finishWhenIdle();
      }
    }, "fdipc-session-" + sessionNumbers.incrementAndGet());
    t.start();
  }

  /**
   * Applies the access rules and the caps on the accept thread, before anything is created for the
   * peer: a refused peer gets an ERROR frame at once and its connection is closed. The frame fits
   * in the empty send buffer of a fresh socket, so writing it does not block the accept loop.
   *
   * @return the peer's place in the counts, or {@code null} if it was refused (socket closed)
   */
  private Admission.Ticket admit(ControlConnection control) {
    PeerCredentials peer;
    try {
      peer = control.peerCredentials();
    } catch (IOException e) {
      config.listener.refused(null, "cannot read peer credentials: " + e.getMessage());
      closeQuietly(control);
      return null;
    }
    Admission.Decision d = admission.admit(peer);
    if (d.ticket() != null) {
      return d.ticket();
    }
    config.listener.refused(peer, "new connection refused (" + d.code() + "): " + d.message());
    try {
      control.write(Frame.ERROR, Wire.encodeError(d.code(),
          d.message(), List.of(), offered));
    } catch (IOException e) {
      // The peer is gone already; the refusal was reported.
    }
    closeQuietly(control);
    return null;
  }

  private void finishWhenIdle() {
    if (shuttingDown.get() && acceptDone.get() && sessions.isEmpty()) {
      sendWatchdog.close();
      controlWatcher.close();
      terminated.countDown();
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
    stopAccepting();
    binding.close();
    for (ServerSession s : sessions) {
      s.goodbye("server is shutting down");
    }
    finishWhenIdle();
  }

  /**
   * Makes the accept thread return and waits for it. Closing the listener under a blocked accept
   * would leak a descriptor: junixsocket unblocks it by connecting to itself, accepts that
   * connection into a socket object it then abandons until garbage collection. So this connects
   * first, the accept loop closes what it accepted and ends, and only then is the listener closed.
   */
  private void stopAccepting() {
    if (Thread.currentThread() == acceptThread || acceptDone.get()) {
      return;
    }
    try (AFUNIXSocket wake = AFUNIXSocket.newInstance()) {
      wake.connect(org.newsclub.net.unix.AFUNIXSocketAddress.of(binding.path()));
    } catch (IOException e) {
      return; // the path is gone or not ours any more: close the listener under the accept
    }
    try {
      acceptThread.join(5000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
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
        for (ServerSession s : sessions) {
          s.abort();
        }
        awaitTermination(config.shutdownTimeout);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static void closeQuietly(Closeable c) {
    try {
      c.close();
    } catch (IOException ignored) {
      // nothing to report: the connection was never used
    }
  }

  /** Configures and starts a server. */
  public static final class Builder {
    private Path socket;
    private List<String> transports;
    private int maxMessageSize = FdipcDefaults.MAX_MESSAGE_SIZE;
    private final Map<String, String> options = new LinkedHashMap<>();
    private SessionHandler handler;
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
     * {@link ErrorCode#BUSY}. Each such connection holds a thread until its
     * {@link #handshakeTimeout(Duration) handshake timeout}, so this bounds what silent peers hold.
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

    /** Serves each client; required. */
    public Builder handler(SessionHandler handler) {
      this.handler = handler;
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
      if (handler == null) {
        throw new IllegalArgumentException("no handler: call handler(...) before start()");
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
