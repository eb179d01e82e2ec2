#include "keelan/ship_log_files.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>

#include "keelan/fs_trust.h"
#include "keelan/logger.h"
#include "keelan/pidfd_budget.h"

namespace keelan {

size_t ShipLogFiles::capacityForFdLimit() {
  rlim_t limit = currentFdLimit();
  if (limit == RLIM_INFINITY) return kMaxShips;
  return std::min<size_t>(kMaxShips, static_cast<size_t>(limit / 8));
}

std::string ShipLogFiles::openInto(const std::string& path, KeptFile& file) {
  UniqueFd fd(openAppendNoFollow(path, 0640));
  if (!fd) return "cannot open " + path + ": " + openErrorText(fd.release());
  struct stat info {};
  if (fstat(fd.get(), &info) != 0) return "cannot open " + path + ": " + openErrorText(-errno);
  file.fd = std::move(fd);
  file.device = info.st_dev;
  file.inode = info.st_ino;
  return "";
}

// Whether `path` still names the kept file and the fd still appends (a
// ship can clear O_APPEND on the description it shares with us).
bool ShipLogFiles::stillNames(const std::string& path, const KeptFile& file) {
  struct stat info {};
  if (lstat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) return false;
  if (info.st_dev != file.device || info.st_ino != file.inode) return false;
  int flags = fcntl(file.fd.get(), F_GETFL);
  return flags >= 0 && (flags & O_APPEND) != 0;
}

std::string ShipLogFiles::refresh(const std::string& path, KeptFile& file) {
  if (file.fd && stillNames(path, file)) return "";
  KeptFile fresh;
  if (auto error = openInto(path, fresh); !error.empty()) return error;
  file = std::move(fresh);
  return "";
}

std::string ShipLogFiles::acquire(const std::string& name, ShipLogFds& fds) {
  const std::string outPath = paths_.shipOutLog(name), errPath = paths_.shipErrLog(name);
  if (capacity_ == 0) {
    KeptFile out, err;
    if (auto error = openInto(outPath, out); !error.empty()) return error;
    if (auto error = openInto(errPath, err); !error.empty()) return error;
    fds.ownedOut = std::move(out.fd);
    fds.ownedErr = std::move(err.fd);
    fds.out = fds.ownedOut.get();
    fds.err = fds.ownedErr.get();
    return "";
  }
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    if (entries_.size() >= capacity_) forget(recent_.back());
    recent_.push_front(name);
    it = entries_.emplace(name, Entry{}).first;
    it->second.recent = recent_.begin();
  } else {
    recent_.splice(recent_.begin(), recent_, it->second.recent);
  }
  Entry& entry = it->second;
  std::string error = refresh(outPath, entry.out);
  if (error.empty()) error = refresh(errPath, entry.err);
  if (!error.empty()) {
    forget(name);
    return error;
  }
  fds.out = entry.out.fd.get();
  fds.err = entry.err.fd.get();
  return "";
}

void ShipLogFiles::forget(const std::string& name) {
  auto it = entries_.find(name);
  if (it == entries_.end()) return;
  recent_.erase(it->second.recent);
  entries_.erase(it);
}

void ShipLogFiles::forgetAll() {
  entries_.clear();
  recent_.clear();
}

}  // namespace keelan
