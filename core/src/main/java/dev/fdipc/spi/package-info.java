/**
 * The transport SPI: implement {@link dev.fdipc.spi.TransportProvider}, register it for
 * {@link java.util.ServiceLoader}, and fdipc can negotiate your kind of IPC. Building blocks:
 * {@link dev.fdipc.spi.Fd} (owned descriptors), {@link dev.fdipc.spi.AbstractIpcChannel} (the
 * transport-independent half of a channel), {@link dev.fdipc.spi.FdStreamChannel} (a complete
 * channel for any byte-stream descriptor), {@link dev.fdipc.spi.Availability} (the probe).
 *
 * <p>{@code docs/writing-a-transport.md} in the fdipc repository walks through a complete
 * third-party transport ({@code examples/transport-fifo}): descriptor ownership, the probe,
 * registration, the conformance suite in {@code fdipc-testkit}, packaging and installing the jar.
 */
package dev.fdipc.spi;
