/* kbench: the benchmark's ship program, built by tests/bench/run with
 * `gcc -O2 -static` into the busybox root as /bin/kbench (the root has no C
 * library, and busybox has no monotonic-clock printer).
 *
 *   kbench exit CODE                 exit at once with CODE
 *   kbench wait FIFO CODE [STAMP]    block until FIFO delivers a byte or EOF,
 *                                    then, as the last act before _exit(CODE),
 *                                    write CLOCK_MONOTONIC ("SEC.NSEC\n") to
 *                                    STAMP (created/truncated)
 *   kbench calibrate                 print the cost of a first-touch page
 *                                    fault and of a trivial system call, in
 *                                    microseconds (the machine's calibration)
 *
 * CLOCK_MONOTONIC is one clock for every process of the machine (a chroot
 * does not change it), so the benchmark subtracts this stamp from the time
 * at which the ship's `stopped` event reached it.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int usage(void) {
  static const char text[] = "usage: kbench exit CODE | kbench wait FIFO CODE [STAMPFILE] | kbench calibrate\n";
  (void)!write(2, text, sizeof text - 1);
  return 2;
}

static double elapsed_us(const struct timespec *a, const struct timespec *b) {
  return (double)(b->tv_sec - a->tv_sec) * 1e6 + (double)(b->tv_nsec - a->tv_nsec) / 1e3;
}

static int calibrate(void) {
  enum { pages = 4096, calls = 4096 };
  char *memory = mmap(NULL, (size_t)pages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) return 1;
  struct timespec a, b, c;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (size_t i = 0; i < pages; i++) memory[i * 4096] = 1;
  clock_gettime(CLOCK_MONOTONIC, &b);
  for (int i = 0; i < calls; i++) (void)getppid();
  clock_gettime(CLOCK_MONOTONIC, &c);
  printf("fault_us=%.3f syscall_us=%.3f\n", elapsed_us(&a, &b) / pages, elapsed_us(&b, &c) / calls);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "calibrate") == 0) return calibrate();
  if (argc == 3 && strcmp(argv[1], "exit") == 0) _exit(atoi(argv[2]));
  if ((argc == 4 || argc == 5) && strcmp(argv[1], "wait") == 0) {
    int code = atoi(argv[3]);
    /* Opened first, so that only clock_gettime and one write() separate the
       stamp from _exit. */
    int out = argc == 5 ? open(argv[4], O_WRONLY | O_CREAT | O_TRUNC, 0644) : -1;
    int fd = open(argv[2], O_RDONLY);
    if (fd < 0) {
      perror("kbench: open");
      _exit(126);
    }
    char byte;
    while (read(fd, &byte, 1) < 0) {
    }
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (out >= 0) {
      char line[64];
      int n = snprintf(line, sizeof line, "%lld.%09ld\n", (long long)now.tv_sec, now.tv_nsec);
      (void)!write(out, line, (size_t)n);
    }
    _exit(code);
  }
  return usage();
}
