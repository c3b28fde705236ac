package dev.fdipc;

/**
 * One connected client as the server sees it: who it is (from the kernel), what it negotiated, and
 * the channel to talk to it.
 */
public interface ClientSession {
  /** The id the client gave in its HELLO. Not authenticated: use {@link #peer()} for decisions. */
  long clientId();

  /** The negotiated transport's name. */
  String transport();

  /** The client process's pid, uid and gid, from {@code SO_PEERCRED}. */
  PeerCredentials peer();

  /** The channel to the client. Closed by the server when the handler returns. */
  IpcChannel channel();

  /** The server this session belongs to, for example to shut it down on request. */
  FdipcServer server();
}
