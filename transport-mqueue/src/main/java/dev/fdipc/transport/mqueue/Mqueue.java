package dev.fdipc.transport.mqueue;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import dev.fdipc.spi.Availability;
import dev.fdipc.spi.Fd;
import dev.fdipc.spi.NativeIoException;
import java.io.IOException;
import java.util.List;

/**
 * Whether POSIX message queues work in this process, found out once by really creating, using and
 * removing a queue, in the manner of Netty's {@code Epoll}. {@code -Dfdipc.mqueue.disable=true}
 * switches the transport off.
 *
 * <p>A queue that cannot be created because a limit is reached ({@code RLIMIT_MSGQUEUE},
 * {@code queues_max}, descriptors) does not make the transport unavailable: the kernel has the
 * feature, a client can still use queues a server hands it, and the server reports the limit for
 * each client it cannot serve.
 */
public final class Mqueue {
  private static final Availability AVAILABILITY =
      Availability.probe(MqueueTransportProvider.NAME, Mqueue::probe);

  private Mqueue() {}

  /** True if message queues work here. */
  public static boolean isAvailable() {
    return AVAILABILITY.isAvailable();
  }

  /**
   * Throws if message queues do not work here.
   *
   * @throws IOException with the probe's failure as the cause
   */
  public static void ensureAvailability() throws IOException {
    AVAILABILITY.ensureAvailable();
  }

  /** Why message queues do not work here, or {@code null} if they do. */
  public static Throwable unavailabilityCause() {
    return AVAILABILITY.unavailabilityCause();
  }

  /**
   * Creates a one-message queue, passes a message through it, polls it directly and through an
   * epoll descriptor (the channel waits that way), and removes it.
   */
  private static Object probe() throws IOException {
    Queues.Ends q;
    try {
      q = Queues.create(true, new QueueSizes(1, QueueSizes.MIN_MESSAGE_SIZE));
    } catch (NativeIoException e) {
      if (Queues.isLimit(e.errno())) {
        return null; // the feature works; this moment's limits are reported per client
      }
      throw e;
    }
    try (Fd server = q.server(); Fd client = q.client()) {
      List<Fd> link = Queues.peerLink();
      try (Fd epoll = MqNative.epollOf(client.intValue(), MqNative.EPOLLIN,
          link.get(0).intValue(), MqNative.EPOLLRDHUP)) {
        passAMessage(server, client, epoll);
      } finally {
        Fd.closeAll(link);
      }
    }
    return null;
  }

  private static void passAMessage(Fd server, Fd client, Fd epoll) throws IOException {
    Memory m = new Memory(QueueSizes.MIN_MESSAGE_SIZE);
    m.setInt(0, 0x46444950);
    if (MqNative.mq_timedsend(server.intValue(), Pointer.nativeValue(m), 4, 0, 0) != 0) {
      throw NativeIoException.lastError("mq_timedsend");
    }
    Memory pfd = new Memory(8);
    for (Fd polled : List.of(client, epoll)) {
      pfd.setInt(0, polled.intValue());
      pfd.setShort(4, MqNative.POLLIN);
      pfd.setShort(6, (short) 0);
      if (MqNative.Libc.poll(Pointer.nativeValue(pfd), 1, 0) != 1) {
        throw new IOException("poll(2) does not report a message waiting in a queue"
            + (polled == epoll ? " through epoll(7)" : ""));
      }
    }
    java.lang.ref.Reference.reachabilityFence(pfd);
    m.setInt(0, 0);
    long n = MqNative.mq_timedreceive(client.intValue(), Pointer.nativeValue(m),
        QueueSizes.MIN_MESSAGE_SIZE, 0, 0);
    if (n != 4 || m.getInt(0) != 0x46444950) {
      throw n < 0 ? NativeIoException.lastError("mq_timedreceive")
          : new IOException("mq_timedreceive returned " + n + " bytes, not the 4 sent");
    }
  }
}
