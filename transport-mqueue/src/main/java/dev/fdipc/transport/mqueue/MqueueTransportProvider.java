package dev.fdipc.transport.mqueue;

import com.google.auto.service.AutoService;
import dev.fdipc.spi.ClientEnd;
import dev.fdipc.spi.Fd;
import dev.fdipc.spi.ServerEnd;
import dev.fdipc.spi.TransportChannel;
import dev.fdipc.spi.TransportProvider;
import dev.fdipc.spi.TransportSettings;
import java.io.Closeable;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Two POSIX message queues per client, one per direction, that have no name by the time the client
 * gets them, plus a socket pair that tells each side when the other is gone. The client receives
 * three descriptors:
 *
 * <ol start="0">
 *   <li>the server-to-client queue, opened read-only, to receive from;</li>
 *   <li>the client-to-server queue, opened write-only, to send to;</li>
 *   <li>its end of the peer link, a {@code SOCK_STREAM} socket pair nobody writes to; it reports
 *       {@code POLLHUP} once the server's end is closed.</li>
 * </ol>
 *
 * and the parameter {@code version=1}: the version of the fragment format (PROTOCOL.md, 10.5).
 *
 * <p><b>Sizes and limits.</b> Each queue holds 10 messages of 8192 bytes unless the server's
 * options {@code mqueue.max-messages} and {@code mqueue.msg-size} say otherwise; a message longer
 * than a queue's message size is split into fragments. The kernel charges each queue to the
 * server's user ({@code RLIMIT_MSGQUEUE}, 819,200 bytes by default). Unless {@code mqueue.msg-size} is set, a
 * new client's queues are sized to the budget left (see {@link QueueSizes#forBudget}): 46 clients
 * fit in the default limit instead of 4;
 * {@link #capacity()} says how many more fit, and a queue that cannot be created fails with a
 * message that names the limit, its value and how to raise it, so that the server can offer the
 * client's next transport.
 */
@AutoService(TransportProvider.class)
public final class MqueueTransportProvider implements TransportProvider {
  /** The transport's name. */
  public static final String NAME = "mqueue";

  /** The version of the fragment format, sent as the parameter {@code version}. */
  static final String VERSION = "1";

  /** The options last checked by {@link #checkOptions}: the server's, for {@link #capacity()}. */
  private volatile TransportSettings configured;

  /** Public no-arg constructor for {@link java.util.ServiceLoader}. */
  public MqueueTransportProvider() {}

  @Override
  public String name() {
    return NAME;
  }

  /**
   * Below {@code pipe} (5) and {@code socketpair} (6): queues are a scarce per-user resource, so a
   * server picks them only for a client that asks.
   */
  @Override
  public int priority() {
    return 3;
  }

  @Override
  public Throwable unavailabilityCause() {
    return Mqueue.unavailabilityCause();
  }

  /**
   * How many more clients fit under this user's {@code RLIMIT_MSGQUEUE} and the system's
   * {@code queues_max}, with the default queue sizes, for example {@code about 4 clients
   * (RLIMIT_MSGQUEUE 819200 bytes per user, 165760 per client: 2 queues of 10 x 8192 bytes; ...)}.
   */
  @Override
  public String capacity() {
    try {
      MqueueLimits limits = MqueueLimits.read();
      TransportSettings configured = this.configured;
      QueueSizes sizes = configured == null ? Defaults.SIZES
          : QueueSizes.from(configured, Defaults.SIZES);
      if (configured != null && configured.options().containsKey(QueueSizes.MESSAGE_SIZE)) {
        return limits.describeCapacity(sizes, HeldQueues.bytes(), HeldQueues.queues());
      }
      return limits.describeCapacitySizedToBudget(sizes, HeldQueues.bytes(),
          HeldQueues.queues());
    } catch (RuntimeException | LinkageError e) {
      return "unknown (" + e + ")";
    }
  }

  /**
   * Checks the {@code mqueue.*} options: {@code mqueue.max-messages} (1 to 65536) and
   * {@code mqueue.msg-size} (64 to 16777216 bytes). Values above
   * {@code /proc/sys/fs/mqueue/msg_max} or {@code msgsize_max} pass here (root may exceed them)
   * and fail, explained, when a queue is created.
   *
   * @param settings the server's settings; options of other transports are ignored
   * @throws IllegalArgumentException naming the option, the bad value and the allowed range
   */
  public void checkOptions(TransportSettings settings) {
    QueueSizes.from(settings, Defaults.SIZES);
    configured = settings; // what capacity() describes from now on
  }

  @Override
  public ServerEnd createServer(TransportSettings settings) throws IOException {
    Mqueue.ensureAvailability();
    QueueSizes sizes;
    try {
      sizes = QueueSizes.from(settings, Defaults.SIZES);
    } catch (IllegalArgumentException e) {
      throw new IOException(e.getMessage(), e);
    }
    if (!settings.options().containsKey(QueueSizes.MESSAGE_SIZE)) {
      sizes = sizes.forBudget(MqueueLimits.read().bytesLeft(HeldQueues.bytes()));
    }
    List<Fd> opened = new ArrayList<>(6);
    try {
      Queues.Ends toClient = Queues.create(true, sizes);
      opened.add(toClient.server());
      opened.add(toClient.client());
      Queues.Ends toServer = Queues.create(false, sizes);
      opened.add(toServer.server());
      opened.add(toServer.client());
      List<Fd> link = Queues.peerLink();
      opened.addAll(link);
      long charge = 2 * sizes.charge();
      HeldQueues.add(2, charge);
      Closeable accounting = () -> HeldQueues.add(-2, -charge);
      TransportChannel channel;
      try {
        channel = new MqueueChannel(settings.maxMessageSize(), toServer.server(),
            toClient.server(), link.get(0), List.of(accounting));
      } catch (IOException | RuntimeException e) {
        opened.remove(toServer.server()); // the constructor closed the server's three
        opened.remove(toClient.server());
        opened.remove(link.get(0));
        throw e;
      }
      try {
        return new ServerEnd(channel, List.of(toClient.client(), toServer.client(),
            link.get(1)), Map.of("version", VERSION));
      } catch (RuntimeException e) {
        Fd.closeAllAfter(e, List.of(channel));
        throw e;
      }
    } catch (IOException | RuntimeException e) {
      Fd.closeAllAfter(e, opened);
      throw e;
    }
  }

  @Override
  public TransportChannel openClient(ClientEnd end, TransportSettings settings)
      throws IOException {
    try {
      Fd in = end.fd(NAME, 0, 3);
      Fd out = end.fd(NAME, 1, 3);
      Fd link = end.fd(NAME, 2, 3);
      String version = end.parameter(NAME, "version");
      if (!version.equals(VERSION)) {
        throw new IOException(NAME + ": the server speaks fragment format version " + version
            + "; this client knows version " + VERSION);
      }
      checkAccess(in, MqNative.O_RDONLY, "0 (server to client)", "read-only");
      checkAccess(out, MqNative.O_WRONLY, "1 (client to server)", "write-only");
      in.setNonBlocking(true); // this description is the client's alone
      out.setNonBlocking(true);
    } catch (IOException | RuntimeException e) {
      Fd.closeAllAfter(e, end.fds());
      throw e;
    }
    return new MqueueChannel(settings.maxMessageSize(), end.fds().get(0), end.fds().get(1),
        end.fds().get(2), List.of());
  }

  /** Checks that a queue descriptor from the server has the one access mode it should have. */
  private static void checkAccess(Fd fd, int mode, String which, String expected)
      throws IOException {
    int flags = MqNative.statusFlags(fd.intValue());
    if (flags < 0) {
      throw new IOException(NAME + ": descriptor " + which + " from the server is unusable: "
          + new dev.fdipc.spi.NativeIoException("fcntl", MqNative.errno()).getMessage());
    }
    if ((flags & MqNative.O_ACCMODE) != mode) {
      throw new IOException(NAME + ": descriptor " + which + " from the server should be "
          + expected + " (flags 0" + Integer.toOctalString(flags) + ")");
    }
  }

  /** Limits read once, when the first client is created or the capacity first asked for. */
  private static final class Defaults {
    static final QueueSizes SIZES = QueueSizes.defaults(MqueueLimits.read());
  }
}
