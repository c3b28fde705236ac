package dev.fdipc.internal;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fdipc.ErrorCode;
import dev.fdipc.ProtocolException;
import dev.fdipc.ServerListener;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.newsclub.net.unix.AFUNIXServerSocket;
import org.newsclub.net.unix.AFUNIXSocket;
import org.newsclub.net.unix.AFUNIXSocketAddress;

/**
 * The server's one control-connection watcher, on real UNIX sockets: it reads without waiting, so
 * a client stuck in the middle of a frame holds up nobody, and {@link ControlWatcher#unwatch}
 * returns only once the watcher has let go of the connection, so that closing it cannot hand the
 * descriptor number, still polled, to the next connection.
 */
@Timeout(60)
class ControlWatcherTest {
  private static final long WAIT = 10;

  @TempDir
  Path dir;

  private AFUNIXServerSocket listening;
  private ControlWatcher watcher;
  private final BlockingQueue<String> warnings = new LinkedBlockingQueue<>();
  private final List<AutoCloseable> toClose = new ArrayList<>();

  @BeforeEach
  void setUp() throws IOException {
    listening = AFUNIXServerSocket.bindOn(AFUNIXSocketAddress.of(dir.resolve("s.sock")));
    watcher = new ControlWatcher(new ServerListener() {
      @Override
      public void warning(String message, Throwable cause) {
        warnings.add(message);
      }
    }, "test-control-watcher");
  }

  @AfterEach
  void tearDown() throws Exception {
    watcher.close();
    for (AutoCloseable c : toClose) {
      c.close();
    }
    listening.close();
    assertNull(warnings.poll(), "the watcher warned");
  }

  /** How one watch ended. */
  private record Ended(String name, int type, IOException failure) {}

  /** A connected pair: the server's side as a {@link ControlConnection}, and the peer's socket. */
  private record Pair(ControlConnection control, AFUNIXSocket peer) {}

  private Pair connect() throws IOException {
    AFUNIXSocket peer = AFUNIXSocket.connectTo(listening.getLocalSocketAddress());
    ControlConnection control = new ControlConnection(listening.accept());
    toClose.add(peer);
    toClose.add(control);
    return new Pair(control, peer);
  }

  private static ControlWatcher.Handler recording(String name, BlockingQueue<Ended> into) {
    return (type, failure) -> into.add(new Ended(name, type, failure));
  }

  private static byte[] goodbye() {
    return Wire.frame(Frame.GOODBYE, 0, Wire.encodeGoodbye(Wire.GOODBYE_CLOSE, "bye"));
  }

  @Test
  void aClientStoppedInsideAFrameHoldsUpNobody() throws Exception {
    BlockingQueue<Ended> ended = new LinkedBlockingQueue<>();
    Pair inHeader = connect();
    Pair inBody = connect();
    Pair leaving = connect();
    watcher.watch(inHeader.control(), recording("inHeader", ended));
    watcher.watch(inBody.control(), recording("inBody", ended));
    watcher.watch(leaving.control(), recording("leaving", ended));

    byte[] bye = goodbye();
    inHeader.peer().getOutputStream().write(bye, 0, 3);
    byte[] hello = Wire.frame(Frame.HELLO, 0, Wire.encodeHello(new Wire.Hello(7, 0,
        List.of("pipe", "memfd"))));
    inBody.peer().getOutputStream().write(hello, 0, Frame.HEADER_SIZE + 5);
    leaving.peer().getOutputStream().write(bye);

    Ended first = ended.poll(WAIT, SECONDS);
    assertEquals(new Ended("leaving", Frame.GOODBYE, null), first);

    inHeader.peer().getOutputStream().write(bye, 3, bye.length - 3);
    assertEquals(new Ended("inHeader", Frame.GOODBYE, null), ended.poll(WAIT, SECONDS));
    inBody.peer().getOutputStream().write(hello, Frame.HEADER_SIZE + 5,
        hello.length - Frame.HEADER_SIZE - 5);
    assertEquals(new Ended("inBody", Frame.HELLO, null), ended.poll(WAIT, SECONDS));
    assertNull(ended.poll(), "one end per watch");
  }

  @Test
  void everyWayAConnectionEndsIsReportedOnce() throws Exception {
    BlockingQueue<Ended> ended = new LinkedBlockingQueue<>();
    Pair clean = connect();
    Pair cut = connect();
    Pair malformed = connect();
    Pair announcing = connect();
    watcher.watch(clean.control(), recording("clean", ended));
    watcher.watch(cut.control(), recording("cut", ended));
    watcher.watch(malformed.control(), recording("malformed", ended));
    watcher.watch(announcing.control(), recording("announcing", ended));

    clean.peer().close();
    assertEquals(new Ended("clean", -1, null), ended.poll(WAIT, SECONDS));

    cut.peer().getOutputStream().write(goodbye(), 0, 10);
    cut.peer().close();
    Ended e = ended.poll(WAIT, SECONDS);
    assertNotNull(e);
    assertEquals("cut", e.name());
    assertInstanceOf(EOFException.class, e.failure());

    malformed.peer().getOutputStream().write(new byte[] {0, 0, 0, 8, 9, 4, 0, 0}); // version 9
    e = ended.poll(WAIT, SECONDS);
    assertNotNull(e);
    assertEquals("malformed", e.name());
    assertEquals(ErrorCode.UNSUPPORTED_VERSION,
        assertInstanceOf(ProtocolException.class, e.failure()).code());

    announcing.peer().getOutputStream().write(Wire.frame(Frame.GOODBYE, 2,
        Wire.encodeGoodbye(Wire.GOODBYE_CLOSE, "")));
    e = ended.poll(WAIT, SECONDS);
    assertNotNull(e);
    assertEquals("announcing", e.name());
    ProtocolException p = assertInstanceOf(ProtocolException.class, e.failure());
    assertEquals(ErrorCode.FDS_REFUSED, p.code());
    assertTrue(p.getMessage().contains("GOODBYE frame carries 2 fds"), p.getMessage());
    assertNull(ended.poll(), "one end per watch");
  }

  @Test
  void unwatchWaitsForTheHandlerThatIsRunning() throws Exception {
    Pair pair = connect();
    CountDownLatch entered = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    ControlWatcher.Handler h = (type, failure) -> {
      entered.countDown();
      try {
        release.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    };
    watcher.watch(pair.control(), h);
    pair.peer().getOutputStream().write(goodbye());
    assertTrue(entered.await(WAIT, SECONDS), "the handler was not called");

    Thread unwatching = new Thread(() -> watcher.unwatch(h), "unwatching");
    unwatching.start();
    while (unwatching.getState() != Thread.State.WAITING) { // parked in unwatch, not finished
      assertTrue(unwatching.isAlive(), "unwatch returned while the handler was still running");
      Thread.onSpinWait();
    }
    assertTrue(unwatching.isAlive(), "unwatch returned while the handler was still running");
    release.countDown();
    unwatching.join(SECONDS.toMillis(WAIT));
    assertFalse(unwatching.isAlive(), "unwatch did not return once the handler had");
    assertEquals(0, watcher.watchedCount());
  }

  /**
   * Closes each connection right after unwatch, while its peer's GOODBYE may be in the watcher's
   * hands, and lets the next connection take the freed descriptor numbers: the old handler must
   * never run after unwatch returned, and the new connection must get every byte sent to it.
   */
  @Test
  void afterUnwatchTheWatcherNeitherCallsBackNorReadsTheReusedDescriptor() throws Exception {
    Pair previous = null;
    for (int i = 0; i < 300; i++) {
      Pair pair = connect();
      if (previous != null) {
        // The new connection got the numbers the previous one freed (its socket and reader): a
        // watcher still polling them would read these bytes.
        byte[] sent = goodbye();
        pair.peer().getOutputStream().write(sent);
        pair.control().socket().setSoTimeout((int) SECONDS.toMillis(WAIT));
        byte[] got = pair.control().socket().getInputStream().readNBytes(sent.length);
        assertArrayEquals(sent, got, "cycle " + i + ": bytes of the next connection were read");
      }
      AtomicReference<String> late = new AtomicReference<>();
      boolean[] unwatched = new boolean[1];
      Object mark = new Object();
      ControlWatcher.Handler h = (type, failure) -> {
        synchronized (mark) {
          if (unwatched[0]) {
            late.set("handler called after unwatch returned: type " + type + ", " + failure);
          }
        }
      };
      watcher.watch(pair.control(), h);
      OutputStream out = pair.peer().getOutputStream();
      out.write(goodbye()); // the watcher may be reading or reporting it right now
      watcher.unwatch(h);
      synchronized (mark) {
        unwatched[0] = true;
      }
      pair.control().close();
      pair.peer().close();
      toClose.remove(pair.control());
      toClose.remove(pair.peer());
      assertNull(late.get(), "cycle " + i);
      previous = pair;
    }
    assertEquals(0, watcher.watchedCount());
  }

  @Test
  void closeEndsTheThreadAndClosesTheEventfd() throws Exception {
    int before = eventfds();
    ControlWatcher w = new ControlWatcher(new ServerListener() {}, "closing-watcher");
    assertEquals(before + 1, eventfds());
    Pair pair = connect();
    w.watch(pair.control(), (type, failure) -> { });
    assertTrue(w.thread().isAlive());
    w.close();
    assertFalse(w.thread().isAlive(), "the watcher thread outlived close()");
    assertEquals(before, eventfds(), "the eventfd outlived close()");
    assertFalse(w.watch(pair.control(), (type, failure) -> { }), "watching after close");
  }

  private static int eventfds() throws IOException {
    int n = 0;
    try (var fds = Files.list(Path.of("/proc/self/fd"))) {
      for (Path p : (Iterable<Path>) fds::iterator) {
        try {
          if (Files.readSymbolicLink(p).toString().contains("eventfd")) {
            n++;
          }
        } catch (IOException e) {
          // closed while listing
        }
      }
    }
    return n;
  }
}
