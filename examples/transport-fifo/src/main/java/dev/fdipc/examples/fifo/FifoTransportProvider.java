package dev.fdipc.examples.fifo;

import com.google.auto.service.AutoService;
import dev.fdipc.spi.Availability;
import dev.fdipc.spi.ClientEnd;
import dev.fdipc.spi.Fd;
import dev.fdipc.spi.FdStreamChannel;
import dev.fdipc.spi.ServerEnd;
import dev.fdipc.spi.TransportChannel;
import dev.fdipc.spi.TransportProvider;
import dev.fdipc.spi.TransportSettings;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The {@code fifo} transport: two named FIFOs, one per direction, made for each client in a
 * private directory (mode 0700) and unlinked as soon as the server has opened them, so that no
 * other process can ever open them by name. The client receives the read end of the
 * server-to-client FIFO (fd 0) and the write end of the client-to-server FIFO (fd 1); the server
 * keeps the other two ends and no others, so each side sees end of stream when the other closes or
 * dies.
 *
 * <p>Option {@value #DIR_OPTION} ({@code --transport-option=fifo.dir=PATH} on the server): where
 * the private directories are made. Default: {@code java.io.tmpdir}.
 */
@AutoService(TransportProvider.class)
public final class FifoTransportProvider implements TransportProvider {
  /** The transport's name. */
  public static final String NAME = "fifo";

  /** The server option naming the directory in which each client's private directory is made. */
  public static final String DIR_OPTION = NAME + ".dir";

  private static final Availability AVAILABILITY = Availability.probe(NAME, () -> {
    Fd.closeAll(Fifos.create(null).all());
    return null;
  });

  /** Public no-arg constructor for {@link java.util.ServiceLoader}; does nothing that can fail. */
  public FifoTransportProvider() {}

  @Override
  public String name() {
    return NAME;
  }

  /** 4: below {@code pipe} (5), which does the same job without touching the file system. */
  @Override
  public int priority() {
    return 4;
  }

  @Override
  public Throwable unavailabilityCause() {
    return AVAILABILITY.unavailabilityCause();
  }

  /**
   * Checks {@value #DIR_OPTION} when the server starts, so that a directory that cannot work stops
   * the server with the reason rather than failing every client later.
   *
   * @throws IllegalArgumentException naming the option, the path and what is wrong with it
   */
  @Override
  public void checkOptions(TransportSettings settings) {
    settings.option(DIR_OPTION).ifPresent(dir -> {
      Path p = Path.of(dir);
      String problem = !Files.exists(p) ? "does not exist"
          : !Files.isDirectory(p) ? "is not a directory"
          : !Files.isWritable(p) || !Files.isExecutable(p) ? "is not writable and searchable by "
              + "this user"
          : null;
      if (problem != null) {
        throw new IllegalArgumentException(DIR_OPTION + "=" + dir + ": the directory " + problem
            + "; create it (mkdir -m 0700 " + dir + ") or choose another");
      }
    });
  }

  @Override
  public ServerEnd createServer(TransportSettings settings) throws IOException {
    AVAILABILITY.ensureAvailable();
    Fifos fifos = Fifos.create(settings.option(DIR_OPTION).map(Path::of).orElse(null));
    try {
      TransportChannel channel = new FdStreamChannel(NAME, settings.maxMessageSize(),
          fifos.serverIn(), fifos.serverOut(), List.of());
      return new ServerEnd(channel, List.of(fifos.clientIn(), fifos.clientOut()), Map.of());
    } catch (IOException | RuntimeException e) {
      Fd.closeAllAfter(e, fifos.all());
      throw e;
    }
  }

  @Override
  public TransportChannel openClient(ClientEnd end, TransportSettings settings)
      throws IOException {
    // fd 0 reads, fd 1 writes; if this fails, every received fd is closed: they are ours now.
    return FdStreamChannel.openClient(NAME, end, settings, 2);
  }
}
