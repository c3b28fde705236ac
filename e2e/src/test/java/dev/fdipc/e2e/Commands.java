package dev.fdipc.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * {@code bin/server} and {@code bin/client} on one socket with one environment. Every process it
 * starts is killed by {@link #close()}.
 */
final class Commands implements AutoCloseable {
  static final Duration WAIT = Duration.ofSeconds(30);

  private final Path socket;
  private final Map<String, String> env;
  private final List<Proc> procs;

  /**
   * @param socket the socket every server and client is given
   * @param env added to each process's environment (see {@link Proc#startRaw} for the defaults)
   */
  Commands(Path socket, Map<String, String> env) {
    this(socket, env, new ArrayList<>());
  }

  private Commands(Path socket, Map<String, String> env, List<Proc> procs) {
    this.socket = socket;
    this.env = Map.copyOf(env);
    this.procs = procs;
  }

  /**
   * The same socket with another environment (a client that has a plugin the server lacks, say);
   * closing either closes the processes of both.
   */
  Commands withEnv(Map<String, String> otherEnv) {
    return new Commands(socket, otherEnv, procs);
  }

  /** Starts {@code bin/server --socket=... args} and waits for its ready line. */
  Proc server(String... args) throws Exception {
    Proc p = startServer(args);
    p.awaitOut("ready", WAIT);
    return p;
  }

  /** Starts {@code bin/server --socket=... args} without waiting. */
  Proc startServer(String... args) throws IOException {
    List<String> a = new ArrayList<>(List.of("--socket=" + socket));
    a.addAll(List.of(args));
    return run("server", a);
  }

  /** Starts {@code bin/client args --socket=...}. */
  Proc client(String... args) throws IOException {
    List<String> a = new ArrayList<>(List.of(args));
    a.add("--socket=" + socket);
    return run("client", a);
  }

  /** Starts {@code bin/command args}, nothing added. */
  Proc run(String command, List<String> args) throws IOException {
    return track(Proc.start(command, args, env));
  }

  /** Kills {@code p} on {@link #close()} too. */
  Proc track(Proc p) {
    procs.add(p);
    return p;
  }

  /**
   * Runs the README's conversation from client {@code id} over {@code transport} against
   * {@code server} and checks every reply and what the server printed.
   *
   * @return the client, exited
   */
  Proc converse(Proc server, String id, String transport) throws Exception {
    Proc client = client(id, "--transport=" + transport);
    client.awaitOut("as client " + id + " via " + transport, WAIT);
    for (String line : List.of("hello world", "5", "7", "END", "3", "END")) {
      client.send(line);
    }
    client.send("exit");
    assertEquals(0, client.waitFor(WAIT), client::transcript);
    assertEquals(List.of("ok: not a number, total unchanged", "ok: total 5", "ok: total 12", "sum: 12", "ok: total 3", "sum: 3"),
        client.stdout().subList(1, 7), client::transcript);
    String connect = server.awaitOut("client " + id + " connected", WAIT);
    assertTrue(connect.contains("transport=" + transport), connect);
    assertTrue(connect.matches(".*pid=\\d+ uid=\\d+.*"), connect);
    // The pid tells two clients with the same id apart; bin/client execs the JVM, so it is the
    // pid of the process started here.
    server.awaitOut("[client " + id + " pid " + client.pid() + "] hello world", WAIT);
    server.awaitOut("[client " + id + " pid " + client.pid() + "] END", WAIT);
    server.awaitOut("client " + id + " disconnected (pid " + client.pid() + ")", WAIT);
    return client;
  }

  static void assertNoStackTrace(Proc p) {
    for (String l : p.stderr()) {
      assertFalse(l.startsWith("\tat ") || l.contains("Exception in thread"),
          () -> "stack trace on stderr:\n" + p.transcript());
    }
  }

  @Override
  public void close() {
    procs.forEach(Proc::close);
    procs.clear();
  }
}
