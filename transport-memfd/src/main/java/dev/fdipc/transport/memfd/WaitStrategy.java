package dev.fdipc.transport.memfd;

import java.util.Locale;

/**
 * How a memfd channel waits for the peer: the latency/CPU trade-off, in the manner of Agrona's idle
 * strategies. Chosen per side with the transport option {@code memfd.wait}.
 *
 * <p>It applies to blocking {@code send}/{@code receive} on a platform thread: core spins there,
 * retrying the ring, before it arms the channel and sleeps on the eventfd bell. Virtual threads and
 * event-driven sessions never spin (they would hold a thread others need) and sleep at once,
 * whatever the strategy.
 */
public enum WaitStrategy {
  /** Spin until the peer acts: the lowest latency, one core busy while waiting. */
  SPIN("spin"),
  /**
   * Spin for {@code memfd.spin-micros} (default 30 µs, about one cross-CPU wake-up here), then sleep
   * on the eventfd: spinning latency while messages flow, no CPU while idle. The default.
   */
  SPIN_THEN_PARK("spin-park"),
  /** Sleep on the eventfd at once: no spinning, every wait pays a wake-up. */
  PARK("park");

  private final String alias;

  WaitStrategy(String alias) {
    this.alias = alias;
  }

  /** The option value naming this strategy. */
  public String alias() {
    return alias;
  }

  /**
   * The strategy an option value names.
   *
   * @throws IllegalArgumentException listing the allowed values
   */
  public static WaitStrategy of(String alias) {
    for (WaitStrategy w : values()) {
      if (w.alias.equals(alias.toLowerCase(Locale.ROOT))) {
        return w;
      }
    }
    throw new IllegalArgumentException("memfd.wait=" + alias
        + " is not a wait strategy: use spin, spin-park or park");
  }
}
