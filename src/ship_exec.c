/* What the daemon spawns for a ship with a root or a user:
 *
 *   keelan-ship-exec [OPTION]... ROOT CWD IDS -- COMMAND...
 *
 * Like chroot(8), but it also enters CWD inside the root and switches to
 * the ids the daemon resolved (IDS: empty, or UID:GID[:G1,G2,...]), then
 * execs COMMAND so the ship keeps this PID.
 *
 * OPTIONs come first, one argument each, always `--name=value` or `--name`
 * (ROOT is empty or absolute, so never taken for one):
 *   --cgroup=DIR   join the cgroup DIR (write 0 to DIR/cgroup.procs) before
 *                  anything else, so nothing the ship forks escapes it.
 *   --rlimit=NAME=SOFT:HARD   setrlimit before exec; NAME as ulimit's
 *                  (nofile, nproc, core, as, fsize, cpu, memlock, stack),
 *                  SOFT and HARD numbers or `infinity`.
 *
 * It is C and libc only, linked statically as its own small binary: every
 * ship pays its start-up, and a static binary starts in a fraction of the
 * time the dynamically linked C++ `keelan` needs. `keelan __ship-exec` runs
 * the same code where that binary is missing. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <unistd.h>

int keelan_ship_exec(int argc, char** argv);

enum { kMaxGroups = 65536 };

static int fail(const char* what, const char* detail) {
  fprintf(stderr, "keelan: %s %s: %s\n", what, detail, strerror(errno));
  return 127;
}

static int parseId(const char** cursor, char stop, unsigned long* into) {
  char* end = NULL;
  errno = 0;
  if (**cursor < '0' || **cursor > '9') return 0;
  *into = strtoul(*cursor, &end, 10);
  if (errno != 0 || *into > 0xfffffffeUL || (*end != stop && *end != '\0')) return 0;
  *cursor = end;
  return 1;
}

/* IDS into uid, gid and the supplementary groups; 0 on a malformed text. */
static int parseIds(const char* text, uid_t* uid, gid_t* gid, gid_t* groups, size_t* count) {
  unsigned long value = 0;
  const char* cursor = text;
  if (!parseId(&cursor, ':', &value) || *cursor != ':') return 0;
  *uid = (uid_t)value;
  ++cursor;
  if (!parseId(&cursor, ':', &value)) return 0;
  *gid = (gid_t)value;
  *count = 0;
  if (*cursor == '\0') return 1;
  ++cursor;
  while (*cursor != '\0') {
    if (*count == kMaxGroups || !parseId(&cursor, ',', &value)) return 0;
    groups[(*count)++] = (gid_t)value;
    if (*cursor == ',') ++cursor;
  }
  return 1;
}

static int joinCgroup(const char* dir) {
  char path[4096];
  if (snprintf(path, sizeof path, "%s/cgroup.procs", dir) >= (int)sizeof path) {
    errno = ENAMETOOLONG;
    return fail("cannot join the cgroup", dir);
  }
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return fail("cannot join the cgroup", dir);
  ssize_t written = write(fd, "0", 1);
  int saved = errno;
  close(fd);
  errno = saved;
  return written == 1 ? 0 : fail("cannot join the cgroup", dir);
}

static const struct {
  const char* name;
  int resource;
} kRlimits[] = {{"as", RLIMIT_AS},         {"core", RLIMIT_CORE},       {"cpu", RLIMIT_CPU},
                {"fsize", RLIMIT_FSIZE},   {"memlock", RLIMIT_MEMLOCK}, {"nofile", RLIMIT_NOFILE},
                {"nproc", RLIMIT_NPROC},   {"stack", RLIMIT_STACK}};

static int parseRlimValue(const char* text, char stop, rlim_t* into, const char** end) {
  if (strncmp(text, "infinity", 8) == 0 && (text[8] == stop)) {
    *into = RLIM_INFINITY;
    *end = text + 8;
    return 1;
  }
  if (*text < '0' || *text > '9') return 0;
  char* after = NULL;
  errno = 0;
  unsigned long long value = strtoull(text, &after, 10);
  if (errno != 0 || *after != stop) return 0;
  *into = (rlim_t)value;
  *end = after;
  return 1;
}

/* NAME=SOFT:HARD */
static int setLimit(const char* text) {
  const char* eq = strchr(text, '=');
  int resource = -1;
  for (size_t i = 0; eq != NULL && i < sizeof kRlimits / sizeof kRlimits[0]; ++i)
    if (strlen(kRlimits[i].name) == (size_t)(eq - text) && strncmp(text, kRlimits[i].name, (size_t)(eq - text)) == 0)
      resource = kRlimits[i].resource;
  struct rlimit limit;
  const char* cursor = NULL;
  if (resource < 0 || !parseRlimValue(eq + 1, ':', &limit.rlim_cur, &cursor) ||
      !parseRlimValue(cursor + 1, '\0', &limit.rlim_max, &cursor)) {
    fprintf(stderr, "keelan: malformed rlimit '%s'\n", text);
    return 127;
  }
  return setrlimit(resource, &limit) == 0 ? 0 : fail("cannot set the limit", text);
}

/* Applies one OPTION; 0, or the helper's exit code on failure. */
static int applyOption(const char* option) {
  if (strncmp(option, "--cgroup=", 9) == 0) return joinCgroup(option + 9);
  if (strncmp(option, "--rlimit=", 9) == 0) return setLimit(option + 9);
  fprintf(stderr, "keelan: unknown helper option '%s'\n", option);
  return 127;
}

int keelan_ship_exec(int argc, char** argv) {
  /* Options first: each is applied in order, before the root is entered. */
  while (argc > 1 && strncmp(argv[1], "--", 2) == 0 && argv[1][2] != '\0') {
    int rc = applyOption(argv[1]);
    if (rc != 0) return rc;
    argv[1] = argv[0];
    ++argv;
    --argc;
  }
  if (argc < 6 || strcmp(argv[4], "--") != 0) {
    fprintf(stderr, "keelan: %s is internal to the daemon\n", argv[0]);
    return 127;
  }
  const char* root = argv[1];
  const char* cwd = argv[2][0] != '\0' ? argv[2] : "/";
  const char* ids = argv[3];
  uid_t uid = 0;
  gid_t gid = 0;
  static gid_t groups[kMaxGroups];
  size_t count = 0;
  if (ids[0] != '\0') {
    if (!parseIds(ids, &uid, &gid, groups, &count)) {
      fprintf(stderr, "keelan: malformed ids '%s'\n", ids);
      return 127;
    }
    if (setgroups(count, groups) != 0) return fail("cannot set the supplementary groups", ids);
  }
  if (root[0] != '\0' && chroot(root) != 0) return fail("cannot chroot to", root);
  if (chdir(cwd) != 0) return fail("cannot change directory to", cwd);
  if (ids[0] != '\0') {
    if (setgid(gid) != 0) return fail("cannot set the group id", ids);
    if (setuid(uid) != 0) return fail("cannot set the user id", ids);
  }
  execvp(argv[5], argv + 5);
  return fail("cannot execute", argv[5]);
}
