package dev.fdipc.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import dev.fdipc.spi.Fd;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The event loop on its own: tasks, timers, readiness, and its end. */
@Timeout(30)
class ReactorTest {
  private final List<String> warnings = Collections.synchronizedList(new ArrayList<>());
  private final Reactor reactor = newReactor();

  private Reactor newReactor() {
    try {
      return new Reactor("test-loop", true, (m, e) -> warnings.add(m));
    } catch (java.io.IOException e) {
      throw new IllegalStateException(e);
    }
  }

  @AfterEach
  void close() {
    reactor.close();
  }

  @Test
  void shouldRunTasksFromOtherThreadsOnTheLoopThreadInOrder() throws Exception {
    List<Integer> seen = Collections.synchronizedList(new ArrayList<>());
    CompletableFuture<Boolean> inLoop = new CompletableFuture<>();
    for (int i = 0; i < 100; i++) {
      int n = i;
      reactor.execute(() -> seen.add(n));
    }
    reactor.execute(() -> inLoop.complete(reactor.inLoop()));
    assertTrue(inLoop.get(10, TimeUnit.SECONDS));
    assertEquals(100, seen.size());
    for (int i = 0; i < 100; i++) {
      assertEquals(i, seen.get(i));
    }
  }

  @Test
  void shouldFireTimersInDeadlineOrderAndNotCancelledOnes() throws Exception {
    List<String> fired = Collections.synchronizedList(new ArrayList<>());
    CountDownLatch done = new CountDownLatch(1);
    reactor.execute(() -> {
      long now = System.nanoTime();
      reactor.schedule(now + TimeUnit.MILLISECONDS.toNanos(40), () -> {
        fired.add("late");
        done.countDown();
      });
      reactor.schedule(now + TimeUnit.MILLISECONDS.toNanos(10), () -> fired.add("early"));
      reactor.schedule(now + TimeUnit.MILLISECONDS.toNanos(20), () -> fired.add("cancelled"))
          .cancel();
    });
    assertTrue(done.await(10, TimeUnit.SECONDS));
    assertEquals(List.of("early", "late"), fired);
  }

  @Test
  void shouldDispatchReadinessByRegistrationAndStopAfterDeregister() throws Exception {
    int efd = LibC.eventfd(0, LibC.EFD_CLOEXEC | LibC.EFD_NONBLOCK);
    try (Fd fd = Fd.of(efd); Memory buf = new Memory(8)) {
      CountDownLatch ready = new CountDownLatch(1);
      long[] key = new long[1];
      reactor.execute(() -> {
        try {
          key[0] = reactor.register(efd, LibC.EPOLLIN, events -> {
            LibC.read(efd, Pointer.nativeValue(buf), 8);
            ready.countDown();
          });
        } catch (java.io.IOException e) {
          throw new IllegalStateException(e);
        }
      });
      buf.setLong(0, 1);
      LibC.write(efd, Pointer.nativeValue(buf), 8);
      assertTrue(ready.await(10, TimeUnit.SECONDS), "the registration was not dispatched");
      CompletableFuture<Integer> count = new CompletableFuture<>();
      reactor.execute(() -> {
        reactor.deregister(key[0]);
        reactor.deregister(key[0]); // harmless twice
        count.complete(reactor.registrationCount());
      });
      assertEquals(0, count.get(10, TimeUnit.SECONDS));
    }
    assertEquals(List.of(), warnings);
  }

  @Test
  void shouldSurviveAHandlerThatThrows() throws Exception {
    reactor.execute(() -> {
      throw new IllegalStateException("boom");
    });
    CompletableFuture<String> after = new CompletableFuture<>();
    reactor.execute(() -> after.complete("still running"));
    assertEquals("still running", after.get(10, TimeUnit.SECONDS));
    assertEquals(1, warnings.size());
    assertTrue(warnings.get(0).contains("boom"), warnings.toString());
  }

  @Test
  void shouldRefuseRegistrationsFromOtherThreads() {
    assertThrows(IllegalStateException.class, () -> reactor.register(0, LibC.EPOLLIN, e -> { }));
  }

  @Test
  void shouldEndItsThreadOnCloseAndRefuseTasksAfterwards() throws Exception {
    CountDownLatch ran = new CountDownLatch(1);
    reactor.execute(ran::countDown);
    reactor.close();
    assertTrue(ran.await(1, TimeUnit.SECONDS), "a task queued before close() must run");
    reactor.thread().join(5000);
    assertFalse(reactor.thread().isAlive());
    assertThrows(RejectedExecutionException.class, () -> reactor.execute(() -> { }));
  }
}
