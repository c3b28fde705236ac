package dev.fdipc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fdipc.spi.TransportProvider;
import dev.fdipc.testproviders.BadNameProvider;
import dev.fdipc.testproviders.DupA;
import dev.fdipc.testproviders.DupB;
import dev.fdipc.testproviders.DupHigh;
import dev.fdipc.testproviders.GoodProvider;
import dev.fdipc.testproviders.HighProvider;
import dev.fdipc.testproviders.NoDefaultConstructorProvider;
import dev.fdipc.testproviders.NotAProvider;
import dev.fdipc.testproviders.OutOfRangePriorityProvider;
import dev.fdipc.testproviders.ThrowingConstructorProvider;
import dev.fdipc.testproviders.ThrowingNameProvider;
import dev.fdipc.testproviders.ThrowingProbeProvider;
import dev.fdipc.testproviders.UnavailableProvider;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Loads the registry from real jars built per test. Each jar holds a services file and the provider
 * classes it lists, as a transport jar does; the class loader above the jars hides the test
 * providers, so each class (and its origin) really comes from its jar, and no services file ever
 * reaches the test class path.
 */
class TransportRegistryTest {
  private static final String SERVICES = "META-INF/services/" + TransportProvider.class.getName();
  private static final String PROVIDERS_PACKAGE = "dev.fdipc.testproviders.";
  private static final String MISSING = PROVIDERS_PACKAGE + "Missing";

  @TempDir
  Path dir;

  private final List<URLClassLoader> loaders = new ArrayList<>();

  @AfterEach
  void closeLoaders() throws IOException {
    for (URLClassLoader l : loaders) {
      l.close();
    }
  }

  // ---------------------------------------------------------------- helpers

  /** Delegates to the test class loader, but does not let it supply the test providers. */
  private static final class HidingLoader extends ClassLoader {
    static {
      registerAsParallelCapable();
    }

    HidingLoader(ClassLoader parent) {
      super(parent);
    }

    @Override
    protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
      if (name.startsWith(PROVIDERS_PACKAGE)) {
        throw new ClassNotFoundException(name);
      }
      return super.loadClass(name, resolve);
    }
  }

  /** A jar listing {@code lines} in its services file, with the class file of each existing one. */
  private Path jar(String fileName, String... lines) throws IOException {
    Path p = dir.resolve(fileName);
    Files.createDirectories(p.getParent());
    try (OutputStream file = Files.newOutputStream(p);
        JarOutputStream out = new JarOutputStream(file)) {
      out.putNextEntry(new JarEntry(SERVICES));
      out.write((String.join("\n", lines) + "\n").getBytes(StandardCharsets.UTF_8));
      out.closeEntry();
      for (String line : lines) {
        int hash = line.indexOf('#');
        String cls = (hash >= 0 ? line.substring(0, hash) : line).trim();
        if (cls.isEmpty()) {
          continue;
        }
        String resource = cls.replace('.', '/') + ".class";
        try (InputStream in = getClass().getClassLoader().getResourceAsStream(resource)) {
          if (in == null) {
            continue; // a class that does not exist, such as MISSING
          }
          out.putNextEntry(new JarEntry(resource));
          in.transferTo(out);
          out.closeEntry();
        }
      }
    }
    return p;
  }

  private static String cls(Class<?> c) {
    return c.getName();
  }

  private TransportRegistry load(Path... jars) throws IOException {
    URL[] urls = new URL[jars.length];
    for (int i = 0; i < jars.length; i++) {
      urls[i] = jars[i].toUri().toURL();
    }
    URLClassLoader loader = new URLClassLoader(urls, new HidingLoader(getClass().getClassLoader()));
    loaders.add(loader);
    return TransportRegistry.load(loader);
  }

  private static List<String> names(TransportRegistry r) {
    return r.all().stream().map(TransportInfo::name).collect(Collectors.toList());
  }

  private static TransportInfo info(TransportRegistry r, String name) {
    Optional<TransportInfo> i = r.lookup(name);
    assertTrue(i.isPresent(), () -> name + " not in " + names(r) + "; warnings " + r.warnings());
    return i.get();
  }

  private static String providerClass(TransportInfo i) {
    return i.provider().getClass().getName();
  }

  private static String onlyWarning(TransportRegistry r) {
    assertEquals(1, r.warnings().size(), () -> "warnings: " + r.warnings());
    return r.warnings().get(0);
  }

  private static void assertContains(String haystack, String... needles) {
    for (String n : needles) {
      assertTrue(haystack.contains(n), () -> "'" + n + "' not in: " + haystack);
    }
  }

  private static void assertNoWarnings(TransportRegistry r) {
    assertEquals(List.of(), r.warnings());
  }

  // ---------------------------------------------------------------- discovery

  @Test
  void findsNothingWithoutProviderJars() throws IOException {
    TransportRegistry r = load();
    assertEquals(List.of(), r.all());
    assertEquals(List.of(), r.availableNames());
    assertNoWarnings(r);
    assertTrue(r.lookup("good").isEmpty());
  }

  @Test
  void findsNothingInJarWhoseServicesFileListsNoClass() throws IOException {
    TransportRegistry r = load(jar("empty.jar", "# no providers here", "", "   "));
    assertEquals(List.of(), r.all());
    assertNoWarnings(r);
  }

  @Test
  void loadsOneGoodProviderWithItsOrigin() throws IOException {
    Path jar = jar("good.jar", cls(GoodProvider.class));
    TransportRegistry r = load(jar);
    assertEquals(List.of("good"), names(r));
    TransportInfo good = r.all().get(0);
    assertEquals("good", good.name());
    assertEquals(5, good.priority());
    assertTrue(good.isAvailable());
    assertNull(good.unavailabilityCause());
    assertEquals("", good.reason());
    assertEquals(jar.toString(), good.origin());
    assertEquals(cls(GoodProvider.class), providerClass(good));
    assertEquals(List.of("good"), r.availableNames());
    assertNoWarnings(r);
  }

  @Test
  void ignoresCommentsInServicesFile() throws IOException {
    TransportRegistry r = load(jar("good.jar", "# a comment",
        cls(GoodProvider.class) + "   # trailing comment", ""));
    assertEquals(List.of("good"), names(r));
    assertNoWarnings(r);
  }

  @Test
  void ordersByPriorityDescendingThenName() throws IOException {
    // Listed worst first, and spread over two jars, so that discovery order is not the answer.
    Path a = jar("a.jar", cls(UnavailableProvider.class), cls(GoodProvider.class));
    Path b = jar("b.jar", cls(DupA.class), cls(HighProvider.class));
    TransportRegistry r = load(a, b);
    // high (9), then the three at priority 5 by name: dup, good, unavailable.
    assertEquals(List.of("high", "dup", "good", "unavailable"), names(r));
    assertEquals(List.of("high", "dup", "good"), r.availableNames());
    assertNoWarnings(r);
  }

  @Test
  void listsUnavailableProviderWithItsReason() throws IOException {
    TransportRegistry r = load(jar("p.jar", cls(UnavailableProvider.class),
        cls(GoodProvider.class)));
    TransportInfo u = info(r, "unavailable");
    assertFalse(u.isAvailable());
    assertTrue(u.unavailabilityCause() instanceof IOException,
        String.valueOf(u.unavailabilityCause()));
    assertEquals("no kernel support", u.reason());
    assertEquals(List.of("good"), r.availableNames());
    assertEquals(2, r.all().size());
    assertNoWarnings(r); // unavailable is a normal state, not a plugin problem
  }

  @Test
  void reportsThrowingConstructorAndLoadsGoodProviderInSameJar() throws IOException {
    Path jar = jar("mixed.jar", cls(ThrowingConstructorProvider.class), cls(GoodProvider.class));
    TransportRegistry r = load(jar);
    assertEquals(List.of("good"), names(r));
    assertContains(onlyWarning(r), cls(ThrowingConstructorProvider.class), jar.toString(),
        "boom in constructor");
  }

  @Test
  void reportsThrowingConstructorAndLoadsGoodProviderInOtherJar() throws IOException {
    Path bad = jar("bad.jar", cls(ThrowingConstructorProvider.class));
    Path good = jar("good.jar", cls(GoodProvider.class));
    for (Path[] order : new Path[][] {{bad, good}, {good, bad}}) {
      TransportRegistry r = load(order);
      assertEquals(List.of("good"), names(r));
      String w = onlyWarning(r);
      assertContains(w, cls(ThrowingConstructorProvider.class), bad.toString(),
          "boom in constructor");
      assertFalse(w.contains(good.toString()), w);
    }
  }

  @Test
  void reportsMissingClassWithItsJarAndLoadsTheOthers() throws IOException {
    Path jar = jar("missing.jar", MISSING, cls(GoodProvider.class));
    Path other = jar("other.jar", cls(HighProvider.class));
    TransportRegistry r = load(jar, other);
    assertEquals(List.of("high", "good"), names(r));
    String w = onlyWarning(r);
    assertContains(w, MISSING, jar.toString());
    assertFalse(w.contains(other.toString()), w);
  }

  @Test
  void keepsProviderWhoseProbeThrowsAsUnavailable() throws IOException {
    Path jar = jar("probe.jar", cls(ThrowingProbeProvider.class), cls(GoodProvider.class));
    TransportRegistry r = load(jar);
    TransportInfo p = info(r, "probe-throws");
    assertFalse(p.isAvailable());
    assertEquals("probe exploded", p.reason());
    assertEquals(List.of("good"), r.availableNames());
    assertContains(onlyWarning(r), "probe-throws", "probe exploded", jar.toString());
  }

  @Test
  void ignoresProviderWithInvalidName() throws IOException {
    Path jar = jar("bad-name.jar", cls(BadNameProvider.class), cls(GoodProvider.class));
    TransportRegistry r = load(jar);
    assertEquals(List.of("good"), names(r));
    assertTrue(r.lookup("Bad Name").isEmpty());
    assertContains(onlyWarning(r), cls(BadNameProvider.class), "Bad Name", jar.toString());
  }

  @Test
  void ignoresProviderWhoseNameThrows() throws IOException {
    Path jar = jar("throwing-name.jar", cls(ThrowingNameProvider.class), cls(GoodProvider.class));
    TransportRegistry r = load(jar);
    assertEquals(List.of("good"), names(r));
    assertContains(onlyWarning(r), cls(ThrowingNameProvider.class), "name exploded",
        jar.toString());
  }

  @Test
  void clampsPriorityOutsideRangeWithWarning() throws IOException {
    TransportRegistry r = load(jar("p.jar", cls(OutOfRangePriorityProvider.class),
        cls(HighProvider.class)));
    assertEquals(TransportProvider.MAX_PRIORITY, info(r, "too-high").priority());
    assertEquals(List.of("too-high", "high"), names(r));
    assertContains(onlyWarning(r), "too-high", "42");
  }

  @Test
  void reportsClassThatIsNotAProviderWithItsJar() throws IOException {
    Path jar = jar("not-a-provider.jar", cls(NotAProvider.class), cls(GoodProvider.class));
    TransportRegistry r = load(jar);
    assertEquals(List.of("good"), names(r));
    assertContains(onlyWarning(r), cls(NotAProvider.class), jar.toString());
  }

  @Test
  void reportsProviderWithoutNoArgConstructorWithItsJar() throws IOException {
    Path jar = jar("no-ctor.jar", cls(NoDefaultConstructorProvider.class),
        cls(GoodProvider.class));
    TransportRegistry r = load(jar);
    assertEquals(List.of("good"), names(r));
    assertContains(onlyWarning(r), cls(NoDefaultConstructorProvider.class) + " from "
        + jar.toString());
  }

  @Test
  void namesJarInDirectoryWithSpaceByItsFilePath() throws IOException {
    Path bad = jar("my jars/bad.jar", cls(ThrowingConstructorProvider.class));
    Path good = jar("my jars/g\u00e9od.jar", cls(GoodProvider.class));
    TransportRegistry r = load(bad, good);
    assertContains(onlyWarning(r), bad.toString());
    assertEquals(good.toString(), info(r, "good").origin());
  }

  @Test
  void namesJarOfServicesFileWhenClassesComeFromParentLoader() throws IOException {
    // Only the services file is in the jar; the classes come from the test class path.
    Path jar = dir.resolve("services-only.jar");
    try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar))) {
      out.putNextEntry(new JarEntry(SERVICES));
      out.write((cls(ThrowingConstructorProvider.class) + "\n" + cls(GoodProvider.class) + "\n")
          .getBytes(StandardCharsets.UTF_8));
      out.closeEntry();
    }
    URLClassLoader loader = new URLClassLoader(new URL[] {jar.toUri().toURL()},
        getClass().getClassLoader());
    loaders.add(loader);
    TransportRegistry r = TransportRegistry.load(loader);
    assertEquals(List.of("good"), names(r));
    assertSame(GoodProvider.class, info(r, "good").provider().getClass());
    String testClasses;
    try {
      testClasses = Path.of(GoodProvider.class.getProtectionDomain().getCodeSource().getLocation()
          .toURI()).toString();
    } catch (java.net.URISyntaxException e) {
      throw new AssertionError(e);
    }
    assertEquals(testClasses, info(r, "good").origin());
    assertContains(onlyWarning(r), cls(ThrowingConstructorProvider.class), jar.toString(),
        "boom in constructor");
  }

  // ---------------------------------------------------------------- duplicate names

  @Test
  void firstJarOnClassPathWinsDuplicateNameAtEqualPriority() throws IOException {
    Path a = jar("dup-a.jar", cls(DupA.class));
    Path b = jar("dup-b.jar", cls(DupB.class));

    TransportRegistry ab = load(a, b);
    assertEquals(List.of("dup"), names(ab));
    assertEquals(cls(DupA.class), providerClass(info(ab, "dup")));
    assertEquals(a.toString(), info(ab, "dup").origin());
    assertContains(onlyWarning(ab), "'dup'", a.toString(), b.toString(), "first on the classpath");

    TransportRegistry ba = load(b, a);
    assertEquals(List.of("dup"), names(ba));
    assertEquals(cls(DupB.class), providerClass(info(ba, "dup")));
    assertEquals(b.toString(), info(ba, "dup").origin());
    assertContains(onlyWarning(ba), "'dup'", a.toString(), b.toString(), "first on the classpath");
  }

  @Test
  void higherPriorityWinsDuplicateNameWhateverTheOrder() throws IOException {
    Path a = jar("dup-a.jar", cls(DupA.class));
    Path high = jar("dup-high.jar", cls(DupHigh.class));
    for (Path[] order : new Path[][] {{a, high}, {high, a}}) {
      TransportRegistry r = load(order);
      assertEquals(List.of("dup"), names(r));
      TransportInfo dup = info(r, "dup");
      assertEquals(cls(DupHigh.class), providerClass(dup));
      assertEquals(7, dup.priority());
      assertContains(onlyWarning(r), a.toString(), high.toString(), "higher priority");
    }
  }

  @Test
  void higherPriorityWinsDuplicateNameInSameJar() throws IOException {
    TransportRegistry r = load(jar("dups.jar", cls(DupA.class), cls(DupHigh.class),
        cls(DupB.class)));
    assertEquals(cls(DupHigh.class), providerClass(info(r, "dup")));
    assertEquals(2, r.warnings().size(), () -> "warnings: " + r.warnings());
  }

  @Test
  void loadsClassListedInTwoJarsOnce() throws IOException {
    Path a = jar("a.jar", cls(GoodProvider.class));
    Path b = jar("b.jar", cls(GoodProvider.class));
    TransportRegistry r = load(a, b);
    assertEquals(List.of("good"), names(r));
    assertEquals(a.toString(), info(r, "good").origin());
    assertNoWarnings(r);
  }

  // ---------------------------------------------------------------- lookup and requireAvailable

  @Test
  void looksUpAvailableAndUnavailableTransportsByName() throws IOException {
    TransportRegistry r = load(jar("p.jar", cls(GoodProvider.class),
        cls(UnavailableProvider.class)));
    assertEquals("good", r.lookup("good").map(TransportInfo::name).orElse(null));
    assertTrue(r.lookup("good").get().isAvailable());
    assertFalse(r.lookup("unavailable").get().isAvailable());
    assertTrue(r.lookup("nope").isEmpty());
    assertTrue(r.lookup("Good").isEmpty());
    assertTrue(r.lookup("").isEmpty());
  }

  @Test
  void requireAvailableReturnsNamesInGivenOrder() throws IOException {
    TransportRegistry r = load(jar("p.jar", cls(GoodProvider.class), cls(HighProvider.class)));
    assertEquals(List.of("good", "high"), r.requireAvailable(List.of("good", "high")));
    assertEquals(List.of("high"), r.requireAvailable(List.of("high")));
    assertEquals(List.of(), r.requireAvailable(List.of()));
  }

  @Test
  void requireAvailableRejectsUnknownTransportListingAvailableOnes() throws IOException {
    TransportRegistry r = load(jar("p.jar", cls(GoodProvider.class), cls(HighProvider.class),
        cls(UnavailableProvider.class)));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> r.requireAvailable(List.of("good", "nope")));
    assertContains(e.getMessage(), "'nope'", "high, good");
    assertFalse(e.getMessage().contains("unavailable,"), e.getMessage());
  }

  @Test
  void requireAvailableRejectsUnavailableTransportWithReason() throws IOException {
    TransportRegistry r = load(jar("p.jar", cls(GoodProvider.class),
        cls(UnavailableProvider.class)));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> r.requireAvailable(List.of("unavailable")));
    assertContains(e.getMessage(), "'unavailable'", "no kernel support", "available: good");
  }

  @Test
  void requireAvailableSaysWhenNothingIsAvailable() throws IOException {
    TransportRegistry r = load();
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> r.requireAvailable(List.of("pipe")));
    assertContains(e.getMessage(), "'pipe'", "none");
  }

  @Test
  void requireAvailableEscapesControlCharactersInUnknownName() throws IOException {
    TransportRegistry r = load(jar("p.jar", cls(GoodProvider.class)));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> r.requireAvailable(List.of("evil\n\u202e")));
    assertFalse(e.getMessage().contains("\n"), e.getMessage());
    assertFalse(e.getMessage().contains("\u202e"), e.getMessage());
    assertContains(e.getMessage(), "evil\\u000a\\u202e");
  }

  // ---------------------------------------------------------------- of(...)

  @Test
  void ofBuildsRegistryOfExactlyTheseProvidersInRegistryOrder() {
    GoodProvider good = new GoodProvider();
    HighProvider high = new HighProvider();
    UnavailableProvider unavailable = new UnavailableProvider();
    TransportRegistry r = TransportRegistry.of(unavailable, good, high);
    assertEquals(List.of("high", "good", "unavailable"), names(r));
    assertEquals(List.of("high", "good"), r.availableNames());
    assertSame(good, info(r, "good").provider());
    assertSame(high, info(r, "high").provider());
    assertEquals("no kernel support", info(r, "unavailable").reason());
    String origin = info(r, "good").origin();
    assertNotNull(origin);
    assertFalse(origin.isEmpty());
    assertFalse(origin.startsWith("file:"), origin);
    assertNoWarnings(r);
  }

  @Test
  void ofWithNoProvidersIsEmpty() {
    TransportRegistry r = TransportRegistry.of();
    assertEquals(List.of(), r.all());
    assertNoWarnings(r);
  }

  @Test
  void ofResolvesDuplicateNamesByArgumentOrderThenPriority() {
    DupA a = new DupA();
    DupB b = new DupB();
    DupHigh high = new DupHigh();
    assertSame(a, info(TransportRegistry.of(a, b), "dup").provider());
    assertSame(b, info(TransportRegistry.of(b, a), "dup").provider());
    assertSame(high, info(TransportRegistry.of(a, high), "dup").provider());
    assertSame(high, info(TransportRegistry.of(high, a), "dup").provider());
    assertEquals(1, TransportRegistry.of(a, b).warnings().size());
    assertEquals(1, TransportRegistry.of(a, b).all().size());
  }

  @Test
  void ofReportsBadProvidersLikeLoad() {
    TransportRegistry r = TransportRegistry.of(new BadNameProvider(), new ThrowingProbeProvider(),
        new ThrowingNameProvider(), new GoodProvider());
    assertEquals(List.of("good", "probe-throws"), names(r));
    assertFalse(info(r, "probe-throws").isAvailable());
    assertEquals(3, r.warnings().size(), () -> "warnings: " + r.warnings());
    String all = String.join("\n", r.warnings());
    assertContains(all, "Bad Name", "probe exploded", "name exploded");
  }

  @Test
  void registryListsAreUnmodifiable() {
    TransportRegistry r = TransportRegistry.of(new GoodProvider(), new BadNameProvider());
    assertThrows(UnsupportedOperationException.class, () -> r.all().clear());
    assertThrows(UnsupportedOperationException.class, () -> r.warnings().clear());
  }

  /** The test providers are never on the test class path's services: no leak into other tests. */
  @Test
  void testProvidersAreNotRegisteredOnTestClassPath() {
    TransportRegistry r = TransportRegistry.load(getClass().getClassLoader());
    for (TransportInfo i : r.all()) {
      assertFalse(providerClass(i).startsWith(PROVIDERS_PACKAGE), providerClass(i));
    }
  }
}
