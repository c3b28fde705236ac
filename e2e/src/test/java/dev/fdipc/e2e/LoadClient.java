package dev.fdipc.e2e;

import dev.fdipc.ErrorCode;
import dev.fdipc.FdipcClient;
import dev.fdipc.IpcChannel;
import dev.fdipc.IpcTimeoutException;
import dev.fdipc.NegotiationException;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.ConnectException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

/**
 * A client process of {@link LoadTest} and {@link SoakTest}: many fdipc clients in one JVM, one
 * thread each, talking {@link LoadMessages} to a {@link LoadServer}.
 *
 * <p>{@code load --socket=P --id-base=N --plan=T:N[,T:N...] --messages=M --window=W
 * [--option=K=V]...}: connects every client of the plan ({@code T} is a transport, or several
 * joined by {@code +} in order of preference, such as {@code mqueue+pipe}), prints
 * {@code connected ...} and waits for {@code go} on standard input; then each client sends
 * {@code M} messages, at most {@code W} ahead of the replies, and checks every reply; prints
 * {@code done ...} and waits for {@code close}; closes every client, prints {@code closed} and
 * exits.
 *
 * <p>{@code soak --socket=P --id-base=N --transport=T --cycles=C --threads=K [--option=K=V]...}:
 * {@code C} times, over {@code K} threads: connect, one message and its reply, close; then prints
 * {@code soak ...} with this process's own fd count before and after.
 *
 * <p>A BUSY refusal is counted and retried (the server has no room right now); every other failure
 * is printed as a {@code failure} line. Exit status 0 once all is reported, whatever failed.
 */
public final class LoadClient {
  private static final Duration GIVE_UP = Duration.ofSeconds(60);
  private static final Duration REPLY_TIMEOUT = Duration.ofSeconds(60);

  private final Path socket;
  private final Map<String, String> options;
  private final AtomicLong busy = new AtomicLong();
  private final AtomicLong retries = new AtomicLong();
  private final Queue<String> failures = new ConcurrentLinkedQueue<>();

  private LoadClient(Path socket, Map<String, String> options) {
    this.socket = socket;
    this.options = options;
  }

  /** Entry point of a client process. */
  public static void main(String[] args) throws Exception {
    Map<String, String> a = new LinkedHashMap<>();
    Map<String, String> options = new LinkedHashMap<>();
    for (int i = 1; i < args.length; i++) {
      String[] kv = args[i].replaceFirst("^--", "").split("=", 2);
      if (kv[0].equals("option")) {
        String[] o = kv[1].split("=", 2);
        options.put(o[0], o[1]);
      } else {
        a.put(kv[0], kv[1]);
      }
    }
    LoadClient c = new LoadClient(Path.of(a.get("socket")), options);
    long idBase = Long.parseLong(a.getOrDefault("id-base", "1"));
    if (args[0].equals("load")) {
      c.load(idBase, a.get("plan"), Integer.parseInt(a.get("messages")),
          Integer.parseInt(a.getOrDefault("window", "4")));
    } else {
      c.soak(idBase, a.get("transport"), Integer.parseInt(a.get("cycles")),
          Integer.parseInt(a.getOrDefault("threads", "1")));
    }
    System.exit(0); // the channels' control watchers are daemon threads; nothing else runs
  }

  private void load(long idBase, String plan, int messages, int window) throws Exception {
    List<String[]> clients = new ArrayList<>(); // per client: its transports in order
    for (String part : plan.split(",")) {
      String[] tn = part.split(":");
      for (int i = 0; i < Integer.parseInt(tn[1]); i++) {
        clients.add(tn[0].split("\\+"));
      }
    }
    int n = clients.size();
    IpcChannel[] channels = new IpcChannel[n];
    CountDownLatch connected = new CountDownLatch(n);
    CountDownLatch go = new CountDownLatch(1);
    CountDownLatch done = new CountDownLatch(n);
    AtomicLong ok = new AtomicLong();
    AtomicLong replies = new AtomicLong();
    long[] finished = new long[n]; // System.nanoTime() when each client had its last reply
    List<Thread> threads = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      int index = i;
      long id = idBase + i;
      Thread t = new Thread(() -> {
        try {
          channels[index] = connect(id, clients.get(index));
        } finally {
          connected.countDown();
        }
        try {
          go.await();
          if (channels[index] != null) {
            exchange(channels[index], id, messages, window, replies);
            finished[index] = System.nanoTime();
            ok.incrementAndGet();
          }
        } catch (Exception e) {
          failures.add("client " + id + " (" + describe(channels[index]) + "): " + e);
        } finally {
          done.countDown();
        }
      }, "load-client-" + id);
      threads.add(t);
      t.start();
    }
    connected.await();
    Map<String, Integer> byTransport = new TreeMap<>();
    for (IpcChannel ch : channels) {
      if (ch != null) {
        byTransport.merge(ch.transport(), 1, Integer::sum);
      }
    }
    say("connected clients=" + n + " transports=" + byTransport.toString().replace(" ", "")
        + " busy=" + busy.get() + " retries=" + retries.get() + " failed=" + failures.size());
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in,
        StandardCharsets.UTF_8));
    expect(in, "go");
    long start = System.nanoTime();
    go.countDown();
    done.await();
    long elapsed = System.nanoTime() - start;
    failures.forEach(f -> say("failure " + f));
    // How long each client took: far apart, some clients were starved while others ran.
    long[] took = Arrays.stream(finished).filter(f -> f != 0)
        .map(f -> TimeUnit.NANOSECONDS.toMillis(f - start)).sorted().toArray();
    say("done ok=" + ok.get() + " failed=" + (n - ok.get()) + " replies=" + replies.get()
        + " elapsedMs=" + TimeUnit.NANOSECONDS.toMillis(elapsed)
        + " clientMsMin=" + (took.length == 0 ? -1 : took[0])
        + " clientMsMedian=" + (took.length == 0 ? -1 : took[took.length / 2])
        + " clientMsMax=" + (took.length == 0 ? -1 : took[took.length - 1]));
    expect(in, "close");
    for (IpcChannel ch : channels) {
      if (ch != null) {
        ch.close();
      }
    }
    for (Thread t : threads) {
      t.join();
    }
    say("closed");
  }

  private static void expect(BufferedReader in, String command) throws IOException {
    String line = in.readLine();
    if (!command.equals(line)) {
      throw new IOException("expected '" + command + "' on standard input, got '" + line + "'");
    }
  }

  private void exchange(IpcChannel ch, long id, int messages, int window, AtomicLong replies)
      throws IOException {
    long sent = 0;
    for (long seq = 0; seq < messages; seq++) {
      while (sent < messages && sent < seq + window) {
        ch.send(LoadMessages.build(id, sent++));
      }
      byte[] reply;
      try {
        reply = ch.receive(REPLY_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
      } catch (IpcTimeoutException e) {
        throw new IOException("no reply to seq=" + seq + " within " + REPLY_TIMEOUT, e);
      }
      if (reply == null) {
        throw new IOException("the server ended the session after " + seq + " of " + messages
            + " replies");
      }
      String wrong = LoadMessages.check(reply, id, seq);
      if (wrong != null) {
        throw new IOException("reply " + seq + ": " + wrong);
      }
      replies.incrementAndGet();
    }
  }

  /**
   * Connects client {@code id}; a BUSY refusal or a failed connect(2) is retried with a growing
   * pause (there is no signal for "the server has room again") until {@link #GIVE_UP}.
   *
   * @return the channel, or null after recording why there is none
   */
  private IpcChannel connect(long id, String[] transports) {
    long deadline = System.nanoTime() + GIVE_UP.toNanos();
    long pauseMs = 5;
    while (true) {
      String retryReason;
      try {
        FdipcClient.Builder b = FdipcClient.builder().socket(socket).clientId(id)
            .transports(transports).handshakeTimeout(GIVE_UP);
        options.forEach(b::option);
        return b.connect();
      } catch (NegotiationException e) {
        if (e.code() != ErrorCode.BUSY) {
          failures.add("client " + id + " refused: " + e.getMessage());
          return null;
        }
        busy.incrementAndGet();
        retryReason = e.getMessage();
      } catch (ConnectException e) {
        retries.incrementAndGet();
        retryReason = e.getMessage();
      } catch (IOException | RuntimeException e) {
        failures.add("client " + id + " could not connect: " + e);
        return null;
      }
      if (System.nanoTime() > deadline) {
        failures.add("client " + id + " gave up after " + GIVE_UP + ": " + retryReason);
        return null;
      }
      try {
        Thread.sleep(pauseMs);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        failures.add("client " + id + " interrupted while retrying");
        return null;
      }
      pauseMs = Math.min(pauseMs * 2, 200);
    }
  }

  private void soak(long idBase, String transport, int cycles, int threadCount)
      throws Exception {
    String[] transports = transport.split("\\+");
    // One cycle first, so that what the JVM opens once (jars, native libraries) is in the baseline.
    cycle(idBase, transports);
    long fdsBefore = countFds();
    AtomicLong next = new AtomicLong(1);
    AtomicLong ok = new AtomicLong();
    Map<String, AtomicLong> used = new TreeMap<>();
    for (String t : transports) {
      used.put(t, new AtomicLong());
    }
    long start = System.nanoTime();
    List<Thread> threads = new ArrayList<>();
    for (int k = 0; k < threadCount; k++) {
      Thread t = new Thread(() -> {
        long i;
        while ((i = next.getAndIncrement()) < cycles) {
          String got = cycle(idBase + i, transports);
          if (got != null) {
            ok.incrementAndGet();
            used.get(got).incrementAndGet();
          }
        }
      }, "soak-" + k);
      threads.add(t);
      t.start();
    }
    for (Thread t : threads) {
      t.join();
    }
    long elapsed = System.nanoTime() - start;
    long fdsAfter = countFds();
    failures.stream().limit(20).forEach(f -> say("failure " + f));
    say("soak transport=" + transport + " cycles=" + cycles + " ok=" + (ok.get() + 1)
        + " failed=" + failures.size() + " busy=" + busy.get() + " used="
        + used.toString().replace(" ", "") + " elapsedMs=" + TimeUnit.NANOSECONDS.toMillis(elapsed)
        + " clientFdsBefore=" + fdsBefore + " clientFdsAfter=" + fdsAfter
        + " clientMemfdMaps=" + memfdMaps());
  }

  /** One connect, message, reply, close; returns the transport used, or null if it failed. */
  private String cycle(long id, String[] transports) {
    IpcChannel ch = connect(id, transports);
    if (ch == null) {
      return null;
    }
    try (ch) {
      ch.send(LoadMessages.build(id, 0));
      byte[] reply = ch.receive(REPLY_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
      String wrong = reply == null ? "no reply: the session ended" : LoadMessages.check(reply, id,
          0);
      if (wrong != null) {
        failures.add("client " + id + " (" + ch.transport() + "): " + wrong);
        return null;
      }
      return ch.transport();
    } catch (IOException | RuntimeException e) {
      failures.add("client " + id + ": " + e);
      return null;
    }
  }

  private static String describe(IpcChannel ch) {
    return ch == null ? "not connected" : ch.transport();
  }

  private static long countFds() throws IOException {
    try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
      return s.count() - 1; // the listing's own fd
    }
  }

  private static long memfdMaps() throws IOException {
    try (Stream<String> maps = Files.lines(Path.of("/proc/self/maps"))) {
      return maps.filter(l -> l.contains("/memfd:fdipc")).count();
    }
  }

  private static synchronized void say(String line) {
    System.out.println(line);
    System.out.flush();
  }
}
