package dev.fdipc.internal;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import dev.fdipc.spi.NativeIoException;
import java.io.Closeable;
import java.io.IOException;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Queue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BiConsumer;

/**
 * One event loop: an epoll descriptor, an eventfd that wakes it, a task queue and a timer queue,
 * all owned by one thread. The loop body is: wait for readiness or the next deadline, dispatch the
 * ready registrations, run the timers that are due, run the queued tasks, repeat.
 *
 * <p>Registrations, timers and the handlers they call belong to the loop thread: {@link #modify},
 * {@link #deregister} and {@link #schedule} are called on it (from a handler or a task), and so
 * is {@link #register(int, int, Handler)}; {@link #register(long, int, int, Handler)} and
 * {@link #release} may also be called from another thread; any other work is handed over with
 * {@link #execute}. Each registration is known to epoll by a token, never by its fd number, and a
 * descriptor is closed only after it was deregistered, on the loop thread or, with
 * {@link #release}, under a lock its handler holds too: an fd number that the kernel reuses for
 * someone else can therefore never be dispatched to the old owner.
 *
 * <p>Handlers never block: work that blocks goes to an executor.
 */
public final class Reactor implements Executor, Closeable {
  /** Called on the loop thread when a registered descriptor is ready. */
  public interface Handler {
    /** @param events the epoll events reported ({@link LibC#EPOLLIN} and so on) */
    void ready(int events);
  }

  /** A timer; {@link #cancel()} it on the loop thread. */
  public final class Timer implements Comparable<Timer> {
    private final long deadline;
    private Runnable action;
    private final long order;
    private boolean cancelled;

    private Timer(long deadline, Runnable action, long order) {
      this.deadline = deadline;
      this.action = action;
      this.order = order;
    }

    /**
     * Stops the timer from firing; harmless after it fired. Loop thread only. The action (and what
     * it holds, a connection, say) is let go at once; the queue drops cancelled timers in bulk.
     */
    public void cancel() {
      if (!cancelled) {
        cancelled = true;
        action = null;
        cancelledTimers++;
        purgeCancelledTimers();
      }
    }

    @Override
    public int compareTo(Timer o) {
      int c = Long.compare(deadline - o.deadline, 0);
      return c != 0 ? c : Long.compare(order, o.order);
    }
  }

  private static final int MAX_EVENTS = 256;
  private static final long WAKE_TOKEN = 0;

  private static volatile Reactor shared;

  private final String name;
  private final BiConsumer<String, Throwable> warnings;
  private final int epfd;
  private final int wakeFd;
  private final Memory events = new Memory((long) MAX_EVENTS * LibC.EPOLL_EVENT_SIZE);
  private final Memory ctl = new Memory(16);
  /** Set, under {@code ctl}, when the loop closes its epoll descriptor. */
  private boolean epfdClosed;
  private final Memory eight = new Memory(8);
  private final Memory drain = new Memory(8);
  /** Held to write the wake eventfd and to close it: no write ever meets a reused number. */
  private final Object wakeLock = new Object();
  private boolean wakeFdClosed;
  private final Queue<Runnable> tasks = new ConcurrentLinkedQueue<>();
  private final Thread thread;
  private final CountDownLatch ended = new CountDownLatch(1);
  private volatile boolean sleeping;
  private volatile boolean closed;

  // Loop thread only:
  private final Map<Long, Registration> registrations = new ConcurrentHashMap<>();
  private final PriorityQueue<Timer> timers = new PriorityQueue<>();
  private final AtomicLong nextToken = new AtomicLong(1);
  private long timerOrder;
  private int cancelledTimers;

  private static final class Registration {
    final int fd;
    final Handler handler;

    Registration(int fd, Handler handler) {
      this.fd = fd;
      this.handler = handler;
    }
  }

  /**
   * Creates the loop and starts its thread.
   *
   * @param name the thread's name
   * @param daemon whether the thread is a daemon thread
   * @param warnings told about failures the loop survived (a handler that threw, say)
   * @throws NativeIoException if epoll or the eventfd cannot be created (out of fds, say)
   */
  public Reactor(String name, boolean daemon, BiConsumer<String, Throwable> warnings)
      throws IOException {
    this.name = name;
    this.warnings = warnings;
    int ep = LibC.epoll_create1(LibC.EPOLL_CLOEXEC);
    if (ep < 0) {
      throw NativeIoException.lastError("epoll_create1");
    }
    int wake = LibC.eventfd(0, LibC.EFD_CLOEXEC | LibC.EFD_NONBLOCK);
    if (wake < 0) {
      NativeIoException e = NativeIoException.lastError("eventfd");
      LibC.close(ep);
      throw e;
    }
    this.epfd = ep;
    this.wakeFd = wake;
    if (ctl(LibC.EPOLL_CTL_ADD, wake, LibC.EPOLLIN, WAKE_TOKEN) != 0) {
      NativeIoException e = NativeIoException.lastError("epoll_ctl");
      LibC.close(wake);
      LibC.close(ep);
      throw e;
    }
    eight.setLong(0, 1);
    thread = new Thread(this::run, name);
    thread.setDaemon(daemon);
    thread.start();
  }

  /**
   * The process's shared loop (a daemon thread named {@code fdipc-shared-loop}), started on first use:
   * it watches clients' control connections and wakes virtual threads parked on a channel.
   */
  public static Reactor shared() throws IOException {
    Reactor r = shared;
    if (r == null) {
      synchronized (Reactor.class) {
        r = shared;
        if (r == null) {
          r = new Reactor("fdipc-shared-loop", true, (m, e) -> {
            System.err.println("fdipc: " + m);
          });
          shared = r;
        }
      }
    }
    return r;
  }

  /** True on the loop's own thread. */
  public boolean inLoop() {
    return Thread.currentThread() == thread;
  }

  /** The loop's thread (for diagnostics and tests). */
  public Thread thread() {
    return thread;
  }

  /**
   * Runs {@code task} on the loop thread, after what is queued already. From the loop thread it is
   * queued too (never run inline), so a handler can defer work past its own return.
   *
   * @throws RejectedExecutionException once the loop is closed
   */
  @Override
  public void execute(Runnable task) {
    if (closed) {
      throw new RejectedExecutionException(name + " is closed");
    }
    tasks.add(task);
    if (sleeping && !inLoop()) {
      wake();
    }
  }

  private void wake() {
    sleeping = false;
    synchronized (wakeLock) {
      if (!wakeFdClosed) {
        LibC.write(wakeFd, Pointer.nativeValue(eight), 8);
      }
    }
  }

  /**
   * Registers {@code fd} for {@code events} (level-triggered unless {@link LibC#EPOLLONESHOT} is
   * among them). Loop thread only.
   *
   * @return the registration's key, for {@link #modify} and {@link #deregister}
   */
  public long register(int fd, int events, Handler handler) throws NativeIoException {
    assertInLoop();
    long token = newKey();
    register(token, fd, events, handler);
    return token;
  }

  /** A key for {@link #register(long, int, int, Handler)}. Any thread. */
  public long newKey() {
    return nextToken.getAndIncrement();
  }

  /**
   * Registers {@code fd} under a key from {@link #newKey()}, from any thread: so that a thread
   * handing a descriptor to the loop need not wake it (a wake-up costs a context switch). The
   * handler still runs on the loop, possibly before this returns; modify and deregister remain
   * the loop's.
   */
  public void register(long key, int fd, int events, Handler handler) throws NativeIoException {
    registrations.put(key, new Registration(fd, handler));
    if (ctl(LibC.EPOLL_CTL_ADD, fd, events, key) != 0) {
      NativeIoException e = NativeIoException.lastError("epoll_ctl(ADD)");
      registrations.remove(key);
      throw e;
    }
  }

  /** Changes the events of a registration. Loop thread only. */
  public void modify(long key, int events) throws NativeIoException {
    assertInLoop();
    Registration r = registrations.get(key);
    if (r != null && ctl(LibC.EPOLL_CTL_MOD, r.fd, events, key) != 0) {
      throw NativeIoException.lastError("epoll_ctl(MOD)");
    }
  }

  /**
   * Removes a registration; its descriptor may be closed once this returns. Loop thread only;
   * harmless for a key already removed.
   */
  public void deregister(long key) {
    assertInLoop();
    release(key);
  }

  /**
   * Removes a registration from any thread, for an owner that keeps its handler off the
   * descriptor by a lock of its own (held around both this and the handler's use of the fd). An
   * event the loop has already collected for the key finds no registration and is dropped; keys
   * are never reused. Harmless for a key already removed.
   */
  public void release(long key) {
    Registration r = registrations.remove(key);
    if (r != null) {
      ctl(LibC.EPOLL_CTL_DEL, r.fd, 0, key);
    }
  }

  /** Runs {@code action} on the loop thread at {@code deadline} ({@link System#nanoTime()}). */
  public Timer schedule(long deadline, Runnable action) {
    assertInLoop();
    Timer t = new Timer(deadline, action, timerOrder++);
    timers.add(t);
    return t;
  }

  /** The number of registrations (for tests and diagnostics). Loop thread only. */
  int registrationCount() {
    return registrations.size();
  }

  private int ctl(int op, int fd, int events, long token) {
    synchronized (ctl) { // registrations may come from any thread
      if (epfdClosed) {
        return -1; // the loop has ended: its epoll descriptor (or its number) is not ours
      }
      ctl.setInt(0, events);
      ctl.setLong(LibC.EPOLL_DATA_OFFSET, token);
      return LibC.epoll_ctl(epfd, op, fd, Pointer.nativeValue(ctl));
    }
  }

  private void assertInLoop() {
    if (!inLoop()) {
      throw new IllegalStateException("not on the loop thread of " + name);
    }
  }

  private void run() {
    long base = Pointer.nativeValue(events);
    try {
      while (!closed) {
        int timeout = 0;
        if (tasks.isEmpty()) {
          sleeping = true;
          // A task added before this flag was visible is seen here; one added after it wakes us.
          timeout = tasks.isEmpty() ? timeoutMillis() : 0;
        }
        int n = LibC.epoll_wait(epfd, base, MAX_EVENTS, timeout);
        sleeping = false;
        if (n < 0) {
          int errno = LibC.errno();
          if (errno != LibC.EINTR) {
            warnings.accept(name + ": " + new NativeIoException("epoll_wait", errno).getMessage(),
                null);
            return;
          }
          n = 0;
        }
        for (int i = 0; i < n; i++) {
          long at = base + (long) i * LibC.EPOLL_EVENT_SIZE;
          int ev = new Pointer(at).getInt(0);
          long token = new Pointer(at).getLong(LibC.EPOLL_DATA_OFFSET);
          if (token == WAKE_TOKEN) {
            LibC.read(wakeFd, Pointer.nativeValue(drain), 8); // resets the counter
            continue;
          }
          Registration r = registrations.get(token);
          if (r != null) { // removed by an earlier handler of this round: skipped
            try {
              r.handler.ready(ev);
            } catch (RuntimeException | LinkageError e) {
              warnings.accept(name + ": a handler failed: " + e, e);
            }
          }
        }
        runTimers();
        runTasks();
      }
    } finally {
      closed = true;
      runTasks(); // what was queued before the close; later execute() calls are refused
      synchronized (ctl) {
        epfdClosed = true;
        LibC.close(epfd);
      }
      synchronized (wakeLock) {
        wakeFdClosed = true;
        LibC.close(wakeFd);
      }
      ended.countDown();
    }
  }

  /**
   * A handshake timer is cancelled as soon as the HELLO arrives, seconds before its deadline:
   * without this, a connection burst would keep thousands of dead timers queued.
   */
  private void purgeCancelledTimers() {
    if (cancelledTimers > 256 && cancelledTimers > timers.size() / 2) {
      timers.removeIf(t -> t.cancelled);
      cancelledTimers = 0;
    }
  }

  private int timeoutMillis() {
    Timer t;
    while ((t = timers.peek()) != null && t.cancelled) {
      timers.poll();
      cancelledTimers--;
    }
    if (t == null) {
      return -1;
    }
    long left = t.deadline - System.nanoTime();
    if (left <= 0) {
      return 0;
    }
    return (int) Math.min(Integer.MAX_VALUE, (left + 999_999) / 1_000_000);
  }

  private void runTimers() {
    if (timers.isEmpty()) {
      return;
    }
    long now = System.nanoTime();
    Timer t;
    while ((t = timers.peek()) != null && (t.cancelled || t.deadline - now <= 0)) {
      timers.poll();
      if (t.cancelled) {
        cancelledTimers--;
      } else {
        t.cancelled = true;
        Runnable action = t.action;
        t.action = null;
        try {
          action.run();
        } catch (RuntimeException | LinkageError e) {
          warnings.accept(name + ": a timer failed: " + e, e);
        }
      }
    }
  }

  private void runTasks() {
    Runnable task;
    // Bounded: tasks queued by these tasks run in the next round, after I/O has had its turn.
    int budget = Math.max(64, tasks.size());
    while (budget-- > 0 && (task = tasks.poll()) != null) {
      try {
        task.run();
      } catch (RuntimeException | LinkageError e) {
        warnings.accept(name + ": a task failed: " + e, e);
      }
    }
  }

  /**
   * Stops the loop after the tasks already queued and waits (from another thread) for its thread
   * to end; its epoll descriptor and eventfd are then closed. Registrations still present are
   * dropped without their handlers being told. Idempotent.
   */
  @Override
  public void close() {
    if (!closed) {
      closed = true;
      if (!inLoop()) {
        wake();
      }
    }
    if (!inLoop()) {
      try {
        if (ended.await(5, TimeUnit.SECONDS)) {
          thread.join(1000); // it counted down on its way out: only its last steps remain
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }
}
