package dev.fdipc.spi;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.jna.Native;
import com.sun.jna.Platform;
import dev.fdipc.IpcTimeoutException;
import dev.fdipc.PeerClosedException;
import dev.fdipc.internal.LibC;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.AsynchronousCloseException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Every way a blocked {@link FdStreamChannel} call must wake, for both ways it waits: blocked in
 * {@code read(2)}/{@code send(2)} on a socket (woken by {@code shutdown(2)}) and in
 * {@code poll(2)} with an eventfd on pipes. Each test first waits until the calling thread really
 * sleeps in the kernel (its {@code /proc} state), so the wake-up, not a check before the call, is
 * what is tested.
 */
@Timeout(60)
class FdStreamChannelWakeupTest {
  private static final int MAX = 1 << 20;

  /** How the two channel ends are connected. */
  enum Kind {
    SOCKETPAIR, PIPES
  }

  static {
    Native.register(Platform.C_LIBRARY_NAME);
  }

  private static native int socketpair(int domain, int type, int protocol, int[] sv);

  private static native int gettid();

  private ExecutorService executor;

  @BeforeEach
  void start() {
    executor = Executors.newCachedThreadPool(r -> {
      Thread t = new Thread(r, "wakeup-test");
      t.setDaemon(true);
      return t;
    });
  }

  @AfterEach
  void stop() {
    executor.shutdownNow();
  }

  @ParameterizedTest
  @EnumSource(Kind.class)
  void closeWakesAReceiveBlockedWithoutTimeout(Kind kind) throws Exception {
    try (Pair p = pair(kind)) {
      Future<?> receive = blocked(() -> p.a.receive());
      p.a.close();
      assertFailsWith(AsynchronousCloseException.class, receive);
    }
  }

  @ParameterizedTest
  @EnumSource(Kind.class)
  void closeWakesATimedReceive(Kind kind) throws Exception {
    try (Pair p = pair(kind)) {
      Future<?> receive = blocked(() -> p.a.receive(1, TimeUnit.HOURS));
      p.a.close();
      assertFailsWith(AsynchronousCloseException.class, receive);
    }
  }

  @ParameterizedTest
  @EnumSource(Kind.class)
  void closeWakesABlockedSend(Kind kind) throws Exception {
    try (Pair p = pair(kind)) {
      Future<?> send = blocked(sendForever(p.a));
      p.a.close();
      assertFailsWith(AsynchronousCloseException.class, send);
    }
  }

  @ParameterizedTest
  @EnumSource(Kind.class)
  void peerGoneEndsAReceiveBlockedWithoutTimeout(Kind kind) throws Exception {
    try (Pair p = pair(kind)) {
      Future<byte[]> receive = blocked(() -> p.a.receive());
      p.a.peerGone();
      assertNull(receive.get(10, TimeUnit.SECONDS), "end of stream expected");
      assertNull(p.a.receive(), "end of stream is sticky");
    }
  }

  @ParameterizedTest
  @EnumSource(Kind.class)
  void peerGoneEndsATimedReceive(Kind kind) throws Exception {
    try (Pair p = pair(kind)) {
      Future<byte[]> receive = blocked(() -> p.a.receive(1, TimeUnit.HOURS));
      p.a.peerGone();
      assertNull(receive.get(10, TimeUnit.SECONDS), "end of stream expected");
    }
  }

  @ParameterizedTest
  @EnumSource(Kind.class)
  void peerGoneFailsABlockedSend(Kind kind) throws Exception {
    try (Pair p = pair(kind)) {
      Future<?> send = blocked(sendForever(p.a));
      p.a.peerGone();
      assertFailsWith(PeerClosedException.class, send);
    }
  }

  @ParameterizedTest
  @EnumSource(Kind.class)
  void peerGoneDeliversWhatThePeerSentBeforeEndOfStream(Kind kind) throws Exception {
    try (Pair p = pair(kind)) {
      byte[] big = new byte[40_000]; // all three fit a pipe's and a socket's buffer
      big[39_999] = 42;
      p.b.send(text("first"));
      p.b.send(big);
      p.b.send(text("last"));
      p.a.peerGone();
      assertEquals("first", string(p.a.receive()));
      assertArrayEquals(big, p.a.receive(10, TimeUnit.SECONDS));
      assertEquals("last", string(p.a.receive()));
      assertNull(p.a.receive(), "end of stream expected after the peer's messages");
    }
  }

  @ParameterizedTest
  @EnumSource(Kind.class)
  void timedReceiveTimesOutAndTheChannelStaysUsable(Kind kind) throws Exception {
    try (Pair p = pair(kind)) {
      assertThrows(IpcTimeoutException.class,
          () -> p.a.receive(ByteBuffer.allocate(16), 20, TimeUnit.MILLISECONDS));
      p.b.send(text("after"));
      assertEquals("after", string(p.a.receive(10, TimeUnit.SECONDS)));
      p.a.send(text("back"));
      assertEquals("back", string(p.b.receive()));
    }
  }

  @Test
  void socketsBlockInsteadOfPollingAndHoldNoEventfd() throws Exception {
    int before = eventfds();
    try (Pair p = pair(Kind.SOCKETPAIR)) {
      assertEquals(before, eventfds(), "a socket channel needs no wake-up eventfd");
      Future<?> receive = blocked(() -> p.a.receive());
      String wchan = Files.readString(Path.of("/proc/self/task/" + blockedTid.get() + "/wchan"));
      assertFalse(wchan.contains("poll"), "expected a blocking read, thread waits in " + wchan);
      p.b.send(text("x"));
      assertEquals("x", string((byte[]) receive.get(10, TimeUnit.SECONDS)));
    }
  }

  @Test
  void aWakeUpAfterCloseLeavesAReusedDescriptorNumberAlone() throws Exception {
    Pair old = pair(Kind.SOCKETPAIR);
    old.close();
    // The lowest free numbers are the ones just released: the new pair very likely reuses them.
    try (Pair reused = pair(Kind.SOCKETPAIR)) {
      org.junit.jupiter.api.Assumptions.assumeTrue(
          reused.fds.get(0).equals(old.fds.get(0)) || reused.fds.get(0).equals(old.fds.get(1)),
          () -> "the new socket pair did not reuse a closed number: " + old.fds + " then "
              + reused.fds);
      old.a.peerGone();
      old.b.peerGone();
      reused.a.send(text("still"));
      assertEquals("still", string(reused.b.receive(10, TimeUnit.SECONDS)));
      reused.b.send(text("connected"));
      assertEquals("connected", string(reused.a.receive(10, TimeUnit.SECONDS)));
    }
  }

  // ------------------------------------------------------------------ helpers

  /** Both ends of one connection, each a channel. */
  private record Pair(FdStreamChannel a, FdStreamChannel b, List<Integer> fds)
      implements AutoCloseable {
    @Override
    public void close() throws IOException {
      try {
        a.close();
      } finally {
        b.close();
      }
    }
  }

  private static Pair pair(Kind kind) throws IOException {
    if (kind == Kind.SOCKETPAIR) {
      int[] sv = new int[2];
      if (socketpair(LibC.AF_UNIX, LibC.SOCK_STREAM | LibC.SOCK_CLOEXEC, 0, sv) != 0) {
        throw NativeIoException.lastError("socketpair");
      }
      Fd a = Fd.of(sv[0]);
      Fd b = Fd.of(sv[1]);
      return new Pair(new FdStreamChannel("test", MAX, a, a, List.of()),
          new FdStreamChannel("test", MAX, b, b, List.of()), List.of(sv[0], sv[1]));
    }
    List<Fd> ab = Fd.pipe();
    List<Fd> ba = Fd.pipe();
    return new Pair(new FdStreamChannel("test", MAX, ba.get(0), ab.get(1), List.of()),
        new FdStreamChannel("test", MAX, ab.get(0), ba.get(1), List.of()), List.of());
  }

  private static Callable<Object> sendForever(FdStreamChannel ch) {
    return () -> {
      byte[] chunk = new byte[64 * 1024];
      while (true) {
        ch.send(chunk);
      }
    };
  }

  private final AtomicInteger blockedTid = new AtomicInteger();

  /**
   * Runs {@code call} on another thread and returns once that thread sleeps in the kernel (a
   * syscall, not a Java lock: state S, waiting elsewhere than in a futex) and has not finished.
   */
  private <T> Future<T> blocked(Callable<T> call) throws Exception {
    CompletableFuture<Integer> tid = new CompletableFuture<>();
    Future<T> f = executor.submit(() -> {
      tid.complete(gettid());
      return call.call();
    });
    int t = tid.get(10, TimeUnit.SECONDS);
    blockedTid.set(t);
    Path task = Path.of("/proc/self/task/" + t);
    long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (true) {
      assertFalse(f.isDone(), () -> "the call returned instead of blocking: " + outcome(f));
      String stat = Files.readString(task.resolve("stat"));
      char state = stat.charAt(stat.lastIndexOf(')') + 2);
      String wchan = Files.readString(task.resolve("wchan"));
      if (state == 'S' && !wchan.contains("futex") && !wchan.equals("0")) {
        return f;
      }
      assertTrue(System.nanoTime() < until, "the call never blocked in the kernel: " + stat);
      java.util.concurrent.locks.LockSupport.parkNanos(100_000);
    }
  }

  private static String outcome(Future<?> f) {
    try {
      return String.valueOf(f.get());
    } catch (Exception e) {
      return e.toString();
    }
  }

  private static void assertFailsWith(Class<? extends Throwable> type, Future<?> f) {
    ExecutionException e = assertThrows(ExecutionException.class,
        () -> f.get(10, TimeUnit.SECONDS));
    assertInstanceOf(type, e.getCause(), () -> "got " + e.getCause());
  }

  private static int eventfds() throws IOException {
    int n = 0;
    try (var fds = Files.list(Path.of("/proc/self/fd"))) {
      for (Path fd : (Iterable<Path>) fds::iterator) {
        try {
          if (Files.readSymbolicLink(fd).toString().contains("eventfd")) {
            n++;
          }
        } catch (IOException e) {
          // closed while listing
        }
      }
    }
    return n;
  }

  private static byte[] text(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static String string(byte[] b) {
    return b == null ? null : new String(b, StandardCharsets.UTF_8);
  }
}
