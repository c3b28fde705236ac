package dev.fdipc.transport.mqueue;

import static dev.fdipc.transport.mqueue.MqNative.EEXIST;
import static dev.fdipc.transport.mqueue.MqNative.ENOENT;
import static dev.fdipc.transport.mqueue.MqNative.O_CLOEXEC;
import static dev.fdipc.transport.mqueue.MqNative.O_EXCL;
import static dev.fdipc.transport.mqueue.MqNative.O_NONBLOCK;
import static dev.fdipc.transport.mqueue.MqNative.O_RDONLY;
import static dev.fdipc.transport.mqueue.MqNative.O_WRONLY;

import dev.fdipc.spi.Fd;
import dev.fdipc.spi.NativeIoException;
import java.io.IOException;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.List;

/**
 * Creates the kernel objects of one mqueue connection: queues that have a name only for as long as
 * it takes to open them, and the socket pair that tells each side when the other is gone.
 */
final class Queues {
  /** Every queue name starts with this; 128 random bits follow, as hex. */
  static final String PREFIX = "/fdipc-";

  private static final SecureRandom RANDOM = new SecureRandom();

  private Queues() {}

  /**
   * Two open file descriptions of one new queue that no longer has a name: the server's, which is
   * non-blocking, and the client's, which is blocking until the client changes it.
   */
  record Ends(Fd server, Fd client) {}

  /** A fresh name nobody can guess: {@code /fdipc-} and 32 hex digits. */
  static String newName() {
    byte[] b = new byte[16];
    RANDOM.nextBytes(b);
    return PREFIX + HexFormat.of().formatHex(b);
  }

  /**
   * Creates one queue, opens it a second time for the client, and unlinks its name. The name lives
   * for exactly two system calls (the second {@code mq_open} and the {@code mq_unlink}), so a
   * server killed at any other moment leaves nothing in the mqueue filesystem; only a SIGKILL that
   * lands inside those few microseconds can.
   *
   * <p>Why two opens: {@code O_NONBLOCK} belongs to the open file description, and a descriptor
   * passed with SCM_RIGHTS shares its description with the sender's. The server's channel runs
   * non-blocking; had the client received the same description, the server's flag would have
   * switched the client's descriptor to non-blocking too (and the client's choice would reach the
   * server). A second {@code mq_open} gives each side a description of its own, each with the one
   * access mode it needs: the side that receives cannot send, and the other way round.
   *
   * @param serverSends true for the server-to-client queue, false for client-to-server
   * @throws NativeIoException naming the limit reached and how to raise it; nothing stays open
   */
  static Ends create(boolean serverSends, QueueSizes sizes) throws IOException {
    int serverMode = (serverSends ? O_WRONLY : O_RDONLY) | O_NONBLOCK | O_CLOEXEC;
    int clientMode = (serverSends ? O_RDONLY : O_WRONLY) | O_CLOEXEC;
    for (int attempt = 0; ; attempt++) {
      String name = newName();
      int server = MqNative.mqCreate(name, O_EXCL | serverMode, 0600, sizes.maxMessages(),
          sizes.messageSize());
      if (server < 0) {
        int errno = MqNative.errno();
        if (errno == EEXIST && attempt < 2) {
          continue; // 128 random bits: only if someone squats on our names
        }
        throw failure("mq_open", errno, sizes);
      }
      int client = MqNative.mqOpen(name, clientMode);
      int openErrno = client < 0 ? MqNative.errno() : 0;
      int unlinked = MqNative.mq_unlink(name);
      int unlinkErrno = unlinked != 0 ? MqNative.errno() : 0;
      Fd serverFd = Fd.of(server);
      Fd clientFd = client >= 0 ? Fd.of(client) : null;
      if (client >= 0 && (unlinked == 0 || unlinkErrno == ENOENT)) {
        return new Ends(serverFd, clientFd);
      }
      IOException e = client < 0 ? failure("mq_open", openErrno, sizes)
          : new NativeIoException("mq_unlink", unlinkErrno, "the queue " + name
              + " stays in the mqueue filesystem until it is removed (rm /dev/mqueue"
              + name + " where the filesystem is mounted)");
      Fd.closeAllAfter(e, clientFd == null ? List.of(serverFd) : List.of(serverFd, clientFd));
      throw e;
    }
  }

  /** The exception for a failed call, with what the limits say about it. */
  static NativeIoException failure(String call, int errno, QueueSizes sizes) {
    String hint = MqueueLimits.read().explain(errno, sizes, HeldQueues.bytes(),
        HeldQueues.queues());
    if (errno == MqNative.EMFILE && hint != null && hint.startsWith("RLIMIT_MSGQUEUE")) {
      return new RlimitMsgqueueFull(call, errno, hint);
    }
    return new NativeIoException(call, errno, hint);
  }

  /**
   * mq_open's EMFILE when the cause is {@code RLIMIT_MSGQUEUE}: the message leads with the limit,
   * since "Too many open files" sends the reader after the wrong one.
   */
  static final class RlimitMsgqueueFull extends NativeIoException {
    private final String message;

    RlimitMsgqueueFull(String call, int errno, String hint) {
      super(call, errno, hint);
      this.message = hint + " (" + call + "(..) failed with error(" + errno + "), EMFILE, which "
          + "the kernel also returns for this limit)";
    }

    @Override
    public String getMessage() {
      return message;
    }
  }

  /**
   * A connected pair of stream sockets, close-on-exec, one for each side. Nothing is ever written
   * to it: each side polls its end, and {@code POLLHUP} means the other end was closed, by
   * {@code close()} or by the death of its process.
   */
  static List<Fd> peerLink() throws NativeIoException {
    int[] sv = new int[2];
    if (MqNative.Libc.socketpair(MqNative.AF_UNIX, MqNative.SOCK_STREAM | MqNative.SOCK_CLOEXEC, 0,
        sv) != 0) {
      throw NativeIoException.lastError("socketpair");
    }
    return List.of(Fd.of(sv[0]), Fd.of(sv[1]));
  }

  /** True for errors that mean a limit was reached rather than that queues do not work. */
  static boolean isLimit(int errno) {
    return errno == MqNative.EMFILE || errno == MqNative.ENFILE || errno == MqNative.ENOSPC
        || errno == MqNative.ENOMEM;
  }
}
