#pragma once
// The PID file doubles as the daemon's lock: the daemon holds an exclusive
// flock on it for its whole life. A file whose lock is free is stale.
#include <sys/types.h>

#include <string>

namespace keelan {

class PidFile {
 public:
  enum class Outcome { acquired, held, failed };
  struct Result {
    Outcome outcome = Outcome::failed;
    pid_t holder = 0;       // with held: the PID written in the file (0 if unreadable)
    std::string error;      // with failed
    bool replacedStale = false;
  };

  PidFile() = default;
  ~PidFile();
  PidFile(const PidFile&) = delete;
  PidFile& operator=(const PidFile&) = delete;

  // Locks `path` and writes our PID into it.
  Result acquire(const std::string& path, pid_t self);
  // Takes over a descriptor that already holds the lock (kept across an
  // exec by an in-place restart). Returns an error message, empty on success.
  std::string adopt(int fd, const std::string& path);
  // Lets the descriptor, and with it the lock, survive an exec.
  void keepAcrossExec(bool keep);
  // Unlinks the file (only if it is still ours) and drops the lock.
  void release();
  int fd() const { return fd_; }

 private:
  std::string path_;
  int fd_ = -1;
};

// What the file says, whether or not anyone holds it.
pid_t readPidFile(const std::string& path);

struct PidFileState {
  bool exists = false;
  bool locked = false;   // a live daemon holds it
  bool refused = false;  // a symlink or not a regular file: never read
  pid_t pid = 0;
  uid_t owner = 0;
  mode_t mode = 0;
  dev_t device = 0;
  ino_t inode = 0;
};
// Probes the lock without disturbing a starting daemon for more than an instant.
PidFileState probePidFile(const std::string& path);

// Before `daemon stop` signals the PID a PID file names: the file must belong
// to root or `cli`, and the process must hold that very file open (the
// daemon holds it, locked, for life), checked through a pidfd opened first
// so that the PID cannot be reused in between. Returns the pidfd (>= 0) or
// -1 with `error` saying why it is refused.
int openVerifiedDaemonPidfd(const PidFileState& state, const std::string& path, uid_t cli, std::string& error);

}  // namespace keelan
