package dev.fdipc;

import java.io.IOException;
import java.util.List;
import java.util.stream.Collectors;

/**
 * The server refused the client: no transport both sides accept could be set up, or the server
 * refused for another reason ({@link #code()}). {@link #refusals()} lists each candidate and why it
 * was refused, and {@link #offered()} what the server does offer.
 */
public class NegotiationException extends IOException {
  private final ErrorCode code;
  private final List<Refusal> refusals;
  private final List<String> offered;

  /**
   * @param code why the server refused
   * @param serverMessage the server's own message
   * @param refusals each candidate transport and its reason; may be empty
   * @param offered the transports the server offers; may be empty
   */
  public NegotiationException(ErrorCode code, String serverMessage, List<Refusal> refusals,
      List<String> offered) {
    super(describe(code, serverMessage, refusals, offered));
    this.code = code;
    this.refusals = List.copyOf(refusals);
    this.offered = List.copyOf(offered);
  }

  private static String describe(ErrorCode code, String message, List<Refusal> refusals,
      List<String> offered) {
    StringBuilder sb = new StringBuilder();
    if (code == ErrorCode.NO_TRANSPORT) {
      sb.append("no transport could be negotiated: ");
      sb.append(refusals.stream().map(Refusal::toString).collect(Collectors.joining("; ")));
      sb.append(offered.isEmpty() ? "; the server offers none"
          : "; the server offers " + String.join(", ", offered));
      if (!message.isEmpty()) {
        sb.append(" (").append(message).append(')');
      }
    } else {
      sb.append("server refused the connection (").append(code).append("): ").append(message);
    }
    return sb.toString();
  }

  /** Why the server refused. */
  public ErrorCode code() {
    return code;
  }

  /** Each candidate transport and its reason, in the client's order of preference. */
  public List<Refusal> refusals() {
    return refusals;
  }

  /** The transports the server offers, in its order of preference. */
  public List<String> offered() {
    return offered;
  }
}
