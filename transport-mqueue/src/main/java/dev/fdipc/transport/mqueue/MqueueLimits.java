package dev.fdipc.transport.mqueue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The limits that decide how many queues this process may create, read from
 * {@code /proc/sys/fs/mqueue} and {@code getrlimit(RLIMIT_MSGQUEUE)}, and the words that explain
 * them when a queue cannot be created.
 *
 * <p>Defaults for an unprivileged user: {@code msg_max} 10, {@code msgsize_max} 8192,
 * {@code queues_max} 256 (system-wide), {@code RLIMIT_MSGQUEUE} 819,200 bytes per user. The rlimit
 * counts every queue the user's processes created and that is still open anywhere (a client that
 * keeps its descriptors keeps the queue charged to the server's user); root is bound by it too, but
 * not by the three sysctls.
 *
 * @param msgMax {@code fs.mqueue.msg_max}, or -1 if unreadable
 * @param msgsizeMax {@code fs.mqueue.msgsize_max}, or -1
 * @param queuesMax {@code fs.mqueue.queues_max}, or -1
 * @param rlimit the soft {@code RLIMIT_MSGQUEUE} in bytes, {@link #UNLIMITED}, or -2 if unknown
 * @param rlimitHard the hard {@code RLIMIT_MSGQUEUE}
 */
record MqueueLimits(long msgMax, long msgsizeMax, long queuesMax, long rlimit, long rlimitHard) {
  /** {@code RLIM_INFINITY}. */
  static final long UNLIMITED = MqNative.RLIM_INFINITY;
  private static final long UNKNOWN = -2;
  private static final Path SYSCTL = Path.of("/proc/sys/fs/mqueue");

  /** Reads the current limits; never throws. */
  static MqueueLimits read() {
    long soft = UNKNOWN;
    long hard = UNKNOWN;
    try {
      long[] r = MqNative.getrlimit(MqNative.RLIMIT_MSGQUEUE);
      if (r != null) {
        soft = r[0];
        hard = r[1];
      }
    } catch (LinkageError e) {
      // no JNA: reported by the availability probe
    }
    return new MqueueLimits(sysctl("msg_max"), sysctl("msgsize_max"), sysctl("queues_max"), soft,
        hard);
  }

  private static long sysctl(String name) {
    // Not Files.readString: on JDK 17 it returns only the first byte of a /proc/sys file (whose
    // size reads as 0), "1" for "10". A stream reads to the real end of file.
    try (InputStream in = Files.newInputStream(SYSCTL.resolve(name))) {
      return Long.parseLong(new String(in.readAllBytes(), StandardCharsets.US_ASCII).strip());
    } catch (IOException | NumberFormatException e) {
      return -1;
    }
  }

  /**
   * How many more clients fit: the bytes left under the rlimit divided by what one client costs
   * (two queues), and half the queues left under {@code queues_max}.
   *
   * @param sizes the shape of each queue
   * @param heldBytes bytes this process's queues are charged now
   * @param heldQueues queues this process holds now
   */
  long clientsThatFit(QueueSizes sizes, long heldBytes, long heldQueues) {
    long perClient = 2 * sizes.charge();
    long byBytes = rlimit == UNLIMITED || rlimit == UNKNOWN ? Long.MAX_VALUE
        : Math.max(0, rlimit - heldBytes) / perClient;
    long byQueues = queuesMax < 0 ? Long.MAX_VALUE : Math.max(0, queuesMax - heldQueues) / 2;
    return Math.min(byBytes, byQueues);
  }

  /**
   * The {@code RLIMIT_MSGQUEUE} bytes left to this process after {@code heldBytes}, or -1 if the
   * limit is unlimited or unknown. Queues of the same user in other processes count too, unseen.
   */
  long bytesLeft(long heldBytes) {
    return rlimit == UNLIMITED || rlimit == UNKNOWN ? -1 : Math.max(0, rlimit - heldBytes);
  }

  /**
   * How many more clients fit when each new client's queues are sized to the budget left
   * ({@link QueueSizes#forBudget}): the clients are counted one by one, as they would be created.
   */
  long clientsThatFitSizedToBudget(QueueSizes sizes, long heldBytes, long heldQueues) {
    if (bytesLeft(heldBytes) < 0) {
      return clientsThatFit(sizes, heldBytes, heldQueues);
    }
    long held = heldBytes;
    long queues = heldQueues;
    long n = 0;
    while (clientsThatFit(sizes.forBudget(bytesLeft(held)), held, queues) > 0) {
      held += 2 * sizes.forBudget(bytesLeft(held)).charge();
      queues += 2;
      n++;
    }
    return n;
  }

  /**
   * Like {@link #describeCapacity}, for queues sized to the budget left: {@code about 46 clients
   * (RLIMIT_MSGQUEUE 819200 bytes per user; queues of 10 x 2048 bytes now, smaller as it fills, down
   * to 10 x 512 bytes; ...)}.
   */
  String describeCapacitySizedToBudget(QueueSizes sizes, long heldBytes, long heldQueues) {
    if (bytesLeft(heldBytes) < 0) {
      return describeCapacity(sizes, heldBytes, heldQueues);
    }
    long n = clientsThatFitSizedToBudget(sizes, heldBytes, heldQueues);
    QueueSizes now = sizes.forBudget(bytesLeft(heldBytes));
    QueueSizes least = sizes.forBudget(0);
    StringBuilder sb = new StringBuilder();
    sb.append("about ").append(n).append(n == 1 ? " client" : " clients")
        .append(" (RLIMIT_MSGQUEUE ").append(rlimitText()).append(" per user; 2 queues per client ")
        .append("of ").append(now).append(" now");
    if (!least.equals(now)) {
      sb.append(", smaller as it fills, down to ").append(least);
    }
    sb.append("; queues_max ").append(queuesMax < 0 ? "unknown" : queuesMax);
    if (heldQueues > 0) {
      sb.append("; this process holds ").append(heldQueues).append(" queues, ").append(heldBytes)
          .append(" bytes");
    }
    sb.append("; other queues of the same user count too; raise with ulimit -q, or fix the size "
        + "with ").append(QueueSizes.MESSAGE_SIZE).append(")");
    return sb.toString();
  }

  /**
   * One line for {@code server --list-transports}, such as {@code about 4 clients (RLIMIT_MSGQUEUE
   * 819200 bytes per user, 165760 per client: 2 queues of 10 x 8192 bytes, ...)}.
   */
  String describeCapacity(QueueSizes sizes, long heldBytes, long heldQueues) {
    long n = clientsThatFit(sizes, heldBytes, heldQueues);
    StringBuilder sb = new StringBuilder();
    sb.append(n == Long.MAX_VALUE ? "no known limit"
        : "about " + n + (n == 1 ? " client" : " clients"));
    sb.append(" (RLIMIT_MSGQUEUE ").append(rlimitText()).append(" per user, ")
        .append(2 * sizes.charge()).append(" per client: 2 queues of ").append(sizes)
        .append("; queues_max ").append(queuesMax < 0 ? "unknown" : queuesMax);
    if (heldQueues > 0) {
      sb.append("; this process holds ").append(heldQueues).append(" queues, ").append(heldBytes)
          .append(" bytes");
    }
    sb.append("; other queues of the same user count too; raise with ulimit -q)");
    return sb.toString();
  }

  private String rlimitText() {
    if (rlimit == UNLIMITED) {
      return "unlimited";
    }
    return rlimit == UNKNOWN ? "unknown" : rlimit + " bytes";
  }

  /**
   * What a failed {@code mq_open} means and how to get past it, for the exception's message;
   * {@code null} when there is nothing useful to add.
   */
  String explain(int errno, QueueSizes sizes, long heldBytes, long heldQueues) {
    switch (errno) {
      case MqNative.EMFILE: {
        long[] nofile = MqNative.getrlimit(MqNative.RLIMIT_NOFILE);
        long open = openDescriptors();
        if (nofile != null && nofile[0] != UNLIMITED && open >= nofile[0] - 2) {
          return "this process has " + open + " descriptors open, RLIMIT_NOFILE is " + nofile[0]
              + ": raise it with ulimit -n, or close clients";
        }
        return "RLIMIT_MSGQUEUE is full: it is " + rlimitText()
            + " for the server's user and a queue of "
            + sizes + " is charged " + sizes.charge() + " bytes (" + 2 * sizes.charge()
            + " per client); this server holds " + heldQueues + " queues (" + heldBytes
            + " bytes) and every other queue of the same user counts too: raise the limit with "
            + "ulimit -q BYTES (or prlimit --msgqueue, msgqueue in limits.conf, LimitMSGQUEUE= "
            + "for systemd), close clients, or make queues smaller (" + QueueSizes.MAX_MESSAGES
            + ", " + QueueSizes.MESSAGE_SIZE + ")";
      }
      case MqNative.ENOSPC:
        return "fs.mqueue.queues_max (" + (queuesMax < 0 ? "unknown" : queuesMax)
            + " queues, for the whole system) is reached; this server holds " + heldQueues
            + ": raise it as root with sysctl -w fs.mqueue.queues_max=N, or close clients";
      case MqNative.EINVAL:
        return "a queue of " + sizes + " is more than fs.mqueue.msg_max (" + msgMax
            + " messages) or fs.mqueue.msgsize_max (" + msgsizeMax + " bytes) allow an "
            + "unprivileged process: lower " + QueueSizes.MAX_MESSAGES + " or "
            + QueueSizes.MESSAGE_SIZE + ", or raise the limits as root with sysctl -w "
            + "fs.mqueue.msg_max=N fs.mqueue.msgsize_max=BYTES";
      case MqNative.ENOSYS:
        return "this kernel has no POSIX message queues (CONFIG_POSIX_MQUEUE is off); "
            + "use another transport";
      case MqNative.ENFILE:
        return "the system's open-file table is full (fs.file-max)";
      case MqNative.ENOMEM:
        return "the kernel is out of memory";
      case MqNative.EACCES:
      case MqNative.EPERM:
        return "the system refuses message queues to this process (a sandbox or security "
            + "policy); use another transport";
      default:
        return null;
    }
  }

  private static long openDescriptors() {
    String[] names = new java.io.File("/proc/self/fd").list();
    return names == null ? -1 : names.length;
  }
}
