package dev.fdipc.internal;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.Optional;
import java.util.concurrent.ExecutorService;

/**
 * Virtual threads where the JDK has them (21 and later), found by reflection once: the project
 * compiles for JDK 17.
 */
public final class VirtualThreads {
  private static final MethodHandle IS_VIRTUAL;
  private static final MethodHandle NEW_EXECUTOR;

  static {
    MethodHandle isVirtual = null;
    MethodHandle newExecutor = null;
    try {
      MethodHandles.Lookup lookup = MethodHandles.publicLookup();
      isVirtual = lookup.findVirtual(Thread.class, "isVirtual",
          MethodType.methodType(boolean.class));
      newExecutor = lookup.findStatic(java.util.concurrent.Executors.class,
          "newVirtualThreadPerTaskExecutor", MethodType.methodType(ExecutorService.class));
    } catch (ReflectiveOperationException e) {
      // JDK 17-20: no virtual threads
    }
    IS_VIRTUAL = isVirtual;
    NEW_EXECUTOR = newExecutor;
  }

  private VirtualThreads() {}

  /** True if this JDK has virtual threads. */
  public static boolean available() {
    return NEW_EXECUTOR != null;
  }

  /** True if the calling thread is a virtual thread. */
  public static boolean isCurrentVirtual() {
    if (IS_VIRTUAL == null) {
      return false;
    }
    try {
      return (boolean) IS_VIRTUAL.invokeExact(Thread.currentThread());
    } catch (Throwable e) {
      throw new IllegalStateException(e);
    }
  }

  /** An executor that starts a virtual thread per task, or empty before JDK 21. */
  public static Optional<ExecutorService> newPerTaskExecutor() {
    if (NEW_EXECUTOR == null) {
      return Optional.empty();
    }
    try {
      return Optional.of((ExecutorService) NEW_EXECUTOR.invokeExact());
    } catch (Throwable e) {
      throw new IllegalStateException(e);
    }
  }
}
