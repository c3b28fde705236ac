/*
 * The C baseline of bin/bench: round-trip latency between two processes (this one and a forked
 * child) over the kernel objects fdipc uses, driven with nothing but read/write or a spinning
 * shared-memory ring, so that fdipc's overhead can be read as a ratio measured in the same run.
 *
 *   pingpong pipe|socketpair|spin-ring SIZE WARMUP_SECONDS SECONDS
 *
 * Prints one line: p50 p90 p99 p99.9 max, in nanoseconds.
 */
#define _GNU_SOURCE
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

static int full_read(int fd, char *b, size_t n) {
  while (n > 0) {
    ssize_t r = read(fd, b, n);
    if (r <= 0) return -1;
    b += r;
    n -= (size_t) r;
  }
  return 0;
}

static int full_write(int fd, const char *b, size_t n) {
  while (n > 0) {
    ssize_t r = write(fd, b, n);
    if (r <= 0) return -1;
    b += r;
    n -= (size_t) r;
  }
  return 0;
}

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

struct ring { /* one slot per direction, sequence numbers on separate cache lines */
  _Atomic long ping;
  char pad1[120];
  _Atomic long pong;
  char pad2[120];
  char data[];
};

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: pingpong pipe|socketpair|spin-ring SIZE WARMUP SECONDS\n");
    return 2;
  }
  const char *kind = argv[1];
  size_t size = (size_t) atol(argv[2]);
  double warmup = atof(argv[3]), seconds = atof(argv[4]);
  char *buf = calloc(1, size ? size : 1);
  counts = calloc(EXACT_NS, sizeof(long));
  signal(SIGPIPE, SIG_IGN);

  if (strcmp(kind, "spin-ring") == 0) {
    struct ring *r = mmap(NULL, sizeof(struct ring) + 2 * size, PROT_READ | PROT_WRITE,
                          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (r == MAP_FAILED) return 1;
    pid_t child = fork();
    if (child == 0) {
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
  } else {
    int to_child[2], to_parent[2];
    if (strcmp(kind, "pipe") == 0) {
      if (pipe(to_child) || pipe(to_parent)) return 1;
    } else if (strcmp(kind, "socketpair") == 0) {
      int sv[2];
      if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) return 1;
      to_child[0] = sv[1]; to_child[1] = sv[0];
      to_parent[0] = sv[0]; to_parent[1] = sv[1];
    } else {
      fprintf(stderr, "pingpong: unknown kind %s\n", kind);
      return 2;
    }
    pid_t child = fork();
    if (child == 0) {
      char *b = calloc(1, size ? size : 1);
      while (full_read(to_child[0], b, size) == 0 && size > 0) {
        if (full_write(to_parent[1], b, size)) break;
      }
      _exit(0);
    }
    for (int phase = 0; phase < 2; phase++) {
      long end = now_ns() + (long) ((phase == 0 ? warmup : seconds) * 1e9), t;
      do {
        long t0 = now_ns();
        if (full_write(to_child[1], buf, size) || full_read(to_parent[0], buf, size)) return 1;
        t = now_ns();
        if (phase == 1) record(t - t0);
      } while (t < end);
    }
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
  }
  if (total == 0) return 1;
  qsort(slow, slow_n, sizeof(long), cmp);
  printf("%ld %ld %ld %ld %ld\n", percentile(50), percentile(90), percentile(99),
         percentile(99.9), max_ns);
  return 0;
}
