package dev.fdipc.bench;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.ToDoubleFunction;

/**
 * The chart, written as SVG by hand (no dependency): round-trip latency percentiles per transport
 * at the smallest message size, and one-way throughput per message size per transport, both on log
 * scales because the transports differ by orders of magnitude. {@code .html} wraps the SVG with the
 * table; {@code .png} converts the SVG with {@code rsvg-convert} when it is installed.
 */
final class Report {
  private static final String[] PALETTE = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#e7969c"};
  private static final String[] PERCENTILE_COLORS = {"#08519c", "#3182bd", "#6baed6", "#bdd7e7"};
  private static final int WIDTH = 960;
  private static final int CHART_HEIGHT = 340;
  private static final int LEFT = 80;
  private static final int RIGHT = 200;
  private static final int TOP = 40;
  private static final int BOTTOM = 60;

  private Report() {}

  static final String PNG_CONVERTER = "rsvg-convert";

  /** Fails with what to do when {@code file} is a PNG and the converter is missing. */
  static void checkCanWrite(Path file) {
    if (file.toString().endsWith(".png") && !onPath(PNG_CONVERTER)) {
      throw new IllegalArgumentException("--report=" + file + " needs " + PNG_CONVERTER
          + " on PATH (apt-get install librsvg2-bin); or use .svg or .html");
    }
  }

  /** Writes the report in the format {@code file}'s extension names. */
  static void writeFile(Path file, List<Measurement> results, String table) throws IOException {
    if (!file.toString().endsWith(".png")) {
      Files.writeString(file, write(file, results, table), StandardCharsets.UTF_8);
      return;
    }
    Path svg = Files.createTempFile("fdipc-bench", ".svg");
    try {
      Files.writeString(svg, svg(results), StandardCharsets.UTF_8);
      Process p = new ProcessBuilder(PNG_CONVERTER, "-b", "white", "-o", file.toString(),
          svg.toString()).redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (p.waitFor() != 0) {
        throw new IOException(PNG_CONVERTER + " failed to write " + file + ": " + out.trim());
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while writing " + file, e);
    } finally {
      Files.deleteIfExists(svg);
    }
  }

  private static boolean onPath(String command) {
    String path = System.getenv("PATH");
    if (path == null) {
      return false;
    }
    for (String dir : path.split(File.pathSeparator)) {
      if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, command))) {
        return true;
      }
    }
    return false;
  }

  static String write(Path file, List<Measurement> results, String table) {
    String svg = svg(results);
    if (!file.toString().endsWith(".html")) {
      return svg;
    }
    return "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>fdipc bench</title>"
        + "</head>\n<body style=\"font-family: sans-serif\">\n<h1>fdipc bench</h1>\n" + svg
        + "\n<pre>" + escape(table) + "</pre>\n</body></html>\n";
  }

  static String svg(List<Measurement> results) {
    List<Measurement> lat = latencyRows(results);
    List<Measurement> thr = results.stream().filter(m -> m.mode() == Mode.THROUGHPUT
        && m.clients() == minClients(results)).toList();
    int charts = (lat.isEmpty() ? 0 : 1) + (thr.isEmpty() ? 0 : 1);
    int height = Math.max(1, charts) * CHART_HEIGHT;
    StringBuilder sb = new StringBuilder();
    sb.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
        + "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">%n",
        WIDTH, height, WIDTH, height));
    sb.append(String.format(Locale.ROOT, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>%n",
        WIDTH, height));
    int y = 0;
    if (!lat.isEmpty()) {
      latencyChart(sb, lat, y);
      y += CHART_HEIGHT;
    }
    if (!thr.isEmpty()) {
      throughputChart(sb, thr, y);
    }
    return sb.append("</svg>\n").toString();
  }

  private static int minClients(List<Measurement> results) {
    return results.stream().mapToInt(Measurement::clients).min().orElse(1);
  }

  /** Latency at the smallest size measured, with the fewest clients. */
  private static List<Measurement> latencyRows(List<Measurement> results) {
    int clients = minClients(results);
    int size = results.stream().filter(m -> m.mode() == Mode.LATENCY)
        .mapToInt(Measurement::size).min().orElse(-1);
    return results.stream().filter(m -> m.mode() == Mode.LATENCY && m.size() == size
        && m.clients() == clients).toList();
  }

  private static void latencyChart(StringBuilder sb, List<Measurement> rows, int y0) {
    String[] names = {"p50", "p90", "p99", "p99.9"};
    List<ToDoubleFunction<Measurement>> values = List.of(m -> m.p50Ns() / 1e3,
        m -> m.p90Ns() / 1e3, m -> m.p99Ns() / 1e3, m -> m.p999Ns() / 1e3);
    List<String> groups = rows.stream().map(Measurement::transport).toList();
    double[][] v = new double[groups.size()][names.length];
    for (int g = 0; g < groups.size(); g++) {
      for (int s = 0; s < names.length; s++) {
        v[g][s] = values.get(s).applyAsDouble(rows.get(g));
      }
    }
    barChart(sb, y0, "Round-trip latency, " + rows.get(0).size() + " B, " + rows.get(0).clients()
        + " client(s) (µs, log scale, lower is better)", groups, names, PERCENTILE_COLORS, v);
  }

  private static void throughputChart(StringBuilder sb, List<Measurement> rows, int y0) {
    Set<Integer> sizes = new TreeSet<>();
    Set<String> transports = new LinkedHashSet<>();
    for (Measurement m : rows) {
      sizes.add(m.size());
      transports.add(m.transport());
    }
    List<String> groups = new ArrayList<>();
    sizes.forEach(s -> groups.add(sizeLabel(s)));
    String[] series = transports.toArray(new String[0]);
    double[][] v = new double[groups.size()][series.length];
    int g = 0;
    for (int size : sizes) {
      for (int s = 0; s < series.length; s++) {
        String t = series[s];
        v[g][s] = rows.stream().filter(m -> m.size() == size && m.transport().equals(t))
            .mapToDouble(Measurement::mbPerS).findFirst().orElse(Double.NaN);
      }
      g++;
    }
    String[] colors = new String[series.length];
    for (int s = 0; s < series.length; s++) {
      colors[s] = PALETTE[s % PALETTE.length];
    }
    barChart(sb, y0, "One-way throughput per message size, " + rows.get(0).clients()
        + " client(s) (MB/s, log scale, higher is better)", groups, series, colors, v);
  }

  /** Grouped bars on a log-10 axis; NaN or non-positive values draw no bar. */
  private static void barChart(StringBuilder sb, int y0, String title, List<String> groups,
      String[] series, String[] colors, double[][] v) {
    double min = Double.MAX_VALUE;
    double max = 0;
    for (double[] row : v) {
      for (double x : row) {
        if (x > 0) {
          min = Math.min(min, x);
          max = Math.max(max, x);
        }
      }
    }
    if (max == 0) {
      return;
    }
    int lo = (int) Math.floor(Math.log10(min));
    int hi = Math.max(lo + 1, (int) Math.ceil(Math.log10(max)));
    int plotW = WIDTH - LEFT - RIGHT;
    int plotH = CHART_HEIGHT - TOP - BOTTOM;
    int base = y0 + TOP + plotH;
    sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" font-size=\"15\" "
        + "font-weight=\"bold\">%s</text>%n", LEFT, y0 + 24, escape(title)));
    for (int d = lo; d <= hi; d++) {
      double yy = base - (double) (d - lo) / (hi - lo) * plotH;
      sb.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" "
          + "stroke=\"#ddd\"/>%n<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>%n",
          LEFT, yy, LEFT + plotW, yy, LEFT - 6, yy + 4, tick(d)));
    }
    double groupW = (double) plotW / groups.size();
    double barW = groupW * 0.8 / series.length;
    for (int g = 0; g < groups.size(); g++) {
      double gx = LEFT + g * groupW + groupW * 0.1;
      for (int s = 0; s < series.length; s++) {
        double x = v[g][s];
        if (!(x > 0)) {
          continue;
        }
        double h = Math.max(1, (Math.log10(x) - lo) / (hi - lo) * plotH);
        sb.append(String.format(Locale.ROOT, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
            + "height=\"%.1f\" fill=\"%s\"><title>%s %s: %s</title></rect>%n", gx + s * barW,
            base - h, Math.max(1, barW - 1), h, colors[s], escape(groups.get(g)),
            escape(series[s]), value(x)));
      }
      if (groups.size() > 6) { // many groups: slanted labels, which would overlap side by side
        double lx = gx + groupW * 0.4;
        sb.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"end\" "
            + "transform=\"rotate(-30 %.1f %d)\">%s</text>%n", lx, base + 14, lx, base + 14,
            escape(groups.get(g))));
      } else {
        sb.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">"
            + "%s</text>%n", gx + groupW * 0.4, base + 18, escape(groups.get(g))));
      }
    }
    sb.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
        + "stroke=\"#333\"/>%n", LEFT, base, LEFT + plotW, base));
    for (int s = 0; s < series.length; s++) {
      int ly = y0 + TOP + 10 + s * 18;
      sb.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" "
          + "fill=\"%s\"/>%n<text x=\"%d\" y=\"%d\">%s</text>%n", LEFT + plotW + 16, ly - 10,
          colors[s], LEFT + plotW + 34, ly, escape(series[s])));
    }
  }

  private static String tick(int decade) {
    double v = Math.pow(10, decade);
    return v >= 1 ? String.format(Locale.ROOT, "%,.0f", v) : String.format(Locale.ROOT, "%s",
        Double.toString(v));
  }

  private static String value(double x) {
    return x >= 100 ? String.format(Locale.ROOT, "%.0f", x)
        : String.format(Locale.ROOT, "%.2f", x);
  }

  private static String sizeLabel(int size) {
    if (size >= 1 << 20 && size % (1 << 20) == 0) {
      return (size >> 20) + " MiB";
    }
    if (size >= 1024 && size % 1024 == 0) {
      return (size >> 10) + " KiB";
    }
    return size + " B";
  }

  static String escape(String s) {
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        .replace("\"", "&quot;");
  }
}
