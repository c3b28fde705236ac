package dev.fdipc.internal;

import dev.fdipc.ErrorCode;
import dev.fdipc.EventSession;
import dev.fdipc.FdipcServer;
import dev.fdipc.IpcChannel;
import dev.fdipc.IpcTimeoutException;
import dev.fdipc.MessageHandler;
import dev.fdipc.PeerClosedException;
import dev.fdipc.PeerCredentials;
import dev.fdipc.ProtocolException;
import dev.fdipc.Refusal;
import dev.fdipc.ServerListener;
import dev.fdipc.SessionHandler;
import dev.fdipc.TransportRegistry;
import dev.fdipc.spi.AbstractIpcChannel;
import dev.fdipc.spi.Fd;
import dev.fdipc.spi.ServerEnd;
import dev.fdipc.spi.TransportChannel;
import dev.fdipc.spi.TransportSettings;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * One client on the server, as a state machine on one event loop: the handshake (HELLO read
 * without blocking, under a deadline; negotiation; the kernel object created; ACCEPT with its fds),
 * then the session (the control connection watched for GOODBYE or its end, the handler run), then
 * the end (everything released, on the loop). Nothing here blocks the loop and no thread is
 * created per client: a blocking {@link SessionHandler} runs on the server's executor, an
 * event-driven {@link MessageHandler} on this loop.
 *
 * <p>The control descriptor is read, written, deregistered and closed only on the loop thread, so
 * no other thread can ever poll or read its number after it was closed and reused.
 */
public final class ServerConnection implements EventSession {
  /** What every connection of one server shares. */
  public record Context(FdipcServer server, TransportSettings settings, TransportRegistry registry,
      List<String> offered, SessionHandler blockingHandler, MessageHandler eventHandler,
      ServerListener listener, Duration handshakeTimeout, Duration sendTimeout, Executor executor,
      ConnectionEnded onEnded) {}

  /** Told on the loop thread when a connection is over and released. */
  public interface ConnectionEnded {
    /** @param session true if the connection got as far as a session */
    void ended(ServerConnection connection, boolean session);
  }

  private enum State { HANDSHAKE, ACTIVE, CLOSED }

  private final Context ctx;
  private final Loop loop;
  private final int fd;
  private final PeerCredentials peer;
  private final Admission.Ticket ticket;
  private final FrameReader frames = new FrameReader();
  private final FrameReader.Source source;
  private final ArrayDeque<Outgoing> outbox = new ArrayDeque<>();

  private State state = State.HANDSHAKE;
  private long key = -1;
  private boolean reading = true;
  private Reactor.Timer handshakeTimer;
  private long clientId;
  private volatile String transport;
  private volatile TransportChannel channel;
  private IpcChannel handlerChannel;
  private ChannelDriver driver;
  private boolean goodbyeSent;
  private volatile boolean dropped;

  /** A frame waiting for room in the socket buffer; its fds go with its first byte. */
  private static final class Outgoing {
    final byte[] bytes;
    int offset;
    List<Fd> fds;

    Outgoing(byte[] bytes, List<Fd> fds) {
      this.bytes = bytes;
      this.fds = fds;
    }
  }

  /**
   * @param fd the accepted control socket, non-blocking; owned by the connection from now on
   * @param ticket the peer's place in the admission counts, released when the connection ends
   */
  public ServerConnection(Context ctx, Loop loop, int fd, PeerCredentials peer,
      Admission.Ticket ticket) {
    this.ctx = ctx;
    this.loop = loop;
    this.fd = fd;
    this.peer = peer;
    this.ticket = ticket;
    this.source = (b, off, len) -> loop.controlIo().read(fd, b, off, len);
  }

  // ------------------------------------------------------------------------------ ClientSession

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
    TransportChannel ch = channel;
    if (ch == null) {
      return null;
    }
    return ctx.blockingHandler() != null ? handlerChannel : ch;
  }

  @Override
  public FdipcServer server() {
    return ctx.server();
  }

  @Override
  public int maxMessageSize() {
    TransportChannel ch = channel;
    return ch == null ? ctx.settings().maxMessageSize() : ch.maxMessageSize();
  }

  // ------------------------------------------------------------------------------ handshake

  /** Starts the handshake. Loop thread. */
  public void start() {
    try {
      key = loop.reactor().register(fd, LibC.EPOLLIN, this::onControl);
    } catch (IOException e) {
      ctx.listener().warning("could not watch a new connection: " + e.getMessage(), e);
      release();
      return;
    }
    handshakeTimer = loop.reactor().schedule(
        System.nanoTime() + ctx.handshakeTimeout().toNanos(), this::handshakeTimedOut);
    if (ctx.server().isShuttingDown()) {
      refuse(ErrorCode.SHUTTING_DOWN, "server is shutting down", List.of());
      return;
    }
    readHello(); // a client writes its HELLO right after connecting: it is often here already
  }

  private void handshakeTimedOut() {
    handshakeTimer = null;
    if (state == State.HANDSHAKE) {
      refuse(ErrorCode.HANDSHAKE_TIMEOUT, "no HELLO within " + ctx.handshakeTimeout().toMillis()
          + " ms", List.of());
    }
  }

  private void onControl(int events) {
    if ((events & LibC.EPOLLOUT) != 0) {
      flush();
    }
    if (state == State.CLOSED || !reading
        || (events & (LibC.EPOLLIN | LibC.EPOLLHUP | LibC.EPOLLERR)) == 0) {
      return;
    }
    if (state == State.HANDSHAKE) {
      readHello();
    } else {
      readAfterHandshake();
    }
  }

  private void readHello() {
    Wire.Hello hello;
    try {
      FrameReader.Status s = frames.read(source, loop.scratch(), false);
      if (s == FrameReader.Status.INCOMPLETE) {
        return;
      }
      if (s == FrameReader.Status.END) {
        release(); // connected and left without a word: a liveness probe, or a client that quit
        return;
      }
      if (frames.type() != Frame.HELLO) {
        throw new ProtocolException(ErrorCode.UNEXPECTED_FRAME, "expected HELLO, got "
            + Frame.typeName(frames.type()));
      }
      hello = Wire.decodeHello(frames.body());
    } catch (ProtocolException e) {
      refuse(e.code(), e.getMessage(), List.of());
      return;
    } catch (EOFException e) {
      ctx.listener().refused(peer, "connection closed during the handshake: " + e.getMessage());
      release();
      return;
    } catch (IOException e) {
      ctx.listener().refused(peer, "handshake failed: " + e.getMessage());
      release();
      return;
    }
    clientId = hello.clientId();
    if (ctx.server().isShuttingDown()) {
      refuse(ErrorCode.SHUTTING_DOWN, "server is shutting down", List.of());
      return;
    }
    Negotiation.Plan plan = Negotiation.plan(hello, ctx.offered(), ctx.registry(),
        ctx.settings().maxMessageSize());
    TransportSettings agreed = new TransportSettings(plan.maxMessageSize(),
        ctx.settings().options());
    List<Refusal> refusals = new ArrayList<>();
    for (Negotiation.Candidate c : plan.candidates()) {
      if (c.refusal() != null) {
        refusals.add(c.refusal());
        continue;
      }
      ServerEnd end;
      try {
        end = ctx.registry().lookup(c.name()).orElseThrow().provider().createServer(agreed);
      } catch (IOException | RuntimeException e) {
        boolean outOfFds = LibC.isOutOfFds(e) && LibC.isNearFdLimit();
        refusals.add(Negotiation.createFailed(c.name(), e, outOfFds, LibC.openFileLimit()));
        ctx.listener().warning(who() + ": creating " + c.name() + " failed: " + e.getMessage(), e);
        continue;
      }
      accept(c.name(), plan.maxMessageSize(), end);
      return;
    }
    refuse(ErrorCode.NO_TRANSPORT, "", refusals);
  }

  private String who() {
    return "client " + clientId;
  }

  private void accept(String name, int max, ServerEnd end) {
    byte[] frame;
    try {
      frame = Wire.frame(Frame.ACCEPT, end.clientFds().size(),
          Wire.encodeAccept(new Wire.Accept(name, max, end.parameters())));
    } catch (RuntimeException e) { // a provider's parameters the frame cannot carry, say
      closeQuietly(end.channel());
      closeQuietly(end.clientFds());
      ctx.listener().warning(who() + ": cannot send the " + name + " transport: "
          + e.getMessage(), e);
      refuse(ErrorCode.INTERNAL, "server failed to send the " + name + " transport: "
          + e.getMessage(), List.of());
      return;
    }
    cancelHandshakeTimer();
    ticket.handshakeDone();
    state = State.ACTIVE;
    transport = name;
    channel = end.channel();
    frames.reset();
    frames.dropBodies();
    outbox.add(new Outgoing(frame, end.clientFds()));
    if (!flush()) {
      return; // the client left during the handshake; released
    }
    startSession();
  }

  private void refuse(ErrorCode code, String message, List<Refusal> refusals) {
    String text = code == ErrorCode.NO_TRANSPORT
        ? refusals.stream().map(Refusal::toString).collect(Collectors.joining("; "))
        : message;
    ctx.listener().refused(peer, who() + " refused (" + code + "): " + text);
    // A fresh socket's buffer takes an ERROR frame whole; if not, the client is not reading.
    outbox.add(new Outgoing(Wire.frame(Frame.ERROR, 0,
        Wire.encodeError(code, message, refusals, ctx.offered())), List.of()));
    flush();
    release();
  }

  private void cancelHandshakeTimer() {
    if (handshakeTimer != null) {
      handshakeTimer.cancel();
      handshakeTimer = null;
    }
  }

  // ------------------------------------------------------------------------------ control I/O

  /**
   * Writes what the outbox holds, as far as the socket takes it.
   *
   * @return false if the write failed (the client is gone): the connection was ended
   */
  private boolean flush() {
    try {
      while (!outbox.isEmpty()) {
        Outgoing o = outbox.peek();
        int n = loop.controlIo().write(fd, o.bytes, o.offset, o.bytes.length - o.offset, o.fds);
        if (n > 0 && !o.fds.isEmpty()) {
          // The client has its copies now: the server's must not outlive the write.
          closeQuietly(o.fds);
          o.fds = List.of();
        }
        o.offset += n;
        if (o.offset < o.bytes.length) {
          updateInterest();
          return true;
        }
        outbox.poll();
      }
      updateInterest();
      return true;
    } catch (IOException e) {
      outbox.forEach(o -> closeQuietly(o.fds));
      outbox.clear();
      if (state == State.HANDSHAKE || (state == State.ACTIVE && channel != null && !started)) {
        ctx.listener().refused(peer, who() + " left during the handshake: " + e.getMessage());
        closeQuietly(channel);
        channel = null;
        release();
        return false;
      }
      return false; // a session's goodbye to a client that already left: the watch will see it
    }
  }

  private boolean started;

  /** The events the control registration has now. */
  private int watched = LibC.EPOLLIN;

  private void updateInterest() {
    if (key < 0) {
      return;
    }
    int events = (reading ? LibC.EPOLLIN : 0) | (outbox.isEmpty() ? 0 : LibC.EPOLLOUT);
    if (events == watched) {
      return;
    }
    try {
      loop.reactor().modify(key, events);
      watched = events;
    } catch (IOException e) {
      ctx.listener().warning(who() + ": cannot watch the control connection: " + e.getMessage(),
          e);
    }
  }

  /** Queues a small frame after the handshake; best effort (the client may be gone). */
  private void send(int type, byte[] body) {
    if (state == State.CLOSED) {
      return;
    }
    outbox.add(new Outgoing(Wire.frame(type, 0, body), List.of()));
    flush();
  }

  private void readAfterHandshake() {
    int type;
    IOException failure = null;
    try {
      FrameReader.Status s = frames.read(source, loop.scratch(), false);
      if (s == FrameReader.Status.INCOMPLETE) {
        return;
      }
      type = s == FrameReader.Status.END ? -1 : frames.type();
    } catch (IOException e) {
      type = -1;
      failure = e;
    }
    reading = false; // whatever came, the client is gone: nothing more is read
    updateInterest();
    controlEnded(type, failure);
  }

  /**
   * The end of the control connection after the handshake: a whole frame of {@code frameType}, a
   * clean end of stream ({@code -1} and no failure), or a failure. Answers a forbidden frame as
   * PROTOCOL.md 8.1 says; the client is gone in every case.
   */
  private void controlEnded(int frameType, IOException failure) {
    try {
      if (failure instanceof ProtocolException e) {
        if (e.code() == ErrorCode.FDS_REFUSED) { // fds after the handshake: closed; say why we drop
          ctx.listener().refused(peer, who() + " dropped (" + e.code() + "): " + e.getMessage());
          send(Frame.ERROR, Wire.encodeError(e.code(), e.getMessage(), List.of(), List.of()));
          return;
        }
        // No ERROR after the handshake for a frame that cannot be read (PROTOCOL.md 8.1); the
        // reason goes to the log instead.
        ctx.listener().refused(peer, who() + " sent a malformed frame after the handshake ("
            + e.code() + "): " + e.getMessage() + "; dropped");
        return;
      }
      if (failure != null || frameType < 0 || frameType == Frame.GOODBYE) {
        return; // reset, end of stream, or GOODBYE: the client is gone
      }
      String what = who() + " sent " + Frame.typeName(frameType)
          + " after the handshake; only GOODBYE is allowed";
      ctx.listener().refused(peer, what);
      send(Frame.ERROR, Wire.encodeError(ErrorCode.UNEXPECTED_FRAME, what, List.of(), List.of()));
    } finally {
      peerGone();
    }
  }

  private void peerGone() {
    if (driver != null) {
      driver.peerGone();
    } else if (channel != null) {
      channel.peerGone();
    }
  }

  // ------------------------------------------------------------------------------ the session

  private void startSession() {
    started = true;
    TransportChannel ch = channel;
    if (ctx.eventHandler() != null) {
      long stall = ctx.sendTimeout().toNanos();
      driver = new ChannelDriver(loop, ch, new EventCallbacks(), stall);
      try {
        ctx.eventHandler().opened(this);
      } catch (Exception | LinkageError e) {
        handlerFailed(e);
        return;
      }
      if (driver != null && state == State.ACTIVE) {
        driver.start();
      }
      return;
    }
    handlerChannel = new SessionChannel(ch);
    try {
      ctx.executor().execute(this::runBlocking);
    } catch (RejectedExecutionException e) {
      ctx.listener().warning(who() + ": no thread to run its session (the handler pool is"
          + " full): ended; raise FdipcServer.Builder.handlerThreads, pass an executor, use a"
          + " MessageHandler, or run on JDK 21+ for virtual threads", e);
      endSession();
    }
  }

  /** The blocking handler, on an executor thread. */
  private void runBlocking() {
    try {
      if (channel instanceof AbstractIpcChannel a && !VirtualThreads.isCurrentVirtual()) {
        a.preparePlatformWaits(); // the session's descriptors are all there from its start
      }
      ctx.blockingHandler().handle(this);
    } catch (Exception | LinkageError e) {
      if (!dropped) { // a dropped client's failed send is expected and already logged
        ctx.listener().warning("session handler for " + who() + " failed: " + e, e);
      }
    } finally {
      closeQuietly(channel); // before the loop task: the loop must not wait for the handler
      executeOnLoop(this::endSession);
    }
  }

  private void handlerFailed(Throwable e) {
    if (!dropped) {
      ctx.listener().warning("session handler for " + who() + " failed: " + e, e);
    }
    endSession();
  }

  /** Ends the session and releases everything. Loop thread. */
  private void endSession() {
    if (state == State.CLOSED) {
      return;
    }
    if (driver != null) {
      ChannelDriver d = driver;
      driver = null;
      d.stop();
      try {
        ctx.eventHandler().closed(this);
      } catch (RuntimeException | LinkageError e) {
        ctx.listener().warning("session handler for " + who() + " failed in closed(): " + e, e);
      }
    }
    closeQuietly(channel);
    release();
  }

  /** Releases the connection and tells the server. Loop thread; idempotent. */
  private void release() {
    if (state == State.CLOSED) {
      return;
    }
    boolean session = state == State.ACTIVE && started;
    state = State.CLOSED;
    cancelHandshakeTimer();
    if (key >= 0) {
      loop.reactor().deregister(key);
      key = -1;
    }
    outbox.forEach(o -> closeQuietly(o.fds));
    outbox.clear();
    LibC.shutdown(fd, LibC.SHUT_RDWR);
    LibC.close(fd);
    ticket.release();
    ctx.onEnded().ended(this, session);
  }

  private void executeOnLoop(Runnable task) {
    try {
      loop.reactor().execute(task);
    } catch (RejectedExecutionException e) {
      // the server's loop has ended: nothing is left to release on it
    }
  }

  /**
   * Tells the client the server is going away and ends the session after what it already sent.
   * Any thread.
   */
  public void goodbye(String message) {
    executeOnLoop(() -> {
      if (state == State.HANDSHAKE) {
        refuse(ErrorCode.SHUTTING_DOWN, message, List.of());
        return;
      }
      if (state != State.ACTIVE || goodbyeSent) {
        return;
      }
      goodbyeSent = true;
      send(Frame.GOODBYE, Wire.encodeGoodbye(Wire.GOODBYE_SHUTDOWN, message));
      peerGone();
    });
  }

  /** Ends the session now: the handler finds its channel closed. Any thread. */
  public void abort() {
    TransportChannel ch = channel;
    if (ch != null && ctx.blockingHandler() != null) {
      closeQuietly(ch); // wakes a blocked handler; the loop releases the rest when it returns
    }
    executeOnLoop(() -> {
      if (state == State.HANDSHAKE) {
        release();
      } else if (ctx.eventHandler() != null) {
        endSession();
      }
    });
  }

  /**
   * Drops a client that has taken nothing for the send timeout: it is told why (GOODBYE with reason
   * ERROR), its channel delivers what the client already sent and then ends, and the control
   * connection is shut down. Any thread.
   */
  private void dropSlowReader(long stalledNanos) {
    if (dropped) {
      return;
    }
    dropped = true;
    String stalled = String.format(Locale.ROOT, "%.1f s", stalledNanos / 1e9);
    executeOnLoop(() -> {
      if (state != State.ACTIVE) {
        return;
      }
      ctx.listener().dropped(this, "client " + clientId + " dropped: it has not read for "
          + stalled + " (its transport buffer is full; send timeout "
          + ctx.sendTimeout().toMillis() + " ms)");
      send(Frame.GOODBYE, Wire.encodeGoodbye(Wire.GOODBYE_ERROR, "dropped by the server: you"
          + " have not read for " + stalled + " while it waited to send to you"));
      LibC.shutdown(fd, LibC.SHUT_RDWR);
      peerGone();
      if (driver != null) {
        endSession();
      }
    });
  }

  // ------------------------------------------------------------------------------ EventSession

  @Override
  public boolean send(ByteBuffer message) throws IOException {
    ChannelDriver d = driver;
    if (d == null) {
      if (state == State.ACTIVE && ctx.eventHandler() != null) {
        throw new IllegalStateException("send from a thread other than the session's loop");
      }
      throw new PeerClosedException(who() + ": session is over; message not sent");
    }
    return d.send(message);
  }

  @Override
  public boolean isWritable() {
    ChannelDriver d = driver;
    return d != null && d.isWritable();
  }

  private volatile Object attachment;

  @Override
  public void attach(Object attachment) {
    this.attachment = attachment;
  }

  @Override
  public Object attachment() {
    return attachment;
  }

  @Override
  public void execute(Runnable task) {
    loop.reactor().execute(task);
  }

  @Override
  public void close() {
    if (loop.reactor().inLoop()) {
      endSession();
    } else {
      executeOnLoop(this::endSession);
    }
  }

  private final class EventCallbacks implements ChannelDriver.Callbacks {
    @Override
    public void message(ByteBuffer message) throws Exception {
      ctx.eventHandler().received(ServerConnection.this, message);
    }

    @Override
    public void writable() throws Exception {
      ctx.eventHandler().writable(ServerConnection.this);
    }

    @Override
    public void stalled(long nanos) {
      dropSlowReader(nanos);
    }

    @Override
    public void ended(Throwable failure) {
      if (failure != null && !(failure instanceof PeerClosedException) && !dropped) {
        ctx.listener().warning("session handler for " + who() + " failed: " + failure, failure);
      }
      driver = null;
      if (ctx.eventHandler() != null) {
        try {
          ctx.eventHandler().closed(ServerConnection.this);
        } catch (RuntimeException | LinkageError e) {
          ctx.listener().warning("session handler for " + who() + " failed in closed(): " + e,
              e);
        }
      }
      closeQuietly(channel);
      release();
    }
  }

  /**
   * The channel a blocking handler sees: the transport's, with every send bounded by the send
   * timeout (a peer that takes nothing for that long is dropped).
   */
  private final class SessionChannel implements IpcChannel {
    private final TransportChannel ch;

    SessionChannel(TransportChannel ch) {
      this.ch = ch;
    }

    @Override
    public String transport() {
      return ch.transport();
    }

    @Override
    public int maxMessageSize() {
      return ch.maxMessageSize();
    }

    @Override
    public void send(ByteBuffer message) throws IOException {
      long stall = ctx.sendTimeout().toNanos();
      if (stall <= 0 || !(ch instanceof AbstractIpcChannel a)) {
        ch.send(message);
        return;
      }
      try {
        a.send(message, stall);
      } catch (IpcTimeoutException e) {
        dropSlowReader(stall);
        PeerClosedException p = new PeerClosedException("client " + clientId + " dropped: it"
            + " has not read for " + TimeUnit.NANOSECONDS.toMillis(stall) + " ms");
        p.initCause(e);
        throw p;
      }
    }

    @Override
    public int receive(ByteBuffer dst, long timeout, TimeUnit unit) throws IOException {
      return ch.receive(dst, timeout, unit);
    }

    @Override
    public boolean isOpen() {
      return ch.isOpen();
    }

    @Override
    public void close() throws IOException {
      ch.close();
    }

    @Override
    public String toString() {
      return ch.toString();
    }
  }

  private static void closeQuietly(java.io.Closeable c) {
    if (c == null) {
      return;
    }
    try {
      c.close();
    } catch (IOException ignored) {
      // best effort while tearing down a connection
    }
  }

  private static void closeQuietly(List<Fd> fds) {
    try {
      Fd.closeAll(fds);
    } catch (IOException ignored) {
      // best effort
    }
  }
}
