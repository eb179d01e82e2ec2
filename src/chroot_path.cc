#include "keelan/chroot_path.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace keelan {

bool statInRoot(const std::string& root, const std::string& path, struct stat& info) {
  if (root.empty() || root == "/") return stat(path.c_str(), &info) == 0;
  int rootFd = open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootFd < 0) return false;
  // RESOLVE_IN_ROOT (Linux 5.6) treats rootFd as "/" for every absolute
  // symlink and "..": exactly what chroot(2) will do.
  open_how how{};
  how.flags = O_PATH | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  long fd = syscall(SYS_openat2, rootFd, path.c_str(), &how, sizeof how);
  bool found = false;
  if (fd >= 0) {
    found = fstat(static_cast<int>(fd), &info) == 0;
    close(static_cast<int>(fd));
  } else if (errno == ENOSYS) {
    // A kernel older than 5.6: the best we can do from outside.
    found = stat((root + path).c_str(), &info) == 0;
  }
  close(rootFd);
  return found;
}

bool isExecutableInRoot(const std::string& root, const std::string& path) {
  struct stat info {};
  if (root.empty() || root == "/")
    return stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) && access(path.c_str(), X_OK) == 0;
  return statInRoot(root, path, info) && S_ISREG(info.st_mode) && (info.st_mode & 0111) != 0;
}

bool isDirectoryInRoot(const std::string& root, const std::string& path) {
  struct stat info {};
  return statInRoot(root, path, info) && S_ISDIR(info.st_mode);
}

}  // namespace keelan
