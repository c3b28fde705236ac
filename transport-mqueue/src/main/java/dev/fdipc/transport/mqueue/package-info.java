/**
 * The {@code mqueue} transport: two POSIX message queues per client, created with unguessable names
 * that are unlinked at once, passed as descriptors, and sized within an unprivileged user's limits.
 * See {@link dev.fdipc.transport.mqueue.MqueueTransportProvider}.
 */
package dev.fdipc.transport.mqueue;
