#include "keelan/pidfile.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <csignal>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "keelan/fs_trust.h"
#include "keelan/pidfd.h"

namespace keelan {

PidFile::~PidFile() { release(); }

namespace {
pid_t readPidFrom(int fd) {
  char buffer[32] = {};
  ssize_t n = pread(fd, buffer, sizeof buffer - 1, 0);
  if (n <= 0) return 0;
  char* end = nullptr;
  long value = strtol(buffer, &end, 10);
  if (end == buffer || value <= 0 || value > 4194304) return 0;
  return static_cast<pid_t>(value);
}
}  // namespace

// A FIFO or a symlink planted here must neither block nor redirect us.
pid_t readPidFile(const std::string& path) {
  int fd = openFileNoFollow(path, O_RDONLY);
  if (fd < 0) return 0;
  pid_t pid = readPidFrom(fd);
  close(fd);
  return pid;
}

PidFileState probePidFile(const std::string& path) {
  PidFileState state;
  int fd = openFileNoFollow(path, O_RDONLY);
  if (fd < 0) {
    state.exists = fd != -ENOENT;
    state.refused = fd == -ELOOP || fd == -ENXIO;
    return state;
  }
  state.exists = true;
  if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
    flock(fd, LOCK_UN);
  } else {
    state.locked = true;
  }
  struct stat info {};
  if (fstat(fd, &info) == 0) {
    state.owner = info.st_uid;
    state.mode = info.st_mode;
    state.device = info.st_dev;
    state.inode = info.st_ino;
  }
  state.pid = readPidFrom(fd);
  close(fd);
  return state;
}

PidFile::Result PidFile::acquire(const std::string& path, pid_t self) {
  Result result;
  // Someone probing the lock holds it for an instant; a few retries over
  // about a second tell that apart from a live daemon.
  for (int attempt = 0; attempt < 100; ++attempt) {
    struct stat before {};
    bool existed = lstat(path.c_str(), &before) == 0;
    int fd = openFileNoFollow(path, O_RDWR | O_CREAT, 0644);
    if (fd < 0) {
      result.error = "cannot open PID file " + path + ": " + openErrorText(fd);
      if (fd == -ELOOP || fd == -ENXIO) result.error = "refusing PID file " + path + ": " + openErrorText(fd);
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
    if (fstat(fd, &locked) != 0 || lstat(path.c_str(), &current) != 0 || locked.st_ino != current.st_ino ||
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
  if (fstat(fd_, &ours) == 0 && lstat(path_.c_str(), &current) == 0 && ours.st_ino == current.st_ino &&
      ours.st_dev == current.st_dev)
    unlink(path_.c_str());
  close(fd_);
  fd_ = -1;
}

namespace {
// Whether `pid` has the inode (device, inode) open among its descriptors.
bool holdsFile(pid_t pid, dev_t device, ino_t inode) {
  std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* fds = opendir(dir.c_str());
  if (fds == nullptr) return false;
  bool found = false;
  while (dirent* entry = readdir(fds)) {
    if (entry->d_name[0] == '.') continue;
    struct stat info {};
    if (stat((dir + "/" + entry->d_name).c_str(), &info) == 0 && info.st_dev == device && info.st_ino == inode) {
      found = true;
      break;
    }
  }
  closedir(fds);
  return found;
}
}  // namespace

int openVerifiedDaemonPidfd(const PidFileState& state, const std::string& path, uid_t cli, std::string& error) {
  if (state.refused) {
    error = "refusing PID file " + path + ": it is a symlink or not a regular file";
    return -1;
  }
  if (state.owner != 0 && state.owner != cli) {
    error = "refusing PID file " + path + ": owned by uid " + std::to_string(state.owner) +
            ", not by root or uid " + std::to_string(cli) + "; not signalling pid " + std::to_string(state.pid);
    return -1;
  }
  int pidfd = openPidfd(state.pid);
  if (pidfd < 0) {
    error = "cannot open pid " + std::to_string(state.pid) + " (from " + path + "): " + strerror(-pidfd);
    return -1;
  }
  // Checked after the pidfd pins the process: a PID reused later cannot pass.
  if (!holdsFile(state.pid, state.device, state.inode)) {
    close(pidfd);
    error = "refusing to signal pid " + std::to_string(state.pid) + " named in " + path +
            ": it is not the keelan daemon holding that PID file";
    return -1;
  }
  return pidfd;
}

}  // namespace keelan
