package dev.fdipc.internal;

import dev.fdipc.ClientSession;
import dev.fdipc.ErrorCode;
import dev.fdipc.FdipcServer;
import dev.fdipc.IpcChannel;
import dev.fdipc.PeerCredentials;
import dev.fdipc.ProtocolException;
import dev.fdipc.Refusal;
import dev.fdipc.ServerListener;
import dev.fdipc.SessionHandler;
import dev.fdipc.TransportInfo;
import dev.fdipc.TransportRegistry;
import dev.fdipc.spi.Fd;
import dev.fdipc.spi.ServerEnd;
import dev.fdipc.spi.TransportChannel;
import dev.fdipc.spi.TransportSettings;
import java.io.EOFException;
import java.io.IOException;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * One client on the server: handshake, negotiation, fd passing, then the handler, while the server's
 * {@link ControlWatcher} watches the control connection and turns its end into
 * {@link TransportChannel#peerGone()}.
 */
public final class ServerSession implements ClientSession {
  private final FdipcServer server;
  private final ControlConnection control;
  private final TransportSettings settings;
  private final TransportRegistry registry;
  private final List<String> offered;
  private final SessionHandler handler;
  private final ServerListener listener;
  private final Duration handshakeTimeout;
  private final SendWatchdog watchdog;
  private final ControlWatcher controlWatcher;
  private final ControlWatcher.Handler onControlEnded = this::controlEnded;
  private final IpcChannel watchedChannel = new WatchedChannel();
  private final java.util.concurrent.atomic.AtomicBoolean dropped =
      new java.util.concurrent.atomic.AtomicBoolean();
  /**
   * The handler's sends started plus those finished: odd while one is under way. A counter rather
   * than a start time keeps the clock off the message path; {@link SendWatchdog} times it.
   */
  private volatile long sendEvents;

  private PeerCredentials peer;
  private long clientId;
  private String transport;
  private volatile TransportChannel channel;
  private boolean active;
  private boolean goodbyeRequested;
  private Runnable handshakeDone = () -> { };

  public ServerSession(FdipcServer server, ControlConnection control, TransportSettings settings,
      TransportRegistry registry, List<String> offered, SessionHandler handler,
      ServerListener listener, Duration handshakeTimeout, SendWatchdog watchdog,
      ControlWatcher controlWatcher) {
    this.server = server;
    this.control = control;
    this.settings = settings;
    this.registry = registry;
    this.offered = offered;
    this.handler = handler;
    this.listener = listener;
    this.handshakeTimeout = handshakeTimeout;
    this.watchdog = watchdog;
    this.controlWatcher = controlWatcher;
  }

  @Override
  public long clientId() {
    return clientId;
  }

  @Override
  public String transport() {
    return transport;
  }

  @Override
  public PeerCredentials peer() {
    return peer;
  }

  @Override
  public IpcChannel channel() {
    return channel == null ? null : watchedChannel;
  }

  @Override
  public FdipcServer server() {
    return server;
  }

  /** Runs {@code r} on the session's thread when the handshake is over, however it ended. */
  public void onHandshakeDone(Runnable r) {
    this.handshakeDone = r;
  }

  /** Runs the whole session on the calling thread; never throws. */
  public void run() {
    try {
      boolean accepted;
      try {
        accepted = handshake();
      } finally {
        handshakeDone.run();
      }
      if (!accepted) {
        return;
      }
      if (!controlWatcher.watch(control, onControlEnded)) {
        controlEnded(-1, null); // the server has ended: nobody will tell us the client left
      }
      watchdog.watch(this);
      try {
        handler.handle(this);
      } catch (Exception | LinkageError e) {
        if (!dropped.get()) { // a dropped client's failed send is expected and already logged
          listener.warning("session handler for client " + clientId + " failed: " + e, e);
        }
      }
    } finally {
      watchdog.unwatch(this);
      TransportChannel ch = channel;
      if (ch != null) {
        closeQuietly(ch);
      }
      control.shutdown();
      // The watcher lets go of the socket before it is closed: one that polled or read it after
      // the close would watch the next connection given the freed fd number, stealing another
      // client's HELLO (and answering it with an ERROR).
      controlWatcher.unwatch(onControlEnded);
      closeQuietly(control);
    }
  }

  private boolean handshake() {
    try {
      peer = control.peerCredentials();
    } catch (IOException e) {
      listener.refused(null, "cannot read peer credentials: " + e.getMessage());
      return false;
    }
    Wire.Hello hello;
    try {
      ControlConnection.Received r = control.read(false,
          System.nanoTime() + handshakeTimeout.toNanos());
      if (r == null) {
        return false; // connected and left without a word: a liveness probe, or a client that quit
      }
      if (r.frame().type() != Frame.HELLO) {
        throw new ProtocolException(ErrorCode.UNEXPECTED_FRAME, "expected HELLO, got "
            + Frame.typeName(r.frame().type()));
      }
      hello = Wire.decodeHello(r.frame().body());
    } catch (SocketTimeoutException e) {
      return refuse(ErrorCode.HANDSHAKE_TIMEOUT, "no HELLO within " + handshakeTimeout.toMillis()
          + " ms", List.of());
    } catch (ProtocolException e) {
      return refuse(e.code(), e.getMessage(), List.of());
    } catch (EOFException e) {
      listener.refused(peer, "connection closed during the handshake: " + e.getMessage());
      return false;
    } catch (IOException e) {
      listener.refused(peer, "handshake failed: " + e.getMessage());
      return false;
    }
    clientId = hello.clientId();
    if (server.isShuttingDown()) {
      return refuse(ErrorCode.SHUTTING_DOWN, "server is shutting down", List.of());
    }
    int max = hello.maxMessageSize() == 0 ? settings.maxMessageSize()
        : Math.min(hello.maxMessageSize(), settings.maxMessageSize());
    TransportSettings agreed = new TransportSettings(max, settings.options());
    List<String> candidates = hello.transports().isEmpty() ? offered : hello.transports();
    List<Refusal> refusals = new ArrayList<>();
    for (String name : candidates) {
      Refusal refusal = checkOffered(name);
      if (refusal != null) {
        refusals.add(refusal);
        continue;
      }
      ServerEnd end;
      try {
        end = registry.lookup(name).orElseThrow().provider().createServer(agreed);
      } catch (IOException | RuntimeException e) {
        String detail = String.valueOf(e.getMessage());
        if (LibC.isOutOfFds(e) && LibC.isNearFdLimit()) { // not the client's fault, nor for good
          detail = "server is out of file descriptors (limit " + LibC.openFileLimit()
              + " open files), try again later: " + detail;
        }
        refusals.add(new Refusal(name, Refusal.Reason.CREATE_FAILED, detail));
        listener.warning("client " + clientId + ": creating " + name + " failed: "
            + e.getMessage(), e);
        continue;
      }
      return accept(name, max, end);
    }
    return refuse(ErrorCode.NO_TRANSPORT, "", refusals);
  }

  private Refusal checkOffered(String name) {
    if (offered.contains(name)) {
      return null;
    }
    Optional<TransportInfo> info = registry.lookup(name);
    if (info.isEmpty()) {
      return new Refusal(name, Refusal.Reason.UNKNOWN, "");
    }
    if (!info.get().isAvailable()) {
      return new Refusal(name, Refusal.Reason.UNAVAILABLE, info.get().reason());
    }
    return new Refusal(name, Refusal.Reason.NOT_OFFERED, "");
  }

  private boolean accept(String name, int max, ServerEnd end) {
    TransportChannel ch = end.channel();
    try {
      synchronized (this) {
        if (goodbyeRequested) {
          closeQuietly(ch);
          return refuse(ErrorCode.SHUTTING_DOWN, "server is shutting down", List.of());
        }
        control.write(Frame.ACCEPT, Wire.encodeAccept(new Wire.Accept(name, max,
            end.parameters())), end.clientFds());
        transport = name;
        channel = ch;
        active = true;
      }
      control.setReadTimeout(0);
      return true;
    } catch (IOException e) {
      listener.refused(peer, "client " + clientId + " left during the handshake: "
          + e.getMessage());
      closeQuietly(ch);
      channel = null;
      return false;
    } catch (RuntimeException e) { // a provider's parameters the frame cannot carry, say
      closeQuietly(ch);
      channel = null;
      active = false;
      listener.warning("client " + clientId + ": cannot send the " + name + " transport: "
          + e.getMessage(), e);
      return refuse(ErrorCode.INTERNAL, "server failed to send the " + name + " transport: "
          + e.getMessage(), List.of());
    } finally {
      // The client has its copies now (or never will): the server's must not outlive this call.
      try {
        Fd.closeAll(end.clientFds());
      } catch (IOException e) {
        listener.warning("closing the server's copies of client " + clientId + "'s fds: "
            + e.getMessage(), e);
      }
    }
  }

  private boolean refuse(ErrorCode code, String message, List<Refusal> refusals) {
    String text = code == ErrorCode.NO_TRANSPORT
        ? refusals.stream().map(Refusal::toString).collect(Collectors.joining("; "))
        : message;
    listener.refused(peer, "client " + clientId + " refused (" + code + "): " + text);
    try {
      control.write(Frame.ERROR, Wire.encodeError(code, message, refusals, offered));
    } catch (IOException e) {
      // The client is gone already; the refusal was logged.
    }
    return false;
  }

  /**
   * The end of the control connection after the handshake, as the {@link ControlWatcher} read it
   * (on its thread): a whole frame of {@code frameType}, a clean end of stream ({@code -1} and no
   * failure), or a failure. Answers a forbidden frame as PROTOCOL.md 8.1 says; the client is gone
   * in every case.
   */
  private void controlEnded(int frameType, IOException failure) {
    try {
      if (failure instanceof ProtocolException e) {
        if (e.code() == ErrorCode.FDS_REFUSED) { // fds after the handshake: closed; say why we drop
          listener.refused(peer, "client " + clientId + " dropped (" + e.code() + "): "
              + e.getMessage());
          writeQuietly(Frame.ERROR, Wire.encodeError(e.code(), e.getMessage(), List.of(),
              List.of()));
          return;
        }
        // No ERROR after the handshake for a frame that cannot be read (PROTOCOL.md 8.1); the
        // reason goes to the log instead.
        listener.refused(peer, "client " + clientId + " sent a malformed frame after the handshake"
            + " (" + e.code() + "): " + e.getMessage() + "; dropped");
        return;
      }
      if (failure != null || frameType < 0 || frameType == Frame.GOODBYE) {
        return; // reset, end of stream, or the socket shut down by run(): the client is gone
      }
      String what = "client " + clientId + " sent " + Frame.typeName(frameType)
          + " after the handshake; only GOODBYE is allowed";
      listener.refused(peer, what);
      writeQuietly(Frame.ERROR, Wire.encodeError(ErrorCode.UNEXPECTED_FRAME, what, List.of(),
          List.of()));
    } finally {
      TransportChannel ch = channel;
      if (ch != null) {
        ch.peerGone();
      }
    }
  }

  /**
   * Writes a small frame on the watcher's thread: the server has written at most an ACCEPT and a
   * GOODBYE to this socket before, so a few hundred bytes fit in its buffer and cannot block.
   */
  private void writeQuietly(int type, byte[] body) {
    try {
      control.write(type, body);
    } catch (IOException gone) {
      // the client is gone already; the drop was logged
    }
  }

  /** Tells the client the server is going away and ends the session after what it already sent. */
  public void goodbye(String message) {
    TransportChannel ch;
    synchronized (this) {
      if (goodbyeRequested) {
        return;
      }
      goodbyeRequested = true;
      if (!active) {
        return; // the handshake will refuse with SHUTTING_DOWN
      }
      ch = channel;
      try {
        control.write(Frame.GOODBYE, Wire.encodeGoodbye(Wire.GOODBYE_SHUTDOWN, message));
      } catch (IOException e) {
        // The client is gone already.
      }
    }
    ch.peerGone();
  }

  /** Odd while the handler's send is under way; changes with every send started or finished. */
  long sendEvents() {
    return sendEvents;
  }

  /**
   * Drops a client whose transport buffer has stayed full for longer than the send timeout: the
   * blocked send fails with {@link dev.fdipc.PeerClosedException}, the channel delivers what the
   * client already sent and then ends, and the control connection is shut down so that the client
   * learns it was dropped (after a GOODBYE with reason ERROR that says why).
   */
  void dropSlowReader(long stalledNanos) {
    if (!dropped.compareAndSet(false, true)) {
      return;
    }
    String stalled = String.format(java.util.Locale.ROOT, "%.1f s", stalledNanos / 1e9);
    listener.dropped(this, "client " + clientId + " dropped: it has not read for " + stalled
        + " (its transport buffer is full; send timeout " + watchdog.timeout().toMillis()
        + " ms)");
    try {
      // A few bytes on a socket the server has written at most two frames to: this cannot block.
      // Written before the session is woken: once woken, the session thread ends and closes the
      // control connection, which would race this GOODBYE and leave the client a bare EOF.
      control.write(Frame.GOODBYE, Wire.encodeGoodbye(Wire.GOODBYE_ERROR, "dropped by the "
          + "server: you have not read for " + stalled + " while it waited to send to you"));
    } catch (IOException e) {
      // The client is gone already.
    }
    TransportChannel ch = channel;
    if (ch != null) {
      ch.peerGone();
    }
    control.shutdown();
  }

  /**
   * The channel the handler sees: the transport's, with each send's start and end counted for the
   * {@link SendWatchdog}. Sends are serialized here so that an odd count means one send, the one
   * actually waiting for the client.
   */
  private final class WatchedChannel implements IpcChannel {
    private final java.util.concurrent.locks.ReentrantLock sendLock =
        new java.util.concurrent.locks.ReentrantLock();

    @Override
    public String transport() {
      return channel.transport();
    }

    @Override
    public int maxMessageSize() {
      return channel.maxMessageSize();
    }

    @Override
    public void send(java.nio.ByteBuffer message) throws IOException {
      sendLock.lock();
      try {
        sendEvents++; // odd: under way; single writer, under the lock
        try {
          channel.send(message);
        } finally {
          sendEvents++;
        }
      } finally {
        sendLock.unlock();
      }
    }

    @Override
    public int receive(java.nio.ByteBuffer dst, long timeout, java.util.concurrent.TimeUnit unit)
        throws IOException {
      return channel.receive(dst, timeout, unit);
    }

    @Override
    public boolean isOpen() {
      return channel.isOpen();
    }

    @Override
    public void close() throws IOException {
      channel.close();
    }

    @Override
    public String toString() {
      return channel.toString();
    }
  }

  /** Ends the session now: wakes the handler with a closed channel. */
  public void abort() {
    TransportChannel ch = channel;
    if (ch != null) {
      closeQuietly(ch);
    }
    control.shutdown();
  }

  private static void closeQuietly(java.io.Closeable c) {
    try {
      c.close();
    } catch (IOException ignored) {
      // best effort while tearing down a session
    }
  }
}
