package dev.fdipc.transport.memfd;

import com.sun.jna.Native;
import com.sun.jna.Platform;
import dev.fdipc.internal.LibC;
import dev.fdipc.spi.Fd;
import dev.fdipc.spi.NativeIoException;

/**
 * The system calls behind a sealed shared-memory region (memfd_create, sizing, sealing, mmap) and
 * its eventfd bells.
 */
final class MemfdNative {
  static final int MFD_CLOEXEC = 0x0001;
  static final int MFD_ALLOW_SEALING = 0x0002;
  static final int MFD_NOEXEC_SEAL = 0x0008; // Linux 6.3+
  static final int EINVAL = 22;

  static final int F_ADD_SEALS = 1033;
  static final int F_GET_SEALS = 1034;
  static final int F_SEAL_SEAL = 0x0001;
  static final int F_SEAL_SHRINK = 0x0002;
  static final int F_SEAL_GROW = 0x0004;
  /** The seals a region carries before its fd leaves the server. */
  static final int SEALS = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;

  static final int PROT_READ = 0x1;
  static final int PROT_WRITE = 0x2;
  static final int MAP_SHARED = 0x01;
  static final long MAP_FAILED = -1L;
  static final int SEEK_END = 2;

  static {
    Native.register(Platform.C_LIBRARY_NAME);
  }

  private MemfdNative() {}

  static native int memfd_create(String name, int flags);

  static native int ftruncate(int fd, long length);

  static native long mmap(long addr, long length, int prot, int flags, int fd, long offset);

  static native int munmap(long addr, long length);

  static native long lseek(int fd, long offset, int whence);

  /** glibc 2.26+; {@code offset} -1 reads at the current position, as readv(2). */
  static native long preadv2(int fd, long iov, int iovcnt, long offset, int flags);

  /**
   * A new memfd that can be sealed, close-on-exec, and not executable where the kernel can say so
   * (MFD_NOEXEC_SEAL, Linux 6.3+; older kernels reject the flag with EINVAL).
   */
  static Fd create(String name) throws NativeIoException {
    int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
    if (fd < 0 && LibC.errno() == EINVAL) {
      fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    }
    if (fd < 0) {
      throw NativeIoException.lastError("memfd_create");
    }
    return Fd.of(fd);
  }

  static void resize(Fd fd, long size) throws NativeIoException {
    if (ftruncate(fd.intValue(), size) != 0) {
      throw NativeIoException.lastError("ftruncate");
    }
  }

  static void seal(Fd fd) throws NativeIoException {
    if (LibC.fcntl(fd.intValue(), F_ADD_SEALS, SEALS) != 0) {
      throw NativeIoException.lastError("fcntl(F_ADD_SEALS)");
    }
  }

  static int seals(Fd fd) throws NativeIoException {
    int seals = LibC.fcntl(fd.intValue(), F_GET_SEALS);
    if (seals < 0) {
      throw NativeIoException.lastError("fcntl(F_GET_SEALS)");
    }
    return seals;
  }

  static long size(Fd fd) throws NativeIoException {
    long size = lseek(fd.intValue(), 0, SEEK_END);
    if (size < 0) {
      throw NativeIoException.lastError("lseek");
    }
    return size;
  }

  /** Maps {@code size} bytes of {@code fd} shared, read-write; returns the address. */
  static long map(Fd fd, long size) throws NativeIoException {
    long addr = mmap(0, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.intValue(), 0);
    if (addr == MAP_FAILED) {
      throw NativeIoException.lastError("mmap");
    }
    return addr;
  }

  static void unmap(long addr, long size) throws NativeIoException {
    if (munmap(addr, size) != 0) {
      throw NativeIoException.lastError("munmap");
    }
  }

  /** Unmaps a region (if {@code address} is not 0) while {@code failure} propagates. */
  static void unmapAfter(Throwable failure, long address, long size) {
    if (address != 0) {
      try {
        unmap(address, size);
      } catch (NativeIoException e) {
        failure.addSuppressed(e);
      }
    }
  }

  /** A new eventfd, close-on-exec and non-blocking. */
  static Fd eventfd() throws NativeIoException {
    int fd = LibC.eventfd(0, LibC.EFD_CLOEXEC | LibC.EFD_NONBLOCK);
    if (fd < 0) {
      throw NativeIoException.lastError("eventfd");
    }
    return Fd.of(fd);
  }
}
