package dev.fdipc;

import dev.fdipc.internal.Wire;
import dev.fdipc.spi.TransportProvider;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.security.CodeSource;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The transports this process can use, discovered with {@link ServiceLoader}.
 *
 * <p>Loading is robust against bad plugins: a provider whose class is missing, whose constructor
 * throws, whose {@code name()} throws or is invalid, or whose availability probe throws is reported
 * in {@link #warnings()} with its jar and cause, and every other provider still loads.
 *
 * <p>Order: higher {@linkplain TransportProvider#priority() priority} first, then name. Two
 * providers with the same name: the one with the higher priority wins; on equal priority, the one
 * found first on the classpath wins. Either way a warning names both jars.
 */
public final class TransportRegistry {
  private static final String SERVICES = "META-INF/services/" + TransportProvider.class.getName();
  private static final Pattern PROVIDER_IN_MESSAGE = Pattern.compile("Provider (\\S+)");
  private static final Comparator<TransportInfo> ORDER =
      Comparator.comparingInt(TransportInfo::priority).reversed()
          .thenComparing(TransportInfo::name);

  private static volatile TransportRegistry defaultRegistry;

  private final List<TransportInfo> all;
  private final List<String> warnings;

  private TransportRegistry(List<TransportInfo> all, List<String> warnings) {
    List<TransportInfo> sorted = new ArrayList<>(all);
    sorted.sort(ORDER);
    this.all = Collections.unmodifiableList(sorted);
    this.warnings = List.copyOf(warnings);
  }

  /**
   * The registry of the transports on this process's classpath, loaded once with the SPI's own
   * class loader and, if different, the thread's context class loader.
   */
  public static TransportRegistry getDefault() {
    TransportRegistry r = defaultRegistry;
    if (r == null) {
      synchronized (TransportRegistry.class) {
        r = defaultRegistry;
        if (r == null) {
          List<ClassLoader> loaders = new ArrayList<>();
          loaders.add(TransportProvider.class.getClassLoader());
          ClassLoader context = Thread.currentThread().getContextClassLoader();
          if (context != null && context != loaders.get(0)) {
            loaders.add(context);
          }
          r = load(loaders);
          String plugins = System.getProperty(dev.fdipc.internal.PluginJarCheck.PLUGINS_PROPERTY);
          List<String> jarProblems = dev.fdipc.internal.PluginJarCheck.problems(
              System.getProperty("java.class.path", ""),
              plugins == null || plugins.isEmpty() ? null : java.nio.file.Path.of(plugins));
          if (!jarProblems.isEmpty()) {
            List<String> all = new ArrayList<>(jarProblems);
            all.addAll(r.warnings);
            r = new TransportRegistry(r.all, all);
          }
          defaultRegistry = r;
        }
      }
    }
    return r;
  }

  /** Discovers the providers visible to {@code loader}. */
  public static TransportRegistry load(ClassLoader loader) {
    return load(List.of(loader));
  }

  /** A registry of exactly these providers, in this order for name clashes (for embedding, tests). */
  public static TransportRegistry of(TransportProvider... providers) {
    Builder b = new Builder();
    for (TransportProvider p : providers) {
      b.add(p, origin(p.getClass()));
    }
    return b.build();
  }

  private static TransportRegistry load(List<ClassLoader> loaders) {
    Builder b = new Builder();
    java.util.Set<String> seenClasses = new java.util.HashSet<>();
    for (ClassLoader loader : loaders) {
      Map<String, String> jarOfClass = servicesIndex(loader, b);
      Iterator<TransportProvider> it = ServiceLoader.load(TransportProvider.class, loader)
          .iterator();
      // A failing entry throws from hasNext() (class missing) or next() (constructor threw); the
      // iterator has already moved past it, so the loop goes on with the next entry.
      for (int guard = 0; guard < 10_000; guard++) {
        TransportProvider p;
        try {
          if (!it.hasNext()) {
            break;
          }
          p = it.next();
        } catch (ServiceConfigurationError | LinkageError e) {
          String cls = classNamed(e, jarOfClass.keySet());
          b.warn("transport provider " + cls + " from " + jarOfClass.getOrDefault(cls, "unknown jar")
              + " failed to load: " + rootMessage(e));
          continue;
        }
        if (seenClasses.add(p.getClass().getName())) {
          b.add(p, origin(p.getClass()));
        }
      }
    }
    return b.build();
  }

  private static Map<String, String> servicesIndex(ClassLoader loader, Builder b) {
    Map<String, String> jarOfClass = new HashMap<>();
    try {
      for (URL url : Collections.list(loader.getResources(SERVICES))) {
        try (BufferedReader r = new BufferedReader(
            new InputStreamReader(url.openStream(), StandardCharsets.UTF_8))) {
          String line;
          while ((line = r.readLine()) != null) {
            int hash = line.indexOf('#');
            String cls = (hash >= 0 ? line.substring(0, hash) : line).trim();
            if (!cls.isEmpty()) {
              jarOfClass.putIfAbsent(cls, jarOf(url));
            }
          }
        }
      }
    } catch (IOException e) {
      b.warn("could not read " + SERVICES + ": " + e.getMessage());
    }
    return jarOfClass;
  }

  private static String jarOf(URL servicesFile) {
    String s = servicesFile.toString();
    if (s.startsWith("jar:")) {
      int bang = s.indexOf("!/");
      return filePath(s.substring("jar:".length(), bang < 0 ? s.length() : bang));
    }
    if (s.endsWith(SERVICES)) {
      return filePath(s.substring(0, s.length() - SERVICES.length()));
    }
    return filePath(s);
  }

  /** A {@code file:} URL as a plain path (%20 decoded); anything else unchanged. */
  private static String filePath(String url) {
    try {
      java.net.URI uri = new java.net.URI(url);
      if ("file".equals(uri.getScheme())) {
        return java.nio.file.Path.of(uri).toString();
      }
    } catch (java.net.URISyntaxException | IllegalArgumentException e) {
      // not a well-formed file URL: report it as it is
    }
    return url;
  }

  /**
   * The provider class a ServiceLoader error is about. Its messages differ by cause ("Provider X
   * not found", "X not a subtype", "Unable to get public no-arg constructor"...), so the class is
   * the longest listed name that the message mentions.
   */
  private static String classNamed(Throwable e, java.util.Set<String> listed) {
    String message = String.valueOf(e.getMessage());
    String best = null;
    for (String cls : listed) {
      if (message.contains(cls) && (best == null || cls.length() > best.length())) {
        best = cls;
      }
    }
    if (best != null) {
      return best;
    }
    Matcher m = PROVIDER_IN_MESSAGE.matcher(message);
    return m.find() ? m.group(1) : "(unknown class)";
  }

  private static String rootMessage(Throwable e) {
    Throwable root = e;
    while (root.getCause() != null && root.getCause() != root) {
      root = root.getCause();
    }
    String m = root.getMessage();
    return root == e ? String.valueOf(m) : e.getMessage() + ": " + root.getClass().getName()
        + (m == null ? "" : ": " + m);
  }

  static String origin(Class<?> c) {
    CodeSource cs = c.getProtectionDomain().getCodeSource();
    if (cs == null || cs.getLocation() == null) {
      return "unknown";
    }
    return filePath(cs.getLocation().toString());
  }

  private static final class Builder {
    private final LinkedHashMap<String, TransportInfo> byName = new LinkedHashMap<>();
    private final List<String> warnings = new ArrayList<>();

    void warn(String w) {
      warnings.add(w);
    }

    void add(TransportProvider p, String origin) {
      String name;
      int priority;
      Throwable cause;
      try {
        name = p.name();
        priority = p.priority();
      } catch (Throwable t) { // a plugin's bug must not stop the others
        warn("transport provider " + p.getClass().getName() + " from " + origin
            + " failed to report its name or priority: " + t);
        return;
      }
      if (!Wire.isValidName(name)) {
        warn("transport provider " + p.getClass().getName() + " from " + origin
            + " has an invalid name '" + Wire.printable(String.valueOf(name))
            + "': use lower case [a-z0-9._-], 1 to 32 characters; ignored");
        return;
      }
      if (priority < TransportProvider.MIN_PRIORITY || priority > TransportProvider.MAX_PRIORITY) {
        warn("transport '" + name + "' from " + origin + " has priority " + priority
            + ", outside 0..10; clamped");
        priority = Math.max(TransportProvider.MIN_PRIORITY,
            Math.min(TransportProvider.MAX_PRIORITY, priority));
      }
      try {
        cause = p.unavailabilityCause();
      } catch (Throwable t) {
        warn("transport '" + name + "' from " + origin + ": availability probe threw " + t);
        cause = t;
      }
      TransportInfo info = new TransportInfo(name, priority, cause, origin, p);
      TransportInfo existing = byName.get(name);
      if (existing == null) {
        byName.put(name, info);
        return;
      }
      TransportInfo winner = info.priority() > existing.priority() ? info : existing;
      TransportInfo loser = winner == info ? existing : info;
      warn("two transports are named '" + name + "': " + existing.origin() + " (priority "
          + existing.priority() + ") and " + info.origin() + " (priority " + info.priority()
          + "); using " + winner.origin() + " ("
          + (winner.priority() != loser.priority() ? "higher priority" : "first on the classpath")
          + ")");
      byName.put(name, winner);
    }

    TransportRegistry build() {
      return new TransportRegistry(new ArrayList<>(byName.values()), warnings);
    }
  }

  /** Every transport found, available or not, in registry order. */
  public List<TransportInfo> all() {
    return all;
  }

  /** The names of the available transports, in registry order. */
  public List<String> availableNames() {
    List<String> names = new ArrayList<>();
    for (TransportInfo i : all) {
      if (i.isAvailable()) {
        names.add(i.name());
      }
    }
    return names;
  }

  /** The transport called {@code name}, available or not. */
  public Optional<TransportInfo> lookup(String name) {
    for (TransportInfo i : all) {
      if (i.name().equals(name)) {
        return Optional.of(i);
      }
    }
    return Optional.empty();
  }

  /** Problems found while loading: failed plugins, invalid names, duplicate names. */
  public List<String> warnings() {
    return warnings;
  }

  /**
   * Checks a list of transport names given by a user: each must exist and be available.
   *
   * @return the names, in the given order
   * @throws IllegalArgumentException naming the first bad one, why, and what is available
   */
  public List<String> requireAvailable(List<String> names) {
    for (String n : names) {
      Optional<TransportInfo> info = lookup(n);
      if (info.isEmpty()) {
        throw new IllegalArgumentException("unknown transport '" + Wire.printable(n)
            + "'; available: " + describeAvailable());
      }
      if (!info.get().isAvailable()) {
        throw new IllegalArgumentException("transport '" + n + "' is unavailable here: "
            + info.get().reason() + "; available: " + describeAvailable());
      }
    }
    return List.copyOf(names);
  }

  private String describeAvailable() {
    List<String> names = availableNames();
    return names.isEmpty() ? "none (add a transport jar to the classpath)"
        : String.join(", ", names);
  }
}
