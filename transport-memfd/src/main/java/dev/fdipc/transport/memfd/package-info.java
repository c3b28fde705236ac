/**
 * The {@code memfd} transport: two single-producer single-consumer rings in a sealed memfd, with
 * eventfd doorbells rung only for a sleeping peer.
 */
package dev.fdipc.transport.memfd;
