package dev.fdipc.internal;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.ZipFile;

/**
 * Jars the JVM would skip without a word: a zero-byte or garbage file on the class path, or a jar
 * in the plugin directory that provides no transport. Each gets one warning naming the file, so
 * that a plugin that "does nothing" is explained.
 */
public final class PluginJarCheck {
  /** Set by the launcher to the plugin directory it put on the class path. */
  public static final String PLUGINS_PROPERTY = "fdipc.plugins";
  private static final String SERVICES = "META-INF/services/dev.fdipc.spi.TransportProvider";

  private PluginJarCheck() {}

  /**
   * @param classPath the class path, such as {@code java.class.path}
   * @param pluginDir the plugin directory, or {@code null}
   */
  public static List<String> problems(String classPath, Path pluginDir) {
    List<String> warnings = new ArrayList<>();
    Path plugins = pluginDir == null ? null : pluginDir.toAbsolutePath().normalize();
    for (String entry : classPath.split(File.pathSeparator)) {
      if (!entry.endsWith(".jar")) {
        continue;
      }
      Path jar = Path.of(entry).toAbsolutePath().normalize();
      String problem = problem(jar, plugins != null && plugins.equals(jar.getParent()));
      if (problem != null) {
        warnings.add(jar + " " + problem);
      }
    }
    return warnings;
  }

  private static String problem(Path jar, boolean inPluginDir) {
    long size;
    try {
      size = Files.size(jar);
    } catch (IOException e) {
      return null; // missing class path entries are the JVM's business, and harmless
    }
    if (size == 0) {
      return "is empty (0 bytes); ignored: remove it or copy the plugin's jar again";
    }
    try (ZipFile zip = new ZipFile(jar.toFile())) {
      if (inPluginDir && zip.getEntry(SERVICES) == null) {
        return "provides no fdipc transport (it has no " + SERVICES + "): fine for a library"
            + " a transport needs; a transport jar registers its provider there (see"
            + " docs/writing-a-transport.md)";
      }
      return null;
    } catch (IOException e) {
      return "is not a jar (" + e.getMessage() + "); ignored: remove it or rebuild it";
    }
  }
}
