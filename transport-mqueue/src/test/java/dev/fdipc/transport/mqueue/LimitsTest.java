package dev.fdipc.transport.mqueue;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fdipc.spi.Fd;
import dev.fdipc.spi.NativeIoException;
import dev.fdipc.spi.TransportSettings;
import dev.fdipc.testkit.FdCount;
import java.io.IOException;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Queue sizes, what the kernel charges for them, capacity, and the words of a refusal. */
@Timeout(value = 30, unit = TimeUnit.SECONDS,
    threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class LimitsTest {
  private static final MqueueLimits DEFAULTS = new MqueueLimits(10, 8192, 256, 819_200, 819_200);
  private static final QueueSizes KERNEL_DEFAULT = new QueueSizes(10, 8192);

  @Test
  void shouldChargeWhatIpcMqueueChargesPerQueue() {
    assertEquals(82_880, KERNEL_DEFAULT.charge(), "10 x 8192 + 10 x 48 + 10 x 48");
    assertEquals(160, new QueueSizes(1, 64).charge());
    // past MQ_PRIO_MAX (32768) the tree nodes stop growing with the queue
    assertEquals(65_536L * 64 + 65_536L * 48 + 32_768L * 48,
        new QueueSizes(65_536, 64).charge());
  }

  @Test
  void shouldFitFourDefaultClientsUnderTheDefaultLimits() {
    assertEquals(4, DEFAULTS.clientsThatFit(KERNEL_DEFAULT, 0, 0), "819200 / 165760");
    assertEquals(3, DEFAULTS.clientsThatFit(KERNEL_DEFAULT, 165_760, 2));
    assertEquals(0, DEFAULTS.clientsThatFit(KERNEL_DEFAULT, 819_200, 8));
    assertEquals(0, DEFAULTS.clientsThatFit(KERNEL_DEFAULT, 900_000, 8), "never negative");
    assertEquals(9, DEFAULTS.clientsThatFit(new QueueSizes(5, 8192), 0, 0));
  }

  @Test
  void shouldBoundCapacityByQueuesMaxWhenTheRlimitIsUnlimited() {
    MqueueLimits l = new MqueueLimits(10, 8192, 256, MqueueLimits.UNLIMITED, -1);
    assertEquals(128, l.clientsThatFit(KERNEL_DEFAULT, 0, 0));
    assertEquals(127, l.clientsThatFit(KERNEL_DEFAULT, 0, 2));
    assertEquals(126, l.clientsThatFit(KERNEL_DEFAULT, 0, 3));
  }

  @Test
  void shouldDescribeCapacityWithTheLimitItsValueAndHowToRaiseIt() {
    String line = DEFAULTS.describeCapacity(KERNEL_DEFAULT, 0, 0);
    assertTrue(line.startsWith("about 4 clients (RLIMIT_MSGQUEUE 819200 bytes per user, 165760 "
        + "per client: 2 queues of 10 x 8192 bytes; queues_max 256"), line);
    assertTrue(line.endsWith("raise with ulimit -q)"), line);
    assertTrue(DEFAULTS.describeCapacity(KERNEL_DEFAULT, 165_760, 2)
        .contains("about 3 clients"));
    assertTrue(DEFAULTS.describeCapacity(KERNEL_DEFAULT, 165_760, 2)
        .contains("this process holds 2 queues, 165760 bytes"));
  }

  @Test
  void shouldReportTheCapacityOfThisMachine() {
    String line = new MqueueTransportProvider().capacity();
    assertTrue(line.matches("about \\d+ clients? \\(RLIMIT_MSGQUEUE .*"), line);
  }

  @Test
  void shouldClampTheDefaultsToLoweredSysctls() {
    assertEquals(new QueueSizes(10, 8192), QueueSizes.defaults(DEFAULTS));
    assertEquals(new QueueSizes(4, 1024),
        QueueSizes.defaults(new MqueueLimits(4, 1024, 256, 819_200, 819_200)));
    assertEquals(new QueueSizes(10, 8192),
        QueueSizes.defaults(new MqueueLimits(-1, -1, -1, -2, -2)), "unreadable: the defaults");
  }

  @Test
  void shouldReadSizesFromOptions() {
    assertEquals(new QueueSizes(3, 4096), QueueSizes.from(new TransportSettings(1, Map.of(
        QueueSizes.MAX_MESSAGES, "3", QueueSizes.MESSAGE_SIZE, "4096", "pipe.other", "x")),
        KERNEL_DEFAULT));
    assertEquals(KERNEL_DEFAULT, QueueSizes.from(TransportSettings.of(1), KERNEL_DEFAULT));
  }

  @Test
  void shouldRejectBadOptionsNamingTheOptionAndTheRange() {
    MqueueTransportProvider p = new MqueueTransportProvider();
    assertEquals("unknown option mqueue.size; the mqueue transport has mqueue.max-messages and "
        + "mqueue.msg-size", assertThrows(IllegalArgumentException.class,
            () -> p.checkOptions(settings("mqueue.size", "1"))).getMessage());
    assertEquals("mqueue.msg-size=big is not a number", assertThrows(
        IllegalArgumentException.class, () -> p.checkOptions(settings(QueueSizes.MESSAGE_SIZE,
            "big"))).getMessage());
    assertEquals("mqueue.msg-size=63 is out of range: 64 to 16777216", assertThrows(
        IllegalArgumentException.class, () -> p.checkOptions(settings(QueueSizes.MESSAGE_SIZE,
            "63"))).getMessage());
    assertEquals("mqueue.max-messages=0 is out of range: 1 to 65536", assertThrows(
        IllegalArgumentException.class, () -> p.checkOptions(settings(QueueSizes.MAX_MESSAGES,
            "0"))).getMessage());
    IOException e = assertThrows(IOException.class,
        () -> p.createServer(settings(QueueSizes.MAX_MESSAGES, "70000")));
    assertEquals("mqueue.max-messages=70000 is out of range: 1 to 65536", e.getMessage());
  }

  private static TransportSettings settings(String key, String value) {
    return new TransportSettings(1 << 20, Map.of(key, value));
  }

  @Test
  void shouldExplainEachCreationFailure() {
    String einval = DEFAULTS.explain(MqNative.EINVAL, new QueueSizes(20, 8192), 0, 0);
    assertTrue(einval.contains("a queue of 20 x 8192 bytes is more than fs.mqueue.msg_max (10 "
        + "messages) or fs.mqueue.msgsize_max (8192 bytes)"), einval);
    assertTrue(einval.contains("sysctl -w fs.mqueue.msg_max=N"), einval);
    String enospc = DEFAULTS.explain(MqNative.ENOSPC, KERNEL_DEFAULT, 0, 4);
    assertTrue(enospc.contains("fs.mqueue.queues_max (256 queues, for the whole system) is "
        + "reached; this server holds 4"), enospc);
    assertTrue(DEFAULTS.explain(MqNative.ENOSYS, KERNEL_DEFAULT, 0, 0)
        .contains("CONFIG_POSIX_MQUEUE"));
    String emfile = DEFAULTS.explain(MqNative.EMFILE, KERNEL_DEFAULT, 165_760, 2);
    assertTrue(emfile.startsWith("RLIMIT_MSGQUEUE is full: it is 819200 bytes for the server's "
        + "user and a "
        + "queue of 10 x 8192 bytes is charged 82880 bytes (165760 per client); this server holds "
        + "2 queues (165760 bytes)"), emfile);
    assertTrue(emfile.contains("ulimit -q BYTES"), emfile);
  }

  /**
   * Lowers this process's RLIMIT_MSGQUEUE to exactly one queue's charge, then to one byte less:
   * the kernel must accept the first and refuse the second, which pins the charge formula to the
   * kernel's. Needs no other queue of this user to exist meanwhile.
   */
  @Test
  void shouldMatchTheKernelsChargeToTheByte() throws IOException {
    long[] saved = MqNative.getrlimit(MqNative.RLIMIT_MSGQUEUE);
    long charge = KERNEL_DEFAULT.charge();
    try {
      assertEquals(0, MqNative.setrlimit(MqNative.RLIMIT_MSGQUEUE, charge, saved[1]));
      Queues.Ends q;
      try {
        q = Queues.create(true, KERNEL_DEFAULT);
      } catch (NativeIoException e) {
        Assumptions.assumeTrue(e.errno() != MqNative.EMFILE,
            "another process of this user holds message queues, so the limit cannot be pinned");
        throw e;
      }
      Fd.closeAll(java.util.List.of(q.server(), q.client()));
      assertEquals(0, MqNative.setrlimit(MqNative.RLIMIT_MSGQUEUE, charge - 1, saved[1]));
      NativeIoException e = assertThrows(NativeIoException.class,
          () -> Queues.create(true, KERNEL_DEFAULT));
      assertEquals(MqNative.EMFILE, e.errno());
    } finally {
      MqNative.setrlimit(MqNative.RLIMIT_MSGQUEUE, saved[0], saved[1]);
    }
  }

  @Test
  void shouldNameTheLimitWhenRlimitMsgqueueIsExhaustedAndLeaveNothingOpen() throws IOException {
    long[] saved = MqNative.getrlimit(MqNative.RLIMIT_MSGQUEUE);
    MqueueTransportProvider p = new MqueueTransportProvider();
    p.unavailabilityCause(); // probe before the limit drops
    java.util.Map<Integer, String> before = FdCount.snapshot();
    try {
      // room for the first queue of a client, not the second: the first must be released
      assertEquals(0, MqNative.setrlimit(MqNative.RLIMIT_MSGQUEUE, KERNEL_DEFAULT.charge(),
          saved[1]));
      NativeIoException e = assertThrows(NativeIoException.class,
          () -> p.createServer(new TransportSettings(1 << 20,
              Map.of(QueueSizes.MESSAGE_SIZE, "8192")))); // a fixed size: no budget sizing
      assertEquals("mq_open", e.call());
      assertEquals(MqNative.EMFILE, e.errno());
      // The limit first: EMFILE's "Too many open files" would send the reader after RLIMIT_NOFILE.
      assertTrue(e.getMessage().startsWith("RLIMIT_MSGQUEUE is full: it is "
          + KERNEL_DEFAULT.charge() + " bytes for the server's user"), e.getMessage());
      assertTrue(e.getMessage().endsWith("(mq_open(..) failed with error(24), EMFILE, which the "
          + "kernel also returns for this limit)"), e.getMessage());
      assertTrue(e.getMessage().contains("raise the limit with ulimit -q BYTES"), e.getMessage());
      assertEquals(Map.of(), FdCount.openedSince(before),
          "descriptors left open by the failed creation");
      // Sized to the budget, smaller queues would still fit; with the size fixed by the server's
      // option, which capacity() reflects once the options are checked, none does.
      assertTrue(p.capacity().startsWith("about 6 clients"), p.capacity());
      p.checkOptions(new TransportSettings(1 << 20, Map.of(QueueSizes.MESSAGE_SIZE, "8192")));
      assertTrue(p.capacity().startsWith("about 0 clients"), p.capacity());
    } finally {
      MqNative.setrlimit(MqNative.RLIMIT_MSGQUEUE, saved[0], saved[1]);
    }
  }

  @Test
  void shouldSizeQueuesToTheBudgetLeftSoThatThirtyTwoClientsFitTheDefaultLimit() {
    QueueSizes first = KERNEL_DEFAULT.forBudget(DEFAULTS.bytesLeft(0));
    assertEquals(new QueueSizes(10, 2048), first, "a 16th of 819200 bytes for the first client");
    assertEquals(new QueueSizes(10, QueueSizes.BUDGET_FLOOR_MESSAGE_SIZE),
        KERNEL_DEFAULT.forBudget(0), "never below the floor");
    assertEquals(KERNEL_DEFAULT, KERNEL_DEFAULT.forBudget(-1), "unlimited: the configured shape");
    assertEquals(KERNEL_DEFAULT, KERNEL_DEFAULT.forBudget(100L << 20), "room: the configured shape");
    long n = DEFAULTS.clientsThatFitSizedToBudget(KERNEL_DEFAULT, 0, 0);
    assertTrue(n >= 32, n + " clients");
    assertTrue(DEFAULTS.describeCapacitySizedToBudget(KERNEL_DEFAULT, 0, 0).startsWith("about " + n
        + " clients (RLIMIT_MSGQUEUE 819200 bytes per user; 2 queues per client of 10 x 2048 "
        + "bytes now, smaller as it fills, down to 10 x 512 bytes"),
        DEFAULTS.describeCapacitySizedToBudget(KERNEL_DEFAULT, 0, 0));
  }

  /**
   * 32 clients' queues really created under the default RLIMIT_MSGQUEUE, lowered in this process
   * as any user can (the soft limit), whatever the machine's own limit.
   */
  @Test
  void shouldCreateThirtyTwoClientsUnderTheDefaultRlimit() throws IOException {
    long[] saved = MqNative.getrlimit(MqNative.RLIMIT_MSGQUEUE);
    Assumptions.assumeTrue(saved[1] == MqueueLimits.UNLIMITED || saved[1] >= 819_200,
        "the hard RLIMIT_MSGQUEUE is below the default");
    MqueueTransportProvider p = new MqueueTransportProvider();
    p.unavailabilityCause();
    java.util.List<dev.fdipc.spi.ServerEnd> ends = new java.util.ArrayList<>();
    try {
      assertEquals(0, MqNative.setrlimit(MqNative.RLIMIT_MSGQUEUE, 819_200, saved[1]));
      for (int i = 0; i < 32; i++) {
        try {
          ends.add(p.createServer(TransportSettings.of(1 << 20)));
        } catch (NativeIoException e) {
          Assumptions.assumeTrue(i > 0 || e.errno() != MqNative.EMFILE,
              "another process of this user holds message queues");
          throw new AssertionError("client " + (i + 1) + " of 32: " + e.getMessage(), e);
        }
      }
      assertTrue(p.capacity().startsWith("about "), p.capacity());
    } finally {
      for (dev.fdipc.spi.ServerEnd e : ends) {
        e.channel().close();
        Fd.closeAll(e.clientFds());
      }
      MqNative.setrlimit(MqNative.RLIMIT_MSGQUEUE, saved[0], saved[1]);
    }
  }
}
