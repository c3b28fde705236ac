/**
 * The transport SPI: implement {@link dev.fdipc.spi.TransportProvider}, register it for
 * {@link java.util.ServiceLoader}, and fdipc can negotiate your kind of IPC. Building blocks:
 * {@link dev.fdipc.spi.Fd} (owned descriptors), {@link dev.fdipc.spi.AbstractIpcChannel} (the
 * transport-independent half of a channel), {@link dev.fdipc.spi.FdStreamChannel} (a complete
 * channel for any byte-stream descriptor), {@link dev.fdipc.spi.Availability} (the probe).
 */
package dev.fdipc.spi;
