#pragma once
// Ship log files opened once per ship name and kept by the daemon, so that a
// deploy or restart costs one lstat per log instead of one trusted open
// (openat2 without symlinks + checks). The kept fd is handed to each spawn
// as its stdout/stderr. It is reopened, with the same trust checks as the
// first open, when the path no longer names the kept file (deleted, or
// renamed by an outside logrotate) or the fd lost O_APPEND; the daemon's own
// rotation cuts the file in place, so the kept fd stays the live file.
// At most `capacity` ships keep their fds (least recently spawned dropped
// first); with capacity 0 each spawn opens its own, as before.
#include <sys/types.h>

#include <cstddef>
#include <list>
#include <string>
#include <unordered_map>

#include "keelan/paths.h"
#include "keelan/unique_fd.h"

namespace keelan {

// The two fds one spawn writes to: kept (owned by ShipLogFiles, valid until
// its next call) or, past the capacity, owned here.
struct ShipLogFds {
  int out = -1;
  int err = -1;
  UniqueFd ownedOut, ownedErr;
};

class ShipLogFiles {
 public:
  // A bound from RLIMIT_NOFILE: an eighth of it in ships (two fds each, so
  // a quarter of the limit at most; pidfds and clients keep the rest), no
  // more than kMaxShips.
  static size_t capacityForFdLimit();
  static constexpr size_t kMaxShips = 4096;

  ShipLogFiles(const Paths& paths, size_t capacity) : paths_(paths), capacity_(capacity) {}
  ShipLogFiles(const ShipLogFiles&) = delete;
  ShipLogFiles& operator=(const ShipLogFiles&) = delete;

  // Empty on success, else "cannot open PATH: why".
  std::string acquire(const std::string& name, ShipLogFds& fds);
  // Closes what is kept for `name` (rm / forget).
  void forget(const std::string& name);
  void forgetAll();
  size_t kept() const { return entries_.size(); }

 private:
  struct KeptFile {
    UniqueFd fd;
    dev_t device = 0;
    ino_t inode = 0;
  };
  struct Entry {
    KeptFile out, err;
    std::list<std::string>::iterator recent;
  };
  static std::string openInto(const std::string& path, KeptFile& file);
  static bool stillNames(const std::string& path, const KeptFile& file);
  std::string refresh(const std::string& path, KeptFile& file);

  const Paths& paths_;
  size_t capacity_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> recent_;  // most recently spawned first
};

}  // namespace keelan
