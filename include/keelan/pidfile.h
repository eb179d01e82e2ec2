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
  pid_t pid = 0;
};
// Probes the lock without disturbing a starting daemon for more than an instant.
PidFileState probePidFile(const std::string& path);

}  // namespace keelan
