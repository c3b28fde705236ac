/*
 * The C baseline of bin/bench: two processes (this one and a forked child) over the kernel objects
 * fdipc uses, driven with nothing but read/write, mq_send/mq_receive, or a spinning shared-memory
 * ring, so that fdipc's overhead can be read as a ratio measured in the same run.
 *
 *   pingpong latency|throughput pipe|socketpair|mqueue|spin-ring SIZE WARMUP SECONDS CPU_A CPU_B
 *
 * CPU_A and CPU_B pin this process and the child to one CPU each (sched_setaffinity), or leave
 * them to the scheduler when -1.
 *
 * latency: round trips of SIZE bytes; prints one line: p50 p90 p99 p99.9 max, in nanoseconds.
 * throughput: a one-way stream of SIZE-byte messages (the first 8 bytes a sequence number that the
 * receiver checks), then an end message the receiver answers with its count; prints one line:
 * MESSAGES NANOS, over the measuring time including the drain. For spin-ring this is memcpy
 * bandwidth between two processes: the sender copies each message into a shared ring of 512 KiB
 * (fdipc memfd's default), the receiver copies it out.
 *
 * mqueue uses two queues of 10 messages of 8192 bytes (the kernel's defaults, as fdipc's mqueue
 * transport does) and sends a message larger than 8192 bytes as several queue messages.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EXACT_NS 1000000 /* round trips below 1 ms are counted per nanosecond */
#define MQ_MSGSIZE 8192
#define MQ_MAXMSG 10
#define RING_BYTES (512 << 10)
#define END (-1L)

static long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000L + t.tv_nsec;
}

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

static void pin(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set)) {
    fprintf(stderr, "pingpong: sched_setaffinity(cpu %d) failed: %s\n", cpu, strerror(errno));
    _exit(1);
  }
}

/* ---------------------------------------------------------------- kernel objects */

static int mq; /* 1: the fds are message queues */
static char *scratch;

static int full_read(int fd, char *b, size_t n) {
  while (n > 0) {
    ssize_t r;
    if (!mq) {
      r = read(fd, b, n);
    } else if (n >= MQ_MSGSIZE) {
      r = mq_receive(fd, b, MQ_MSGSIZE, NULL);
    } else { /* mq_receive wants room for a whole queue message */
      r = mq_receive(fd, scratch, MQ_MSGSIZE, NULL);
      if (r > (ssize_t) n) return -1;
      if (r > 0) memcpy(b, scratch, (size_t) r);
    }
    if (r <= 0) return -1;
    b += r;
    n -= (size_t) r;
  }
  return 0;
}

static int full_write(int fd, const char *b, size_t n) {
  while (n > 0) {
    ssize_t r;
    if (!mq) {
      r = write(fd, b, n);
    } else {
      r = n < MQ_MSGSIZE ? (ssize_t) n : MQ_MSGSIZE;
      if (mq_send(fd, b, (size_t) r, 0)) return -1;
    }
    if (r <= 0) return -1;
    b += r;
    n -= (size_t) r;
  }
  return 0;
}

static int open_queue(const char *suffix) {
  char name[64];
  snprintf(name, sizeof name, "/fdipc-bench-c-%d-%s", (int) getpid(), suffix);
  struct mq_attr attr = {.mq_maxmsg = MQ_MAXMSG, .mq_msgsize = MQ_MSGSIZE};
  mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
  if (q == (mqd_t) -1) {
    fprintf(stderr, "pingpong: mq_open(%s, %d x %d bytes) failed: %s%s\n", name, MQ_MAXMSG,
            MQ_MSGSIZE, strerror(errno),
            errno == EMFILE ? " (RLIMIT_MSGQUEUE too small or used up by other queues of this "
                              "user: raise `ulimit -q` or close them)" : "");
    exit(1);
  }
  mq_unlink(name);
  return (int) q;
}

/* ---------------------------------------------------------------- latency histogram */

static long *counts;     /* counts[ns] for ns < EXACT_NS */
static long *slow;       /* round trips of 1 ms or more */
static long slow_n, slow_cap, total, max_ns;

static void record(long ns) {
  total++;
  if (ns > max_ns) max_ns = ns;
  if (ns < EXACT_NS) {
    counts[ns]++;
    return;
  }
  if (slow_n == slow_cap) {
    slow_cap = slow_cap ? slow_cap * 2 : 1024;
    slow = realloc(slow, slow_cap * sizeof(long));
  }
  slow[slow_n++] = ns;
}

static int cmp(const void *a, const void *b) {
  long x = *(const long *) a, y = *(const long *) b;
  return (x > y) - (x < y);
}

static long percentile(double p) {
  long want = (long) (p / 100.0 * total);
  if (want >= total) want = total - 1;
  long seen = 0;
  for (long ns = 0; ns < EXACT_NS; ns++) {
    seen += counts[ns];
    if (seen > want) return ns;
  }
  return slow[want - seen];
}

/* ---------------------------------------------------------------- shared-memory rings */

struct ring { /* latency: one slot per direction, sequence numbers on separate cache lines */
  _Atomic long ping;
  char pad1[120];
  _Atomic long pong;
  char pad2[120];
  char data[];
};

struct stream_ring { /* throughput: SPSC ring of fixed-size slots */
  _Atomic long head; /* slots consumed */
  char pad1[120];
  _Atomic long tail; /* slots published */
  char pad2[120];
  _Atomic long ack;  /* the receiver's count once it saw the end message, else -1 */
  char pad3[120];
  char data[];
};

static void *shared(size_t bytes) {
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    fprintf(stderr, "pingpong: mmap(%zu) failed: %s\n", bytes, strerror(errno));
    exit(1);
  }
  return p;
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: pingpong latency|throughput pipe|socketpair|mqueue|spin-ring SIZE "
                    "WARMUP SECONDS CPU_A CPU_B\n");
    return 2;
  }
  int throughput = strcmp(argv[1], "throughput") == 0;
  const char *kind = argv[2];
  size_t size = (size_t) atol(argv[3]);
  double warmup = atof(argv[4]), seconds = atof(argv[5]);
  int cpu_a = atoi(argv[6]), cpu_b = atoi(argv[7]);
  if ((!throughput && strcmp(argv[1], "latency") != 0) || size < 8) {
    fprintf(stderr, "pingpong: bad mode %s or size %zu (at least 8)\n", argv[1], size);
    return 2;
  }
  char *buf = calloc(1, size);
  counts = calloc(EXACT_NS, sizeof(long));
  scratch = malloc(MQ_MSGSIZE);
  signal(SIGPIPE, SIG_IGN);
  pin(cpu_a);
  long messages = 0, elapsed = 0;

  if (strcmp(kind, "spin-ring") == 0 && !throughput) {
    struct ring *r = shared(sizeof(struct ring) + 2 * size);
    pid_t child = fork();
    if (child == 0) {
      pin(cpu_b);
      for (long i = 1;; i++) {
        long v;
        while ((v = atomic_load_explicit(&r->ping, memory_order_acquire)) != i) {
          if (v < 0) _exit(0);
          cpu_relax();
        }
        memcpy(r->data + size, r->data, size);
        atomic_store_explicit(&r->pong, i, memory_order_release);
      }
    }
    long i = 0;
    for (int phase = 0; phase < 2; phase++) {
      long end = now_ns() + (long) ((phase == 0 ? warmup : seconds) * 1e9), t;
      do {
        long t0 = now_ns();
        memcpy(r->data, buf, size);
        atomic_store_explicit(&r->ping, ++i, memory_order_release);
        while (atomic_load_explicit(&r->pong, memory_order_acquire) != i) cpu_relax();
        memcpy(buf, r->data + size, size);
        t = now_ns();
        if (phase == 1) record(t - t0);
      } while (t < end);
    }
    atomic_store_explicit(&r->ping, -1, memory_order_release);
    waitpid(child, NULL, 0);
  } else if (strcmp(kind, "spin-ring") == 0) {
    long slots = RING_BYTES / (long) size;
    if (slots < 2) slots = 2;
    struct stream_ring *r = shared(sizeof(struct stream_ring) + (size_t) slots * size);
    atomic_store(&r->ack, -1);
    pid_t child = fork();
    if (child == 0) {
      pin(cpu_b);
      char *b = malloc(size);
      long head = 0, tail = 0, expect = 0, v;
      for (;;) {
        while (head == tail) {
          tail = atomic_load_explicit(&r->tail, memory_order_acquire);
          if (head == tail) cpu_relax();
        }
        memcpy(b, r->data + (size_t) (head % slots) * size, size);
        atomic_store_explicit(&r->head, ++head, memory_order_release);
        memcpy(&v, b, 8);
        if (v == END) {
          atomic_store_explicit(&r->ack, expect, memory_order_release);
          _exit(0);
        }
        if (v != expect++) _exit(3);
      }
    }
    long seq = 0, head = 0, tail = 0, t0 = 0, seq0 = 0;
    for (int phase = 0; phase < 3; phase++) {
      long end = phase == 2 ? 0 : now_ns() + (long) ((phase == 0 ? warmup : seconds) * 1e9);
      if (phase == 1) {
        t0 = now_ns();
        seq0 = seq;
      }
      do {
        for (int k = 0; k < 16; k++) {
          long v = phase == 2 ? END : seq++;
          memcpy(buf, &v, 8);
          while (tail - head >= slots) {
            head = atomic_load_explicit(&r->head, memory_order_acquire);
            if (tail - head >= slots) cpu_relax();
          }
          memcpy(r->data + (size_t) (tail % slots) * size, buf, size);
          atomic_store_explicit(&r->tail, ++tail, memory_order_release);
          if (phase == 2) break;
        }
      } while (now_ns() < end);
    }
    long acked;
    while ((acked = atomic_load_explicit(&r->ack, memory_order_acquire)) < 0) {
      if (waitpid(child, NULL, WNOHANG) == child) {
        fprintf(stderr, "pingpong: the receiver lost a message\n");
        return 1;
      }
      cpu_relax();
    }
    elapsed = now_ns() - t0;
    waitpid(child, NULL, 0);
    if (acked != seq) {
      fprintf(stderr, "pingpong: sent %ld messages, the receiver counted %ld\n", seq, acked);
      return 1;
    }
    messages = seq - seq0;
  } else {
    int to_child[2], to_parent[2];
    if (strcmp(kind, "pipe") == 0) {
      if (pipe(to_child) || pipe(to_parent)) return 1;
    } else if (strcmp(kind, "socketpair") == 0) {
      int sv[2];
      if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) return 1;
      to_child[0] = sv[1]; to_child[1] = sv[0];
      to_parent[0] = sv[0]; to_parent[1] = sv[1];
    } else if (strcmp(kind, "mqueue") == 0) {
      mq = 1;
      to_child[0] = to_child[1] = open_queue("down");
      to_parent[0] = to_parent[1] = open_queue("up");
    } else {
      fprintf(stderr, "pingpong: unknown kind %s\n", kind);
      return 2;
    }
    pid_t child = fork();
    if (child == 0) {
      pin(cpu_b);
      char *b = calloc(1, size);
      long expect = 0, v;
      while (full_read(to_child[0], b, size) == 0) {
        if (!throughput) {
          if (full_write(to_parent[1], b, size)) break;
          continue;
        }
        memcpy(&v, b, 8);
        if (v == END) {
          if (full_write(to_parent[1], (char *) &expect, 8)) break;
        } else if (v != expect++) {
          _exit(3);
        }
      }
      _exit(0);
    }
    if (!throughput) {
      for (int phase = 0; phase < 2; phase++) {
        long end = now_ns() + (long) ((phase == 0 ? warmup : seconds) * 1e9), t;
        do {
          long t0 = now_ns();
          if (full_write(to_child[1], buf, size) || full_read(to_parent[0], buf, size)) return 1;
          t = now_ns();
          if (phase == 1) record(t - t0);
        } while (t < end);
      }
    } else {
      long seq = 0, t0 = 0, seq0 = 0, acked = -1;
      for (int phase = 0; phase < 2; phase++) {
        long end = now_ns() + (long) ((phase == 0 ? warmup : seconds) * 1e9);
        if (phase == 1) {
          t0 = now_ns();
          seq0 = seq;
        }
        do {
          for (int k = 0; k < 16; k++) {
            memcpy(buf, &seq, 8);
            seq++;
            if (full_write(to_child[1], buf, size)) return 1;
          }
        } while (now_ns() < end);
      }
      long v = END;
      memcpy(buf, &v, 8);
      if (full_write(to_child[1], buf, size) || full_read(to_parent[0], (char *) &acked, 8)) {
        fprintf(stderr, "pingpong: the receiver did not answer the end message\n");
        return 1;
      }
      elapsed = now_ns() - t0;
      if (acked != seq) {
        fprintf(stderr, "pingpong: sent %ld messages, the receiver counted %ld\n", seq, acked);
        return 1;
      }
      messages = seq - seq0;
    }
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
  }
  if (throughput) {
    printf("%ld %ld\n", messages, elapsed);
    return 0;
  }
  if (total == 0) return 1;
  qsort(slow, slow_n, sizeof(long), cmp);
  printf("%ld %ld %ld %ld %ld\n", percentile(50), percentile(90), percentile(99),
         percentile(99.9), max_ns);
  return 0;
}
