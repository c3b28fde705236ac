package dev.fdipc.spi;

import java.util.Map;
import java.util.Optional;

/**
 * What a transport needs to know to create or open a channel: the negotiated maximum message size
 * and the options given to this server or client (for example {@code memfd.ring-size}). Option keys
 * are prefixed with the transport's name.
 *
 * @param maxMessageSize the negotiated maximum message size, in bytes
 * @param options free-form options, keyed {@code <transport>.<option>}
 */
public record TransportSettings(int maxMessageSize, Map<String, String> options) {
  /** Validates and copies the fields. */
  public TransportSettings {
    if (maxMessageSize < 1) {
      throw new IllegalArgumentException("maxMessageSize must be positive: " + maxMessageSize);
    }
    options = Map.copyOf(options);
  }

  /** Settings with no options. */
  public static TransportSettings of(int maxMessageSize) {
    return new TransportSettings(maxMessageSize, Map.of());
  }

  /** The option {@code key}, if given. */
  public Optional<String> option(String key) {
    return Optional.ofNullable(options.get(key));
  }
}
