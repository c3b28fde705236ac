package dev.fdipc;

import java.util.Objects;

/**
 * Why one candidate transport was not given to a client, as the server reported it.
 *
 * @param transport the transport's name
 * @param reason the reason's category
 * @param detail the server's explanation, such as the failed system call and its errno
 */
public record Refusal(String transport, Reason reason, String detail) {
  /** Validates the fields. */
  public Refusal {
    Objects.requireNonNull(transport, "transport");
    Objects.requireNonNull(reason, "reason");
    Objects.requireNonNull(detail, "detail");
  }

  /** Categories of refusal, with their wire values (see PROTOCOL.md). */
  public enum Reason {
    /** The server has the transport but was told not to offer it. */
    NOT_OFFERED(1, "not offered by this server"),
    /** The server has no transport of that name. */
    UNKNOWN(2, "unknown to this server"),
    /** The transport is installed but cannot work on the server's machine. */
    UNAVAILABLE(3, "unavailable on this server"),
    /** Creating the kernel object for this client failed. */
    CREATE_FAILED(4, "could not be created");

    private final int wire;
    private final String text;

    Reason(int wire, String text) {
      this.wire = wire;
      this.text = text;
    }

    /** The value on the wire. */
    public int wire() {
      return wire;
    }

    /** A short phrase for messages, such as "not offered by this server". */
    public String text() {
      return text;
    }

    /** The reason for a wire value, or {@code null} if this version does not know it. */
    public static Reason fromWire(int value) {
      for (Reason r : values()) {
        if (r.wire == value) {
          return r;
        }
      }
      return null;
    }
  }

  /** Reads as {@code memfd: not offered by this server} or with the detail after a colon. */
  @Override
  public String toString() {
    return detail.isEmpty() || detail.equals(reason.text())
        ? transport + ": " + reason.text()
        : transport + ": " + reason.text() + " (" + detail + ")";
  }
}
