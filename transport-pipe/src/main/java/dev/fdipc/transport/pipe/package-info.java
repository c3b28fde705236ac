/** The {@code pipe} transport: two pipes, one per direction. */
package dev.fdipc.transport.pipe;
