package dev.fdipc.e2e;

import java.io.IOException;
import java.io.OutputStream;
import java.io.StringWriter;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.SimpleJavaFileObject;
import javax.tools.ToolProvider;

/**
 * Small transport plugin jars made at test time: provider classes compiled against the built
 * {@code fdipc-core} jar in {@code dist/target/lib}, packed with a services file, as a third
 * party's jar would be.
 */
final class PluginJars {
  static final String PACKAGE = "e2e.plugins";
  private static final String SERVICES = "META-INF/services/dev.fdipc.spi.TransportProvider";

  private PluginJars() {}

  /**
   * The source of a provider {@code PACKAGE.className} for transport {@code name}. Its factories
   * throw: these plugins exist to be found, listed and reported, never to carry messages.
   *
   * @param constructorBody statements of the no-arg constructor
   * @param probeBody statements of {@code unavailabilityCause()}, ending with a return
   */
  static String provider(String className, String name, int priority, String constructorBody,
      String probeBody) {
    return """
        package %1$s;

        import dev.fdipc.spi.*;

        public final class %2$s implements TransportProvider {
          public %2$s() { %5$s }
          @Override public String name() { return "%3$s"; }
          @Override public int priority() { return %4$d; }
          @Override public Throwable unavailabilityCause() { %6$s }
          @Override public ServerEnd createServer(TransportSettings s) throws java.io.IOException {
            throw new java.io.IOException("%3$s from %2$s is a test plugin that creates nothing");
          }
          @Override public TransportChannel openClient(ClientEnd e, TransportSettings s)
              throws java.io.IOException {
            Fd.closeAll(e.fds());
            throw new java.io.IOException("%3$s from %2$s is a test plugin that opens nothing");
          }
        }
        """.formatted(PACKAGE, className, name, priority, constructorBody, probeBody);
  }

  /** An available provider with an ordinary constructor. */
  static String provider(String className, String name, int priority) {
    return provider(className, name, priority, "", "return null;");
  }

  /**
   * Compiles {@code sources} (each declaring one class of {@link #PACKAGE}) and writes {@code jar}
   * with their classes and a services file listing {@code services} (fully qualified names; a
   * name no source declares makes a "class missing" plugin).
   */
  static Path jar(Path jar, List<String> services, String... sources) throws IOException {
    Path classes = Files.createTempDirectory("fdipc-e2e-plugin");
    try {
      if (sources.length > 0) {
        compile(classes, sources);
      }
      try (OutputStream file = Files.newOutputStream(jar);
          JarOutputStream out = new JarOutputStream(file)) {
        out.putNextEntry(new JarEntry(SERVICES));
        out.write((String.join("\n", services) + "\n").getBytes(StandardCharsets.UTF_8));
        out.closeEntry();
        for (Path f : tree(classes)) {
          if (Files.isRegularFile(f)) {
            out.putNextEntry(new JarEntry(classes.relativize(f).toString()));
            Files.copy(f, out);
            out.closeEntry();
          }
        }
      }
    } finally {
      List<Path> all = tree(classes);
      for (int i = all.size() - 1; i >= 0; i--) { // children before their directory
        Files.delete(all.get(i));
      }
    }
    return jar;
  }

  private static List<Path> tree(Path dir) throws IOException {
    try (Stream<Path> s = Files.walk(dir)) {
      return s.sorted().toList();
    }
  }

  /** The fully qualified name of a class of {@link #PACKAGE}. */
  static String cls(String simpleName) {
    return PACKAGE + "." + simpleName;
  }

  private static void compile(Path into, String... sources) throws IOException {
    JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
    if (javac == null) {
      throw new IllegalStateException("the tests run on a JRE without javac; run them on a JDK");
    }
    List<JavaFileObject> units = new ArrayList<>();
    for (String source : sources) {
      String simpleName = source.replaceAll("(?s).*public final class (\\w+).*", "$1");
      units.add(new SimpleJavaFileObject(URI.create("string:///" + simpleName + ".java"),
          JavaFileObject.Kind.SOURCE) {
        @Override
        public CharSequence getCharContent(boolean ignoreEncodingErrors) {
          return source;
        }
      });
    }
    StringWriter diagnostics = new StringWriter();
    List<String> options = List.of("--release", "17", "-d", into.toString(),
        "-classpath", coreJar().toString());
    if (!javac.getTask(diagnostics, null, null, options, null, units).call()) {
      throw new IllegalStateException("test plugin did not compile:\n" + diagnostics);
    }
  }

  /** The {@code fdipc-core} jar the launchers put on the classpath. */
  static Path coreJar() throws IOException {
    try (Stream<Path> s = Files.list(Proc.ROOT.resolve("dist/target/lib"))) {
      return s.filter(p -> p.getFileName().toString().matches("fdipc-core-.*\\.jar"))
          .findFirst()
          .orElseThrow(() -> new IllegalStateException("no fdipc-core jar in dist/target/lib; "
              + "the e2e module runs after dist in `mvn verify`"));
    }
  }
}
