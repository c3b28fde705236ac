package dev.fdipc;

/**
 * A client served by a {@link MessageHandler}: the session's identity ({@link ClientSession}) plus
 * sending that never blocks ({@link EventChannel}). Its methods are for the loop thread (inside
 * the handler's callbacks), except {@link #execute(Runnable)}, which any thread may call to get
 * back onto it.
 */
public interface EventSession extends ClientSession, EventChannel {
  /** The negotiated transport's name. */
  @Override
  String transport();
}
