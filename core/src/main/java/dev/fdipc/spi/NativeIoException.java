package dev.fdipc.spi;

import dev.fdipc.internal.LibC;
import java.io.IOException;

/**
 * A system call failed. The message reads {@code call(..) failed with error(n): text}, like Netty's
 * {@code Errors.NativeIoException}, so a log line names the call, the errno and its meaning.
 */
public class NativeIoException extends IOException {
  private final String call;
  private final int errno;

  /**
   * @param call the system call, for example {@code "mq_open"}
   * @param errno the errno value it left
   */
  public NativeIoException(String call, int errno) {
    this(call, errno, null);
  }

  /**
   * @param call the system call, for example {@code "mq_open"}
   * @param errno the errno value it left
   * @param hint what the reader can do about it, appended to the message; may be null
   */
  public NativeIoException(String call, int errno, String hint) {
    super(call + "(..) failed with error(" + errno + "): " + LibC.describe(errno)
        + (hint == null ? "" : "; " + hint));
    this.call = call;
    this.errno = errno;
  }

  /** Builds the exception from the errno the calling thread's last native call left. */
  public static NativeIoException lastError(String call) {
    return new NativeIoException(call, LibC.errno());
  }

  /** The failed system call's name. */
  public String call() {
    return call;
  }

  /** The errno value. */
  public int errno() {
    return errno;
  }
}
