package dev.fdipc.bench;

import dev.fdipc.IpcChannel;
import dev.fdipc.NegotiationException;
import dev.fdipc.Refusal;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;
import org.HdrHistogram.Histogram;

/**
 * The measurements. Each runs {@code clients} client connections at once, one thread each, all
 * starting their measuring phase together, and aggregates: latency and connect histograms are
 * merged, throughput is the total over the longest client's elapsed time.
 */
final class Runners {
  static final byte ECHO = 'E';
  static final byte SINK = 'S';
  static final byte IDLE = 'I';
  private static final long HIGHEST = TimeUnit.SECONDS.toNanos(60);
  /**
   * {@code -Dfdipc.bench.checksum=false} (in FDIPC_JAVA_OPTS, which both JVMs get): the throughput
   * receiver counts messages but skips the CRC32C, to measure what the check costs. A diagnostic:
   * the output says so, and figures taken with it are not the bench's.
   */
  static final boolean CHECKSUM = !"false".equals(System.getProperty("fdipc.bench.checksum"));

  private final long warmupNanos;
  private final long durationNanos;

  Runners(double warmupSeconds, double durationSeconds) {
    this.warmupNanos = (long) (warmupSeconds * 1e9);
    this.durationNanos = (long) (durationSeconds * 1e9);
  }

  /** Ping-pong: every round trip of {@code size} bytes, after a warm-up. */
  Measurement latency(Endpoint endpoint, int size, int clients) throws IOException {
    List<Histogram> hs = parallel(clients, barrier -> {
      Histogram h = new Histogram(HIGHEST, 3);
      try (IpcChannel ch = open(endpoint, ECHO)) {
        ByteBuffer out = ByteBuffer.allocateDirect(size);
        ByteBuffer in = ByteBuffer.allocateDirect(size);
        for (int phase = 0; phase < 2; phase++) {
          if (phase == 1) {
            await(barrier);
          }
          long end = System.nanoTime() + (phase == 0 ? warmupNanos : durationNanos);
          long now;
          do {
            out.clear();
            in.clear();
            long t0 = System.nanoTime();
            ch.send(out);
            if (ch.receive(in) != size) {
              throw new IOException(endpoint.label() + ": echo of " + size
                  + " bytes came back wrong");
            }
            now = System.nanoTime();
            if (phase == 1) {
              h.recordValue(Math.min(now - t0, HIGHEST));
            }
          } while (now < end);
        }
      }
      return h;
    });
    return Measurement.ofRoundTrips(endpoint.label(), size, clients, merge(hs), durationNanos);
  }

  /**
   * One-way stream of {@code size}-byte messages with backpressure; the server counts them and
   * checksums their bytes, and each client checks both. The time runs until the server's summary
   * arrives, so it includes draining whatever was still queued.
   */
  Measurement throughput(Endpoint endpoint, int size, int clients) throws IOException {
    stream(endpoint, size, clients, warmupNanos);
    List<long[]> results = stream(endpoint, size, clients, durationNanos);
    long messages = 0;
    long elapsed = 0;
    for (long[] r : results) {
      messages += r[0];
      elapsed = Math.max(elapsed, r[1]);
    }
    return Measurement.ofRate(endpoint.label(), size, clients, messages, elapsed);
  }

  private List<long[]> stream(Endpoint endpoint, int size, int clients, long nanos)
      throws IOException {
    if (nanos == 0) {
      return List.of();
    }
    return parallel(clients, barrier -> {
      long count = 0;
      long elapsed;
      try (IpcChannel ch = open(endpoint, SINK)) {
        ByteBuffer out = ByteBuffer.allocateDirect(size);
        await(barrier);
        long start = System.nanoTime();
        long end = start + nanos;
        do {
          for (int i = 0; i < 16; i++) {
            out.clear();
            out.putLong(0, count++);
            ch.send(out);
          }
        } while (System.nanoTime() < end);
        ch.send(ByteBuffer.allocate(0));
        byte[] summary = ch.receive();
        elapsed = System.nanoTime() - start;
        if (summary == null || summary.length != 16) {
          throw new IOException(endpoint.label() + ": no summary from the server");
        }
        ByteBuffer s = ByteBuffer.wrap(summary);
        long received = s.getLong();
        long crc = s.getLong();
        boolean crcOk = !CHECKSUM || crc == expectedCrc(size, count);
        if (received != count || !crcOk) {
          throw new IOException(endpoint.label() + ": sent " + count + " messages of " + size
              + " bytes, the server received " + received
              + (crcOk ? "" : " with a wrong checksum"));
        }
      }
      return new long[] {count, elapsed};
    });
  }

  /** Connect-to-ready: from starting to connect until a usable channel, many connections. */
  Measurement connect(Endpoint endpoint, int clients) throws IOException {
    int minimum = Math.max(1, 20 / clients); // percentiles over at least 20 connections
    List<Histogram> hs = parallel(clients, barrier -> {
      Histogram h = new Histogram(HIGHEST, 3);
      for (int phase = 0; phase < 2; phase++) {
        if (phase == 1) {
          await(barrier);
        }
        long end = System.nanoTime() + (phase == 0 ? warmupNanos : durationNanos);
        int n = 0;
        long now;
        do {
          long t0 = System.nanoTime();
          IpcChannel ch = openWhenRoom(endpoint);
          now = System.nanoTime();
          ch.close();
          if (phase == 1) {
            h.recordValue(Math.min(now - t0, HIGHEST));
          }
          n++;
        } while (now < end || (phase == 1 && n < minimum));
      }
      return h;
    });
    return Measurement.ofHistogram(endpoint.label(), Mode.CONNECT, 0, clients, merge(hs));
  }

  /**
   * Opens a connection, waiting while the server cannot create the transport for want of room. A
   * server releases a closed client's kernel objects a moment after the client
   * closed, once it has seen the control connection end. A connect loop outruns that, and a
   * transport whose capacity is a kernel limit (mqueue: 4 clients under the default
   * RLIMIT_MSGQUEUE) then runs out. This waits a millisecond so the server can catch up, up to 5 s
   * in a row, and then lets the refusal through.
   */
  private static IpcChannel openWhenRoom(Endpoint endpoint) throws IOException {
    long giveUp = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (true) {
      try {
        return endpoint.open();
      } catch (NegotiationException e) {
        boolean noRoom = !e.refusals().isEmpty() && e.refusals().stream()
            .allMatch(r -> r.reason() == Refusal.Reason.CREATE_FAILED);
        if (!noRoom || System.nanoTime() > giveUp) {
          throw e;
        }
      }
      try {
        Thread.sleep(1); // no signal reaches this process when the server releases a client
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new InterruptedIOException("interrupted while waiting for room on the server");
      }
    }
  }

  /**
   * What idle clients cost the server: {@code clients} connections that send nothing, and the
   * server's thread count, heap after GC and CPU time over the measuring time, compared with the
   * same figures before they connected.
   */
  Measurement idle(Endpoint endpoint, int clients, ServerProcess server) throws IOException {
    ServerProcess.Stats before = settled(server);
    List<IpcChannel> channels = new ArrayList<>();
    try {
      for (int i = 0; i < clients; i++) {
        channels.add(open(endpoint, IDLE));
      }
      sleep(Math.max(warmupNanos, TimeUnit.MILLISECONDS.toNanos(200)));
      ServerProcess.Stats start = server.stats();
      long t0 = System.nanoTime();
      sleep(durationNanos);
      ServerProcess.Stats end = server.stats();
      long interval = System.nanoTime() - t0;
      Map<String, Double> perClient = new LinkedHashMap<>();
      perClient.put("server_threads_per_client",
          (start.threads() - before.threads()) / (double) clients);
      perClient.put("server_heap_bytes_per_client",
          (start.heapBytes() - before.heapBytes()) / (double) clients);
      // CPU seconds per second per client, as a percentage of one core
      perClient.put("server_cpu_pct_per_client",
          100.0 * (end.cpuNanos() - start.cpuNanos()) / interval / clients);
      return Measurement.ofIdle(endpoint.label(), clients, perClient);
    } finally {
      for (IpcChannel ch : channels) {
        ch.close();
      }
    }
  }

  /** Stats once sessions of earlier measurements have ended: the thread count holds still. */
  private static ServerProcess.Stats settled(ServerProcess server) throws IOException {
    ServerProcess.Stats last = server.stats();
    for (int i = 0; i < 40; i++) {
      sleep(TimeUnit.MILLISECONDS.toNanos(50));
      ServerProcess.Stats now = server.stats();
      if (now.threads() == last.threads()) {
        return now;
      }
      last = now;
    }
    return last;
  }

  private static IpcChannel open(Endpoint endpoint, byte mode) throws IOException {
    IpcChannel ch = endpoint.open();
    try {
      ch.send(ByteBuffer.wrap(new byte[] {mode}));
      return ch;
    } catch (IOException | RuntimeException e) {
      ch.close();
      throw e;
    }
  }

  static long expectedCrc(int size, long count) {
    CRC32C crc = new CRC32C();
    byte[] m = new byte[size];
    ByteBuffer b = ByteBuffer.wrap(m);
    for (long i = 0; i < count; i++) {
      b.putLong(0, i);
      crc.update(m, 0, size);
    }
    return crc.getValue();
  }

  private static Histogram merge(List<Histogram> hs) {
    Histogram all = new Histogram(HIGHEST, 3);
    hs.forEach(all::add);
    return all;
  }

  private interface ClientTask<T> {
    T run(CyclicBarrier barrier) throws IOException;
  }

  /** Runs {@code n} copies of {@code task}, one per thread; the first failure is thrown. */
  private static <T> List<T> parallel(int n, ClientTask<T> task) throws IOException {
    CyclicBarrier barrier = new CyclicBarrier(n);
    if (n == 1) {
      return List.of(task.run(barrier));
    }
    List<T> results = new ArrayList<>();
    List<Thread> threads = new ArrayList<>();
    Object[] slots = new Object[n];
    Throwable[] failure = new Throwable[1];
    for (int i = 0; i < n; i++) {
      int index = i;
      Thread t = new Thread(() -> {
        try {
          slots[index] = task.run(barrier);
        } catch (Throwable e) {
          synchronized (failure) {
            if (failure[0] == null) {
              failure[0] = e;
            }
          }
          barrier.reset(); // the others stop waiting for this one
        }
      }, "bench-client-" + i);
      threads.add(t);
      t.start();
    }
    for (Thread t : threads) {
      try {
        t.join();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException("interrupted", e);
      }
    }
    synchronized (failure) {
      if (failure[0] instanceof IOException e) {
        throw e;
      } else if (failure[0] instanceof UncheckedIOException e) {
        throw e.getCause();
      } else if (failure[0] instanceof RuntimeException e) {
        throw e;
      } else if (failure[0] != null) {
        throw new IOException(failure[0]);
      }
    }
    for (Object o : slots) {
      @SuppressWarnings("unchecked")
      T r = (T) o;
      results.add(r);
    }
    return results;
  }

  private static void await(CyclicBarrier barrier) throws IOException {
    try {
      barrier.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    } catch (BrokenBarrierException e) {
      throw new IOException("another client failed", e);
    }
  }

  private static void sleep(long nanos) throws IOException {
    try {
      TimeUnit.NANOSECONDS.sleep(nanos);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    }
  }
}
