package dev.fdipc.bench;

import com.sun.management.OperatingSystemMXBean;
import dev.fdipc.FdipcServer;
import dev.fdipc.IpcChannel;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.CRC32C;
import org.newsclub.net.unix.AFUNIXServerSocketChannel;
import org.newsclub.net.unix.AFUNIXSocketAddress;
import org.newsclub.net.unix.AFUNIXSocketChannel;

/**
 * The benchmark's server process: a real {@link FdipcServer} and, beside it, the plain junixsocket
 * baseline's listening socket, both running the same sessions. Each session starts with a one-byte
 * mode: {@code 'E'} echoes every message; {@code 'S'} swallows messages until an empty one, then
 * answers with the count and a CRC32C of everything received, so the client can prove nothing was
 * lost; {@code 'I'} does nothing until the client leaves (an idle client).
 *
 * <p>Arguments: the fdipc socket path, the baseline socket path, the directory for an embedded
 * Aeron media driver or {@code -} for none, then transport options as {@code key=value}. With a
 * media driver, the baseline socket is the aeron-ipc baseline's rendezvous (see
 * {@link AeronHost}) instead of the junixsocket-uds baseline. Prints {@code ready} when both accept connections. Each {@code stats} line on
 * standard input is answered on standard output with
 * {@code stats threads=N heap=BYTES cpu=NANOS}: live threads, heap used after a full GC, and the
 * CPU time of the process so far. End of standard input stops the server.
 */
public final class BenchServer {
  private BenchServer() {}

  /** Entry point of the server process. */
  public static void main(String[] args) throws Exception {
    FdipcServer.Builder b = FdipcServer.builder().socket(Path.of(args[0]))
        .maxMessageSize(Bench.MAX_MESSAGE);
    for (int i = 3; i < args.length; i++) {
      String[] kv = args[i].split("=", 2);
      b.option(kv[0], kv[1]);
    }
    FdipcServer server;
    try {
      server = b.handler(session -> serve(session.channel())).start();
    } catch (IllegalArgumentException e) { // a bad transport option: the message says which
      System.err.println("bench server: " + e.getMessage());
      System.exit(2);
      return;
    }
    AeronHost aeron = args[2].equals("-") ? null : AeronHost.start(Path.of(args[2]));
    Path uds = Path.of(args[1]);
    AFUNIXServerSocketChannel baseline = AFUNIXServerSocketChannel.open();
    baseline.bind(AFUNIXSocketAddress.of(uds));
    Thread acceptor = new Thread(() -> acceptLoop(baseline, aeron), "baseline-accept");
    acceptor.setDaemon(true);
    acceptor.start();
    System.out.println("ready");
    System.out.flush();
    answerStats();
    baseline.close();
    Files.deleteIfExists(uds);
    server.close();
    if (aeron != null) {
      aeron.close();
    }
    System.exit(0); // baseline sessions are daemon threads; end them with the process
  }

  private static void answerStats() throws IOException {
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in,
        StandardCharsets.UTF_8));
    MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
    OperatingSystemMXBean os = (OperatingSystemMXBean) ManagementFactory
        .getOperatingSystemMXBean();
    String line;
    while ((line = in.readLine()) != null) {
      if (line.equals("stats")) {
        long cpu = os.getProcessCpuTime(); // before the GCs, which are not the clients' cost
        System.gc();
        System.gc();
        System.out.println("stats threads=" + ManagementFactory.getThreadMXBean().getThreadCount()
            + " heap=" + memory.getHeapMemoryUsage().getUsed() + " cpu=" + cpu);
        System.out.flush();
      }
    }
  }

  private static void acceptLoop(AFUNIXServerSocketChannel baseline, AeronHost aeron) {
    while (baseline.isOpen()) {
      AFUNIXSocketChannel s;
      try {
        s = baseline.accept();
      } catch (IOException e) {
        return;
      }
      Thread t = new Thread(() -> {
        try (UdsChannel ch = new UdsChannel(s, Bench.MAX_MESSAGE)) {
          if (aeron != null) {
            aeron.serve(ch);
          } else {
            serve(ch);
          }
        } catch (IOException e) {
          // the client went away in the middle of a message: nothing to report
        }
      }, "baseline-session");
      t.setDaemon(true);
      t.start();
    }
  }

  static void serve(IpcChannel ch) throws IOException {
    ByteBuffer first = ByteBuffer.allocate(1);
    if (ch.receive(first) < 1) {
      return;
    }
    byte mode = first.get(0);
    if (mode == 'I') {
      ch.receive(first);
      return;
    }
    ByteBuffer buf = ByteBuffer.allocateDirect(Bench.MAX_MESSAGE);
    if (mode == 'E') {
      while (true) {
        buf.clear();
        if (ch.receive(buf) < 0) {
          return;
        }
        buf.flip();
        ch.send(buf);
      }
    }
    long count = 0;
    CRC32C crc = new CRC32C();
    while (true) {
      buf.clear();
      int n = ch.receive(buf);
      if (n <= 0) {
        break;
      }
      if (Runners.CHECKSUM) {
        buf.flip();
        crc.update(buf);
      }
      count++;
    }
    ch.send(ByteBuffer.allocate(16).putLong(count).putLong(crc.getValue()).flip());
  }
}
