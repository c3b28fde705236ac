/** The {@code socketpair} transport: one connected pair of UNIX stream sockets. */
package dev.fdipc.transport.socketpair;
