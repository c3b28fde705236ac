package dev.fdipc.internal;

import dev.fdipc.Refusal;
import dev.fdipc.TransportInfo;
import dev.fdipc.TransportRegistry;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The server's choice of transport for one HELLO, as a pure function of the HELLO, what the server
 * offers, the registry and the server's maximum message size: the agreed message size and, in the
 * client's order of preference (the server's when the client leaves it open), each candidate with
 * either the reason it is refused or nothing, meaning "create it". Creating the kernel object is
 * the one step that is not pure; {@link #createFailed} turns its failure into a refusal.
 */
public final class Negotiation {
  private Negotiation() {}

  /**
   * One transport the client named (or the server offers).
   *
   * @param name the transport's name
   * @param refusal why it cannot be used, or null if the server should create it
   */
  public record Candidate(String name, Refusal refusal) {}

  /**
   * The outcome before anything is created.
   *
   * @param maxMessageSize the agreed maximum: the smaller of the two sides', the server's if the
   *     client asked for none (0)
   * @param candidates in the order to try them
   */
  public record Plan(int maxMessageSize, List<Candidate> candidates) {
    /** The refusals among the candidates, in order. */
    public List<Refusal> refusals() {
      List<Refusal> r = new ArrayList<>();
      for (Candidate c : candidates) {
        if (c.refusal() != null) {
          r.add(c.refusal());
        }
      }
      return r;
    }
  }

  /** Plans the answer to {@code hello}. */
  public static Plan plan(Wire.Hello hello, List<String> offered, TransportRegistry registry,
      int serverMaxMessageSize) {
    int max = hello.maxMessageSize() == 0 ? serverMaxMessageSize
        : Math.min(hello.maxMessageSize(), serverMaxMessageSize);
    List<String> names = hello.transports().isEmpty() ? offered : hello.transports();
    List<Candidate> candidates = new ArrayList<>(names.size());
    for (String name : names) {
      candidates.add(new Candidate(name, checkOffered(name, offered, registry)));
    }
    return new Plan(max, List.copyOf(candidates));
  }

  private static Refusal checkOffered(String name, List<String> offered,
      TransportRegistry registry) {
    if (offered.contains(name)) {
      return null;
    }
    Optional<TransportInfo> info = registry.lookup(name);
    if (info.isEmpty()) {
      return new Refusal(name, Refusal.Reason.UNKNOWN, "");
    }
    if (!info.get().isAvailable()) {
      return new Refusal(name, Refusal.Reason.UNAVAILABLE, info.get().reason());
    }
    return new Refusal(name, Refusal.Reason.NOT_OFFERED, "");
  }

  /**
   * The refusal for a candidate whose kernel object could not be created.
   *
   * @param outOfFds the server is at its open-file limit: not the client's fault, nor for good
   * @param fdLimit the limit, for the message
   */
  public static Refusal createFailed(String name, Throwable failure, boolean outOfFds,
      long fdLimit) {
    String detail = String.valueOf(failure.getMessage());
    if (outOfFds) {
      detail = "server is out of file descriptors (limit " + fdLimit
          + " open files), try again later: " + detail;
    }
    return new Refusal(name, Refusal.Reason.CREATE_FAILED, detail);
  }
}
