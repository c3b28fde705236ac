package dev.fdipc.transport.mqueue;

import com.sun.jna.Native;
import dev.fdipc.spi.TransportSettings;
import java.util.Map;
import java.util.Set;

/**
 * The shape of one queue: how many messages it holds and how large each may be, and what the
 * kernel charges for it against {@code RLIMIT_MSGQUEUE}.
 *
 * <p>The charge is computed as {@code ipc/mqueue.c:mqueue_get_inode} does it:
 * <pre>
 *   mq_treesize = maxmsg * sizeof(struct msg_msg)
 *               + min(maxmsg, MQ_PRIO_MAX) * sizeof(struct posix_msg_tree_node)
 *   charge      = maxmsg * msgsize + mq_treesize
 * </pre>
 * Both structs are six pointer-sized words (48 bytes on 64-bit Linux), so 10 messages of 8192 bytes
 * cost 82,880 bytes, not 81,920. A test checks this against the kernel itself.
 *
 * @param maxMessages {@code mq_maxmsg}: messages the queue holds before a sender waits
 * @param messageSize {@code mq_msgsize}: bytes per kernel message, fragment header included
 */
record QueueSizes(int maxMessages, int messageSize) {
  /** Option key: messages per queue. */
  static final String MAX_MESSAGES = "mqueue.max-messages";
  /** Option key: bytes per kernel message. */
  static final String MESSAGE_SIZE = "mqueue.msg-size";

  /** Messages per queue when not configured: the kernel's own default ({@code msg_default}). */
  static final int DEFAULT_MAX_MESSAGES = 10;
  /** Bytes per kernel message when not configured: the kernel's {@code msgsize_default}. */
  static final int DEFAULT_MESSAGE_SIZE = 8192;

  /** Smallest message size accepted: a fragment header and some payload. */
  static final int MIN_MESSAGE_SIZE = 64;
  /** {@code HARD_MSGSIZEMAX}: the kernel refuses larger messages even to root. */
  static final int HARD_MESSAGE_SIZE = 16 * 1024 * 1024;
  /** {@code HARD_MSGMAX}: the kernel refuses more messages per queue even to root. */
  static final int HARD_MAX_MESSAGES = 65536;

  /**
   * Unless {@code mqueue.msg-size} is set, a new client's two queues take at most this fraction
   * (1/N) of the {@code RLIMIT_MSGQUEUE} bytes left: the message size halves as the budget
   * shrinks, so that many clients fit (46 under the default 819,200 bytes, the first ones with
   * 2048-byte messages) instead of four of 8192 bytes. The channel fragments, so only speed
   * changes.
   */
  static final int BUDGET_SHARE = 16;
  /** The message size budget sizing never goes below; below it a queue is not created at all. */
  static final int BUDGET_FLOOR_MESSAGE_SIZE = 512;

  private static final int MQ_PRIO_MAX = 32768;
  /** {@code sizeof(struct msg_msg)}: list_head, m_type, m_ts, next, security. */
  private static final long MSG_MSG = 6L * Native.POINTER_SIZE;
  /** {@code sizeof(struct posix_msg_tree_node)}: rb_node, list_head, int priority, padded. */
  private static final long TREE_NODE = 6L * Native.POINTER_SIZE;

  private static final Set<String> KNOWN = Set.of(MAX_MESSAGES, MESSAGE_SIZE);

  /** Validates the sizes against the kernel's hard limits. */
  QueueSizes {
    if (maxMessages < 1 || maxMessages > HARD_MAX_MESSAGES) {
      throw new IllegalArgumentException(MAX_MESSAGES + "=" + maxMessages
          + " is out of range: 1 to " + HARD_MAX_MESSAGES);
    }
    if (messageSize < MIN_MESSAGE_SIZE || messageSize > HARD_MESSAGE_SIZE) {
      throw new IllegalArgumentException(MESSAGE_SIZE + "=" + messageSize
          + " is out of range: " + MIN_MESSAGE_SIZE + " to " + HARD_MESSAGE_SIZE);
    }
  }

  /**
   * The default shape: the kernel's defaults, lowered to what {@code /proc/sys/fs/mqueue} allows an
   * unprivileged process if an administrator lowered the maximums.
   */
  static QueueSizes defaults(MqueueLimits limits) {
    int max = (int) clamp(DEFAULT_MAX_MESSAGES, limits.msgMax());
    int size = (int) Math.max(MIN_MESSAGE_SIZE, clamp(DEFAULT_MESSAGE_SIZE, limits.msgsizeMax()));
    return new QueueSizes(max, size);
  }

  private static long clamp(long value, long limit) {
    return limit > 0 ? Math.min(value, limit) : value;
  }

  /**
   * The shape the {@code mqueue.*} options ask for, starting from {@code defaults}.
   *
   * @throws IllegalArgumentException naming an unknown option, a value that is not a number or is
   *     out of range
   */
  static QueueSizes from(TransportSettings settings, QueueSizes defaults) {
    for (String key : settings.options().keySet()) {
      if (key.startsWith(MqueueTransportProvider.NAME + ".") && !KNOWN.contains(key)) {
        throw new IllegalArgumentException("unknown option " + key + "; the mqueue transport has "
            + MAX_MESSAGES + " and " + MESSAGE_SIZE);
      }
    }
    Map<String, String> o = settings.options();
    int max = o.containsKey(MAX_MESSAGES) ? parse(MAX_MESSAGES, o.get(MAX_MESSAGES))
        : defaults.maxMessages();
    int size = o.containsKey(MESSAGE_SIZE) ? parse(MESSAGE_SIZE, o.get(MESSAGE_SIZE))
        : defaults.messageSize();
    return new QueueSizes(max, size);
  }

  private static int parse(String key, String value) {
    try {
      return Integer.parseInt(value.strip());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(key + "=" + value + " is not a number", e);
    }
  }

  /**
   * This shape with its message size halved until two such queues take at most
   * 1/{@link #BUDGET_SHARE} of {@code bytesLeft}, but not below
   * {@link #BUDGET_FLOOR_MESSAGE_SIZE} (or this size, if smaller); this shape itself when the
   * budget is unknown or unlimited ({@code bytesLeft < 0}).
   */
  QueueSizes forBudget(long bytesLeft) {
    if (bytesLeft < 0) {
      return this;
    }
    int floor = Math.min(messageSize, BUDGET_FLOOR_MESSAGE_SIZE);
    QueueSizes q = this;
    while (q.messageSize > floor && 2 * q.charge() > bytesLeft / BUDGET_SHARE) {
      q = new QueueSizes(maxMessages, Math.max(floor, q.messageSize / 2));
    }
    return q;
  }

  /** Bytes the kernel charges to the creator's {@code RLIMIT_MSGQUEUE} for one such queue. */
  long charge() {
    return (long) maxMessages * messageSize + maxMessages * MSG_MSG
        + Math.min(maxMessages, MQ_PRIO_MAX) * TREE_NODE;
  }

  /** Payload bytes one kernel message carries after the fragment header. */
  int payloadPerFragment() {
    return messageSize - MqueueChannel.HEADER;
  }

  @Override
  public String toString() {
    return maxMessages + " x " + messageSize + " bytes";
  }
}
