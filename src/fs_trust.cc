#include "keelan/fs_trust.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

namespace keelan {

namespace {

std::vector<std::string> components(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start < path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (end > start) parts.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

// Opens the next directory down; ".." is refused, since it would climb
// above what was checked.
int openChildDirectory(int parent, const std::string& name) {
  if (name == "..") return -EINVAL;
  int fd = openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0) return fd;
  int saved = errno;
  // O_DIRECTORY|O_NOFOLLOW on a symlink says ENOTDIR: tell the real story.
  struct stat info {};
  if (saved == ENOTDIR && fstatat(parent, name.c_str(), &info, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(info.st_mode))
    return -ELOOP;
  return -saved;
}

std::string ownerName(uid_t uid) {
  passwd* entry = getpwuid(uid);
  std::string text = "uid " + std::to_string(uid);
  if (entry != nullptr) text += " (" + std::string(entry->pw_name) + ")";
  return text;
}

std::string modeText(mode_t mode) {
  char buffer[8];
  snprintf(buffer, sizeof buffer, "%04o", static_cast<unsigned>(mode & 07777));
  return buffer;
}

std::string untrusted(const std::string& path, const struct stat& info, uid_t uid, const char* why) {
  return "refusing " + path + ": " + why + " (owner " + ownerName(info.st_uid) + ", mode " + modeText(info.st_mode) +
         "); it must belong to root" + (uid == 0 ? std::string() : " or " + ownerName(uid)) +
         " and not be writable by group or others";
}

// Opened O_NONBLOCK so that a FIFO could not block us; only a regular file
// is kept, and then made blocking again unless the caller asked otherwise.
int requireRegularFile(int fd, int flags) {
  struct stat info {};
  if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    close(fd);
    return -ENXIO;
  }
  if ((flags & O_NONBLOCK) == 0) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

}  // namespace

int openDirectoryNoFollow(const std::string& path) {
  if (path.empty()) return -EINVAL;
  int fd = open(path[0] == '/' ? "/" : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  for (const auto& name : components(path)) {
    if (name == ".") continue;
    int next = openChildDirectory(fd, name);
    close(fd);
    if (next < 0) return next;
    fd = next;
  }
  return fd;
}

int openFileAt(int directoryFd, const std::string& name, int flags, mode_t mode) {
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") return -EINVAL;
  int fd = openat(directoryFd, name.c_str(), flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, mode);
  if (fd < 0) return -errno;
  return requireRegularFile(fd, flags);
}

int openFileNoFollow(const std::string& path, int flags, mode_t mode) {
  // One openat2(RESOLVE_NO_SYMLINKS) (Linux 5.6) does the walk below in the
  // kernel, ten times faster; the walk stays for older kernels.
  open_how how{};
  how.flags = static_cast<uint64_t>(flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  how.mode = (flags & O_CREAT) != 0 ? mode : 0;
  how.resolve = RESOLVE_NO_SYMLINKS;
  long fast = syscall(SYS_openat2, AT_FDCWD, path.c_str(), &how, sizeof how);
  if (fast >= 0 || (errno != ENOSYS && errno != EPERM)) {
    if (fast < 0) return -errno;
    return requireRegularFile(static_cast<int>(fast), flags);
  }
  size_t slash = path.find_last_of('/');
  if (path.empty() || (slash != std::string::npos && slash == path.size() - 1)) return -EINVAL;
  std::string dirPath = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  int dir = openDirectoryNoFollow(dirPath);
  if (dir < 0) return dir;
  int fd = openFileAt(dir, slash == std::string::npos ? path : path.substr(slash + 1), flags, mode);
  close(dir);
  return fd;
}

std::string openErrorText(int negativeErrno) {
  if (negativeErrno == -ELOOP) return "it is a symlink or has one in its path";
  if (negativeErrno == -ENXIO) return "not a regular file";
  return strerror(-negativeErrno);
}

std::string checkTrustedPath(const std::string& path, uid_t uid) {
  if (path.empty() || path[0] != '/') return "refusing " + path + ": not an absolute path";
  int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return std::string("cannot open /: ") + strerror(errno);
  std::string walked;
  bool parentSticky = false;  // the parent is sticky and writable by others
  std::vector<std::string> parts = components(path);
  parts.insert(parts.begin(), "");  // "/" itself
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string& name = parts[i];
    if (name == ".") continue;
    if (i > 0) {
      walked += "/" + name;
      int next = openChildDirectory(fd, name);
      close(fd);
      if (next < 0) return "refusing " + walked + ": " + openErrorText(next);
      fd = next;
    }
    const std::string shown = walked.empty() ? "/" : walked;
    struct stat info {};
    if (fstat(fd, &info) != 0) {
      close(fd);
      return "cannot check " + shown + ": " + strerror(errno);
    }
    if (info.st_uid != 0 && info.st_uid != uid) {
      close(fd);
      return untrusted(shown, info, uid, "owned by someone else");
    }
    if (parentSticky && info.st_uid != uid) {
      close(fd);
      return untrusted(shown, info, uid, "in a world-writable directory but not owned by the daemon's uid");
    }
    bool sticky = (info.st_mode & S_ISVTX) != 0;
    bool last = i + 1 == parts.size();
    if ((info.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (last || !sticky)) {
      close(fd);
      return untrusted(shown, info, uid, "writable by group or others");
    }
    parentSticky = sticky && (info.st_mode & (S_IWGRP | S_IWOTH)) != 0;
  }
  close(fd);
  return "";
}

std::string checkTrustedFile(const std::string& path, uid_t uid) {
  size_t slash = path.find_last_of('/');
  if (path.empty() || path[0] != '/' || slash == path.size() - 1) return "refusing " + path + ": not a file path";
  std::string dir = slash == 0 ? "/" : path.substr(0, slash);
  if (auto e = checkTrustedPath(dir, uid); !e.empty()) return e;
  int fd = openFileNoFollow(path, O_RDONLY);
  if (fd < 0) return "refusing " + path + ": " + openErrorText(fd);
  struct stat info {};
  int rc = fstat(fd, &info);
  close(fd);
  if (rc != 0) return "cannot check " + path + ": " + strerror(errno);
  if (info.st_uid != 0 && info.st_uid != uid) return untrusted(path, info, uid, "owned by someone else");
  if ((info.st_mode & (S_IWGRP | S_IWOTH)) != 0) return untrusted(path, info, uid, "writable by group or others");
  return "";
}

std::string clearStaleSocket(const std::string& path) {
  struct stat info {};
  if (lstat(path.c_str(), &info) != 0) return errno == ENOENT ? "" : "cannot check socket path " + path + ": " + strerror(errno);
  if (!S_ISSOCK(info.st_mode)) return "refusing socket path " + path + ": something else is there (kept)";
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) return "socket path " + path + " is too long";
  memcpy(address.sun_path, path.c_str(), path.size());
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("cannot create a socket: ") + strerror(errno);
  int rc = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  int saved = errno;
  close(fd);
  // A listener with a full backlog says EAGAIN: alive too.
  if (rc == 0 || saved == EAGAIN)
    return "refusing socket path " + path + ": another daemon answers on it (kept)";
  if (saved != ECONNREFUSED) return "refusing socket path " + path + ": cannot tell whether it is in use: " + strerror(saved);
  if (unlink(path.c_str()) != 0 && errno != ENOENT)
    return "cannot remove the stale socket " + path + ": " + strerror(errno);
  return "";
}

PathIdentity identityOf(const std::string& path) {
  PathIdentity identity;
  struct stat info {};
  if (lstat(path.c_str(), &info) == 0 && S_ISSOCK(info.st_mode)) {
    identity.device = info.st_dev;
    identity.inode = info.st_ino;
    identity.valid = true;
  }
  return identity;
}

void unlinkIfSame(const std::string& path, const PathIdentity& identity) {
  if (!identity.valid) return;
  PathIdentity now = identityOf(path);
  if (now.valid && now.device == identity.device && now.inode == identity.inode) unlink(path.c_str());
}

}  // namespace keelan
