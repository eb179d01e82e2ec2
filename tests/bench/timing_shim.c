/* timing_shim.so: where the daemon's wall-clock time goes, for
 * `tests/bench/run --breakdown`. Loaded into the daemon with LD_PRELOAD
 * (ships never see it: the daemon gives them a clean environment); it wraps
 *
 *   uv_spawn          libuv: fork + wait until the child has exec'd
 *   fork              inside uv_spawn: the fork alone (parent side)
 *   mdb_txn_commit    LMDB: one write transaction, including its syncs
 *   fdatasync         inside the commit: the data-page flush
 *   pwrite            inside the commit: page writes and the O_DSYNC meta page
 *   open(O_CREAT)     the daemon creating/opening ship log files
 *
 * and records every call's duration (CLOCK_MONOTONIC). Each SIGUSR2 ends a
 * segment (the handler only copies the sample counters: async-signal-safe).
 * When the daemon's loop ends (uv_loop_close) it writes $KSHIM_OUT.PID, one
 * line per segment and kind: "SEGMENT KIND COUNT TOTAL_MS P50_MS P99_MS
 * MAX_MS". Only a benchmark aid: it wraps symbols, it changes nothing else.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

enum { SPAWN, FORK, COMMIT, FDATASYNC, PWRITE, OPEN, KINDS };
static const char *kind_names[KINDS] = {"uv_spawn", "fork", "mdb_txn_commit", "fdatasync", "pwrite", "open_creat"};
enum { MAX_SAMPLES = 1 << 18, MAX_CUTS = 256 };
static double *samples[KINDS];
static volatile long counts[KINDS];
static long cuts[MAX_CUTS][KINDS];
static volatile sig_atomic_t cut_count;

static void on_usr2(int sig) {
  (void)sig;
  if (cut_count >= MAX_CUTS) return;
  for (int k = 0; k < KINDS; k++) cuts[cut_count][k] = counts[k];
  cut_count = cut_count + 1;
}

__attribute__((constructor)) static void install(void) {
  for (int k = 0; k < KINDS; k++) samples[k] = calloc(MAX_SAMPLES, sizeof(double));
  signal(SIGUSR2, on_usr2);
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void dump(void) {
  const char *out = getenv("KSHIM_OUT");
  if (out == NULL) return;
  char path[1024];
  snprintf(path, sizeof path, "%s.%d", out, (int)getpid());
  FILE *f = fopen(path, "w");
  if (f == NULL) return;
  double *sorted = calloc(MAX_SAMPLES, sizeof(double));
  int segments = cut_count + 1;
  for (int segment = 0; segment < segments && sorted != NULL; segment++) {
    for (int k = 0; k < KINDS; k++) {
      long from = segment == 0 ? 0 : cuts[segment - 1][k];
      long to = segment == segments - 1 ? counts[k] : cuts[segment][k];
      long n = 0;
      double total = 0;
      for (long i = from; i < to && i < MAX_SAMPLES; i++) {
        sorted[n++] = samples[k][i];
        total += samples[k][i];
      }
      qsort(sorted, (size_t)n, sizeof(double), by_value);
      fprintf(f, "%d %s %ld %.3f %.3f %.3f %.3f\n", segment, kind_names[k], to - from, total,
              n ? sorted[n / 2] : 0.0, n ? sorted[(long)((double)n * 0.99)] : 0.0, n ? sorted[n - 1] : 0.0);
    }
  }
  free(sorted);
  fclose(f);
}

static void record(int kind, double ms) {
  long i = counts[kind];
  if (samples[kind] != NULL && i < MAX_SAMPLES) samples[kind][i] = ms;
  counts[kind] = i + 1;
}

#define REAL(type, name)      \
  static type *real;          \
  if (real == NULL) real = (type *)dlsym(RTLD_NEXT, name)

struct uv_loop_s;
struct uv_process_s;
struct uv_process_options_s;
typedef struct MDB_txn MDB_txn;
int uv_spawn(struct uv_loop_s *loop, struct uv_process_s *process, const struct uv_process_options_s *options);
int uv_loop_close(struct uv_loop_s *loop);
int mdb_txn_commit(MDB_txn *txn);

int uv_spawn(struct uv_loop_s *loop, struct uv_process_s *process, const struct uv_process_options_s *options) {
  REAL(typeof(uv_spawn), "uv_spawn");
  double start = now_ms();
  int rc = real(loop, process, options);
  record(SPAWN, now_ms() - start);
  return rc;
}

int uv_loop_close(struct uv_loop_s *loop) {
  REAL(typeof(uv_loop_close), "uv_loop_close");
  int rc = real(loop);
  dump();
  return rc;
}

pid_t fork(void) {
  REAL(typeof(fork), "fork");
  double start = now_ms();
  pid_t pid = real();
  if (pid != 0) record(FORK, now_ms() - start);
  return pid;
}

int mdb_txn_commit(MDB_txn *txn) {
  REAL(typeof(mdb_txn_commit), "mdb_txn_commit");
  double start = now_ms();
  int rc = real(txn);
  record(COMMIT, now_ms() - start);
  return rc;
}

int fdatasync(int fd) {
  REAL(typeof(fdatasync), "fdatasync");
  double start = now_ms();
  int rc = real(fd);
  record(FDATASYNC, now_ms() - start);
  return rc;
}

ssize_t pwrite(int fd, const void *buffer, size_t count, off_t offset) {
  REAL(typeof(pwrite), "pwrite");
  double start = now_ms();
  ssize_t rc = real(fd, buffer, count, offset);
  record(PWRITE, now_ms() - start);
  return rc;
}

int open(const char *path, int flags, ...) {
  REAL(typeof(open), "open");
  mode_t mode = 0;
  if (flags & O_CREAT) {
    va_list args;
    va_start(args, flags);
    mode = (mode_t)va_arg(args, int);
    va_end(args);
    }
  double start = now_ms();
  int fd = real(path, flags, mode);
  if (flags & O_CREAT) record(OPEN, now_ms() - start);
  return fd;
}
