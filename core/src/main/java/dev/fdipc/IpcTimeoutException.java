package dev.fdipc;

import java.io.InterruptedIOException;

/** A timed receive ran out of time before a whole message arrived. Nothing was lost. */
public class IpcTimeoutException extends InterruptedIOException {
  /** @param message what timed out, and after how long */
  public IpcTimeoutException(String message) {
    super(message);
  }
}
