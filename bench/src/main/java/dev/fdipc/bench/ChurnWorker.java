package dev.fdipc.bench;

import dev.fdipc.ChannelHandler;
import dev.fdipc.EventChannel;
import dev.fdipc.FdipcClient;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One client process of {@code bin/bench churn}: holds {@code N} connections to the server command
 * on the event-driven client API (no thread per connection), each living a random time around
 * {@code lifetime} while it sends {@code 1} once a second and reads the answer, then closing and
 * connecting again. Commands on standard input: {@code busy} makes every connection send
 * {@link #BUSY_BYTES}-byte messages back to back, so that a SIGKILL finds them in the middle of
 * one; {@code stats} prints {@code stats connects=A closes=B failures=C live=D}; {@code stop}
 * closes every connection, prints {@code stopped} and exits. Prints {@code ready} once all N are
 * connected.
 *
 * <p>Arguments: socket path, transport, N, mean lifetime in milliseconds, random seed.
 */
public final class ChurnWorker {
  /** Large enough to span several socket-buffer or ring refills, small enough to print. */
  static final int BUSY_BYTES = 48 * 1024;
  private static final byte[] ONE = "1".getBytes(StandardCharsets.UTF_8);
  private static final byte[] BUSY = busyMessage();

  private final Path socket;
  private final String transport;
  private final long lifetimeMillis;
  private final SplittableRandom random;
  private final ScheduledExecutorService timer = new ScheduledThreadPoolExecutor(1, r -> {
    Thread t = new Thread(r, "churn-timer");
    t.setDaemon(true);
    return t;
  });
  private final AtomicLong connects = new AtomicLong();
  private final AtomicLong closes = new AtomicLong();
  private final AtomicLong failures = new AtomicLong();
  private final Slot[] slots;
  private final CountDownLatch firstConnects;
  private volatile boolean busy;
  private volatile boolean stopping;

  private ChurnWorker(Path socket, String transport, int n, long lifetimeMillis, long seed) {
    this.socket = socket;
    this.transport = transport;
    this.lifetimeMillis = lifetimeMillis;
    this.random = new SplittableRandom(seed);
    this.slots = new Slot[n];
    this.firstConnects = new CountDownLatch(n);
  }

  /** Entry point of a worker process. */
  public static void main(String[] args) throws Exception {
    ChurnWorker w = new ChurnWorker(Path.of(args[0]), args[1], Integer.parseInt(args[2]),
        Long.parseLong(args[3]), Long.parseLong(args[4]));
    w.run();
  }

  private void run() throws Exception {
    for (int i = 0; i < slots.length; i++) {
      slots[i] = new Slot(i);
      Slot s = slots[i];
      // the first lifetimes are spread over a whole lifetime, so that the reconnects are steady
      timer.execute(() -> s.connect(randomMillis(lifetimeMillis)));
    }
    if (!firstConnects.await(120, TimeUnit.SECONDS)) {
      System.err.println("churn worker: " + firstConnects.getCount() + " of " + slots.length
          + " connections not up after 120 s");
      System.exit(2);
    }
    System.out.println("ready");
    System.out.flush();
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in,
        StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null && !line.equals("stop")) {
      if (line.equals("busy")) {
        busy = true;
        for (Slot s : slots) {
          s.execute(s::sendNext);
        }
      } else if (line.equals("stats")) {
        long live = Arrays.stream(slots).filter(s -> s.channel != null).count();
        System.out.println("stats connects=" + connects.get() + " closes=" + closes.get()
            + " failures=" + failures.get() + " live=" + live);
        System.out.flush();
      }
    }
    stopping = true;
    timer.submit(() -> {
      for (Slot s : slots) {
        s.closeNow();
      }
    }).get(); // on the timer thread: no connect of the timer's is under way afterwards
    long giveUp = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (closes.get() < connects.get() && System.nanoTime() - giveUp < 0) {
      Thread.sleep(10); // the loop closes them; closed() counts each
    }
    System.out.println(closes.get() < connects.get() ? "stopped with "
        + (connects.get() - closes.get()) + " connections still open" : "stopped");
    System.out.flush();
    System.exit(0);
  }

  private synchronized long randomMillis(long mean) {
    return 1 + random.nextLong(Math.max(1, 2 * mean));
  }

  private static byte[] busyMessage() {
    byte[] b = new byte[BUSY_BYTES];
    Arrays.fill(b, (byte) 'x');
    return b;
  }

  /** One connection's place: connected, it lives until its end of life, then reconnects. */
  private final class Slot implements ChannelHandler {
    private final int id;
    private volatile EventChannel channel;
    private long endOfLife;
    private boolean counted;

    Slot(int id) {
      this.id = id;
    }

    /** On the timer thread: connects, and retries in a moment if that fails. */
    void connect(long lifeMillis) {
      if (stopping) {
        return;
      }
      endOfLife = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(lifeMillis);
      try {
        // the channel is this slot's from opened(), which may run before connect returns
        FdipcClient.builder().socket(socket).transports(transport).clientId(id).connect(this);
        connects.incrementAndGet();
      } catch (IOException | RuntimeException | Error e) { // a dead slot would churn no more
        failures.incrementAndGet();
        if (!counted) {
          System.err.println("churn worker: connect failed: " + e);
        }
        timer.schedule(() -> connect(lifeMillis), 100, TimeUnit.MILLISECONDS);
        return;
      }
      if (!counted) {
        counted = true;
        firstConnects.countDown();
      }
    }

    void execute(Runnable r) {
      EventChannel ch = channel;
      if (ch != null) {
        ch.execute(r);
      }
    }

    @Override
    public void opened(EventChannel ch) throws IOException {
      channel = ch; // before connect() returns, possibly: closed() must know it
      if (stopping) {
        ch.close(); // connected while the worker stopped: closeNow() did not see it
        return;
      }
      ch.send(busy ? BUSY : ONE);
    }

    @Override
    public void received(EventChannel ch, ByteBuffer answer) throws IOException {
      if (busy) {
        sendNext();
        return;
      }
      if (System.nanoTime() - endOfLife > 0) {
        ch.close();
        return;
      }
      timer.schedule(() -> execute(this::sendNext), 1, TimeUnit.SECONDS);
    }

    /** Loop thread. */
    void sendNext() {
      EventChannel ch = channel;
      if (ch == null) {
        return;
      }
      try {
        ch.send(busy ? BUSY : ONE);
      } catch (IOException e) {
        ch.close(); // the server went away: closed() follows
      }
    }

    @Override
    public void closed(EventChannel ch, Throwable failure) {
      if (channel != ch) {
        return;
      }
      channel = null;
      closes.incrementAndGet();
      if (failure != null) {
        failures.incrementAndGet();
      }
      if (!stopping) {
        timer.execute(() -> connect(randomMillis(lifetimeMillis)));
      }
    }

    /** Timer thread, when stopping. */
    void closeNow() {
      EventChannel ch = channel;
      if (ch != null) {
        ch.close();
      }
    }
  }
}
