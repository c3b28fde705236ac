package dev.fdipc;

/**
 * Who is on the other end of the control socket, as the kernel reports it ({@code SO_PEERCRED}),
 * never as the peer claims.
 *
 * @param pid the process id at connect time
 * @param uid the effective user id
 * @param gid the effective group id
 */
public record PeerCredentials(long pid, long uid, long gid) {}
