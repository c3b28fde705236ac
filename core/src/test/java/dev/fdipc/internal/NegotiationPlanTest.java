package dev.fdipc.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.fdipc.Refusal;
import dev.fdipc.TransportRegistry;
import dev.fdipc.negotiation.TestPipeProvider;
import dev.fdipc.negotiation.UnavailableTestProvider;
import java.io.IOException;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Negotiation as a pure function: a HELLO, what is offered and the registry; no sockets. */
class NegotiationPlanTest {
  private final TransportRegistry registry = TransportRegistry.of(new TestPipeProvider("alpha"),
      new TestPipeProvider("beta"), new UnavailableTestProvider("gamma", "no kernel support"));
  private final List<String> offered = List.of("alpha", "beta");

  private Negotiation.Plan plan(int clientMax, String... transports) {
    return Negotiation.plan(new Wire.Hello(7, clientMax, List.of(transports)), offered, registry,
        1 << 20);
  }

  @Test
  void shouldTryTheClientsTransportsInTheClientsOrder() {
    Negotiation.Plan p = plan(0, "beta", "alpha");
    assertEquals(List.of(new Negotiation.Candidate("beta", null),
        new Negotiation.Candidate("alpha", null)), p.candidates());
    assertEquals(List.of(), p.refusals());
  }

  @Test
  void shouldTryWhatTheServerOffersWhenTheClientNamesNothing() {
    assertEquals(List.of(new Negotiation.Candidate("alpha", null),
        new Negotiation.Candidate("beta", null)), plan(0).candidates());
  }

  @Test
  void shouldRefuseEachCandidateWithItsOwnReason() {
    Negotiation.Plan p = plan(0, "nosuch", "gamma", "alpha");
    assertEquals(List.of(new Refusal("nosuch", Refusal.Reason.UNKNOWN, ""),
        new Refusal("gamma", Refusal.Reason.UNAVAILABLE, "no kernel support")), p.refusals());
    assertNull(p.candidates().get(2).refusal());
  }

  @Test
  void shouldRefuseAKnownAvailableTransportTheServerDoesNotOfferAsNotOffered() {
    Negotiation.Plan p = Negotiation.plan(new Wire.Hello(1, 0, List.of("beta")), List.of("alpha"),
        registry, 1 << 20);
    assertEquals(List.of(new Refusal("beta", Refusal.Reason.NOT_OFFERED, "")), p.refusals());
  }

  @Test
  void shouldAgreeOnTheSmallerMaximumAndOnTheServersWhenTheClientAsksForNone() {
    assertEquals(4096, plan(4096, "alpha").maxMessageSize());
    assertEquals(1 << 20, plan(64 << 20, "alpha").maxMessageSize());
    assertEquals(1 << 20, plan(0, "alpha").maxMessageSize());
  }

  @Test
  void shouldSayTheServerIsOutOfFdsWhenCreatingFailedForThatReason() {
    Refusal r = Negotiation.createFailed("alpha", new IOException("pipe failed"), true, 1024);
    assertEquals(Refusal.Reason.CREATE_FAILED, r.reason());
    assertEquals("server is out of file descriptors (limit 1024 open files), try again later:"
        + " pipe failed", r.detail());
    assertEquals("pipe failed",
        Negotiation.createFailed("alpha", new IOException("pipe failed"), false, 1024).detail());
  }
}
