#include "keelan/pidfile.h"

#include <fcntl.h>
#include <sys/file.h>
#include <csignal>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace keelan {

PidFile::~PidFile() { release(); }

pid_t readPidFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return 0;
  char buffer[32] = {};
  ssize_t n = read(fd, buffer, sizeof buffer - 1);
  close(fd);
  if (n <= 0) return 0;
  char* end = nullptr;
  long value = strtol(buffer, &end, 10);
  if (end == buffer || value <= 0 || value > 4194304) return 0;
  return static_cast<pid_t>(value);
}

PidFileState probePidFile(const std::string& path) {
  PidFileState state;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return state;
  state.exists = true;
  if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
    flock(fd, LOCK_UN);
  } else {
    state.locked = true;
  }
  close(fd);
  state.pid = readPidFile(path);
  return state;
}

PidFile::Result PidFile::acquire(const std::string& path, pid_t self) {
  Result result;
  // Someone probing the lock holds it for an instant; a few retries over
  // about a second tell that apart from a live daemon.
  for (int attempt = 0; attempt < 100; ++attempt) {
    struct stat before {};
    bool existed = lstat(path.c_str(), &before) == 0;
    if (existed && !S_ISREG(before.st_mode)) {
      result.error = "refusing PID file " + path + ": not a regular file";
      return result;
    }
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
      result.error = "cannot open PID file " + path + ": " + strerror(errno);
      if (errno == ELOOP) result.error = "refusing PID file " + path + ": it is a symlink";
      return result;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      close(fd);
      pid_t holder = readPidFile(path);
      if (holder > 0 && kill(holder, 0) == 0) {
        result.outcome = Outcome::held;
        result.holder = holder;
        return result;
      }
      usleep(10000);
      continue;
    }
    // The previous owner may have unlinked the file between our open and
    // our lock: then we hold a lock on an inode nobody can find. Retry.
    struct stat locked {}, current {};
    if (fstat(fd, &locked) != 0 || stat(path.c_str(), &current) != 0 || locked.st_ino != current.st_ino ||
        locked.st_dev != current.st_dev) {
      close(fd);
      continue;
    }
    result.replacedStale = existed && locked.st_size > 0;
    std::string text = std::to_string(self) + "\n";
    if (ftruncate(fd, 0) != 0 || pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
      result.error = "cannot write PID file " + path + ": " + strerror(errno);
      close(fd);
      return result;
    }
    fchmod(fd, 0644);
    fd_ = fd;
    path_ = path;
    result.outcome = Outcome::acquired;
    return result;
  }
  pid_t holder = readPidFile(path);
  result.outcome = Outcome::held;
  result.holder = holder;
  return result;
}

std::string PidFile::adopt(int fd, const std::string& path) {
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) return "the inherited PID file descriptor does not hold the lock";
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  fd_ = fd;
  path_ = path;
  return "";
}

void PidFile::keepAcrossExec(bool keep) {
  if (fd_ >= 0) fcntl(fd_, F_SETFD, keep ? 0 : FD_CLOEXEC);
}

void PidFile::release() {
  if (fd_ < 0) return;
  struct stat ours {}, current {};
  if (fstat(fd_, &ours) == 0 && stat(path_.c_str(), &current) == 0 && ours.st_ino == current.st_ino &&
      ours.st_dev == current.st_dev)
    unlink(path_.c_str());
  close(fd_);
  fd_ = -1;
}

}  // namespace keelan
