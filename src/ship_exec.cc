#include "keelan/ship_exec.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace keelan {

namespace {
int fail(const char* what, const std::string& detail) {
  fprintf(stderr, "keelan: %s %s: %s\n", what, detail.c_str(), strerror(errno));
  return 127;
}
}  // namespace

int runShipExec(int argc, char** argv) {
  // argv: keelan __ship-exec ROOT CWD USER -- COMMAND...
  if (argc < 7 || std::string(argv[5]) != "--") {
    fprintf(stderr, "keelan: %s is internal to the daemon\n", kShipExecVerb);
    return 127;
  }
  std::string root = argv[2], cwd = argv[3], user = argv[4];
  // Look the user up before entering the root: the root may have no passwd.
  uid_t uid = 0;
  gid_t gid = 0;
  if (!user.empty()) {
    errno = 0;
    passwd* entry = getpwnam(user.c_str());
    if (entry == nullptr) {
      fprintf(stderr, "keelan: no such user '%s'\n", user.c_str());
      return 127;
    }
    uid = entry->pw_uid;
    gid = entry->pw_gid;
    if (initgroups(user.c_str(), gid) != 0) return fail("cannot set the groups of", user);
  }
  if (!root.empty()) {
    if (chroot(root.c_str()) != 0) return fail("cannot chroot to", root);
  }
  std::string dir = cwd.empty() ? "/" : cwd;
  if (chdir(dir.c_str()) != 0) return fail("cannot change directory to", dir);
  if (!user.empty()) {
    if (setgid(gid) != 0) return fail("cannot set the group of", user);
    if (setuid(uid) != 0) return fail("cannot set the user", user);
  }
  execvp(argv[6], argv + 6);
  return fail("cannot execute", argv[6]);
}

}  // namespace keelan
