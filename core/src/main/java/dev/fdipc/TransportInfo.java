package dev.fdipc;

import dev.fdipc.spi.TransportProvider;

/**
 * One transport the registry found: its name, priority, availability with the reason, and where it
 * was loaded from.
 *
 * @param name the transport's name
 * @param priority its priority, 0 to 10
 * @param unavailabilityCause why it cannot be used here, or {@code null} if it can
 * @param origin the jar or directory its class came from
 * @param provider the provider itself
 */
public record TransportInfo(String name, int priority, Throwable unavailabilityCause,
    String origin, TransportProvider provider) {
  /** True when the transport can be used in this process. */
  public boolean isAvailable() {
    return unavailabilityCause == null;
  }

  /** The cause as one line of text, such as {@code "memfd_create(..) failed ..."}; empty if none. */
  public String reason() {
    if (unavailabilityCause == null) {
      return "";
    }
    String m = unavailabilityCause.getMessage();
    return m == null ? unavailabilityCause.getClass().getName() : m;
  }
}
