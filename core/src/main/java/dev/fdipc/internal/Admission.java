package dev.fdipc.internal;

import dev.fdipc.ErrorCode;
import dev.fdipc.PeerCredentials;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Who may connect, and how many at once: the allow lists (matched against {@code SO_PEERCRED},
 * never against what a client says), the cap of connections per uid and the cap of connections
 * still in their handshake. Decided on the accept thread before anything is created for the peer.
 *
 * <p>A connection holds a {@link Ticket} from admission until its session thread ends; the ticket
 * counts it against its uid for all that time and against the handshake cap until the handshake is
 * over. The handshake cap is also what bounds the threads that silent peers can hold.
 */
public final class Admission {
  private final Set<Long> uids;
  private final Set<Long> gids;
  private final int maxPerUid;
  private final int maxPending;
  private final Map<Long, Integer> perUid = new HashMap<>();
  private int pending;

  /**
   * @param uids the uids admitted, or {@code null} for no uid rule
   * @param gids the primary gids admitted, or {@code null} for no gid rule
   */
  public Admission(Set<Long> uids, Set<Long> gids, int maxPerUid, int maxPending) {
    this.uids = uids == null ? null : new TreeSet<>(uids);
    this.gids = gids == null ? null : new TreeSet<>(gids);
    this.maxPerUid = maxPerUid;
    this.maxPending = maxPending;
  }

  /** Either a ticket (admitted) or the code and message to refuse with. */
  public record Decision(Ticket ticket, ErrorCode code, String message) {
    static Decision refuse(ErrorCode code, String message) {
      return new Decision(null, code, message);
    }
  }

  /** Admits {@code peer} and counts it, or says why not. */
  public synchronized Decision admit(PeerCredentials peer) {
    if ((uids != null || gids != null) && !(uids != null && uids.contains(peer.uid()))
        && !(gids != null && gids.contains(peer.gid()))) {
      return Decision.refuse(ErrorCode.ACCESS_DENIED, "uid " + peer.uid() + " (primary gid "
          + peer.gid() + ") is not allowed to connect to this server; the server's operator can "
          + "admit it with --allow-uid=" + peer.uid() + " or its group with --allow-gid="
          + peer.gid());
    }
    int mine = perUid.getOrDefault(peer.uid(), 0);
    if (mine >= maxPerUid) {
      return Decision.refuse(ErrorCode.BUSY, "uid " + peer.uid() + " already has " + mine
          + " connections, the most this server allows per uid; close some, or start the "
          + "server with a higher --max-connections-per-uid (now " + maxPerUid + ")");
    }
    if (pending >= maxPending) {
      return Decision.refuse(ErrorCode.BUSY, pending + " connections are already waiting to "
          + "complete their handshake, the most this server allows; retry shortly, or start the "
          + "server with a higher --max-pending-handshakes (now " + maxPending + ")");
    }
    perUid.put(peer.uid(), mine + 1);
    pending++;
    return new Decision(new Ticket(peer.uid()), null, null);
  }

  /** Connections still in their handshake. */
  public synchronized int pending() {
    return pending;
  }

  /** Connections of {@code uid}, handshaking or in session. */
  public synchronized int connections(long uid) {
    return perUid.getOrDefault(uid, 0);
  }

  /** One admitted connection's place in the counts. */
  public final class Ticket {
    private final long uid;
    private boolean handshaking = true;
    private boolean released;

    private Ticket(long uid) {
      this.uid = uid;
    }

    /** The handshake is over, whatever its outcome: frees a place under the handshake cap. */
    public void handshakeDone() {
      synchronized (Admission.this) {
        if (handshaking) {
          handshaking = false;
          pending--;
        }
      }
    }

    /** The connection is closed: frees its places. Idempotent. */
    public void release() {
      synchronized (Admission.this) {
        handshakeDone();
        if (!released) {
          released = true;
          int left = perUid.merge(uid, -1, Integer::sum);
          if (left <= 0) {
            perUid.remove(uid);
          }
        }
      }
    }
  }
}
