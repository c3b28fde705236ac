package dev.fdipc.bench;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Renders the JSON of {@code bin/bench --json=FILE} as the Markdown tables of
 * {@code docs/performance.md}, so that the page's figures are never copied by hand.
 *
 * <p>The page holds one generated section per JSON file, between two markers. The lines right
 * after the opening marker say where the figures come from and are kept as they are; everything
 * else up to the closing marker is regenerated:
 *
 * <pre>
 * &lt;!-- BEGIN generated from bench.json --&gt;
 * &lt;!-- machine: a shared 2-vCPU virtual machine --&gt;
 * &lt;!-- date: 2026-11-21 08:53 UTC --&gt;
 * &lt;!-- command: bin/bench --duration=2 --json=docs/bench.json --&gt;
 * ... tables ...
 * &lt;!-- END generated from bench.json --&gt;
 * </pre>
 *
 * <p>The JSON file is named relative to the page. The machine and the date are written by whoever
 * ran the bench, since the JSON does not carry them yet.
 *
 * <p>Usage, from the top of the repository after a build:
 * <pre>
 * FDIPC_LIB=bench/target/lib bin/fdipc-java dev.fdipc.bench.PerformancePage docs/performance.md
 *     # regenerates every section of the page from its JSON file
 * FDIPC_LIB=bench/target/lib bin/fdipc-java dev.fdipc.bench.PerformancePage --print out.json
 *     [--machine=TEXT] [--date=TEXT] [--command=TEXT]
 *     # prints the Markdown for one JSON file
 * </pre>
 */
public final class PerformancePage {
  private static final Pattern SECTION = Pattern.compile(
      "<!-- BEGIN generated from (\\S+) -->\\n((?:<!-- \\w+: .*? -->\\n)*)(.*?)"
          + "<!-- END generated from \\1 -->", Pattern.DOTALL);
  private static final Pattern META = Pattern.compile("<!-- (\\w+): (.*?) -->\\n");

  private PerformancePage() {}

  /** Where a run's figures come from; any part may be null when nobody said. */
  record Run(String source, String machine, String date, String command) {}

  public static void main(String[] args) throws IOException {
    System.exit(run(args, System.out, System.err));
  }

  static int run(String[] args, PrintStream out, PrintStream err) throws IOException {
    if (args.length == 1 && !args[0].startsWith("-")) {
      Path page = Path.of(args[0]);
      String before = Files.readString(page, StandardCharsets.UTF_8);
      String after = regenerate(before, page.toAbsolutePath().getParent());
      if (!after.equals(before)) {
        Files.writeString(page, after, StandardCharsets.UTF_8);
      }
      out.println(page + (after.equals(before) ? ": up to date" : ": regenerated"));
      return 0;
    }
    if (args.length >= 2 && args[0].equals("--print")) {
      Map<String, String> opts = new LinkedHashMap<>();
      for (int i = 2; i < args.length; i++) {
        String a = args[i];
        int eq = a.indexOf('=');
        if (!a.startsWith("--") || eq < 0) {
          return usage(err, "unexpected argument '" + a + "'");
        }
        opts.put(a.substring(2, eq), a.substring(eq + 1));
      }
      Run r = new Run(args[1], opts.remove("machine"), opts.remove("date"), opts.remove("command"));
      if (!opts.isEmpty()) {
        return usage(err, "unknown option --" + opts.keySet().iterator().next());
      }
      out.print(render(Files.readString(Path.of(args[1]), StandardCharsets.UTF_8), r));
      return 0;
    }
    return usage(err, "expected a page or --print FILE.json");
  }

  private static int usage(PrintStream err, String problem) {
    err.println("PerformancePage: " + problem);
    err.println("usage: PerformancePage docs/performance.md");
    err.println("       PerformancePage --print FILE.json [--machine=TEXT] [--date=TEXT]"
        + " [--command=TEXT]");
    return 2;
  }

  /**
   * The page with every generated section rendered again from its JSON file, named relative to
   * the page's directory {@code dir}.
   */
  static String regenerate(String page, Path dir) throws IOException {
    Matcher m = SECTION.matcher(page);
    StringBuilder sb = new StringBuilder();
    int last = 0;
    while (m.find()) {
      String source = m.group(1);
      Map<String, String> meta = new LinkedHashMap<>();
      Matcher mm = META.matcher(m.group(2));
      while (mm.find()) {
        meta.put(mm.group(1), mm.group(2));
      }
      Run r = new Run(source, meta.get("machine"), meta.get("date"), meta.get("command"));
      String json = Files.readString(dir.resolve(source), StandardCharsets.UTF_8);
      sb.append(page, last, m.start(3)).append(render(json, r));
      last = m.end(3);
    }
    return sb.append(page.substring(last)).toString();
  }

  // ------------------------------------------------------------------------------------ render

  /** The Markdown for one run: where it comes from, then a table per mode, then the ratios. */
  static String render(String json, Run run) {
    List<Map<String, Object>> rows = Json.parseArray(json);
    StringBuilder sb = new StringBuilder();
    sb.append("Measured on ").append(orUnknown(run.machine())).append(", ")
        .append(orUnknown(run.date()));
    if (run.command() != null) {
      sb.append(", with `").append(run.command()).append('`');
    }
    sb.append(". ").append(placement(rows)).append(" Raw figures: [")
        .append(fileName(run.source())).append("](").append(run.source()).append(").\n\n");

    section(sb, rows, "latency", "Round trip (latency), µs",
        List.of("transport", "size", "clients", "p50", "p90", "p99", "p99.9", "max"),
        r -> List.of(str(r, "transport"), size(r), str(r, "clients"), us(r, "p50_ns"),
            us(r, "p90_ns"), us(r, "p99_ns"), us(r, "p999_ns"), us(r, "max_ns")));
    section(sb, rows, "throughput", "One-way stream (throughput)",
        List.of("transport", "size", "clients", "msgs/s", "MB/s"),
        r -> List.of(str(r, "transport"), size(r), str(r, "clients"), count(r, "msgs_per_s"),
            fixed(r, "mb_per_s", 1)));
    section(sb, rows, "connect", "Connect to ready, µs",
        List.of("transport", "clients", "p50", "p90", "p99", "p99.9", "max"),
        r -> List.of(str(r, "transport"), str(r, "clients"), us(r, "p50_ns"), us(r, "p90_ns"),
            us(r, "p99_ns"), us(r, "p999_ns"), us(r, "max_ns")));
    section(sb, rows, "idle", "Server cost per idle client",
        List.of("transport", "clients", "threads", "heap B", "CPU % of a core"),
        r -> List.of(str(r, "transport"), str(r, "clients"),
            fixed(r, "server_threads_per_client", 2), fixed(r, "server_heap_bytes_per_client", 0),
            fixed(r, "server_cpu_pct_per_client", 3)));
    ratios(sb, rows);
    return sb.toString();
  }

  private static void section(StringBuilder sb, List<Map<String, Object>> rows, String mode,
      String title, List<String> header, java.util.function.Function<Map<String, Object>,
      List<String>> cells) {
    List<Map<String, Object>> of = rows.stream().filter(r -> mode.equals(r.get("mode"))).toList();
    if (of.isEmpty()) {
      return;
    }
    sb.append("**").append(title).append("**\n\n");
    row(sb, header);
    List<String> rule = new ArrayList<>();
    for (int i = 0; i < header.size(); i++) {
      rule.add(i == 0 ? "---" : "---:");
    }
    row(sb, rule);
    for (Map<String, Object> r : of) {
      row(sb, cells.apply(r));
    }
    sb.append('\n');
  }

  private static void row(StringBuilder sb, List<String> cells) {
    sb.append('|');
    for (String c : cells) {
      sb.append(' ').append(c.replace("|", "\\|")).append(" |");
    }
    sb.append('\n');
  }

  /**
   * Ratios at 64 B with 1 client, within the run, against issue #7's targets: the same
   * comparisons as the summary {@code bin/bench} prints, from the JSON alone.
   */
  private static void ratios(StringBuilder sb, List<Map<String, Object>> rows) {
    List<List<String>> lines = new ArrayList<>();
    Optional<Double> memfd = p50(rows, "memfd");
    memfd.ifPresent(m -> {
      p50(rows, "c-spin-ring").ifPresent(c -> lines.add(ratio("memfd p50 / C spinning ring p50",
          m / c, "≤ 2", m / c <= 2)));
      p50(rows, "pipe").ifPresent(p -> lines.add(ratio("pipe p50 / memfd p50", p / m, "≥ 100",
          p / m >= 100)));
      p50(rows, "aeron-ipc").ifPresent(a -> lines.add(ratio("memfd p50 / aeron-ipc p50", m / a,
          "≤ 1", m / a <= 1)));
    });
    for (String kernel : List.of("pipe", "socketpair", "mqueue")) {
      Optional<Double> c = p50(rows, "c-" + kernel);
      p50(rows, kernel).ifPresent(k -> c.ifPresent(cv -> lines.add(ratio(kernel + " p50 / C "
          + kernel + " p50", k / cv, "≤ 1.2", k / cv <= 1.2))));
    }
    Optional<Double> bulk = mbPerS(rows, "memfd", 65536);
    Optional<Double> ring = mbPerS(rows, "c-spin-ring", 65536);
    if (bulk.isPresent() && ring.isPresent()) {
      double r = ring.get() / bulk.get();
      lines.add(ratio("C spinning ring / memfd, MB/s of a 64 KiB stream", r, "≤ 2", r <= 2));
    }
    if (lines.isEmpty()) {
      return;
    }
    sb.append("**Ratios within the run** (1 client, 64 B round trips unless said; issue #7's "
        + "targets)\n\n");
    row(sb, List.of("ratio", "value", "target", "result"));
    row(sb, List.of("---", "---:", "---:", "---"));
    for (List<String> l : lines) {
      row(sb, l);
    }
    sb.append('\n');
  }

  private static List<String> ratio(String what, double value, String target, boolean met) {
    return List.of(what, String.format(Locale.ROOT, "%.2f", value), target,
        met ? "met" : "not met");
  }

  private static Optional<Double> p50(List<Map<String, Object>> rows, String transport) {
    return find(rows, r -> "latency".equals(r.get("mode")) && transport.equals(r.get("transport"))
        && num(r, "size") == 64 && num(r, "clients") == 1, "p50_ns");
  }

  private static Optional<Double> mbPerS(List<Map<String, Object>> rows, String transport,
      int size) {
    return find(rows, r -> "throughput".equals(r.get("mode"))
        && transport.equals(r.get("transport")) && num(r, "size") == size
        && num(r, "clients") == 1, "mb_per_s");
  }

  private static Optional<Double> find(List<Map<String, Object>> rows,
      Predicate<Map<String, Object>> which, String key) {
    return rows.stream().filter(which).findFirst().map(r -> r.get(key))
        .filter(v -> v instanceof Double).map(v -> (Double) v);
  }

  /** Says where the two sides ran, from the {@code cpus} key of the rows. */
  private static String placement(List<Map<String, Object>> rows) {
    Set<String> all = new LinkedHashSet<>();
    for (Map<String, Object> r : rows) {
      Object c = r.get("cpus");
      all.add(c == null ? "unknown" : c.toString());
    }
    List<String> said = new ArrayList<>();
    for (String c : all) {
      String[] ab = c.split(",");
      said.add(c.equals("none") ? "left to the scheduler (`--cpus=none`)"
          : ab.length == 2 ? "client side pinned to CPU " + ab[0] + ", server side to CPU " + ab[1]
          + " (`--cpus=" + c + "`)" : "`" + c + "`");
    }
    return said.isEmpty() ? "" : "Placement: " + String.join("; ", said) + ".";
  }

  private static String orUnknown(String s) {
    return s == null ? "an unrecorded machine" : s;
  }

  private static String fileName(String source) {
    int slash = source.lastIndexOf('/');
    return slash < 0 ? source : source.substring(slash + 1);
  }

  private static double num(Map<String, Object> r, String key) {
    Object v = r.get(key);
    return v instanceof Double d ? d : Double.NaN;
  }

  private static String str(Map<String, Object> r, String key) {
    Object v = r.get(key);
    if (v == null) {
      return "–";
    }
    if (v instanceof Double d && d == Math.rint(d)) {
      return Long.toString(d.longValue());
    }
    return v.toString();
  }

  private static String size(Map<String, Object> r) {
    double s = num(r, "size");
    if (Double.isNaN(s)) {
      return "–";
    }
    long b = (long) s;
    if (b >= 1 << 20 && b % (1 << 20) == 0) {
      return (b >> 20) + " MiB";
    }
    if (b >= 1024 && b % 1024 == 0) {
      return (b >> 10) + " KiB";
    }
    return b + " B";
  }

  private static String us(Map<String, Object> r, String key) {
    double ns = num(r, key);
    return Double.isNaN(ns) ? "–" : String.format(Locale.ROOT, "%.2f", ns / 1000);
  }

  private static String count(Map<String, Object> r, String key) {
    double v = num(r, key);
    return Double.isNaN(v) ? "–" : String.format(Locale.ROOT, "%,.0f", v);
  }

  private static String fixed(Map<String, Object> r, String key, int decimals) {
    double v = num(r, key);
    return Double.isNaN(v) ? "–" : String.format(Locale.ROOT, "%." + decimals + "f", v);
  }

  // ------------------------------------------------------------------------------------ JSON

  /**
   * Just enough JSON for {@link JsonWriter}'s output: an array of flat objects whose values are
   * strings, numbers (read as doubles), booleans or null.
   */
  static final class Json {
    private final String s;
    private int i;

    private Json(String s) {
      this.s = s;
    }

    static List<Map<String, Object>> parseArray(String text) {
      Json p = new Json(text);
      List<Map<String, Object>> rows = new ArrayList<>();
      p.expect('[');
      if (!p.peek(']')) {
        do {
          rows.add(p.object());
        } while (p.comma());
      }
      p.expect(']');
      p.skip();
      if (p.i != p.s.length()) {
        throw p.error("text after the array");
      }
      return rows;
    }

    private Map<String, Object> object() {
      expect('{');
      Map<String, Object> o = new LinkedHashMap<>();
      if (!peek('}')) {
        do {
          skip();
          String key = string();
          expect(':');
          o.put(key, value());
        } while (comma());
      }
      expect('}');
      return o;
    }

    private Object value() {
      skip();
      char c = at();
      if (c == '"') {
        return string();
      }
      for (String word : List.of("null", "true", "false")) {
        if (s.startsWith(word, i)) {
          i += word.length();
          return word.equals("null") ? null : Boolean.valueOf(word);
        }
      }
      int start = i;
      while (i < s.length() && "+-0123456789.eE".indexOf(s.charAt(i)) >= 0) {
        i++;
      }
      try {
        return Double.parseDouble(s.substring(start, i));
      } catch (NumberFormatException e) {
        i = start;
        throw error("a value");
      }
    }

    private String string() {
      if (at() != '"') {
        throw error("a string");
      }
      i++;
      StringBuilder sb = new StringBuilder();
      while (true) {
        char c = at();
        i++;
        if (c == '"') {
          return sb.toString();
        }
        if (c != '\\') {
          sb.append(c);
          continue;
        }
        char e = at();
        i++;
        switch (e) {
          case 'n' -> sb.append('\n');
          case 'r' -> sb.append('\r');
          case 't' -> sb.append('\t');
          case 'b' -> sb.append('\b');
          case 'f' -> sb.append('\f');
          case 'u' -> {
            if (i + 4 > s.length()) {
              throw error("four hex digits");
            }
            sb.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
            i += 4;
          }
          default -> sb.append(e);
        }
      }
    }

    private boolean comma() {
      skip();
      if (i < s.length() && s.charAt(i) == ',') {
        i++;
        return true;
      }
      return false;
    }

    private boolean peek(char c) {
      skip();
      return i < s.length() && s.charAt(i) == c;
    }

    private void expect(char c) {
      skip();
      if (at() != c) {
        throw error("'" + c + "'");
      }
      i++;
    }

    private char at() {
      if (i >= s.length()) {
        throw error("more input");
      }
      return s.charAt(i);
    }

    private void skip() {
      while (i < s.length() && Character.isWhitespace(s.charAt(i))) {
        i++;
      }
    }

    private IllegalArgumentException error(String expected) {
      return new IllegalArgumentException("bench JSON: expected " + expected + " at offset " + i);
    }
  }
}
