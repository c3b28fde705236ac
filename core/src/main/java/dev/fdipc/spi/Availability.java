package dev.fdipc.spi;

import java.util.Objects;
import java.util.concurrent.Callable;

/**
 * A transport's availability, probed once by really calling the kernel, in the manner of Netty's
 * {@code Epoll}: the probe runs on first use, its failure is kept as the cause, and a system property
 * {@code fdipc.<name>.disable=true} switches the transport off.
 *
 * <pre>{@code
 * private static final Availability AVAILABILITY = Availability.probe("memfd", () -> {
 *   try (Fd fd = Memfd.create("probe")) { return null; }
 * });
 * }</pre>
 */
public final class Availability {
  private final String name;
  private final Callable<?> probe;
  private volatile Throwable cause;
  private volatile boolean probed;

  private Availability(String name, Callable<?> probe) {
    this.name = Objects.requireNonNull(name);
    this.probe = Objects.requireNonNull(probe);
  }

  /**
   * @param name the transport's name, for messages and the kill switch
   * @param probe exercises the kernel feature once and releases what it made; any exception it
   *     throws becomes the unavailability cause
   */
  public static Availability probe(String name, Callable<?> probe) {
    return new Availability(name, probe);
  }

  /** The reason the transport cannot be used, or {@code null} if it can. */
  public Throwable unavailabilityCause() {
    if (!probed) {
      synchronized (this) {
        if (!probed) {
          cause = run();
          probed = true;
        }
      }
    }
    return cause;
  }

  private Throwable run() {
    if (Boolean.getBoolean("fdipc." + name + ".disable")) {
      return new UnsupportedOperationException(
          name + " disabled by the system property fdipc." + name + ".disable=true");
    }
    try {
      probe.call();
      return null;
    } catch (Throwable t) { // NoClassDefFoundError, UnsatisfiedLinkError, LinkageError included
      return t;
    }
  }

  /** True when the probe succeeded. */
  public boolean isAvailable() {
    return unavailabilityCause() == null;
  }

  /**
   * Throws if the transport is unavailable, with the probe's failure as the cause.
   *
   * @throws java.io.IOException naming the transport and the cause
   */
  public void ensureAvailable() throws java.io.IOException {
    Throwable t = unavailabilityCause();
    if (t != null) {
      throw new java.io.IOException(name + " transport unavailable: " + t, t);
    }
  }
}
