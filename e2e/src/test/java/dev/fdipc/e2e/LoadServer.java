package dev.fdipc.e2e;

import dev.fdipc.ClientSession;
import dev.fdipc.FdipcServer;
import dev.fdipc.IpcChannel;
import dev.fdipc.PeerCredentials;
import dev.fdipc.ServerListener;
import dev.fdipc.TransportInfo;
import dev.fdipc.TransportRegistry;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.LongAdder;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import javax.management.JMException;
import javax.management.ObjectName;

/**
 * The server process of {@link LoadTest} and {@link SoakTest}: a real {@link FdipcServer}, every
 * available transport offered, whose handler checks each message of {@link LoadMessages} (checksum,
 * client, sequence number, payload) and echoes it back. A message that fails a check is reported
 * as a {@code violation} line and ends its session.
 *
 * <p>Arguments: the socket path, then transport options as {@code key=value} and
 * {@code --max-pending-handshakes=N}. Prints
 * {@code ready pid=N mqueue-capacity=N} once it accepts connections (the capacity is what
 * {@code MqueueTransportProvider.capacity()} states for this process's RLIMIT_MSGQUEUE, -1 if
 * unknown). Standard input takes commands, answered on standard output:
 *
 * <ul>
 *   <li>{@code stats}: one line {@code stats threads=N ...} with this process's own figures, read
 *       here: threads and resident KiB from {@code /proc/self/status}, heap used after
 *       {@code System.gc()}, the bytes of reachable objects ({@code live}), open fds from
 *       {@code /proc/self/fd} (by kind), fdipc memfd mappings from {@code /proc/self/maps},
 *       sessions, messages checked, violations, refusals and warnings so far;
 *   <li>{@code reset-peak}: restarts the peak thread count, answered by {@code peak-reset}.
 * </ul>
 *
 * <p>End of standard input stops the server.
 */
public final class LoadServer {
  private static final Pattern CAPACITY = Pattern.compile("about (\\d+) client");
  private static final Pattern HISTOGRAM_TOTAL = Pattern.compile("(?m)^Total\\s+\\d+\\s+(\\d+)");
  private static final LongAdder messages = new LongAdder();
  private static final LongAdder violations = new LongAdder();
  private static final LongAdder refusals = new LongAdder();
  private static final LongAdder warnings = new LongAdder();

  private LoadServer() {}

  /** Entry point of the server process. */
  public static void main(String[] args) throws Exception {
    FdipcServer.Builder b = FdipcServer.builder().socket(Path.of(args[0]))
        .handler(LoadServer::serve)
        .listener(new ServerListener() {
          @Override
          public void refused(PeerCredentials peer, String reason) {
            refusals.increment();
            System.err.println("refused: " + reason);
          }

          @Override
          public void warning(String message, Throwable cause) {
            warnings.increment();
            System.err.println("warning: " + message);
          }
        });
    // Every client of the tests has this uid: the per-uid cap (default 256) would refuse all but
    // 256 of them. The cap on half-open connections keeps its default (128), as a real server's:
    // a burst of connections beyond it is refused with BUSY, which the clients count and retry.
    b.maxConnectionsPerUid(100_000);
    for (int i = 1; i < args.length; i++) {
      String[] kv = args[i].split("=", 2);
      if (kv[0].equals("--max-pending-handshakes")) {
        b.maxPendingHandshakes(Integer.parseInt(kv[1]));
      } else {
        b.option(kv[0], kv[1]);
      }
    }
    try (FdipcServer server = b.start()) {
      say("ready pid=" + ProcessHandle.current().pid() + " transports="
          + String.join(",", server.offeredTransports()) + " mqueue-capacity="
          + mqueueCapacity());
      BufferedReader in = new BufferedReader(new InputStreamReader(System.in,
          StandardCharsets.UTF_8));
      ThreadMXBean threads = ManagementFactory.getThreadMXBean();
      String line;
      while ((line = in.readLine()) != null) {
        if (line.equals("stats")) {
          say(stats(server));
        } else if (line.equals("reset-peak")) {
          threads.resetPeakThreadCount();
          say("peak-reset");
        } else {
          say("unknown command '" + line + "': use stats or reset-peak");
        }
      }
    }
    say("stopped");
  }

  private static void serve(ClientSession session) throws IOException {
    IpcChannel ch = session.channel();
    long seq = 0;
    byte[] m;
    while ((m = ch.receive()) != null) {
      String wrong = LoadMessages.check(m, session.clientId(), seq);
      if (wrong != null) {
        violations.increment();
        say("violation client=" + session.clientId() + " transport=" + session.transport() + ": "
            + wrong);
        return;
      }
      ch.send(m);
      seq++;
      messages.increment();
    }
  }

  private static synchronized void say(String line) {
    System.out.println(line);
    System.out.flush();
  }

  private static int mqueueCapacity() {
    TransportInfo mq = TransportRegistry.getDefault().lookup("mqueue").orElse(null);
    if (mq == null || !mq.isAvailable()) {
      return 0;
    }
    Matcher m = CAPACITY.matcher(mq.provider().capacity());
    return m.find() ? Integer.parseInt(m.group(1)) : -1;
  }

  private static String stats(FdipcServer server) throws IOException {
    System.gc();
    System.gc();
    long heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    ThreadMXBean t = ManagementFactory.getThreadMXBean();
    Map<String, Integer> kinds = fdKinds();
    int fds = kinds.values().stream().mapToInt(Integer::intValue).sum();
    long memfdMaps;
    try (Stream<String> maps = Files.lines(Path.of("/proc/self/maps"))) {
      memfdMaps = maps.filter(l -> l.contains("/memfd:fdipc")).count();
    }
    return "stats threads=" + status("Threads") + " rss=" + status("VmRSS") + " javaThreads="
        + t.getThreadCount() + " peakJavaThreads=" + t.getPeakThreadCount() + " heap=" + heap
        + " live=" + liveBytes()
        + " fds=" + fds
        + " memfdMaps=" + memfdMaps + " mqueueFds=" + kinds.getOrDefault("mqueue", 0)
        + " sessions=" + server.sessionCount() + " messages=" + messages.sum()
        + " violations=" + violations.sum() + " refusals=" + refusals.sum()
        + " warnings=" + warnings.sum() + " fdKinds=" + kinds.toString().replace(" ", "");
  }

  /**
   * The bytes of every object still reachable, from the JVM's own class histogram
   * ({@code jcmd PID GC.class_histogram}, which collects first). Steadier than the heap used after
   * {@code System.gc()}, which counts for a while also space the JVM set up at its start.
   */
  private static long liveBytes() throws IOException {
    try {
      Object text = ManagementFactory.getPlatformMBeanServer().invoke(
          new ObjectName("com.sun.management:type=DiagnosticCommand"), "gcClassHistogram",
          new Object[] {new String[0]}, new String[] {String[].class.getName()});
      Matcher m = HISTOGRAM_TOTAL.matcher(text.toString());
      if (!m.find()) {
        throw new IOException("no Total line in the class histogram: " + text);
      }
      return Long.parseLong(m.group(1));
    } catch (JMException e) {
      throw new IOException("cannot take a class histogram: " + e, e);
    }
  }

  /** A number from {@code /proc/self/status}, such as Threads or VmRSS (in KiB). */
  private static long status(String field) throws IOException {
    for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (l.startsWith(field + ":")) {
        return Long.parseLong(l.substring(field.length() + 1).replace("kB", "").trim());
      }
    }
    throw new IOException("no " + field + ": line in /proc/self/status");
  }

  /** This process's open fds by kind: socket, pipe, memfd, mqueue, eventfd (anon inodes), file. */
  static Map<String, Integer> fdKinds() throws IOException {
    Map<String, Integer> kinds = new TreeMap<>();
    try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
      for (Path fd : (Iterable<Path>) fds::iterator) {
        String target;
        try {
          target = Files.readSymbolicLink(fd).toString();
        } catch (IOException e) {
          continue; // closed meanwhile, such as the directory stream's own fd
        }
        kinds.merge(kind(target), 1, Integer::sum);
      }
    }
    return kinds;
  }

  private static String kind(String target) {
    if (target.startsWith("socket:")) {
      return "socket";
    }
    if (target.startsWith("pipe:")) {
      return "pipe";
    }
    if (target.startsWith("/memfd:")) {
      return "memfd";
    }
    if (target.startsWith("/fdipc-")) { // a queue's path inside the mqueue filesystem
      return "mqueue";
    }
    if (target.startsWith("anon_inode:")) {
      return target.replace("anon_inode:", "").replace("[", "").replace("]", "");
    }
    return "file";
  }
}
