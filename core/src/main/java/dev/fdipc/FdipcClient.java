package dev.fdipc;

import dev.fdipc.internal.ClientChannel;
import dev.fdipc.internal.ControlSocket;
import dev.fdipc.internal.Frame;
import dev.fdipc.internal.LibC;
import dev.fdipc.internal.Wire;
import dev.fdipc.spi.ClientEnd;
import dev.fdipc.spi.Fd;
import dev.fdipc.spi.NativeIoException;
import dev.fdipc.spi.TransportChannel;
import dev.fdipc.spi.TransportSettings;
import java.io.IOException;
import java.net.SocketTimeoutException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * Opens a client channel to an fdipc server.
 *
 * <pre>{@code
 * try (IpcChannel ch = FdipcClient.builder().clientId(2).transports("pipe").connect()) {
 *   ch.send("hello".getBytes(UTF_8));
 *   byte[] reply = ch.receive();
 * }
 * }</pre>
 */
public final class FdipcClient {
  private FdipcClient() {}

  /** A builder with the defaults: socket from {@link FdipcDefaults}, any available transport. */
  public static Builder builder() {
    return new Builder();
  }

  /** Configures and opens a connection. */
  public static final class Builder {
    private Path socket;
    private long clientId;
    private List<String> transports;
    private int maxMessageSize = FdipcDefaults.MAX_MESSAGE_SIZE;
    private final Map<String, String> options = new LinkedHashMap<>();
    private TransportRegistry registry;
    private Duration handshakeTimeout = Duration.ofSeconds(10);
    private ServerGoneListener serverGone = (goodbye, message) -> { };

    private Builder() {}

    /** The server's socket; default from {@link FdipcDefaults#socketPath}. */
    public Builder socket(Path path) {
      this.socket = path;
      return this;
    }

    /** The id to introduce this client with, 0 to 4294967295; default 0. */
    public Builder clientId(long id) {
      if (id < 0 || id > 0xffffffffL) {
        throw new IllegalArgumentException("client id " + id + " out of range [0, 4294967295]");
      }
      this.clientId = id;
      return this;
    }

    /**
     * The transports this client accepts, most preferred first; default: every transport available
     * in this process, in registry order. Each must be known and available here.
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
     * The largest message this client wants; the server may lower it to its own limit. Default
     * 1 MiB, at most 64 MiB.
     */
    public Builder maxMessageSize(int bytes) {
      this.maxMessageSize = FdipcDefaults.checkMaxMessageSize(bytes);
      return this;
    }

    /** A transport option passed to the client side of providers. */
    public Builder option(String key, String value) {
      options.put(Objects.requireNonNull(key), Objects.requireNonNull(value));
      return this;
    }

    /** The transports to draw from; default {@link TransportRegistry#getDefault()}. */
    public Builder registry(TransportRegistry registry) {
      this.registry = registry;
      return this;
    }

    /** How long to wait for the server's answer; default 10 s. */
    public Builder handshakeTimeout(Duration timeout) {
      this.handshakeTimeout = Objects.requireNonNull(timeout);
      return this;
    }

    /** Called when the server says goodbye or dies while the channel is open. */
    public Builder onServerGone(ServerGoneListener listener) {
      this.serverGone = Objects.requireNonNull(listener);
      return this;
    }

    /**
     * Connects, negotiates and returns the open channel. Closing the channel closes the connection.
     *
     * @throws NegotiationException if the server refused: no common transport (each candidate's
     *     reason is listed), shutting down, or another refusal
     * @throws java.net.ConnectException if no server listens on the socket
     * @throws IllegalArgumentException if a transport named here is unknown or unavailable
     * @throws IOException if the connection or the received transport fails
     */
    public IpcChannel connect() throws IOException {
      return open(true);
    }

    /**
     * Connects and negotiates as {@link #connect()} does, then serves the connection event by
     * event: {@code handler}'s methods run on the library's shared event loop (one thread per
     * process, whatever the number of connections), and sending never blocks.
     *
     * @throws NegotiationException, IOException as {@link #connect()}
     */
    public EventChannel connect(ChannelHandler handler) throws IOException {
      Objects.requireNonNull(handler, "handler");
      return dev.fdipc.internal.ClientEventChannel.start(open(false), handler);
    }

    private ClientChannel open(boolean blocking) throws IOException {
      TransportRegistry reg = registry != null ? registry : TransportRegistry.getDefault();
      List<String> accept = transports == null ? reg.availableNames()
          : reg.requireAvailable(transports);
      if (accept.size() > Wire.MAX_TRANSPORTS) {
        throw new IllegalArgumentException("at most " + Wire.MAX_TRANSPORTS
            + " transports can be listed, got " + accept.size());
      }
      Path path = FdipcDefaults.socketPath(socket, System.getenv());
      dev.fdipc.internal.SocketBinding.checkPathLength(path.toAbsolutePath());
      int fd;
      try {
        fd = ControlSocket.connect(path);
      } catch (NativeIoException e) {
        if (!e.call().equals("connect")) {
          throw new IOException("cannot open a socket to connect to " + path + ": "
              + e.getMessage(), e); // out of fds, say: nothing to do with the server
        }
        java.net.ConnectException ce = new java.net.ConnectException(whyNotConnected(path, e));
        ce.initCause(e);
        throw ce;
      }
      try {
        return handshake(fd, reg, accept, path, blocking);
      } catch (IOException | RuntimeException e) {
        LibC.close(fd);
        throw e;
      }
    }

    /**
     * A server that refuses a peer on sight (ACCESS_DENIED, BUSY) writes its ERROR and closes
     * without reading, so the HELLO can fail with a broken pipe while the ERROR waits in this
     * socket's receive buffer: report that instead of the write error.
     */
    private IOException refusedBeforeHello(int fd, IOException writeFailure) {
      try {
        ControlSocket.Received r = ControlSocket.read(fd, false,
            System.nanoTime() + 1_000_000_000L);
        if (r != null && r.frame().type() == Frame.ERROR) {
          Wire.Error e = Wire.decodeError(r.frame().body());
          NegotiationException n = new NegotiationException(e.code(), e.message(), e.refusals(),
              e.offered());
          n.addSuppressed(writeFailure);
          return n;
        }
      } catch (IOException | RuntimeException e) {
        writeFailure.addSuppressed(e);
      }
      return writeFailure;
    }

    /**
     * Why connect(2) failed, and what to do: only a missing socket or one nobody listens on means
     * "start a server"; a refusal by permissions or a file that is not a socket does not.
     */
    private static String whyNotConnected(Path path, NativeIoException e) {
      String m = LibC.describe(e.errno());
      java.nio.file.attribute.BasicFileAttributes a = null;
      try {
        a = java.nio.file.Files.readAttributes(path,
            java.nio.file.attribute.BasicFileAttributes.class,
            java.nio.file.LinkOption.NOFOLLOW_LINKS);
      } catch (java.nio.file.AccessDeniedException denied) {
        return "cannot connect to " + path + ": permission denied: a directory on the way to it "
            + "cannot be searched by this user; ask the server's owner for access, or use a "
            + "server of your own (--socket)";
      } catch (IOException ignored) {
        // no such file: handled below
      }
      if (a != null && !a.isOther()) { // sockets are "other" to the JDK
        return "cannot connect to " + path + ": it is " + (a.isDirectory() ? "a directory"
            : a.isSymbolicLink() ? "a symbolic link" : "a regular file") + ", not a socket; check "
            + "--socket (or $FDIPC_SOCKET)";
      }
      if (e.errno() == LibC.EACCES || e.errno() == LibC.EPERM) {
        return "cannot connect to the fdipc server at " + path + ": permission denied: the "
            + "socket's mode or group does not admit this user; ask the server's owner to let you "
            + "in (bin/server --socket-mode=0660 --socket-group=GROUP), or use a server of your "
            + "own (--socket)";
      }
      if (e.errno() != LibC.ENOENT && e.errno() != LibC.ECONNREFUSED) {
        return "cannot connect to " + path + ": " + m;
      }
      if (a != null) {
        return "no fdipc server listens at " + path + " (" + m + "; the socket file is left from "
            + "a server that stopped); start one with: bin/server --socket=" + path;
      }
      return "no fdipc server at " + path + ": " + m + "; start one with: bin/server --socket="
          + path;
    }

    private ClientChannel handshake(int fd, TransportRegistry reg, List<String> accept, Path path,
        boolean blocking) throws IOException {
      long deadline = System.nanoTime() + handshakeTimeout.toNanos();
      try {
        ControlSocket.write(fd, Wire.frame(Frame.HELLO, 0, Wire.encodeHello(new Wire.Hello(
            clientId, maxMessageSize, accept))), List.of(), deadline);
      } catch (SocketTimeoutException e) {
        throw notAnswered(path, e);
      } catch (IOException e) {
        throw refusedBeforeHello(fd, e);
      }
      ControlSocket.Received r;
      try {
        r = ControlSocket.read(fd, true, deadline, true);
      } catch (SocketTimeoutException e) {
        throw notAnswered(path, e);
      }
      if (r == null) {
        throw new IOException("server closed the connection during the handshake");
      }
      List<Fd> fds = r.fds();
      try {
        int type = r.frame().type();
        if (type == Frame.ERROR) {
          Wire.Error e = Wire.decodeError(r.frame().body());
          throw new NegotiationException(e.code(), e.message(), e.refusals(), e.offered());
        }
        if (type != Frame.ACCEPT) {
          throw new ProtocolException(ErrorCode.UNEXPECTED_FRAME, "expected ACCEPT or ERROR, got "
              + Frame.typeName(type));
        }
        Wire.Accept a = Wire.decodeAccept(r.frame().body());
        Optional<TransportInfo> info = reg.lookup(a.transport());
        if (accept.isEmpty() ? info.isEmpty() || !info.get().isAvailable()
            : !accept.contains(a.transport())) {
          throw new ProtocolException(ErrorCode.UNEXPECTED_FRAME, "server chose transport '"
              + a.transport() + "', which this client "
              + (accept.isEmpty() ? "does not have" : "did not offer"));
        }
        if (a.maxMessageSize() > maxMessageSize) {
          throw new ProtocolException(ErrorCode.MALFORMED_FRAME, "server set maxMessageSize="
              + a.maxMessageSize() + ", above this client's " + maxMessageSize);
        }
        TransportSettings settings = new TransportSettings(a.maxMessageSize(), options);
        List<Fd> owned = fds;
        fds = List.of(); // from here on the provider owns them
        TransportChannel channel = info.orElseThrow().provider()
            .openClient(new ClientEnd(owned, a.parameters()), settings);
        if (blocking && channel instanceof dev.fdipc.spi.AbstractIpcChannel ac
            && !dev.fdipc.internal.VirtualThreads.isCurrentVirtual()) {
          try {
            ac.preparePlatformWaits(); // a blocking channel holds its descriptors from the start
          } catch (IOException | RuntimeException e) {
            Fd.closeAllAfter(e, List.of(channel));
            throw e;
          }
        }
        return ClientChannel.start(channel, fd, serverGone);
      } finally {
        Fd.closeAll(fds);
      }
    }

    private SocketTimeoutException notAnswered(Path path, SocketTimeoutException cause) {
      SocketTimeoutException e = new SocketTimeoutException("the server at " + path
          + " did not answer within " + handshakeTimeout.toMillis() + " ms: it accepts "
          + "connections but is not an fdipc server, or it is stuck; check --socket");
      e.initCause(cause);
      return e;
    }
  }
}
